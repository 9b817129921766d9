"""Loudness and peak measurement: integrated loudness (ITU-R BS.1770-4) and 4× oversampled true peak (Annex 2).

These are the meters the mastering chain aims with, and the ones the batch renderer and the evaluation scripts report.
Silence is measured as ``-inf`` rather than raising, so callers can test for it with :func:`math.isfinite`.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

GATE_BLOCK_S = 0.4  # BS.1770 gating block
ABSOLUTE_GATE_LUFS = -70.0

# The interpolation filter of BS.1770-4 Annex 2: a 48-tap linear-phase FIR in four 12-tap phases. Phase 0 and 1 as
# printed in the Recommendation; the prototype is symmetric, so phases 3 and 2 are phases 0 and 1 reversed.
# fmt: off
_PHASE0 = (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
           0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500)
_PHASE1 = (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
           0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375)
# fmt: on
BS1770_PHASES = np.array([_PHASE0, _PHASE1, _PHASE1[::-1], _PHASE0[::-1]])  # (4 phases, 12 taps)
BS1770_FIR = BS1770_PHASES.T.reshape(-1)  # (48,) prototype: tap 4 * i + p is tap i of phase p
_PHASE_DELAY = 6  # phase outputs at index n + 6 lie in [n, n + 1): the prototype delays by 23.5 / 4 samples


def _as_mono(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio of shape (T,), got shape {tuple(x.shape)}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not np.isfinite(x).all():
        raise ValueError("audio holds NaN or infinite samples")
    return x


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated, gated loudness of mono ``audio`` of shape ``(T,)`` in LUFS (ITU-R BS.1770-4, via pyloudnorm).

    Clips shorter than the 400 ms gating block are measured as a single block spanning the whole clip (K-weighted
    mean square with the absolute gate only). Returns ``-inf`` for an empty clip, digital silence, or anything
    below the −70 LUFS absolute gate.
    """
    x = _as_mono(audio, sample_rate)
    if x.size < 2 or not np.any(x):
        return -math.inf
    block = GATE_BLOCK_S if x.size >= GATE_BLOCK_S * sample_rate else x.size / sample_rate
    # One meter per call: pyloudnorm meters keep per-call state (blockwise loudness).
    lufs = float(pyloudnorm.Meter(sample_rate, block_size=block).integrated_loudness(x))
    if not math.isfinite(lufs) or lufs < ABSOLUTE_GATE_LUFS:
        return -math.inf
    return lufs


def interpolated_phases(audio: np.ndarray) -> np.ndarray:
    """The 4× oversampled waveform of ``audio`` ``(T,)`` as its four polyphase streams, ``(4, T + 11)``.

    Row ``r`` is the BS.1770-4 Annex 2 filter's phase ``r`` run over ``audio`` (full convolution, so the ringing
    after the last sample is included); ``out[r, m]`` lies at time ``m - 5.875 + r / 4`` input samples. Interleaving
    the rows gives the zero-stuffed-and-filtered 4× signal. The coefficients are rate-independent and used at 32 kHz
    unchanged.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.size < _PARALLEL_FROM or _workers() < 2:
        return np.stack([np.convolve(x, phase) for phase in BS1770_PHASES])
    out = np.empty((len(BS1770_PHASES), x.size + len(BS1770_PHASES[0]) - 1))

    def one(r: int) -> None:
        out[r] = np.convolve(x, BS1770_PHASES[r])

    list(_pool().map(one, range(len(BS1770_PHASES))))  # NumPy lets go of the GIL inside the convolution
    return out


_PARALLEL_FROM = 1 << 17  # samples (about 4 s at 32 kHz): below this, threads cost more than they save
_POOL: list = []


def _workers() -> int:
    """Threads the phases may use: torch's intra-op thread count (the process's own thread policy), at most 4."""
    import torch

    return max(1, min(4, torch.get_num_threads()))


def _pool():
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL or _POOL[0][0] != _workers():
        _POOL[:] = [(_workers(), ThreadPoolExecutor(_workers(), thread_name_prefix="audiogen-true-peak"))]
    return _POOL[0][1]


def true_peak_envelope(audio: np.ndarray) -> np.ndarray:
    """``(T,)`` → ``(T,)``: the largest absolute 4× oversampled value in ``[n, n + 1)`` for each sample ``n``
    (the waveform before the first / after the last sample is folded into the first / last entry)."""
    x = np.asarray(audio, dtype=np.float64)
    phases = np.abs(interpolated_phases(x))
    env = np.max(phases[:, _PHASE_DELAY : _PHASE_DELAY + x.size], axis=0)
    np.maximum(env, np.abs(x), out=env)
    if x.size:
        env[0] = max(env[0], float(phases[:, :_PHASE_DELAY].max(initial=0.0)))
        env[-1] = max(env[-1], float(phases[:, _PHASE_DELAY + x.size :].max(initial=0.0)))
    return env


def true_peak_db(audio: np.ndarray, sample_rate: int) -> float:
    """True peak of mono ``audio`` ``(T,)`` in dBTP: the maximum of the 4× oversampled signal (BS.1770-4 Annex 2).

    At 32 kHz the Annex 2 filter (drawn up for 48 kHz) reads up to ~0.7 dB lower than an ideal (sinc)
    reconstruction for content above ~12 kHz; the mastering chain's ``mp3_margin_db`` covers that as well as the
    peaks lossy encoding adds. ``sample_rate`` is only validated. Returns ``-inf`` for silence.
    """
    x = _as_mono(audio, sample_rate)
    if x.size == 0:
        return -math.inf
    peak = max(float(np.max(np.abs(interpolated_phases(x)))), float(np.max(np.abs(x))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def sample_peak_db(audio: np.ndarray) -> float:
    """Sample peak of ``audio`` in dBFS (``-inf`` for silence)."""
    x = np.asarray(audio, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
