"""What a finished track should sound like at the loudness/length level: :class:`MasteringSpec`, and what the
mastering chain did: :class:`MasteringReport`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

# Integrated-loudness delivery targets (LUFS): streaming services, EBU R 128 broadcast, ATSC A/85 (US broadcast).
LOUDNESS_PRESETS = {"streaming": -14.0, "ebu-r128": -23.0, "atsc-a85": -24.0}
LUFS_RANGE = (-40.0, -5.0)
ENDINGS = ("fade", "none", "loop")

# Allowed range (inclusive) of every numeric setting.
_RANGES = {
    "true_peak_db": (-9.0, 0.0),
    "fade_out_s": (0.0, 30.0),
    "fade_in_s": (0.0, 10.0),
    "crossfade_s": (0.005, 10.0),
    "highpass_hz": (0.0, 200.0),
    "mp3_margin_db": (0.0, 3.0),
    "attack_ms": (0.5, 20.0),
    "release_ms": (10.0, 1000.0),
    "max_gain_db": (0.0, 60.0),
}
MAX_DURATION_S = 3600.0


def _preset_text() -> str:
    names = ", ".join(f"'{k}' ({v:g} LUFS)" for k, v in LOUDNESS_PRESETS.items())
    return f"one of the presets {names} or a number of LUFS in [{LUFS_RANGE[0]:g}, {LUFS_RANGE[1]:g}]"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolve_loudness(loudness: float | str | None) -> float | None:
    """A preset name (case-insensitive) or a LUFS number → target LUFS; ``None`` stays ``None`` (no loudness change).

    Raises:
        ValueError: unknown preset or a number outside :data:`LUFS_RANGE`; the message lists what is allowed.
    """
    if loudness is None:
        return None
    if isinstance(loudness, str):
        key = loudness.strip().lower()
        if key in LOUDNESS_PRESETS:
            return LOUDNESS_PRESETS[key]
        try:
            loudness = float(key)
        except ValueError:
            raise ValueError(f"loudness must be {_preset_text()}; got {loudness!r}") from None
    if not _is_number(loudness) or not math.isfinite(loudness) or not LUFS_RANGE[0] <= loudness <= LUFS_RANGE[1]:
        raise ValueError(f"loudness must be {_preset_text()}; got {loudness!r}")
    return float(loudness)


@dataclass(frozen=True)
class MasteringSpec:
    """How to master a generated clip. Frozen and validated: a bad value raises ``ValueError`` naming the range.

    Attributes:
        loudness: target integrated loudness: a preset name (``"streaming"`` −14, ``"ebu-r128"`` −23,
            ``"atsc-a85"`` −24 LUFS), a number of LUFS in [−40, −5], or ``None`` to keep the level (the true-peak
            limiter still applies).
        true_peak_db: true-peak ceiling of the delivered file in dBTP, in [−9, 0].
        duration: exact length in seconds (``round(duration * sr)`` samples), or ``None`` to keep the length.
            Longer audio is cut (then faded), shorter audio is padded with silence after its ending.
        ending: ``"fade"`` (a musical fade-out), ``"none"`` (a cut with a 5 ms anti-click ramp) or ``"loop"``
            (the tail is crossfaded into the head so the clip repeats seamlessly).
        fade_out_s: fade-out length for ``ending="fade"``; at most a quarter of the clip is faded.
        fade_in_s: anti-click fade-in at the start (not applied to loops); at most a quarter of the clip.
        crossfade_s: equal-power crossfade length for ``ending="loop"``; at most a quarter of the clip.
        highpass_hz: cutoff of the DC-removing high-pass (2nd-order Butterworth, zero phase); 0 disables it.
        mp3_margin_db: headroom under ``true_peak_db`` that the limiter keeps: MP3 encoding raises the true peak of
            densely limited material by up to ~1 dB, and the BS.1770 meter under-reads content near Nyquist.
        attack_ms: limiter look-ahead and gain-ramp length.
        release_ms: limiter gain-recovery time constant.
        max_gain_db: the most gain loudness normalisation may add (quiet input is raised this far at most).
    """

    loudness: float | str | None = -14.0
    true_peak_db: float = -1.0
    duration: float | None = None
    ending: str = "fade"
    fade_out_s: float = 3.0
    fade_in_s: float = 0.01
    crossfade_s: float = 1.0
    highpass_hz: float = 20.0
    mp3_margin_db: float = 1.5
    attack_ms: float = 5.0
    release_ms: float = 80.0
    max_gain_db: float = 40.0

    def __post_init__(self) -> None:
        resolve_loudness(self.loudness)
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]; got {value!r}")
        if self.duration is not None and (
            not _is_number(self.duration) or not math.isfinite(self.duration) or not 0 < self.duration <= MAX_DURATION_S
        ):
            raise ValueError(f"duration must be None or seconds in (0, {MAX_DURATION_S:g}]; got {self.duration!r}")
        if self.ending not in ENDINGS:
            raise ValueError(f"ending must be one of {', '.join(map(repr, ENDINGS))}; got {self.ending!r}")

    @property
    def target_lufs(self) -> float | None:
        """The loudness target in LUFS (``None``: keep the level)."""
        return resolve_loudness(self.loudness)

    @property
    def limiter_ceiling_db(self) -> float:
        """The ceiling the limiter aims at: ``true_peak_db - mp3_margin_db``."""
        return self.true_peak_db - self.mp3_margin_db

    @property
    def tail_s(self) -> float:
        """Seconds to generate beyond the duration: the loop's crossfade consumes them (0 for other endings)."""
        return self.crossfade_s if self.ending == "loop" else 0.0

    def num_samples(self, sample_rate: int) -> int | None:
        """Exact output length for ``sample_rate``, or ``None`` if the length is kept."""
        return None if self.duration is None else round(self.duration * sample_rate)

    def to_dict(self) -> dict:
        """Plain-JSON form (for track metadata)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MasteringReport:
    """What :func:`audiogen.master.master` measured and did. Loudness of silence is ``-inf`` (``None`` in
    :meth:`to_dict`).

    Attributes:
        input_lufs: integrated loudness after high-pass, length and ending, before any gain.
        output_lufs: integrated loudness of the returned audio.
        target_lufs: the target (``None``: level kept).
        gain_db: static gain applied for loudness.
        limiter_reduction_db: the largest gain reduction the true-peak limiter applied.
        true_peak_db: true peak of the returned audio (4× oversampled), dBTP.
        ceiling_db: the ceiling the limiter aimed at (spec ceiling minus the MP3 margin).
        target_reached: output within ``tolerance_lu`` of the target (``True`` when there is no target).
        tolerance_lu: the tolerance used for ``target_reached``.
        num_samples: length of the returned audio.
        sample_rate: its sample rate.
        notes: human-readable remarks (silence, gain capped, material tiled to fill a loop, ...).
    """

    input_lufs: float
    output_lufs: float
    target_lufs: float | None
    gain_db: float
    limiter_reduction_db: float
    true_peak_db: float
    ceiling_db: float
    target_reached: bool
    tolerance_lu: float
    num_samples: int
    sample_rate: int
    notes: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        """Whether the true-peak limiter reduced the gain anywhere."""
        return self.limiter_reduction_db > 0.0

    def to_dict(self) -> dict:
        """Plain-JSON form: non-finite numbers become ``None``."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        out["notes"] = list(self.notes)
        out["limited"] = self.limited
        return out
