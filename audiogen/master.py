"""Mastering: from a decoded clip to a deliverable one.

:func:`master` takes mono 32 kHz float audio ``(T,)`` straight from the codec decoder and a :class:`MasteringSpec`,
and returns the finished samples plus a :class:`MasteringReport`::

    audio ─► high-pass (DC) ─► length + ending (fade / cut / seamless loop) ─► pad to the exact length
          ─► gain to the loudness target ⇄ true-peak limiter (iterated) ─► (T',) float32

Loudness is integrated loudness per ITU-R BS.1770-4; peaks are true peaks (4× oversampled). The limiter aims a
little under the spec's ceiling (``mp3_margin_db``) because MP3 encoding can raise true peaks slightly.

Example::

    from audiogen.master import MasteringSpec, master
    out, report = master(audio, MasteringSpec(loudness="ebu-r128", duration=30.0, ending="fade"))
"""

from __future__ import annotations

import math

import numpy as np

from audiogen.audio import SAMPLE_RATE
from audiogen.mastering.limiter import limit_true_peak
from audiogen.mastering.measure import integrated_loudness, sample_peak_db, true_peak_db, true_peak_envelope
from audiogen.mastering.shape import (
    ANTI_CLICK_S,
    fade_in,
    fade_out,
    fit_length,
    highpass,
    loop_source_samples,
    make_loop,
)
from audiogen.mastering.spec import LOUDNESS_PRESETS, MasteringReport, MasteringSpec, resolve_loudness

__all__ = [
    "LOUDNESS_PRESETS",
    "TOLERANCE_LU",
    "MasteringReport",
    "MasteringSpec",
    "integrated_loudness",
    "loop_samples_needed",
    "master",
    "resolve_loudness",
    "sample_peak_db",
    "true_peak_db",
]

TOLERANCE_LU = 0.5  # the report's target_reached tolerance
_AIM_LU = 0.05  # the gain/limit loop stops once this close
_MAX_ROUNDS = 8


