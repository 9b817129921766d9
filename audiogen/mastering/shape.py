"""Shaping the clip before levels are set: DC-removing high-pass, length, fades and seamless loops.

All functions take and return mono float64 ``(T,)`` arrays and never modify their input.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

ANTI_CLICK_S = 0.005  # the ramp that ends a clip cut with ending="none"


def highpass(x: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Remove DC and sub-sonic rumble: 2nd-order Butterworth high-pass run forwards and backwards (zero phase).

    ``(T,)`` → ``(T,)``; ``cutoff_hz <= 0`` (or fewer than 8 samples) returns a copy.
    """
    if cutoff_hz <= 0 or x.size < 8:
        return x.copy()
    sos = butter(2, cutoff_hz, btype="highpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, x, padlen=min(x.size - 1, 3 * sample_rate // 100))


def fade_in(x: np.ndarray, num: int) -> np.ndarray:
    """Raised-sine fade-in over the first ``num`` samples; the first sample becomes exactly 0."""
    y = x.copy()
    num = min(num, y.size)
    if num > 0:
        y[:num] *= np.sin(0.5 * np.pi * np.arange(num) / num) ** 2
    return y


def fade_out(x: np.ndarray, num: int, shape: str = "musical") -> np.ndarray:
    """Fade the last ``num`` samples to exactly 0 at the final sample.

    ``shape="musical"``: gain ``(1 - t)**2`` — about −12 dB halfway, −40 dB at 90 %, so the perceived loudness falls
    roughly linearly. ``shape="cosine"``: a quarter-cosine-squared ramp (for short anti-click ramps).
    """
    y = x.copy()
    num = min(num, y.size)
    if num > 0:
        t = np.arange(1, num + 1) / num  # reaches 1 on the last sample
        gain = (1.0 - t) ** 2 if shape == "musical" else np.cos(0.5 * np.pi * t) ** 2
        gain[-1] = 0.0  # exactly, not cos(pi/2)**2 ~ 1e-33
        y[-num:] *= gain
    return y


def fit_length(x: np.ndarray, num: int) -> np.ndarray:
    """Cut ``x`` to ``num`` samples, or pad it with trailing silence up to ``num``."""
    if x.size >= num:
        return x[:num].copy()
    return np.concatenate([x, np.zeros(num - x.size, dtype=x.dtype)])


def crossfade_loop(source: np.ndarray, num: int, xfade: int) -> np.ndarray:
    """A seamless loop of ``num`` samples from ``source`` of at least ``num + xfade`` samples.

    The ``xfade`` samples after the loop's end are mixed into its head with equal-power (sine/cosine) weights::

        y[i] = source[i] * sin(pi/2 * i/X) + source[num + i] * cos(pi/2 * i/X)   for i < X
        y[i] = source[i]                                                           for X <= i < num

    so ``y[0] == source[num]``: the sample that follows ``y[-1]`` when the loop repeats is the one that followed it
    in the source, and the wrap is as smooth as the music itself.
    """
    if source.size < num + xfade:
        raise ValueError(f"a loop of {num} samples with a {xfade}-sample crossfade needs {num + xfade} source samples")
    y = source[:num].copy()
    if xfade > 0:
        phase = 0.5 * np.pi * np.arange(xfade) / xfade
        y[:xfade] = source[:xfade] * np.sin(phase) + source[num : num + xfade] * np.cos(phase)
    return y


def make_loop(x: np.ndarray, num: int | None, xfade: int) -> tuple[np.ndarray, list[str]]:
    """A seamless loop from ``x`` ``(T,)``: ``num`` samples long (``None``: as long as ``x`` allows).

    The crossfade is at most a quarter of the loop. If ``x`` is shorter than ``num`` plus the crossfade, ``x`` is
    first made into a shorter seamless loop and repeated, and a note says so.

    Returns:
        ``(loop (num,), notes)``.
    """
    notes: list[str] = []
    if x.size < 2:
        raise ValueError(f"a loop needs at least 2 samples of audio, got {x.size}")
    if num is None:
        xfade = max(1, min(xfade, x.size // 5))
        return crossfade_loop(x, x.size - xfade, xfade), notes
    xfade = max(1, min(xfade, num // 4))
    if x.size < num + xfade:
        given = x.size
        inner = max(1, min(xfade, x.size // 5))
        period = crossfade_loop(x, x.size - inner, inner)
        x = np.resize(period, num + xfade)  # repeats the seamless period
        notes.append(
            f"loop: {num} samples (+{xfade} crossfade) requested but only {given} given; "
            f"a {period.size}-sample loop was repeated to fill it"
        )
    return crossfade_loop(x, num, xfade), notes


def loop_source_samples(num: int, xfade: int) -> int:
    """How many source samples a ``num``-sample loop with an ``xfade``-sample crossfade uses without repeating."""
    return num + max(1, min(xfade, num // 4))
