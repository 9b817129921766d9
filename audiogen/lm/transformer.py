"""Transformer building blocks: pre-norm blocks with causal self-attention (rotary positions, KV cache) and
cross-attention to the conditioning states.

Shapes: ``B`` batch, ``L`` new positions, ``M`` cached + new positions, ``S`` cross states, ``H`` heads, ``hd``
head size, ``D`` model width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of every layer's self-attention for incremental decoding, preallocated to ``capacity``.

    ``key_valid`` ``[B, capacity]`` says which cached positions may be attended to (False for masked prefix
    positions); ``all_valid`` lets decoding skip the mask when nothing is masked. Cross-attention keys/values are
    computed once per generation and kept in ``cross_kv``.
    """

    def __init__(self, n_layers: int, batch: int, n_heads: int, head_dim: int, capacity: int, like: torch.Tensor):
        shape = (batch, n_heads, capacity, head_dim)
        self.k = [like.new_zeros(shape) for _ in range(n_layers)]
        self.v = [like.new_zeros(shape) for _ in range(n_layers)]
        self.key_valid = torch.ones(batch, capacity, dtype=torch.bool, device=like.device)
        self.all_valid = True
        self.capacity = capacity
        self.length = 0  # positions stored so far (prefix included)
        self.cross_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layers
        self.cross_mask: torch.Tensor | None = None  # [B, 1, 1, S] bool, prepared for SDPA
        self.cross_any: torch.Tensor | None = None  # [B, 1, 1] float: 0 where a row has no cross state; None: all do
        # audiogen.lm.fast.decode_step's own view of this cache, set up at its first step: the keys' head dimension
        # with each rotary pair side by side (it rotates them as complex numbers), and the masks as additive floats
        self.pairs_side_by_side = False
        self.step_masks: tuple[torch.Tensor | None, torch.Tensor | None] | None = None


def rope_tables(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary tables for integer ``positions`` ``[L]``: ``(cos, sin)``, each ``[L, head_dim // 2]``."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[B, H, L, hd]`` by the tables ``[L, hd/2]`` (the two halves of each head form the pairs)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class SelfAttention(nn.Module):
    """Causal multi-head self-attention with rotary positions and an optional KV cache."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = n_heads, dim // n_heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, rope, mask, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """x: ``[B, L, D]``; rope: ``(cos, sin)`` for the L new positions; mask: ``[B, 1, L, M]`` bool, ``"causal"``
        or None (attend to everything). With a cache, keys/values go to positions ``cache.length ..`` and the
        queries attend to all of ``[0, cache.length + L)``. Returns ``[B, L, D]``."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, L, hd)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            start, end = cache.length, cache.length + n
            cache.k[layer][:, :, start:end] = k
            cache.v[layer][:, :, start:end] = v
            k, v = cache.k[layer][:, :, :end], cache.v[layer][:, :, :end]
        p = self.dropout if self.training else 0.0
        if isinstance(mask, str):
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    """Multi-head attention from the sequence to the conditioning states (no positions: the states carry their
    own)."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = n_heads, dim // n_heads, dropout
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def keys_values(self, cross: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cross ``[B, S, D]`` -> keys and values, each ``[B, H, S, hd]``."""
        b, s, _ = cross.shape
        k, v = self.kv(cross).view(b, s, 2, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(self, x, kv, mask, any_valid) -> torch.Tensor:
        """x ``[B, L, D]``; kv from :meth:`keys_values`; mask ``[B, 1, 1, S]`` bool; any_valid ``[B, 1, 1]`` float
        (zeroes the output of rows without any cross state) or None (every row has one). Returns ``[B, L, D]``."""
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.n_heads, self.head_dim).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask, dropout_p=p)
        y = self.proj(y.transpose(1, 2).reshape(b, n, d))
        return y if any_valid is None else y * any_valid


class Block(nn.Module):
    """Pre-norm Transformer block: self-attention, optional cross-attention, MLP, each with a residual."""

    def __init__(self, dim: int, n_heads: int, ffn_mult: int, dropout: float, cross: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, n_heads, dropout)
        self.norm_cross = nn.LayerNorm(dim) if cross else None
        self.cross = CrossAttention(dim, n_heads, dropout) if cross else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim, bias=False), nn.GELU(), nn.Linear(ffn_mult * dim, dim, bias=False)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x, rope, mask, cross_kv=None, cross_mask=None, cross_any=None, cache=None, layer=0):
        """x ``[B, L, D]`` -> ``[B, L, D]``; ``cross_kv`` None skips cross-attention (no states)."""
        x = x + self.drop(self.attn(self.norm1(x), rope, mask, cache, layer))
        if self.cross is not None and cross_kv is not None:
            x = x + self.drop(self.cross(self.norm_cross(x), cross_kv, cross_mask, cross_any))
        return x + self.drop(self.mlp(self.norm2(x)))
