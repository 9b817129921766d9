"""A plan from a clip: its beats, chords and melody, re-harmonised and re-orchestrated (``melody_from=``).

The clip is read with the same extractors that label the training corpus (:mod:`audiogen.controls.extract`): beats
and downbeats, a major/minor chord per beat, the melody's pitch class per frame, and its key (Krumhansl-Schmuckler on
the mean chroma). Then:

1. **Bars.** Each of the clip's bars (downbeat to downbeat) keeps the chord that sounds longest in it, as a degree of
   the clip's key; the melody's notes keep their place within the bar (beat-synchronous re-timing), so the new piece
   plays the clip's tune on a steady grid at the clip's tempo (or the requested one).
2. **Mode.** When the requested mode (or the sign of the requested valence) differs from the clip's, the harmony
   moves to the parallel mode (major ``I ii iii IV V vi`` ↔ minor ``i ii iv/bIII iv V bVI``, the dominant kept major)
   and the melody's third, sixth and seventh degrees move with it.
3. **Key, form and ending.** The result is transposed to the requested key (default: the clip's tonic), the clip's
   bars repeat to fill the requested duration, and the last bar becomes the genre's cadence into a held final chord
   (or the piece loops on whole bars).
4. **Style.** Everything else comes from the request as for a composed plan: genre, instruments, dynamics, groove.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from audiogen.compose import composer
from audiogen.compose.plan import Plan

MIN_SECONDS = 4.0
MAX_SECONDS = 120.0
MIN_BEATS = 8
SILENT_DBFS = -60.0
MIN_NOTE_FRAMES = 4  # 80 ms: shorter melody segments are merged into their neighbours
MIN_PITCHED = 0.3  # at least this share of a clip's frames must have a pitch (pyin): white noise has 0.03-0.06
PITCH_EXCERPTS, PITCH_EXCERPT_S = 3, 10.0  # how much of a clip the pitch check reads: 3 excerpts of 10 s

# Parallel-mode re-harmonisation of a chord, as (degree in semitones above the tonic, quality).
TO_MINOR = {(0, "maj"): (0, "min"), (4, "min"): (3, "maj"), (5, "maj"): (5, "min"), (9, "min"): (8, "maj"),
            (11, "min"): (10, "maj"), (11, "maj"): (10, "maj"), (2, "maj"): (2, "min")}  # fmt: skip
TO_MAJOR = {(0, "min"): (0, "maj"), (3, "maj"): (4, "min"), (5, "min"): (5, "maj"), (7, "min"): (7, "maj"),
            (8, "maj"): (9, "min"), (10, "maj"): (7, "maj")}  # fmt: skip
MELODY_TO_MINOR = {4: 3, 9: 8, 11: 10}
MELODY_TO_MAJOR = {3: 4, 8: 9, 10: 11}


def read_clip(path: str | os.PathLike, max_seconds: float = MAX_SECONDS):
    """``(audio [T] at 32 kHz, Reading)`` of a clip, refusing clips too short, silent, without a melody (too few
    frames with a pitch: :func:`pitched_share`), or without a beat, each with a message saying what was found."""
    from audiogen.audio import load_audio
    from audiogen.controls.extract import read_controls

    y = load_audio(path, 32000, duration=max_seconds, allow_silent=True)
    seconds = len(y) / 32000
    if seconds < MIN_SECONDS:
        raise ValueError(f"melody_from clip {path} is {seconds:.1f} s long; at least {MIN_SECONDS:g} s are needed")
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if 20 * np.log10(max(rms, 1e-12)) < SILENT_DBFS:
        raise ValueError(f"melody_from clip {path} is silent (below {SILENT_DBFS:g} dBFS): no melody to take")
    share = pitched_share(y, 32000)
    if share < MIN_PITCHED:
        raise ValueError(
            f"melody_from clip {path}: no melody was found: a pitch was heard in {share:.0%} of its frames, and at "
            f"least {MIN_PITCHED:.0%} are needed to take a tune from it; give a clip with a melody (a voice or a lead "
            "instrument), not noise or percussion alone"
        )
    reading = read_controls(y, 32000)
    if len(reading.beats) < MIN_BEATS or not reading.tempo > 0:
        raise ValueError(
            f"melody_from clip {path}: no steady beat was found ({len(reading.beats)} beats; at least {MIN_BEATS} "
            "are needed to lay its melody out in bars)"
        )
    return y, reading


def pitched_share(y: np.ndarray, sr: int) -> float:
    """The share (0..1) of the frames of mono ``y`` ``[T]`` in which librosa's pYIN hears a pitch between C2 and C6
    (its voiced flag, 20 ms frames at 8 kHz), over at most :data:`PITCH_EXCERPTS` excerpts of
    :data:`PITCH_EXCERPT_S` seconds spread over the clip. Rendered music with a melody gives 0.64-0.88; white or
    pink noise 0.03-0.06."""
    import librosa

    from audiogen.audio import resample

    rate = 8000
    x = resample(np.asarray(y, dtype=np.float32), sr, rate)
    n = int(PITCH_EXCERPT_S * rate)
    starts = [0] if len(x) <= n * PITCH_EXCERPTS else np.linspace(0, len(x) - n, PITCH_EXCERPTS).astype(int)
    span = len(x) if len(x) <= n * PITCH_EXCERPTS else n
    flags = []
    for s in starts:
        _, voiced, _ = librosa.pyin(x[s : s + span], fmin=65.4, fmax=1046.5, sr=rate, frame_length=512, hop_length=160)
        flags.append(voiced)
    flags = np.concatenate(flags)
    return float(flags.mean()) if flags.size else 0.0


def clip_key(reading) -> tuple[int, str]:
    """``(tonic pitch class, mode)`` of a clip's reading (Krumhansl-Schmuckler on its mean chroma)."""
    from audiogen.analysis import PITCHES, key_from_chroma

    found = key_from_chroma(reading.chroma.mean(axis=0))
    return PITCHES.index(found["key"]), found["mode"]


