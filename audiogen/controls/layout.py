"""Dense controls at the codec frame rate: what the performer LM is told about every frame.

One frame's control vector has :data:`CONTROL_FEATURES` = 35 numbers in four groups::

    chords    [0:12]  chroma of the sounding chord, multi-hot (all zero = no chord)    [12] group present
    melody    [13:25] pitch class of the melody, one-hot (all zero = rest)             [25] group present
    beat      [26]    beat pulse, [27] downbeat pulse (MusiConGen's kernel around each beat / downbeat)
              [28:33] the beat clock: [present, sin 2πφ, cos 2πφ, sin 4πφ, cos 4πφ] of the beat phase φ
    dynamics  [33]    level in dB relative to the track's median level, / 12, clipped to [-2, 2]   [34] present

A group that is not given (not known, or dropped for guidance) is all zeros, its "present" flag included, so the
model's linear control projections (no bias) see nothing of it. The same layout is computed from a plan
(:mod:`audiogen.controls.from_plan`, exact) and from audio (:mod:`audiogen.controls.extract`, by analysis), so a model
trained on extracted controls can be driven by composed ones.
"""

from __future__ import annotations

import numpy as np

FRAME_RATE = 50.0
CONTROL_FEATURES = 35
GROUPS: dict[str, slice] = {
    "chords": slice(0, 13),
    "melody": slice(13, 26),
    "beat": slice(26, 33),
    "dynamics": slice(33, 35),
}
CHORD, CHORD_ON = slice(0, 12), 12
MELODY, MELODY_ON = slice(13, 25), 25
BEAT, DOWNBEAT, CLOCK = 26, 27, slice(28, 33)
LEVEL, LEVEL_ON = 33, 34
LEVEL_SCALE_DB = 12.0
# MusiConGen's beat-pulse kernel (frames around a beat at 50 Hz).
PULSE_KERNEL = np.array([0.05, 0.1, 0.3, 0.9, 0.3, 0.1, 0.05], dtype=np.float32)


def empty(n_frames: int) -> np.ndarray:
    """All-absent controls ``[n_frames, CONTROL_FEATURES]`` float32."""
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    return np.zeros((n_frames, CONTROL_FEATURES), dtype=np.float32)


def check_groups(groups) -> tuple[str, ...]:
    """Validate a collection of group names (see :data:`GROUPS`)."""
    groups = tuple(groups)
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"unknown control group(s) {bad}; allowed: {', '.join(GROUPS)}")
    return groups


def drop(controls, groups) -> np.ndarray:
    """A copy of ``controls`` ``[..., CONTROL_FEATURES]`` (numpy or torch) with ``groups`` zeroed."""
    out = controls.clone() if hasattr(controls, "clone") else np.array(controls, copy=True)
    for g in check_groups(groups):
        out[..., GROUPS[g]] = 0
    return out


def pulse(event_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """``[n_frames]`` pulse: :data:`PULSE_KERNEL` centred on each event frame, overlaps combined by maximum."""
    out = np.zeros(n_frames, dtype=np.float32)
    half = len(PULSE_KERNEL) // 2
    for f in np.asarray(event_frames, dtype=np.int64):
        lo, hi = f - half, f + half + 1
        if hi <= 0 or lo >= n_frames:
            continue
        k0, k1 = max(0, -lo), len(PULSE_KERNEL) - max(0, hi - n_frames)
        seg = slice(max(lo, 0), min(hi, n_frames))
        out[seg] = np.maximum(out[seg], PULSE_KERNEL[k0:k1])
    return out


def grid_beats(tempo: float, duration: float, start: float = 0.0) -> np.ndarray:
    """Beat times (seconds) of a steady ``tempo`` (BPM, > 0) from ``start`` to at least ``duration`` seconds."""
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0 BPM, got {tempo}")
    period = 60.0 / tempo
    n = max(2, int(np.ceil((duration - start) / period)) + 2)
    return start + period * np.arange(n, dtype=np.float64)


def beat_phase(beats: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Beat phase in ``[0, 1)`` at ``times`` (seconds ``[N]``) for increasing ``beats`` (seconds ``[M >= 2]``); before
    the first and after the last beat the phase runs on with the first and last beat intervals."""
    beats = np.asarray(beats, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if beats.ndim != 1 or len(beats) < 2 or not np.all(np.diff(beats) > 0):
        raise ValueError(f"beats must be >= 2 strictly increasing times, got shape {beats.shape}")
    index = np.interp(times, beats, np.arange(len(beats), dtype=np.float64))
    before, after = times < beats[0], times > beats[-1]
    index[before] = (times[before] - beats[0]) / (beats[1] - beats[0])
    index[after] = len(beats) - 1 + (times[after] - beats[-1]) / (beats[-1] - beats[-2])
    return np.mod(index, 1.0)


def write_beats(
    out: np.ndarray, beats: np.ndarray | None, downbeats: np.ndarray | None, frame_rate: float = FRAME_RATE
) -> None:
    """Fill the beat group of ``out`` ``[T, F]`` in place from beat and downbeat times (seconds); fewer than two
    beats leave the group absent."""
    n = len(out)
    out[:, GROUPS["beat"]] = 0
    if beats is None or len(beats) < 2 or n == 0:
        return
    beats = np.asarray(beats, dtype=np.float64)
    out[:, BEAT] = pulse(np.round(beats * frame_rate).astype(np.int64), n)
    if downbeats is not None and len(downbeats):
        out[:, DOWNBEAT] = pulse(np.round(np.asarray(downbeats) * frame_rate).astype(np.int64), n)
    angle = 2 * np.pi * beat_phase(beats, np.arange(n) / frame_rate)
    out[:, CLOCK] = np.stack([np.ones(n), np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)], 1)


def write_level(out: np.ndarray, level_db: np.ndarray | None) -> None:
    """Fill the dynamics group of ``out`` ``[T, F]`` from a level curve in dB ``[T]`` (any reference: it is taken
    relative to its median), or leave it absent for None."""
    out[:, GROUPS["dynamics"]] = 0
    if level_db is None or len(out) == 0:
        return
    rel = (np.asarray(level_db, dtype=np.float64) - np.median(level_db)) / LEVEL_SCALE_DB
    out[:, LEVEL] = np.clip(rel, -2.0, 2.0)
    out[:, LEVEL_ON] = 1.0


def smooth_level_db(power: np.ndarray, frame_rate: float = FRAME_RATE, seconds: float = 1.0) -> np.ndarray:
    """Level in dB ``[T]`` of a per-frame power curve ``[T]``, averaged over ``seconds`` (centred) and floored 60 dB
    below its peak."""
    power = np.asarray(power, dtype=np.float64)
    width = max(1, int(round(seconds * frame_rate)))
    kernel = np.ones(width) / width
    smooth = np.convolve(np.pad(power, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")
    db = 10 * np.log10(np.maximum(smooth, 1e-12))
    return np.maximum(db, db.max() - 60.0) if len(db) else db


def chord_pcs(frame: np.ndarray) -> tuple[int, ...]:
    """Pitch classes of a control frame's chord (empty when none or absent)."""
    return tuple(int(i) for i in np.flatnonzero(np.asarray(frame)[CHORD] > 0.5))


def melody_pc(frame: np.ndarray) -> int | None:
    """Pitch class of a control frame's melody note (None for a rest or when absent)."""
    m = np.asarray(frame)[MELODY]
    return int(m.argmax()) if m.max() > 0.5 else None
