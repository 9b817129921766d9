"""The beat clock: a per-frame signal that tells the LM where each codec frame falls in the beat.

A tempo given only as a prefix token leaves the model to count beats on its own for seconds at a time, and a small
model does not: its output drifts into texture with no steady pulse. The clock is given at every step instead. For
a list of beat times (seconds) each frame ``f`` gets the beat phase ``phi`` in ``[0, 1)`` of its start time
``f / frame_rate`` (0 on a beat, 0.5 half-way to the next) and the features::

    [1, sin 2 pi phi, cos 2 pi phi, sin 4 pi phi, cos 4 pi phi]      (CLOCK_FEATURES = 5)

The first feature says "a clock is present": a frame without a clock is all zeros, which the model's linear clock
projection (no bias) maps to nothing, so "no clock" is the model without this input. Before the first beat and after
the last one, the phase runs on with the first and last beat intervals.

In training the beats come from the beat tracker (:mod:`audiogen.data.beats`); in generation from the requested
tempo (:func:`grid_beats`), so the model keeps the tempo it is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

CLOCK_FEATURES = 5


def grid_beats(tempo: float, duration: float, start: float = 0.0) -> np.ndarray:
    """Beat times (seconds) of a steady ``tempo`` (BPM, > 0) from ``start`` to at least ``duration`` seconds."""
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0 BPM, got {tempo}")
    period = 60.0 / tempo
    n = max(2, int(np.ceil((duration - start) / period)) + 2)
    return start + period * np.arange(n, dtype=np.float64)


def beat_phase(beats: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Beat phase in ``[0, 1)`` at ``times`` (seconds, ``[N]``) for increasing ``beats`` (seconds, ``[M >= 2]``)."""
    beats = np.asarray(beats, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if beats.ndim != 1 or len(beats) < 2 or not np.all(np.diff(beats) > 0):
        raise ValueError(f"beats must be >= 2 strictly increasing times, got shape {beats.shape}")
    index = np.interp(times, beats, np.arange(len(beats), dtype=np.float64))
    before, after = times < beats[0], times > beats[-1]
    index[before] = (times[before] - beats[0]) / (beats[1] - beats[0])
    index[after] = len(beats) - 1 + (times[after] - beats[-1]) / (beats[-1] - beats[-2])
    return np.mod(index, 1.0)


def clock_features(beats: np.ndarray | None, start: int, length: int, frame_rate: float) -> torch.Tensor:
    """Clock features ``[length, CLOCK_FEATURES]`` (float32) of frames ``start .. start + length - 1``.

    ``beats``: beat times in seconds from frame 0, or None (or fewer than 2 beats) for "no clock" (all zeros).
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    out = torch.zeros(length, CLOCK_FEATURES)
    if beats is None or len(beats) < 2 or length == 0:
        return out
    phase = beat_phase(beats, (start + np.arange(length)) / frame_rate)
    angle = torch.from_numpy(2 * np.pi * phase).float()
    out[:, 0] = 1.0
    out[:, 1], out[:, 2] = torch.sin(angle), torch.cos(angle)
    out[:, 3], out[:, 4] = torch.sin(2 * angle), torch.cos(2 * angle)
    return out


def batch_clock(
    beats: Sequence[np.ndarray | None], start: int, length: int, frame_rate: float, device=None
) -> torch.Tensor:
    """Stack :func:`clock_features` of every row: ``[len(beats), length, CLOCK_FEATURES]``."""
    rows = [clock_features(b, start, length, frame_rate) for b in beats]
    return torch.stack(rows).to(device) if rows else torch.zeros(0, length, CLOCK_FEATURES, device=device)
