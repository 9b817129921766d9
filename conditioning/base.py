"""The contract shared by every conditioner and the language model.

A request is described by :class:`Attributes` (one per batch item). Conditioners turn a batch of attributes into
``(embedding [B, T, D], mask [B, T])`` pairs; the fuser gathers them into :class:`Conditions`, which says what the LM
prepends to its input (``prefix``) and what it cross-attends to (``cross``). An attribute set to ``None`` is "absent":
its conditioner returns its learned null embedding, which is also what classifier-free-guidance dropout uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

# Attribute groups that can be dropped (for CFG dropout at training, and guided separately at inference).
GROUPS = {
    "text": ("text",),
    "emotion": ("emotion", "valence", "arousal"),
    "style": ("style_tags", "style_embedding"),
    "music": ("tempo", "key", "mode"),
    "timing": ("duration", "position"),
}


@dataclass(frozen=True)
class Attributes:
    """Everything a request (or a training example) says about the music; ``None`` means "not given".

    ``style_embedding`` is a style-encoder vector ``(E,)`` for a reference clip. ``duration`` is the total length of
    the requested track in seconds and ``position`` the start of the current window within it (timing conditioning
    à la Stable Audio, so the model can learn to end at the requested length).
    """

    text: str | None = None
    emotion: str | None = None
    valence: float | None = None
    arousal: float | None = None
    style_tags: tuple[str, ...] | None = None
    style_embedding: torch.Tensor | None = field(default=None, compare=False)
    tempo: float | None = None
    key: str | None = None
    mode: str | None = None
    duration: float | None = None
    position: float | None = None

    def drop(self, *groups: str) -> Attributes:
        """A copy with the attributes of ``groups`` (names in :data:`GROUPS`, or ``"all"``) set to None."""
        names = list(GROUPS) if "all" in groups else list(groups)
        unknown = [g for g in names if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown attribute group(s) {unknown}; allowed: {sorted(GROUPS)} or 'all'")
        return replace(self, **{f: None for g in names for f in GROUPS[g]})


@dataclass
class Conditions:
    """Fused conditioning for a batch, already projected to the LM width ``D``.

    prefix: ``[B, P, D]`` tokens prepended to the LM input; prefix_mask ``[B, P]`` (True = attend).
    cross: ``[B, S, D]`` states the LM cross-attends to; cross_mask ``[B, S]`` (True = attend).
    Either part may have length 0.
    """

    prefix: torch.Tensor
    prefix_mask: torch.Tensor
    cross: torch.Tensor
    cross_mask: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.prefix.shape[0]

    def cat(self, other: Conditions) -> Conditions:
        """Concatenate two batches along B (used to batch the CFG passes); lengths must match."""
        return Conditions(
            torch.cat([self.prefix, other.prefix]),
            torch.cat([self.prefix_mask, other.prefix_mask]),
            torch.cat([self.cross, other.cross]),
            torch.cat([self.cross_mask, other.cross_mask]),
        )

    @staticmethod
    def empty(batch: int, dim: int) -> Conditions:
        """No conditioning at all: zero-length prefix and cross states."""
        z = torch.zeros(batch, 0, dim)
        m = torch.zeros(batch, 0, dtype=torch.bool)
        return Conditions(z, m, z.clone(), m.clone())
