"""The beat tracker used everywhere: librosa's dynamic-programming tracker on an onset envelope, de-jittered.

It finds the beats of training audio (the LM's controls), of reference clips and prompts, and of generated tracks in
the benchmarks, so that what is asked for and what is read back are measured the same way.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 11025  # 43 onset frames per second at HOP; half librosa's default rate, the same frame rate
HOP = 256
SMOOTH = 4  # beats each side of the local straight-line fit that removes the onset grid's jitter
# The tracker's beats fall this long after the notes that make them: on renders of 16 composed plans (exact note-on
# times, drums or none, 84-128 BPM) the median lag was 75 ms (interquartile range 73-80 ms), on clicks 20 ms (the
# onset envelope's 2048-point window at 11025 Hz smears dense music more than clicks). Music is what it reads, so the
# music figure is taken off every beat. Measured by eval/bench_beats.py (BENCHMARKS.md, "Beat tracker latency").
LATENCY_S = 0.075


def track_beats(y: np.ndarray, sr: int, tempo_hint: float | None = None) -> tuple[float, np.ndarray]:
    """``(tempo BPM, beat times [N] seconds)`` of mono audio ``y`` ``[T]`` at ``sr`` Hz (N may be 0 for silence),
    smoothed by :func:`smooth_beats` and moved :data:`LATENCY_S` earlier (onto the notes that make them).

    ``tempo_hint`` (BPM) centres the tracker's tempo prior (a label of the track, when there is one).
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"audio must be mono [T], got shape {y.shape}")
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP)
    start = float(tempo_hint) if tempo_hint and 30 <= tempo_hint <= 300 else 120.0
    tempo, frames = librosa.beat.beat_track(onset_envelope=env, sr=SAMPLE_RATE, hop_length=HOP, start_bpm=start)
    times = smooth_beats(librosa.frames_to_time(frames, sr=SAMPLE_RATE, hop_length=HOP)) - LATENCY_S
    return float(np.atleast_1d(tempo)[0]), times[times >= 0]


def smooth_beats(times: np.ndarray, half: int = SMOOTH) -> np.ndarray:
    """Beat times ``[N]`` with the onset grid's jitter (±1 hop) removed: each beat moves onto the straight line
    fitted to the ``2 * half + 1`` beats around it, so steady stretches become steady and tempo changes stay."""
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n < 3 or half < 1:
        return times
    out = np.empty(n)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        idx = np.arange(lo, hi, dtype=np.float64)
        slope, intercept = np.polyfit(idx, times[lo:hi], 1)
        out[i] = slope * i + intercept
    return out if np.all(np.diff(out) > 0) else times
