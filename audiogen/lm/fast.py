"""One decoding step of :class:`~audiogen.lm.model.MusicLM` with little around its arithmetic.

Sampling one frame of the delay pattern runs the whole model on one new position per row. On a CPU that step is
bound by reading the weights (about 26 MB in float32 for the 256-wide, 6-layer model), and in eager PyTorch also by
what surrounds each matrix product: module calls, shape checks, a rotary table recomputed every step, four head
calls stacked. :class:`StepWeights` packs the weights once per generation — every matrix transposed into the layout
``x @ W`` reads fastest, the heads and the embeddings each as one matrix — in the precision asked for, and
:func:`decode_step` runs one position through them against the model's own :class:`~audiogen.lm.transformer.KVCache`,
which the first (prefix and context) call of :meth:`MusicLM.forward` filled.

Precision: ``float32`` computes what :meth:`MusicLM.forward` does, in another order of summation (logits agree to
about 1e-5; sampled tokens agree except where two candidates tie to that precision). ``bfloat16`` halves the bytes
read per step: matrices and activations in bfloat16, layer norms, softmax and the residual stream in float32 (the
cache keeps the model's dtype). ``int8`` stores each matrix as int8 with one scale per output (a quarter of
float32's bytes) and multiplies it by bfloat16 activations (``torch._weight_int8pack_mm``). Both are offered only
where the CPU multiplies bfloat16 natively (:func:`bfloat16_native`), since elsewhere they are slower than float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from audiogen.lm.transformer import KVCache, rope_tables

PRECISIONS = ("float32", "bfloat16", "int8")
AUTO = "auto"  # int8 where the CPU multiplies bfloat16 natively, else float32
Matrix = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # [in, out] dense, or (int8 [out, in], scales [out])


def bfloat16_native() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX-512 BF16 or AMX through oneDNN)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str) -> str:
    """``precision`` with ``"auto"`` made concrete: ``"int8"`` where :func:`bfloat16_native`, else ``"float32"``."""
    if precision != AUTO:
        return precision
    return "int8" if bfloat16_native() else "float32"


@dataclass
class _Layer:
    ln1: tuple[torch.Tensor, torch.Tensor]
    qkv: Matrix  # [D, 3D]
    proj: Matrix  # [D, D]
    ln_cross: tuple[torch.Tensor, torch.Tensor] | None
    cross_q: Matrix | None  # [D, D]
    cross_proj: Matrix | None  # [D, D]
    ln2: tuple[torch.Tensor, torch.Tensor]
    fc1: Matrix  # [D, ffn D]
    fc2: Matrix  # [ffn D, D]
    again: Matrix | None  # [F, D]: the controls added before this block


class StepWeights:
    """The weights of ``model`` packed for :func:`decode_step` in ``precision`` (one of :data:`PRECISIONS`, or
    ``"auto"``: :func:`resolve_precision`), with rotary tables for positions ``0 .. capacity - 1`` (grown on
    demand). Build one per generation: it is a copy, and does not follow later changes to the model's parameters."""

    def __init__(self, model, capacity: int, precision: str = "float32") -> None:
        if precision == AUTO:
            precision = resolve_precision(precision)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} or auto, got {precision!r}")
        c = model.config
        if precision != "float32" and not bfloat16_native():
            raise ValueError(f"precision {precision!r} needs a CPU that multiplies bfloat16 natively; use 'float32'")
        self.dtype = torch.float32 if precision == "float32" else torch.bfloat16
        self.int8 = precision == "int8"
        self.n_q, self.card, self.dim, self.n_heads = c.n_q, c.card, c.dim, c.n_heads
        self.head_dim = c.dim // c.n_heads
        with torch.no_grad():
            self.emb = torch.cat([e.weight for e in model.emb]).float()  # [K * (card + 1), D]
            device = self.emb.device
            self.offsets = torch.arange(c.n_q, device=device) * (c.card + 1)  # [K]
            ctl = model.controls
            self.control_in = None if ctl is None else self._mat(ctl.input.weight)
            again = {} if ctl is None else {layer: self._mat(ctl.again[j].weight) for layer, j in ctl.index.items()}
            self.layers = [self._layer(block, again.get(i)) for i, block in enumerate(model.blocks)]
            self.norm = _ln(model.norm)
            self.heads = self._mat(torch.cat([h.weight for h in model.heads]))  # [D, K * card]
        self.rope_theta = c.rope_theta
        self.cos = self.sin = self.emb.new_zeros(0, self.head_dim // 2)
        self.rope(capacity - 1)

    def rope(self, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary tables ``(cos, sin)``, each ``[head_dim / 2]``, of position ``pos`` (the tables grow on demand)."""
        if pos >= self.cos.shape[0]:
            n = max(pos + 1, 2 * self.cos.shape[0])
            self.cos, self.sin = rope_tables(torch.arange(n, device=self.emb.device), self.head_dim, self.rope_theta)
        return self.cos[pos], self.sin[pos]

    def _mat(self, weight: torch.Tensor) -> Matrix:
        """An ``nn.Linear`` weight ``[out, in]`` as the right operand ``[in, out]`` of ``x @ W``, contiguous; in
        int8, ``(round(weight / scale) [out, in] int8, scale [out] bfloat16)`` with ``scale`` = the row's largest
        magnitude / 127, where ``in`` is a multiple of 16 (the int8 kernel reads 16 at a time and crashes on other
        sizes; such matrices, like the controls' 35 inputs, stay dense bfloat16)."""
        weight = weight.detach().float()
        if self.int8 and weight.shape[1] % 16 == 0:
            scale = (weight.abs().amax(1) / 127).clamp(min=1e-12)
            q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            return q, scale.to(torch.bfloat16)
        return weight.t().to(self.dtype).contiguous()

    def _layer(self, block, again) -> _Layer:
        cross = block.cross
        return _Layer(
            ln1=_ln(block.norm1),
            qkv=self._mat(block.attn.qkv.weight),
            proj=self._mat(block.attn.proj.weight),
            ln_cross=None if cross is None else _ln(block.norm_cross),
            cross_q=None if cross is None else self._mat(cross.q.weight),
            cross_proj=None if cross is None else self._mat(cross.proj.weight),
            ln2=_ln(block.norm2),
            fc1=self._mat(block.mlp[0].weight),
            fc2=self._mat(block.mlp[2].weight),
            again=again,
        )


def matmul(x: torch.Tensor, m: Matrix) -> torch.Tensor:
    """``x`` ``[B, in]`` times a packed matrix: ``[B, out]`` in ``x``'s dtype."""
    if isinstance(m, tuple):
        return torch._weight_int8pack_mm(x, m[0], m[1])
    return x @ m


def _ln(norm) -> tuple[torch.Tensor, torch.Tensor]:
    return norm.weight.detach().float(), norm.bias.detach().float()


def _layer_norm(x: torch.Tensor, wb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), wb[0], wb[1])


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions for one step: ``x`` ``[..., hd]``, tables ``[hd / 2]``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def decode_step(
    w: StepWeights, tokens: torch.Tensor, cache: KVCache, controls: torch.Tensor | None = None
) -> torch.Tensor:
    """Logits ``[B, K, card]`` (float32) of the step after ``tokens`` ``[B, K]`` (the delayed sequence's newest
    column, ids in ``[0, card]``), appended to ``cache`` at position ``cache.length``; ``controls`` ``[B, F]`` are
    that step's dense controls (None = none). The cache must have been filled by a first :meth:`MusicLM.forward`
    call (prefix, context, cross-attention states) and have room for one more position."""
    b = tokens.shape[0]
    pos = cache.length
    if pos >= cache.capacity:
        raise ValueError(f"KV cache holds {cache.capacity} positions, {pos + 1} needed")
    dt = w.dtype
    x = w.emb[tokens + w.offsets].sum(1)  # (B, D) float32
    ctl = None
    if controls is not None:
        ctl = controls.to(dt)
        x = x + matmul(ctl, w.control_in)  # a bfloat16 product is promoted by the addition: no extra pass
    cos, sin = w.rope(pos)
    h, hd = w.n_heads, w.head_dim
    valid = None if cache.all_valid else cache.key_valid[:, None, None, : pos + 1]
    cross_kv, cross_mask, cross_any = cache.cross_kv, cache.cross_mask, cache.cross_any
    for i, layer in enumerate(w.layers):
        if ctl is not None and layer.again is not None:
            x = x + matmul(ctl, layer.again)
        qkv = matmul(_layer_norm(x, layer.ln1).to(dt), layer.qkv).float().view(b, 3, h, hd)
        q, k = _rotate(qkv[:, :2], cos, sin).unbind(1)  # (B, H, hd) each
        v = qkv[:, 2]
        kc, vc = cache.k[i], cache.v[i]
        kc[:, :, pos] = k
        vc[:, :, pos] = v
        y = F.scaled_dot_product_attention(q[:, :, None], kc[:, :, : pos + 1], vc[:, :, : pos + 1], attn_mask=valid)
        x = x + matmul(y.reshape(b, -1).to(dt), layer.proj)
        if layer.cross_q is not None and cross_kv[i] is not None:
            cq = matmul(_layer_norm(x, layer.ln_cross).to(dt), layer.cross_q).float().view(b, h, 1, hd)
            ck, cv = cross_kv[i]
            y = F.scaled_dot_product_attention(cq, ck, cv, attn_mask=cross_mask).reshape(b, -1)
            y = matmul(y.to(dt), layer.cross_proj)
            x = x + (y if cross_any is None else y * cross_any[:, :, 0])
        m = F.gelu(matmul(_layer_norm(x, layer.ln2).to(dt), layer.fc1))
        x = x + matmul(m, layer.fc2)
    cache.length = pos + 1
    return matmul(_layer_norm(x, w.norm).to(dt), w.heads).float().view(b, w.n_q, w.card)
