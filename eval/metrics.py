"""Evaluation metrics: Fréchet distance, codec distances and the pitch they keep, tempo / key adherence, silence,
clipping, diversity.

The codec distances are the training losses of :mod:`audiogen.codec.losses` used as metrics (the "mel distance" is
:class:`~audiogen.codec.losses.MultiScaleMelLoss`). Tempo, key and mode are measured with the same analysis that
labels the training data (:func:`audiogen.analysis.describe`), so a generated track is judged by the yardstick
its conditioning was learned from; the independent judge is musicnn (:mod:`audiogen.eval.judge`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

SILENCE_DB = -60.0  # a 100 ms frame quieter than this (dBFS RMS) counts as silent
CLIP_LEVEL = 0.999  # a sample at or above this magnitude counts as clipped


# --- Fréchet distance --------------------------------------------------------------------------------------------


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``embeddings`` ``(N, D)``, in float64 (N >= 2)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings must be (N, D) with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or infinite values")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2) (means ``(D,)``, covariances ``(D, D)``).

    ``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)``. The trace term is computed as
    ``tr((S1^½ S2 S1^½)^½)`` (equal in exact arithmetic): both square roots are of symmetric positive semi-definite
    matrices, taken by eigendecomposition with round-off negatives clipped to zero, so covariances estimated from
    fewer samples than dimensions (singular) give a finite, real answer where ``sqrtm(S1 @ S2)`` does not.
    Returns a float >= 0.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: means {mu1.shape}, {mu2.shape}; covariances {s1.shape}, {s2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        raise ValueError("means and covariances must be finite")
    w, v = linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ ((s2 + s2.T) / 2) @ root1
    trace_sqrt = np.sqrt(np.clip(linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def frechet_distance_between(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to embedding sets ``a`` ``(N, D)`` and ``b`` ``(M, D)``."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


# --- codec distances ---------------------------------------------------------------------------------------------

_MEL_LOSSES: dict[int, object] = {}


def codec_distances(reference, estimate, sample_rate: int = 32000) -> dict[str, float]:
    """Mel distance, multi-resolution STFT distance and SI-SDR (dB) of ``estimate`` vs ``reference``.

    Both are ``[B, T]`` tensors or arrays (``(T,)`` is taken as one item). The distances are means over the batch;
    lower is better for the two distances, higher for SI-SDR.
    """
    import torch

    from audiogen.codec.losses import MultiScaleMelLoss, multi_resolution_stft_distance, si_sdr

    x = torch.as_tensor(np.asarray(reference, np.float32)).reshape(-1, np.shape(reference)[-1])
    y = torch.as_tensor(np.asarray(estimate, np.float32)).reshape(-1, np.shape(estimate)[-1])
    if x.shape != y.shape:
        raise ValueError(f"reference and estimate shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if sample_rate not in _MEL_LOSSES:
        _MEL_LOSSES[sample_rate] = MultiScaleMelLoss(sample_rate)
    with torch.no_grad():
        return {
            "mel": float(_MEL_LOSSES[sample_rate](y, x)),
            "stft": float(multi_resolution_stft_distance(y, x)),
            "si_sdr": float(si_sdr(y, x).mean()),
        }


def chroma_cosine(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 32000, hop: int = 512) -> float:
    """Mean frame-wise cosine between the CQT chroma (``librosa.feature.chroma_cqt``, 12 x frames) of ``estimate``
    ``(T,)`` and of ``reference`` ``(T,)``: how much of the pitch-class content survives (1 = all of it). Frames
    where the reference has no chroma energy are left out."""
    import librosa

    a, b = (
        librosa.feature.chroma_cqt(y=np.asarray(x, np.float32), sr=sample_rate, hop_length=hop)
        for x in (reference, estimate)
    )
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    keep = na > 1e-6
    if not keep.any():
        return float("nan")
    return float(np.mean((a * b).sum(0)[keep] / (na[keep] * np.maximum(nb[keep], 1e-9))))


def harmonic_share(audio: np.ndarray, n_fft: int = 2048, hop: int = 512) -> float:
    """Share of the energy of ``audio`` ``(T,)`` in the harmonic part of a harmonic/percussive separation
    (``librosa.decompose.hpss``, median filters of 17 frames/bins): sustained notes read high, broadband smears low."""
    import librosa

    mag = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft, hop_length=hop))
    harm, perc = librosa.decompose.hpss(mag, kernel_size=17)
    total = float((harm**2).sum() + (perc**2).sum())
    return float((harm**2).sum() / total) if total > 0 else float("nan")


def align(reference: np.ndarray, estimate: np.ndarray, max_lag: int = 8000) -> np.ndarray:
    """``estimate`` ``(T',)`` shifted by the lag (within ±``max_lag`` samples) that best matches ``reference``
    ``(T,)`` and cut or zero-padded to length ``T`` (undoes the fixed delay of codecs such as Opus)."""
    ref = np.asarray(reference, np.float64)
    est = np.asarray(estimate, np.float64)
    n = len(ref)
    est = np.pad(est[: n + max_lag], (0, max(0, n + max_lag - len(est))))
    spec = np.fft.rfft(est, 2 * (n + max_lag)) * np.conj(np.fft.rfft(ref, 2 * (n + max_lag)))
    corr = np.fft.irfft(spec)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    best = int(lags[np.argmax(np.r_[corr[: max_lag + 1], corr[-max_lag:]])])
    out = est[best : best + n] if best >= 0 else np.r_[np.zeros(-best), est[: n + best]]
    return np.pad(out, (0, n - len(out))).astype(np.float32)


# --- tempo, key, mode --------------------------------------------------------------------------------------------


def tempo_hit(measured: float, requested: float, tolerance: float) -> bool:
    """Whether ``measured`` BPM lies within ``tolerance`` (a fraction: 0.04 = 4 %) of ``requested``.

    Half- and double-time readings are misses: only the requested metrical level counts.
    """
    if requested <= 0 or not math.isfinite(requested):
        raise ValueError(f"requested tempo must be a positive number of BPM, got {requested}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be a fraction in (0, 1), got {tolerance}")
    return bool(math.isfinite(measured) and abs(measured - requested) <= tolerance * requested)


def tempo_adherence(measured: Sequence[float], requested: Sequence[float]) -> dict[str, float]:
    """Share of tracks within 4 % and 8 % of the requested tempo (half/double time = miss), and the mean absolute
    error in BPM. Sequences of equal length ``N >= 1``."""
    if len(measured) != len(requested) or not measured:
        raise ValueError(f"need equal, non-empty lists; got {len(measured)} measured and {len(requested)} requested")
    return {
        "within_4pct": float(np.mean([tempo_hit(m, r, 0.04) for m, r in zip(measured, requested, strict=True)])),
        "within_8pct": float(np.mean([tempo_hit(m, r, 0.08) for m, r in zip(measured, requested, strict=True)])),
        "mean_abs_error_bpm": float(np.mean([abs(m - r) for m, r in zip(measured, requested, strict=True)])),
        "n": len(measured),
    }


def key_accuracy(measured: Sequence[tuple[str, str]], requested: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Accuracy of ``(tonic, mode)`` pairs such as ``("A", "minor")``: exact key, mode alone, tonic alone.

    Enharmonic spellings are equal (``"Bb" == "A#"``).
    """
    if len(measured) != len(requested) or not measured:
        raise ValueError(f"need equal, non-empty lists; got {len(measured)} measured and {len(requested)} requested")
    pairs = [
        ((pitch_class(mt), mm), (pitch_class(rt), rm)) for (mt, mm), (rt, rm) in zip(measured, requested, strict=True)
    ]
    return {
        "key": float(np.mean([m == r for m, r in pairs])),
        "mode": float(np.mean([m[1] == r[1] for m, r in pairs])),
        "tonic": float(np.mean([m[0] == r[0] for m, r in pairs])),
        "n": len(pairs),
    }


_PITCHES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_class(name: str) -> int:
    """Pitch class 0..11 of a note name such as ``"C"``, ``"F#"``, ``"Bb"``."""
    name = str(name).strip()
    if not name or name[0].upper() not in _PITCHES:
        raise ValueError(f"not a note name: {name!r} (expected A..G with optional # or b)")
    pc = _PITCHES[name[0].upper()] + name[1:].count("#") - name[1:].count("b")
    return pc % 12


def parse_key(key: str) -> tuple[str, str]:
    """``"A minor"`` / ``"F# major"`` / ``"Am"`` / ``"C"`` → ``(tonic, mode)``; mode defaults to major."""
    parts = str(key).replace("-", " ").split()
    if not parts:
        raise ValueError("empty key; expected e.g. 'A minor' or 'C major'")
    tonic, rest = parts[0], " ".join(parts[1:]).lower()
    if tonic.endswith("m") and len(tonic) > 1 and not rest:
        tonic, rest = tonic[:-1], "minor"
    pitch_class(tonic)
    mode = "minor" if rest.startswith("min") else "major"
    return tonic, mode


# --- levels, diversity -------------------------------------------------------------------------------------------


def silence_fraction(audio: np.ndarray, sample_rate: int, threshold_db: float = SILENCE_DB) -> float:
    """Share of 100 ms frames of ``audio`` ``(T,)`` whose RMS is below ``threshold_db`` dBFS."""
    x = np.asarray(audio, np.float64).reshape(-1)
    hop = max(1, sample_rate // 10)
    n = max(1, len(x) // hop)
    frames = np.pad(x, (0, n * hop - len(x)))[: n * hop].reshape(n, hop)
    rms_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    return float(np.mean(rms_db < threshold_db))


def clipping_fraction(audio: np.ndarray, level: float = CLIP_LEVEL) -> float:
    """Share of samples of ``audio`` ``(T,)`` whose magnitude is at least ``level``."""
    x = np.abs(np.asarray(audio, np.float64).reshape(-1))
    return float(np.mean(x >= level)) if x.size else 0.0


def level_stats(tracks: Sequence[np.ndarray], sample_rate: int) -> dict[str, float]:
    """Silence and clipping over ``tracks`` (each ``(T,)``): mean silent-frame share, share of tracks that are more
    than half silent, mean clipped-sample share, share of tracks with any clipped sample."""
    sil = [silence_fraction(t, sample_rate) for t in tracks]
    clip = [clipping_fraction(t) for t in tracks]
    return {
        "silent_frames": float(np.mean(sil)),
        "mostly_silent_tracks": float(np.mean([s > 0.5 for s in sil])),
        "clipped_samples": float(np.mean(clip)),
        "tracks_with_clipping": float(np.mean([c > 0 for c in clip])),
    }


def mean_pairwise_distance(embeddings: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of rows of ``embeddings`` ``(N, D)`` (N >= 2)."""
    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need (N, D) embeddings with N >= 2, got shape {x.shape}")
    return float(np.mean([np.linalg.norm(x[i] - x[j]) for i, j in itertools.combinations(range(len(x)), 2)]))


def diversity(groups: Sequence[np.ndarray]) -> float:
    """Diversity across seeds: the mean over groups (one per request, rows = seeds, ``(S, D)``) of the mean pairwise
    embedding distance. Groups with fewer than two rows are skipped; NaN when none is left."""
    vals = [mean_pairwise_distance(g) for g in groups if len(g) >= 2]
    return float(np.mean(vals)) if vals else float("nan")
