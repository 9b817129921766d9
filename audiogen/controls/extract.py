"""Controls from audio: beats and downbeats, chords, melody and level of a recording, at 50 frames per second.

The same readers serve three purposes: they label the training corpus (the LM learns what music with these
controls sounds like), they turn a clip into a plan (``melody_from=``), and the benchmarks read generated tracks
back with them. What they do:

- **beats**: the project's beat tracker (:mod:`audiogen.controls.beats`). **Downbeats**: the bar phase (of the
  meter, 4 unless told) whose beats carry the most chord changes and low-frequency onsets.
- **chroma**: a constant-Q transform at exactly 50 frames/s (25.6 kHz, hop 512, C2..B7).
- **chords**: per beat, the mean chroma is matched against the 24 major/minor triad templates (cosine); beats
  quieter than 40 dB below the loudest are "no chord".
- **melody**: per frame, the strongest CQT bin from C4 up (Music ControlNet's 261 Hz high-pass), as a pitch class,
  median-filtered over 5 frames; frames whose top bin is 35 dB below the clip's strongest are rests.
- **level**: RMS power smoothed over 1 s, in dB (relative to its median in the controls).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from audiogen.controls import chords as chord_vocab
from audiogen.controls import layout

CQT_SR = 25600  # with HOP 512: exactly 50 frames per second
CQT_HOP = 512
FMIN_MIDI = 36  # C2
N_OCTAVES = 6
MELODY_FROM = 60 - FMIN_MIDI  # C4 (261.6 Hz), as a CQT bin
SILENT_DB = 40.0
REST_DB = 35.0


@dataclass
class Reading:
    """What the extractor read from a clip. Times in seconds from the clip's start.

    controls ``[n_frames, CONTROL_FEATURES]``; beats ``[N]``; downbeats ``[M]``; tempo BPM (0 without a beat);
    meter (beats per bar); chords: one ``(start, end, label)`` per beat span (``label`` as
    :func:`audiogen.controls.chords.label`); melody ``[n_frames]`` pitch class per frame (-1 = rest);
    chroma ``[n_frames, 12]`` (unit-max per frame).
    """

    controls: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    tempo: float
    meter: int
    chords: list[tuple[float, float, str]] = field(default_factory=list)
    melody: np.ndarray | None = None
    chroma: np.ndarray | None = None

    def chord_at(self, times: np.ndarray) -> list[str]:
        """The chord label sounding at each of ``times`` (seconds; "N" outside every span)."""
        starts = np.array([s for s, _, _ in self.chords]) if self.chords else np.zeros(0)
        out = []
        for t in np.asarray(times, dtype=np.float64):
            i = int(np.searchsorted(starts, t, side="right")) - 1
            out.append(self.chords[i][2] if i >= 0 and t < self.chords[i][1] else chord_vocab.NO_CHORD)
        return out


def cqt_power(y: np.ndarray, sr: int) -> np.ndarray:
    """CQT power ``[12 * N_OCTAVES, frames]`` of mono ``y`` ``[T]`` at 50 frames/s (C2 up, one bin per semitone)."""
    import librosa

    from audiogen.audio import resample

    y = resample(np.asarray(y, dtype=np.float32), sr, CQT_SR)
    spec = librosa.cqt(
        y,
        sr=CQT_SR,
        hop_length=CQT_HOP,
        fmin=librosa.midi_to_hz(FMIN_MIDI),
        n_bins=12 * N_OCTAVES,
        bins_per_octave=12,
    )
    return (np.abs(spec) ** 2).astype(np.float32)


def chroma_from_cqt(power: np.ndarray) -> np.ndarray:
    """Log-compressed chroma ``[frames, 12]`` (C first) of CQT power ``[bins, frames]``, each frame scaled to max 1."""
    n_bins, n = power.shape
    folded = power[: n_bins - n_bins % 12].reshape(-1, 12, n).sum(axis=0)  # bin 0 is C
    comp = np.log1p(1000.0 * folded / max(float(folded.max()), 1e-12))
    return (comp / np.maximum(comp.max(axis=0, keepdims=True), 1e-9)).T.astype(np.float32)


def beat_chords(chroma: np.ndarray, frame_db: np.ndarray, beats: np.ndarray, n_frames: int) -> list[tuple]:
    """One ``(start_frame, end_frame, label)`` per beat span (and before the first beat / after the last) of chroma
    ``[frames, 12]``; spans quieter than :data:`SILENT_DB` below the loudest frame are "no chord"."""
    tmpl = chord_vocab.templates()
    edges = np.unique(np.clip(np.round(np.asarray(beats) * layout.FRAME_RATE).astype(int), 0, n_frames))
    edges = np.unique(np.concatenate([[0], edges, [n_frames]]))
    loud = frame_db.max() if len(frame_db) else 0.0
    out = []
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        seg = chroma[a:b].mean(axis=0)
        if frame_db[a:b].mean() < loud - SILENT_DB or seg.max() <= 0:
            out.append((int(a), int(b), chord_vocab.NO_CHORD))
            continue
        seg = seg - seg.mean()  # contrast: a flat chroma matches nothing well
        scores = tmpl @ (seg / max(float(np.linalg.norm(seg)), 1e-9))
        out.append((int(a), int(b), chord_vocab.label(*chord_vocab.template_index(int(scores.argmax())))))
    return out


def melody_pcs(power: np.ndarray) -> np.ndarray:
    """Pitch class per frame ``[frames]`` (-1 = rest) of the strongest CQT bin from C4 up, median-filtered."""
    from scipy.ndimage import median_filter

    upper = power[MELODY_FROM:]
    top = upper.argmax(axis=0)
    db = 10 * np.log10(np.maximum(upper.max(axis=0), 1e-12))
    pcs = np.where(db >= db.max() - REST_DB, (top + MELODY_FROM) % 12, -1) if len(db) else top
    return median_filter(pcs, size=5, mode="nearest").astype(np.int64)


def estimate_downbeats(beats: np.ndarray, chord_spans: list[tuple], low_onset: np.ndarray, meter: int) -> np.ndarray:
    """Downbeat times: every ``meter``-th beat, starting at the phase with the most chord changes plus bass onsets."""
    if len(beats) < meter:
        return np.asarray(beats[:1], dtype=np.float64)
    frames = np.clip(np.round(np.asarray(beats) * layout.FRAME_RATE).astype(int), 0, max(len(low_onset) - 1, 0))
    labels = {a: lab for a, _, lab in chord_spans}
    change = np.zeros(len(beats))
    prev = None
    for i, f in enumerate(frames):
        lab = labels.get(int(f))
        change[i] = float(lab is not None and prev is not None and lab != prev and lab != chord_vocab.NO_CHORD)
        prev = lab if lab is not None else prev
    onset = low_onset[frames] / max(float(low_onset.max()), 1e-9) if len(low_onset) else np.zeros(len(beats))
    score = [np.mean(change[p::meter]) + np.mean(onset[p::meter]) for p in range(meter)]
    return np.asarray(beats, dtype=np.float64)[int(np.argmax(score)) :: meter]


def read_controls(
    y: np.ndarray,
    sr: int,
    n_frames: int | None = None,
    tempo_hint: float | None = None,
    meter: int = 4,
    beats: np.ndarray | None = None,
) -> Reading:
    """Read the controls of mono audio ``y`` ``[T]`` at ``sr`` Hz.

    n_frames: length of the control track (default: the audio's length at 50 frames/s; longer tracks are padded
    with absent controls). tempo_hint: centres the beat tracker's prior. beats: known beat times (seconds) instead
    of tracking them. Returns a :class:`Reading`.
    """
    from audiogen.controls.beats import track_beats

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"audio must be mono [T], got shape {y.shape}")
    if meter not in (2, 3, 4, 6):
        raise ValueError(f"meter must be 2, 3, 4 or 6 beats per bar, got {meter}")
    audio_frames = int(np.ceil(len(y) / sr * layout.FRAME_RATE))
    n_frames = audio_frames if n_frames is None else int(n_frames)
    power = cqt_power(y, sr)[:, :audio_frames]
    n = power.shape[1]
    frame_power = power.sum(axis=0)
    frame_db = 10 * np.log10(np.maximum(frame_power, 1e-12))
    if beats is None:
        tempo, beats = track_beats(y, sr, tempo_hint)
    else:
        beats = np.asarray(beats, dtype=np.float64)
        tempo = 60.0 / float(np.median(np.diff(beats))) if len(beats) >= 2 else 0.0
    beats = beats[(beats >= 0) & (beats < n / layout.FRAME_RATE)] if len(beats) else beats
    chroma = chroma_from_cqt(power)
    spans = beat_chords(chroma, frame_db, beats, n)
    low = power[:24]  # C2..B3: bass onsets
    low_onset = np.maximum(0.0, np.diff(np.log1p(low.sum(axis=0) * 1e3), prepend=0.0))
    downbeats = estimate_downbeats(beats, spans, low_onset, meter)
    melody = melody_pcs(power)
    out = layout.empty(n_frames)
    m = min(n, n_frames)
    for a, b, lab in spans:
        if lab != chord_vocab.NO_CHORD and a < m:
            name, quality = lab.split(":")
            out[a : min(b, m), list(chord_vocab.triad(chord_vocab.PITCH_NAMES.index(name), quality))] = 1.0
    out[:m, layout.CHORD_ON] = 1.0
    voiced = np.flatnonzero(melody[:m] >= 0)
    out[voiced, layout.MELODY.start + melody[voiced]] = 1.0
    out[:m, layout.MELODY_ON] = 1.0
    layout.write_beats(out, beats if len(beats) >= 2 else None, downbeats)
    level = layout.smooth_level_db(np.pad(frame_power, (0, max(0, n_frames - n)), mode="edge")[:n_frames])
    layout.write_level(out, level)
    out[m:, : layout.MELODY_ON + 1] = 0  # past the audio: no chord or melody information
    chord_spans = [(a / layout.FRAME_RATE, b / layout.FRAME_RATE, lab) for a, b, lab in spans]
    return Reading(out, beats, downbeats, float(tempo), meter, chord_spans, melody, chroma)
