"""The language model's configuration: one validated dataclass, saved as ``config.json`` next to the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass
class LMConfig:
    """Shape of the music Transformer.

    dim / n_layers / n_heads: width, depth and attention heads (``dim`` divisible by ``n_heads``, head size even for
    rotary positions). n_q: codebooks modelled (the first ``n_q`` of the codec). card: codebook size; token id
    ``card`` is the special "nothing here (yet)" token of the delay pattern. max_frames: the context window in frames
    (the training window; generation slides a window of this size for longer tracks). frame_rate: codec frames per
    second (to express window positions in seconds for timing conditioning). cross_attention: whether blocks
    cross-attend to ``Conditions.cross`` (the prefix is always supported). conditioning: the
    :class:`~audiogen.conditioning.config.ConditionConfig` (as a dict) of the condition provider the model owns
    (its learned weights are saved with the model's), or None for a model that is given ``Conditions`` directly.
    control_features: width of the per-step dense controls (:mod:`audiogen.controls.layout`: chords, melody, beat
    and beat clock, dynamics; 0 = none, 35 = the controls). control_layers: blocks before which the controls are added
    again (besides the input), MusiConGen's re-injection; every control projection starts at zero, so a model given
    controls starts out as the model without them. A config of an older model with a beat clock
    (``clock_features: 5``) reads as one with controls whose clock columns hold that clock's weights.
    beat_lag_s: how late the beats of the training controls sat after the notes (models trained before the beat
    tracker's latency calibration, :data:`audiogen.controls.beats.LATENCY_S`; 0 since); generation hands the model
    the planned beats this much later, so that its notes land on them.
    """

    dim: int = 256
    n_layers: int = 8
    n_heads: int = 4
    n_q: int = 4
    card: int = 1024
    max_frames: int = 500
    frame_rate: float = 50.0
    ffn_mult: int = 4
    dropout: float = 0.0
    cross_attention: bool = True
    rope_theta: float = 10000.0
    conditioning: dict | None = None
    control_features: int = 0
    control_layers: tuple[int, ...] = ()
    beat_lag_s: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.dim <= 16384:
            raise ValueError(f"dim must lie in [1, 16384], got {self.dim}")
        if not 1 <= self.n_layers <= 128:
            raise ValueError(f"n_layers must lie in [1, 128], got {self.n_layers}")
        if self.n_heads < 1 or self.dim % self.n_heads:
            raise ValueError(f"n_heads must be >= 1 and divide dim={self.dim}, got {self.n_heads}")
        if (self.dim // self.n_heads) % 2:
            raise ValueError(f"head size dim/n_heads must be even for rotary positions, got {self.dim // self.n_heads}")
        if not 1 <= self.n_q <= 16:
            raise ValueError(f"n_q must lie in [1, 16], got {self.n_q}")
        if not 2 <= self.card <= 32767:
            raise ValueError(f"card must lie in [2, 32767] (codes are stored as int16), got {self.card}")
        if self.max_frames < 2:
            raise ValueError(f"max_frames must be >= 2, got {self.max_frames}")
        if not self.frame_rate > 0:
            raise ValueError(f"frame_rate must be > 0, got {self.frame_rate}")
        if not 1 <= self.ffn_mult <= 16:
            raise ValueError(f"ffn_mult must lie in [1, 16], got {self.ffn_mult}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not self.rope_theta > 0:
            raise ValueError(f"rope_theta must be > 0, got {self.rope_theta}")
        if not 0.0 <= self.beat_lag_s <= 0.5:
            raise ValueError(f"beat_lag_s must lie in [0, 0.5] seconds, got {self.beat_lag_s}")
        from audiogen.controls.layout import CONTROL_FEATURES

        if self.control_features not in (0, CONTROL_FEATURES):
            raise ValueError(
                f"control_features must be 0 (no controls) or {CONTROL_FEATURES} (the controls), got "
                f"{self.control_features}"
            )
        self.control_layers = tuple(int(i) for i in self.control_layers)
        if any(not 0 < i < self.n_layers for i in self.control_layers) or len(set(self.control_layers)) != len(
            self.control_layers
        ):
            raise ValueError(f"control_layers must be distinct block indices in [1, {self.n_layers - 1}]")
        if self.control_layers and not self.control_features:
            raise ValueError("control_layers needs control_features > 0")
        if self.conditioning is not None:
            self.conditioning = self.condition_config().to_dict()  # validates; a ConditionConfig becomes a dict

    def condition_config(self):
        """The provider's :class:`~audiogen.conditioning.config.ConditionConfig` (None without conditioning)."""
        if self.conditioning is None:
            return None
        from audiogen.conditioning.config import ConditionConfig

        c = self.conditioning
        return c if isinstance(c, ConditionConfig) else ConditionConfig.from_dict(dict(c))

    @property
    def special_token(self) -> int:
        """Token id of the delay pattern's "nothing here (yet)" positions (one past the last code)."""
        return self.card

    def to_dict(self) -> dict:
        """A JSON-ready dict (what ``config.json`` holds)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> LMConfig:
        """Build from a dict; unknown keys are an error naming the allowed ones."""
        d = dict(d)
        if "clock_features" in d:  # an older model with a beat clock: the clock is the controls' clock columns
            from audiogen.controls.beats import LATENCY_S
            from audiogen.controls.layout import CONTROL_FEATURES

            clock = d.pop("clock_features")
            if clock not in (0, 5):
                raise ValueError(f"clock_features must be 0 or 5 (the beat clock), got {clock}")
            d.setdefault("control_features", CONTROL_FEATURES if clock else 0)
            # its training beats came from the tracker before its latency calibration: read that much late
            d.setdefault("beat_lag_s", LATENCY_S if clock else 0.0)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown LMConfig field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, **overrides) -> LMConfig:
        """A named size: ``debug`` (tests), ``small`` (the CPU-shipped size: 256 x 8, 10 s window; see the LM speed
        section of BENCHMARKS.md), ``musicgen-small`` (MusicGen-small's shape, 30 s window; the GPU recipe's size)."""
        if name not in PRESETS:
            raise ValueError(f"unknown LM preset {name!r}; allowed: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict] = {
    "debug": dict(dim=32, n_layers=2, n_heads=2, card=64, max_frames=64),
    "small": dict(dim=256, n_layers=8, n_heads=4, max_frames=500),
    "musicgen-small": dict(dim=1024, n_layers=24, n_heads=16, max_frames=1500),
}