def _check_input(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"master expects mono audio of shape (T,), got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError("master got empty audio (0 samples)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"master expects float audio in [-1, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("master got audio holding NaN or infinite samples")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    return x.astype(np.float64)


def _shape(x: np.ndarray, sample_rate: int, spec: MasteringSpec) -> tuple[np.ndarray, list[str]]:
    """High-pass, then length and ending; ``(T,)`` → ``(T',)`` with ``T'`` the spec's exact length if it has one."""
    num = spec.num_samples(sample_rate)
    x = highpass(x, sample_rate, spec.highpass_hz)
    if spec.ending == "loop":
        return make_loop(x, num, round(spec.crossfade_s * sample_rate))
    notes: list[str] = []
    content = x if num is None else x[:num]
    quarter = content.size // 4
    content = fade_in(content, min(round(spec.fade_in_s * sample_rate), quarter))
    if spec.ending == "fade":
        content = fade_out(content, min(round(spec.fade_out_s * sample_rate), quarter))
    else:
        content = fade_out(content, min(round(ANTI_CLICK_S * sample_rate), quarter), shape="cosine")
    if num is not None and content.size < num:
        notes.append(f"padded {num - content.size} samples of silence after the ending to reach {spec.duration:g} s")
        content = fit_length(content, num)
    return content, notes


def _gain_limiter(y: np.ndarray, sample_rate: int, spec: MasteringSpec, circular: bool):
    """``gain_db -> (limited (T,), max_reduction_db)`` for ``y * gain``, limited to the spec's internal ceiling.

    The true-peak envelope of ``y`` is computed once (it scales with the gain). A loop is limited as if it
    repeated forever (wrap-padded by one second each side), so the gain is continuous across its joint.
    """
    pad = sample_rate if circular else 0
    base = np.pad(y, pad, mode="wrap") if pad else y
    envelope = true_peak_envelope(base)

    def run(gain_db: float) -> tuple[np.ndarray, float]:
        g = 10.0 ** (gain_db / 20.0)
        out, reduction = limit_true_peak(
            base * g,
            sample_rate,
            spec.limiter_ceiling_db,
            attack_ms=spec.attack_ms,
            release_ms=spec.release_ms,
            envelope=envelope * g,
        )
        return out[pad : pad + y.size], reduction

    return run


def _set_level(y: np.ndarray, sample_rate: int, spec: MasteringSpec, circular: bool):
    """Gain to the target and limit, iterating because limiting lowers loudness.

    Returns ``(audio (T,), input_lufs, gain_db, limiter_reduction_db, output_lufs, notes)``.
    """
    limit = _gain_limiter(y, sample_rate, spec, circular)
    target, notes = spec.target_lufs, []
    lufs_in = integrated_loudness(y, sample_rate)
    if target is not None and not math.isfinite(lufs_in):
        notes.append("the audio is silent (below the -70 LUFS gate): level left unchanged")
        target = None
    gain = 0.0 if target is None else target - lufs_in
    if gain > spec.max_gain_db:
        notes.append(f"needed {gain:+.1f} dB to reach the target; gain capped at max_gain_db={spec.max_gain_db:g}")
        gain = spec.max_gain_db
    out, reduction = limit(gain)
    lufs_out = integrated_loudness(out, sample_rate)
    slope = 1.0  # LU of output per dB of gain; below 1 once the limiter works, so estimate it (secant steps)
    for _ in range(_MAX_ROUNDS):
        if target is None or not math.isfinite(lufs_out) or abs(target - lufs_out) <= _AIM_LU:
            break
        new_gain = min(gain + (target - lufs_out) / slope, spec.max_gain_db)
        if new_gain == gain:
            break
        new_out, new_reduction = limit(new_gain)
        new_lufs = integrated_loudness(new_out, sample_rate)
        slope = min(max((new_lufs - lufs_out) / (new_gain - gain), 0.1), 1.0)
        gain, out, reduction, lufs_out = new_gain, new_out, new_reduction, new_lufs
    return out, lufs_in, gain, reduction, lufs_out, notes


def master(
    audio: np.ndarray, spec: MasteringSpec | None = None, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, MasteringReport]:
    """Master mono ``audio`` ``(T,)`` to ``spec`` (default: −14 LUFS, −1 dBTP, 3 s fade, length kept).

    Args:
        audio: ``(T,)`` float samples (``(1, T)``/``(T, 1)`` are accepted too); any level, DC offset allowed.
        spec: the mastering settings (:class:`MasteringSpec`).
        sample_rate: the rate of ``audio`` (32 kHz inside audiogen).

    Returns:
        ``(out, report)``: ``out`` is ``(T',)`` float32 with ``T' = round(spec.duration * sample_rate)`` when a
        duration is set (``T`` for fades/cuts, ``T`` minus the crossfade for loops otherwise); ``report`` is a
        :class:`MasteringReport`. Silent input comes back silent (no gain, no NaN) with a note in the report;
        input too quiet for ``max_gain_db`` is raised that far and reported as missing the target.

    Raises:
        ValueError: ``audio`` is not 1-D float, is empty, or holds NaN/inf; the duration rounds to 0 samples.
    """
    spec = MasteringSpec() if spec is None else spec
    if not isinstance(spec, MasteringSpec):
        raise ValueError(f"spec must be a MasteringSpec, got {type(spec).__name__}")
    x = _check_input(audio, sample_rate)
    sample_rate = int(sample_rate)
    if spec.num_samples(sample_rate) == 0:
        raise ValueError(f"duration {spec.duration:g} s is shorter than one sample at {sample_rate} Hz")
    y, notes = _shape(x, sample_rate, spec)
    y, lufs_in, gain, reduction, lufs_out, level_notes = _set_level(y, sample_rate, spec, spec.ending == "loop")
    out = np.clip(y, -1.0, 1.0).astype(np.float32)
    target = spec.target_lufs
    reached = target is None or (math.isfinite(lufs_out) and abs(lufs_out - target) <= TOLERANCE_LU)
    report = MasteringReport(
        input_lufs=lufs_in,
        output_lufs=integrated_loudness(out, sample_rate),
        target_lufs=target,
        gain_db=gain,
        limiter_reduction_db=reduction,
        true_peak_db=true_peak_db(out, sample_rate),
        ceiling_db=spec.limiter_ceiling_db,
        target_reached=reached,
        tolerance_lu=TOLERANCE_LU,
        num_samples=out.size,
        sample_rate=sample_rate,
        notes=(*notes, *level_notes),
    )
    return out, report


def loop_samples_needed(spec: MasteringSpec, sample_rate: int = SAMPLE_RATE) -> int | None:
    """How many input samples :func:`master` uses for a ``spec`` with ``ending="loop"`` and a duration, so a
    generator can produce exactly enough (duration plus the crossfade); ``None`` when the spec has no duration."""
    num = spec.num_samples(sample_rate)
    if num is None:
        return None
    if spec.ending != "loop":
        return num
    return loop_source_samples(num, round(spec.crossfade_s * sample_rate))
