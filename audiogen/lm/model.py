"""The music language model: a decoder-only Transformer over delay-interleaved codec tokens.

Input per step: the sum of one embedding per codebook (id ``card`` = the delay pattern's special token), plus, for a
model with ``control_features``, a linear map (no bias, zero at init) of the step's dense controls
(:mod:`audiogen.controls.layout`: chords, melody, beat, dynamics; step ``t`` carries the controls of frame ``t``, the
frame codebook 0 predicts there), added again before the blocks of ``control_layers`` by maps of their own (also
zero at init). The conditioning prefix ``Conditions.prefix`` is prepended to the sequence (masked per
``prefix_mask``), blocks cross-attend to ``Conditions.cross``, and one linear head per codebook predicts the next
step's codes.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from audiogen.conditioning.base import Conditions
from audiogen.fileio import atomic_write
from audiogen.lm.beat_prior import PRIOR_NAME, BeatPrior
from audiogen.lm.config import LMConfig
from audiogen.lm.pattern import build_delayed
from audiogen.lm.transformer import Block, KVCache, rope_tables

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class MusicLM(nn.Module):
    """Decoder-only Transformer over ``[B, K, L]`` delayed token sequences; see :class:`LMConfig`."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = c = config
        self.beat_prior: BeatPrior | None = None  # beat guidance table (not weights: kept out of the state dict)
        self.emb = nn.ModuleList(nn.Embedding(c.card + 1, c.dim) for _ in range(c.n_q))
        self.blocks = nn.ModuleList(
            Block(c.dim, c.n_heads, c.ffn_mult, c.dropout, c.cross_attention) for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.heads = nn.ModuleList(nn.Linear(c.dim, c.card, bias=False) for _ in range(c.n_q))
        self.apply(self._init_weights)
        self.provider = None  # built after the init above so the conditioners keep their own initialisation
        if c.conditioning is not None:
            from audiogen.conditioning.provider import ConditionProvider

            self.provider = ConditionProvider(c.condition_config(), c.dim)
        for name, p in self.blocks.named_parameters():  # scaled residual projections (GPT-2)
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.n_layers))
        self.controls = None  # last, so the other weights are those of the same model without controls
        if c.control_features:
            self.controls = ControlInput(c.control_features, c.dim, c.control_layers)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def condition(self, attributes: list | None) -> Conditions | None:
        """Conditions for a batch of :class:`Attributes` from the owned provider (None without a provider)."""
        if self.provider is None or attributes is None:
            return None
        return self.provider(list(attributes))

    @property
    def head_dim(self) -> int:
        return self.config.dim // self.config.n_heads

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty KV cache for ``batch`` rows and up to ``capacity`` positions (prefix included)."""
        p = next(self.parameters())
        return KVCache(self.config.n_layers, batch, self.config.n_heads, self.head_dim, capacity, p)

    def forward(
        self,
        seq: torch.Tensor,
        conditions: Conditions | None = None,
        cache: KVCache | None = None,
        controls: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-step logits for every position.

        seq: ``[B, K, L]`` long token ids in ``[0, card]`` (delayed sequence). conditions: for the batch (None = no
        conditioning); with a cache only the first call (empty cache) reads them. controls: ``[B, L,
        control_features]`` dense controls of the L steps (None = none; only for a model with
        ``control_features``). Returns ``[B, K, L, card]``.
        """
        c = self.config
        if seq.dim() != 3 or seq.shape[1] != c.n_q:
            raise ValueError(f"seq must be [B, {c.n_q}, L], got shape {tuple(seq.shape)}")
        b, _, n = seq.shape
        first = cache is None or cache.length == 0
        x = sum(emb(seq[:, k]) for k, emb in enumerate(self.emb))  # (B, L, D)
        ctrl = None
        if controls is not None:
            ctrl = self._check_controls(controls, b, n)
            x = x + self.controls.input(ctrl).to(x.dtype)
        n_prefix, key_valid, cross = 0, None, None
        if first and conditions is not None:
            self._check_conditions(conditions, b)
            n_prefix = conditions.prefix.shape[1]
            if n_prefix:
                x = torch.cat([conditions.prefix.to(x.dtype), x], dim=1)
                key_valid = torch.cat([conditions.prefix_mask, seq.new_ones(b, n, dtype=torch.bool)], dim=1)
            cross = conditions if conditions.cross.shape[1] else None
        offset = 0 if cache is None else cache.length
        total = x.shape[1]
        if cache is not None and offset + total > cache.capacity:
            raise ValueError(f"KV cache holds {cache.capacity} positions, {offset + total} needed")
        rope = rope_tables(torch.arange(offset, offset + total, device=x.device), self.head_dim, c.rope_theta)
        mask = self._self_mask(key_valid, total, offset, cache, x.device)
        cross_kv, cross_mask, cross_any = self._cross_inputs(cross, cache, x.dtype)
        for i, block in enumerate(self.blocks):
            if ctrl is not None and i in self.controls.index:
                add = self.controls.again[self.controls.index[i]](ctrl).to(x.dtype)  # (B, L, D)
                x = x + (F.pad(add, (0, 0, n_prefix, 0)) if n_prefix else add)
            kv = cross_kv[i] if cross_kv is not None else None
            x = block(x, rope, mask, kv, cross_mask, cross_any, cache, i)
        if cache is not None:
            cache.length += total
        x = self.norm(x[:, n_prefix:])
        return torch.stack([head(x) for head in self.heads], dim=1)  # (B, K, L, card)

    def _check_controls(self, controls: torch.Tensor, batch: int, n: int) -> torch.Tensor:
        if self.controls is None:
            raise ValueError("this model has no control input (control_features=0) but controls were given")
        f = self.config.control_features
        if controls.dim() != 3 or tuple(controls.shape) != (batch, n, f):
            raise ValueError(
                f"controls must be [{batch}, {n}, {f}] (batch, steps, features), got {tuple(controls.shape)}"
            )
        return controls.to(self.controls.input.weight.dtype)

    def _check_conditions(self, cond: Conditions, batch: int) -> None:
        d = self.config.dim
        for name, t in (("prefix", cond.prefix), ("cross", cond.cross)):
            if t.dim() != 3 or t.shape[0] != batch or t.shape[2] != d:
                raise ValueError(f"Conditions.{name} must be [{batch}, N, {d}], got shape {tuple(t.shape)}")
        if cond.cross.shape[1] and not self.config.cross_attention:
            raise ValueError("this model has no cross-attention (cross_attention=False) but Conditions.cross is set")

    def _self_mask(self, key_valid, n: int, offset: int, cache: KVCache | None, device):
        """The self-attention mask: ``"causal"``, None (attend to all) or ``[B, 1, n, offset + n]`` bool."""
        if offset == 0:
            if cache is not None:
                all_valid = key_valid is None or bool(key_valid.all())
                cache.all_valid = all_valid
                if not all_valid:
                    cache.key_valid[:, :n] = key_valid
            if key_valid is None or bool(key_valid.all()):
                return "causal"
            causal = torch.ones(n, n, dtype=torch.bool, device=device).tril()
            eye = torch.eye(n, dtype=torch.bool, device=device)  # a masked prefix position still sees itself
            return ((causal[None] & key_valid[:, None, :]) | eye)[:, None]  # (B, 1, n, n)
        valid = None if cache.all_valid else cache.key_valid[:, : offset + n][:, None, None, :]
        if n == 1:
            return valid
        rows = torch.arange(offset, offset + n, device=device)[:, None]
        causal = torch.arange(offset + n, device=device)[None, :] <= rows  # (n, M)
        return causal[None, None] if valid is None else causal[None, None] & valid

    def _cross_inputs(self, cross: Conditions | None, cache: KVCache | None, dtype):
        """Per-layer cross keys/values, mask ``[B, 1, 1, S]`` and row flag ``[B, 1, 1]``; cached after the first
        call."""
        if cross is None:
            if cache is None or cache.cross_kv[0] is None:
                return None, None, None
            return cache.cross_kv, cache.cross_mask, cache.cross_any
        states, m = cross.cross.to(dtype), cross.cross_mask
        any_valid = m.any(dim=1)
        mask = None if bool(m.all()) else (m | ~any_valid[:, None])[:, None, None, :]
        any_f = None if bool(any_valid.all()) else any_valid.to(dtype)[:, None, None]
        kv = [blk.cross.keys_values(states) for blk in self.blocks]
        if cache is not None:
            cache.cross_kv, cache.cross_mask, cache.cross_any = kv, mask, any_f
        return kv, mask, any_f

    def loss(
        self, codes: torch.Tensor, conditions: Conditions | None = None, controls: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced cross-entropy on frame-aligned codes ``[B, K, T]`` (frames equal to the special token
        ``card`` are padding and not scored). controls: ``[B, >= T + K - 1, control_features]``, the controls of
        frames ``0 ..`` (None = none). Returns ``(loss, per_codebook [K])``; loss is the codebook mean."""
        c = self.config
        if codes.dim() != 3 or codes.shape[1] != c.n_q:
            raise ValueError(f"codes must be [B, {c.n_q}, T], got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > c.card):
            raise ValueError(f"codes must lie in [0, {c.card - 1}] (or {c.card} for padding)")
        seq = build_delayed(codes.long(), c.special_token)  # (B, K, T + K)
        steps = seq.shape[-1] - 1
        if controls is not None:
            if controls.dim() != 3 or controls.shape[1] < steps:
                raise ValueError(
                    f"controls must be [B, >= {steps}, F] for {codes.shape[-1]} frames, got {tuple(controls.shape)}"
                )
            controls = controls[:, :steps]
        logits = self(seq[..., :-1], conditions, controls=controls)  # (B, K, T + K - 1, card)
        target = seq[..., 1:]
        valid = target != c.special_token
        ce = F.cross_entropy(
            logits.float().reshape(-1, c.card), target.clamp(max=c.card - 1).reshape(-1), reduction="none"
        ).view_as(target)
        per_codebook = (ce * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2)).clamp(min=1)
        return per_codebook.mean(), per_codebook

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (optionally cast to ``dtype``, e.g. float16)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: _cast(v, dtype).detach().cpu().contiguous() for k, v in self.state_dict().items()}
        config = json.dumps(self.config.to_dict(), indent=2)
        atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(config))
        atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, p))
        if self.beat_prior is not None:
            self.beat_prior.save(directory)
        from audiogen.weights import write_checksums

        write_checksums(directory)
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> MusicLM:
        """Load a model written by :meth:`save_pretrained` (weights cast to ``dtype``), in eval mode."""
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} must contain {CONFIG_NAME} and {WEIGHTS_NAME}")
        config = LMConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text()))
        model = cls(config)
        from audiogen.weights import load_weights

        state = {k: _cast(v, dtype) for k, v in load_weights(directory / WEIGHTS_NAME).items()}
        model.load_state_dict(upgrade_state(state, config))
        model.beat_prior = BeatPrior.load(directory)
        if model.beat_prior is not None and (model.beat_prior.n_q, model.beat_prior.card) != (config.n_q, config.card):
            raise ValueError(
                f"{directory / PRIOR_NAME}: table for {model.beat_prior.n_q} codebooks of {model.beat_prior.card} "
                f"tokens, but the LM has {config.n_q} of {config.card}"
            )
        return model.to(device=device, dtype=dtype).eval()


class ControlInput(nn.Module):
    """The dense controls' way in: ``input`` maps them into the first layer's input, ``again[j]`` adds them before
    block ``layers[j]``. All maps are linear without bias and start at zero."""

    def __init__(self, features: int, dim: int, layers: tuple[int, ...] = ()):
        super().__init__()
        self.input = nn.Linear(features, dim, bias=False)
        self.again = nn.ModuleList(nn.Linear(features, dim, bias=False) for _ in layers)
        self.index = {layer: j for j, layer in enumerate(layers)}
        for lin in (self.input, *self.again):
            nn.init.zeros_(lin.weight)


def upgrade_state(state: dict, config: LMConfig) -> dict:
    """Weights of an older model with a beat clock (``clock.weight`` ``[D, 5]``) as the controls' input map with
    the clock's weights in the clock columns (:data:`audiogen.controls.layout.CLOCK`) and zeros elsewhere: given
    the same clock, the model computes exactly what it did."""
    if "clock.weight" not in state:
        return state
    from audiogen.controls.layout import CLOCK

    state = dict(state)
    old = state.pop("clock.weight")
    new = old.new_zeros(old.shape[0], config.control_features)
    new[:, CLOCK] = old
    state["controls.input.weight"] = new
    return state


def _cast(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` in ``dtype`` if it is a floating-point tensor (integer buffers keep their type)."""
    return t.to(dtype) if dtype is not None and t.is_floating_point() else t
