"""The conditioner contract and the building blocks the conditioners share.

Every conditioner works in two steps, after audiocraft's conditioners:

* ``prepare(attrs) -> dict[str, Tensor]`` — CPU-side work on a batch of :class:`Attributes`: validate, tokenise,
  look up, encode text with a frozen model. No learned weights are used, so it can run in data-loader workers.
* ``forward(prepared) -> (embedding [B, T, D], mask [B, T])`` — the learned part, on the model's device.

A value that is absent (``None``) is replaced by that slot's learned null embedding; classifier-free guidance uses
the same null embeddings as its "unconditional" input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiogen.conditioning.base import Attributes

Prepared = dict[str, torch.Tensor]


class Conditioner(nn.Module):
    """Base class: subclasses set ``group`` (a key of ``base.GROUPS``) and implement ``prepare`` and ``forward``."""

    group: str = ""

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """CPU-side preparation of a batch of ``B`` attributes; raises ValueError on invalid values."""
        raise NotImplementedError

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding [B, T, D], mask [B, T])`` with mask True where the LM may attend."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def condition(self, attrs: list[Attributes]) -> tuple[torch.Tensor, torch.Tensor]:
        """``prepare`` then ``forward`` on the conditioner's device."""
        return self(to_device(self.prepare(attrs), self.device))


def to_device(prepared: Prepared, device: torch.device) -> Prepared:
    """Move every tensor of a prepared batch to ``device``."""
    return {k: v.to(device) for k, v in prepared.items()}


def null_parameter(n: int, dim: int) -> nn.Parameter:
    """``n`` learned null embeddings ``[n, D]`` (small random init so they differ from each other)."""
    return nn.Parameter(torch.randn(n, dim) * 0.02)


def with_null(emb: torch.Tensor, present: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
    """Rows of ``emb [B, D]`` where ``present [B]`` is True, else the null embedding ``null [D]``."""
    return torch.where(present[:, None], emb, null.to(emb.dtype)[None])


class NumberEmbedding(nn.Module):
    """Numbers already normalised to [0, 1] -> a D-dim embedding (Stable Audio's NumberConditioner idea).

    Input ``[B, n]`` (n numbers per item, e.g. valence and arousal) is clamped to [0, 1], expanded into Fourier
    features ``[x, sin(2π f x), cos(2π f x)]`` with learned frequencies ``f`` (initialised log-spaced from 0.5 to
    ``max_freq`` cycles per unit range), then mapped by a two-layer MLP to ``[B, D]``.
    """

    def __init__(self, dim: int, n_inputs: int = 1, n_freqs: int = 16, hidden: int = 128, max_freq: float = 32.0):
        super().__init__()
        freqs = torch.logspace(math.log10(0.5), math.log10(max_freq), n_freqs)
        self.freqs = nn.Parameter(freqs.repeat(n_inputs, 1))  # (n, F)
        self.n_inputs = n_inputs
        n_feats = n_inputs * (1 + 2 * n_freqs)
        self.mlp = nn.Sequential(nn.Linear(n_feats, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``[B, n]`` in [0, 1] -> ``[B, D]``."""
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"expected numbers of shape [B, {self.n_inputs}], got {tuple(x.shape)}")
        x = x.clamp(0.0, 1.0).to(self.freqs.dtype)
        angles = 2 * math.pi * x[:, :, None] * self.freqs[None]  # (B, n, F)
        feats = torch.cat([x, angles.sin().flatten(1), angles.cos().flatten(1)], dim=1)
        return self.mlp(feats)


def unit_range(value: float, lo: float, hi: float) -> float:
    """Map ``value`` from ``[lo, hi]`` to ``[0, 1]`` (no clamping here; the embedding clamps)."""
    return (value - lo) / (hi - lo)
