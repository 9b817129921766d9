"""The condition provider: runs every conditioner and fuses their outputs into :class:`Conditions` for the LM.

Fuser (fixed by :class:`ConditionConfig`): the groups in ``cross_groups`` (default: text) are concatenated along
the sequence axis into ``cross`` for cross-attention; every other group is concatenated, in ``groups`` order, into
``prefix`` tokens that the LM prepends to its input. With the default config the prefix is 8 tokens:

    [emotion | style tags, style ref | tempo, key, mode | duration, position]

and ``cross`` holds the text's token states (at least one token: a learned null token when no text was given).
Short attributes go to the prefix because they are one vector each and the LM should see them at every layer's
self-attention; text is a variable-length sequence, which cross-attention handles without growing the LM input.

Classifier-free guidance: ``attrs.drop("all")`` (or ``drop(group)``) gives the null input of a guidance pass.
:meth:`ConditionProvider.dropout` applies the training-time dropout that teaches the model those null inputs.

The provider is an ``nn.Module`` owned by the LM: its learned weights are saved in the LM checkpoint. The frozen
text encoder is not (see :mod:`.text`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from audiogen.conditioning.attribute_conditioners import (
    EmotionConditioner,
    MusicConditioner,
    StyleConditioner,
    TimingConditioner,
)
from audiogen.conditioning.base import GROUPS, Attributes, Conditions
from audiogen.conditioning.conditioner import Conditioner, Prepared, to_device
from audiogen.conditioning.config import ConditionConfig
from audiogen.conditioning.text import TextConditioner

CONDITIONERS: dict[str, type[Conditioner]] = {
    "text": TextConditioner,
    "emotion": EmotionConditioner,
    "style": StyleConditioner,
    "music": MusicConditioner,
    "timing": TimingConditioner,
}
# Fixed number of tokens per group (text is variable-length).
GROUP_TOKENS = {"emotion": 1, "style": 2, "music": 3, "timing": 2}


def condition_dropout(
    attrs: list[Attributes], config: ConditionConfig, generator: torch.Generator | None = None
) -> list[Attributes]:
    """Training-time conditioning dropout; returns new attributes (the inputs are not changed).

    1. With probability ``config.dropout_all``, decided once for the whole batch, every group is dropped.
    2. Otherwise each item drops each group independently with probability ``config.dropout[group]``.
    3. An item that keeps its emotion point hides the label with probability ``config.emotion_label_dropout``.

    All randomness comes from ``generator`` (CPU), so a seeded generator gives the same result every time.
    """
    if torch.rand((), generator=generator).item() < config.dropout_all:
        return [a.drop("all") for a in attrs]
    groups = list(GROUPS)
    probs = torch.tensor([config.dropout[g] for g in groups])
    draws = torch.rand(len(attrs), len(groups), generator=generator) < probs  # (B, G)
    hide = torch.rand(len(attrs), generator=generator) < config.emotion_label_dropout
    out = []
    for i, a in enumerate(attrs):
        dropped = [g for g, d in zip(groups, draws[i].tolist(), strict=True) if d]
        a = a.drop(*dropped) if dropped else a
        if hide[i] and a.emotion is not None and a.valence is not None:
            a = replace(a, emotion=None)
        out.append(a)
    return out


class ConditionProvider(nn.Module):
    """All conditioners of a model: ``forward(attrs) -> Conditions`` with prefix ``[B, P, D]`` and cross ``[B, S, D]``.

    ``prepare`` (CPU, no learned weights) and ``embed`` (learned, on the model's device) can be called separately,
    e.g. ``prepare`` in data-loader workers.
    """

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.config = config
        self.dim = dim
        self.conditioners = nn.ModuleDict({g: CONDITIONERS[g](config, dim) for g in config.groups})

    @property
    def prefix_length(self) -> int | None:
        """P, the number of prefix tokens (fixed by the config; None if text is placed in the prefix)."""
        groups = self.config.prefix_groups
        return None if "text" in groups else sum(GROUP_TOKENS[g] for g in groups)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prepare(self, attrs: list[Attributes]) -> dict[str, Prepared]:
        """CPU-side preparation of a batch (validates every attribute; raises ValueError on bad input)."""
        if not attrs:
            raise ValueError("need at least one Attributes")
        return {g: c.prepare(attrs) for g, c in self.conditioners.items()}

    def embed(self, prepared: dict[str, Prepared]) -> Conditions:
        """Run the learned conditioners on a prepared batch and fuse their outputs."""
        device = self.device
        out = {g: c(to_device(prepared[g], device)) for g, c in self.conditioners.items()}
        b = next(iter(out.values()))[0].shape[0]

        def cat(groups: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
            parts = [out[g] for g in groups]
            if not parts:
                return torch.zeros(b, 0, self.dim, device=device), torch.zeros(b, 0, dtype=torch.bool, device=device)
            return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=1)

        cross_groups = tuple(g for g in self.config.groups if g in self.config.cross_groups)
        prefix, prefix_mask = cat(self.config.prefix_groups)
        cross, cross_mask = cat(cross_groups)
        return Conditions(prefix, prefix_mask, cross, cross_mask)

    def forward(self, attrs: list[Attributes]) -> Conditions:
        """``attrs`` (B items) -> :class:`Conditions` on the provider's device."""
        return self.embed(self.prepare(attrs))

    def dropout(self, attrs: list[Attributes], generator: torch.Generator | None = None) -> list[Attributes]:
        """Training-time conditioning dropout with this provider's config (see :func:`condition_dropout`)."""
        return condition_dropout(attrs, self.config, generator)