def bar_chords(reading, downbeats: np.ndarray) -> list[tuple[int, str] | None]:
    """The chord sounding longest in each bar ``[downbeats[i], downbeats[i + 1])`` as ``(root pc, quality)``."""
    from audiogen.controls.chords import NO_CHORD, PITCH_NAMES

    out = []
    for a, b in itertools.pairwise(downbeats):
        weight: dict[str, float] = {}
        for s, e, lab in reading.chords:
            overlap = min(e, b) - max(s, a)
            if overlap > 0 and lab != NO_CHORD:
                weight[lab] = weight.get(lab, 0.0) + overlap
        if not weight:
            out.append(None)
            continue
        name, quality = max(weight, key=weight.get).split(":")
        out.append((PITCH_NAMES.index(name), quality))
    return out


def melody_notes(reading, downbeats: np.ndarray) -> list[tuple[float, float, int]]:
    """The clip's melody as ``(start bar position, end bar position, pitch class)``: positions in bars from the
    first downbeat (bar ``i`` spans ``[i, i + 1)``), segments shorter than :data:`MIN_NOTE_FRAMES` dropped."""
    from audiogen.controls.layout import FRAME_RATE

    pcs = reading.melody
    times = np.arange(len(pcs)) / FRAME_RATE
    pos = np.interp(times, downbeats, np.arange(len(downbeats)), left=-1, right=-1)
    notes = []
    start = 0
    for f in range(1, len(pcs) + 1):
        if f == len(pcs) or pcs[f] != pcs[start]:
            if pcs[start] >= 0 and f - start >= MIN_NOTE_FRAMES and pos[start] >= 0 and pos[f - 1] >= 0:
                notes.append((float(pos[start]), float(pos[f - 1]) + 1.0 / FRAME_RATE, int(pcs[start])))
            start = f
    return notes


def _reharmonise(degree: int, quality: str, from_mode: str, to_mode: str) -> tuple[int, str]:
    if from_mode == to_mode:
        return degree, quality
    table = TO_MINOR if to_mode == "minor" else TO_MAJOR
    return table.get((degree, quality), (degree, quality))


