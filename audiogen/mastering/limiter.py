"""A look-ahead true-peak limiter.

The gain computer works on the attenuation each input sample needs so that its 4× oversampled neighbourhood stays
under the ceiling. That attenuation (in dB) is

1. held with an exponential release: ``a[n] = max(a_req[n], a[n-1] * exp(-1 / (release * sr)))``;
2. spread backwards over the look-ahead window (a sliding maximum over the next ``L`` samples), so the gain is
   already down when a peak arrives;
3. smoothed with a length-``L`` moving average, which turns every step into a linear ramp of ``attack`` seconds.

Each output of step 3 averages ``L`` values that all cover the sample it lands on, so the smoothed attenuation is
never less than the required one: the ramps never let a peak through. Everything is vectorised and linear in time
(the release is a running maximum in the log domain); the cost is dominated by one true-peak envelope per pass.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter1d

from audiogen.mastering.measure import true_peak_envelope


def _required_attenuation_db(envelope: np.ndarray, ceiling: float) -> np.ndarray:
    """``(T,)`` true-peak envelope → ``(T,)`` dB of attenuation each sample needs so that the oversampled waveform
    around it, over ``[n - 1, n + 2)``, stays ≤ ``ceiling``."""
    env = maximum_filter1d(envelope, size=3, mode="nearest")
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(env / ceiling), 0.0)


def _release(att_db: np.ndarray, release_samples: float) -> np.ndarray:
    """Peak hold with exponential decay, ``(T,)`` → ``(T,)``, vectorised as a running max in the log domain.

    ``y[n] = max_m att[m] * r**(n - m)`` with ``r = exp(-1 / release_samples)``, so
    ``log y[n] = -n / R + cummax(log att[m] + m / R)``.
    """
    n = np.arange(att_db.size, dtype=np.float64) / release_samples
    with np.errstate(divide="ignore"):
        log_att = np.log(att_db)
    return np.exp(np.maximum.accumulate(log_att + n) - n)


def _look_ahead(att_db: np.ndarray, length: int) -> np.ndarray:
    """Sliding max over ``[n, n + length)`` then a moving average over ``(n - length, n]``; ``(T,)`` → ``(T,)``."""
    if length <= 1:
        return att_db
    ahead = maximum_filter1d(att_db, size=length, origin=-(length // 2), mode="constant", cval=0.0)
    padded = np.concatenate([np.full(length - 1, ahead[0]), ahead])  # edge value keeps the bound at the start
    csum = np.concatenate([[0.0], np.cumsum(padded)])
    return (csum[length:] - csum[:-length]) / length


def limit_true_peak(
    audio: np.ndarray,
    sample_rate: int,
    ceiling_db: float,
    attack_ms: float = 5.0,
    release_ms: float = 80.0,
    passes: int = 2,
    envelope: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Limit mono ``audio`` ``(T,)`` so its 4× oversampled true peak is ≤ ``ceiling_db`` dBTP.

    Args:
        audio: ``(T,)`` float samples (any level; peaks above 0 dBFS are fine).
        sample_rate: samples per second.
        ceiling_db: the true-peak ceiling in dBTP.
        attack_ms: look-ahead and gain-ramp length.
        release_ms: time constant of the gain recovery after a peak.
        passes: limiter passes; a later pass only acts on what the previous one's ramps left above the ceiling.
        envelope: ``true_peak_envelope(audio)`` if the caller has it already (it scales linearly with gain, so
            one computed for the unscaled signal serves every gain tried).

    Returns:
        ``(limited (T,) float64, max_reduction_db)`` — the largest gain reduction applied, 0.0 if none was needed.
    """
    y = np.asarray(audio, dtype=np.float64).copy()
    if y.size == 0:
        return y, 0.0
    ceiling = 10.0 ** (ceiling_db / 20.0)
    length = max(1, round(attack_ms * 1e-3 * sample_rate))
    release = max(1.0, release_ms * 1e-3 * sample_rate)
    total = np.zeros_like(y)
    env = true_peak_envelope(y) if envelope is None else envelope
    for _ in range(passes):
        need = _required_attenuation_db(env, ceiling)
        if not np.any(need > 0):
            break
        att = _look_ahead(_release(need, release), length)
        y *= 10.0 ** (-att / 20.0)
        total += att
        env = true_peak_envelope(y)
    peak = float(np.max(env))
    if peak > ceiling:  # whatever the ramps still leave over (tiny): a static trim
        y *= ceiling / peak
        total += 20.0 * math.log10(peak / ceiling)
    return y, float(total.max())