def plan_from_clip(clip: str | os.PathLike, text: str | None = None, **fields) -> Plan:
    """A plan that plays ``clip``'s chords and melody in the requested style, emotion, key and mode (see the module
    docstring); ``fields`` are those of :class:`~audiogen.compose.planner.PlanRequest`. Raises ``ValueError`` for a
    clip too short, silent or without a beat (``AudioError`` when it cannot be read)."""
    import dataclasses

    import pretty_midi

    from audiogen.compose.planner import PlanRequest, piece_params, plan_from_params
    from audiogen.conditioning.emotions import resolve

    req = PlanRequest.of(text, **fields)
    point = resolve(req.emotion, req.valence, req.arousal)
    valence = point.valence if point is not None else None
    _, reading = read_clip(clip)
    tonic, clip_mode = clip_key(reading)
    downbeats = np.asarray(reading.downbeats, dtype=np.float64)
    if len(downbeats) < 3:
        raise ValueError(f"melody_from clip {clip}: fewer than two whole bars were found")
    mode = req.mode
    if mode is None:
        mode = clip_mode if valence is None or abs(valence) <= 0.1 else ("major" if valence > 0 else "minor")
    clip_tempo = 60.0 / float(np.median(np.diff(reading.beats)))
    tempo = req.tempo if req.tempo is not None else clip_tempo
    composed = dataclasses.replace(
        req, tempo=float(np.clip(tempo, 40, 220)), key=req.key or composer.KEYS[tonic], mode=mode
    )  # the clip decides what the request leaves open
    p, why = piece_params(composed)
    target = composer.KEYS.index(p.key)
    chords = bar_chords(reading, downbeats)
    last = (tonic, "maj" if clip_mode == "major" else "min")
    degrees = []
    for ch in chords:
        ch = ch or last
        last = ch
        degrees.append(_reharmonise((ch[0] - tonic) % 12, ch[1], clip_mode, p.mode))
    n_bars, tl, end_time = composer.fit_bars(p)
    n_bars = max(n_bars, 1)
    bars = []
    for i in range(n_bars):
        deg, quality = degrees[i % len(degrees)]
        letter = "A" if (i // 4) % 2 == 0 else "B"
        bars.append(composer.Bar((deg, (0, 3, 7) if quality == "min" else (0, 4, 7)), letter, i // 4, i % 4, 4))
    if not p.loop:
        bars[-1].chord = composer.parse_chord("V")
    for k, b in enumerate(bars):
        b.next_root = bars[k + 1].chord[0] if k + 1 < len(bars) else 0
    melody = _melody(reading, downbeats, tonic, clip_mode, p, tl, n_bars, end_time, len(degrees))
    final = composer.final_chord(p)
    if not p.loop:
        prev = melody[-1].pitch if melody else 72
        pitch = min((n for n in range(60, 85) if n % 12 == (target + final[0]) % 12), key=lambda n: abs(n - prev))
        start = tl.time(n_bars * p.meter)
        if start < end_time - 0.1:
            melody.append(pretty_midi.Note(int(min(110, p.dynamics + 8)), pitch, start, end_time))
    clip_facts = {"key": f"{composer.KEYS[tonic]} {clip_mode}", "tempo": round(clip_tempo, 2), "bars": len(degrees)}
    request = {**req.to_dict(), "melody_from": os.path.basename(str(clip)), "why": {**why, "clip": clip_facts}}
    return plan_from_params(p, request, duration=req.duration, layout=(bars, tl, end_time), melody=melody)


def _melody(reading, downbeats, tonic: int, clip_mode: str, p, tl, n_bars: int, end_time: float, clip_bars: int):
    """The clip's melody moved to the target key and mode, tiled over ``n_bars`` bars of timeline ``tl``."""
    import pretty_midi

    target = composer.KEYS.index(p.key)
    shift = MELODY_TO_MINOR if p.mode == "minor" and clip_mode == "major" else {}
    shift = MELODY_TO_MAJOR if p.mode == "major" and clip_mode == "minor" else shift
    notes = melody_notes(reading, downbeats)
    out, prev = [], 67 + 7 * p.register
    vel = int(np.clip(p.dynamics + 8, 1, 127))
    for rep in range(int(np.ceil(n_bars / max(clip_bars, 1)))):
        for a, b, pc in notes:
            a, b = a + rep * clip_bars, min(b + rep * clip_bars, (rep + 1) * clip_bars)
            if a >= n_bars:
                break
            rel = shift.get((pc - tonic) % 12, (pc - tonic) % 12)
            want = (target + rel) % 12
            pitch = min((n for n in range(55, 91) if n % 12 == want), key=lambda n: abs(n - prev))
            start, end = tl.time(a * p.meter), min(tl.time(min(b, n_bars) * p.meter), end_time)
            if end - start > 0.03:
                out.append(pretty_midi.Note(vel, int(pitch), float(start), float(end)))
                prev = pitch
    return out
