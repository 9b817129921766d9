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

import math
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
        # the rotary pairs (j, j + hd/2) of every query and key head side by side, (2j, 2j + 1), so that one complex
        # product rotates them; a dot product of a query and a key is the same in either order of the head's dims
        half = self.head_dim // 2
        self.side_by_side = torch.stack([torch.arange(half), torch.arange(half) + half], 1).flatten()  # [hd]
        with torch.no_grad():
            self.emb = torch.cat([e.weight for e in model.emb]).float()  # [K * (card + 1), D]
            device = self.emb.device
            self.side_by_side = self.side_by_side.to(device)
            self.offsets = torch.arange(c.n_q, device=device) * (c.card + 1)  # [K]
            ctl = model.controls
            self.control_in = None if ctl is None else self._mat(ctl.input.weight)
            again = {} if ctl is None else {layer: self._mat(ctl.again[j].weight) for layer, j in ctl.index.items()}
            self.layers = [self._layer(block, again.get(i)) for i, block in enumerate(model.blocks)]
            self.norm = _ln(model.norm)
            self.heads = self._mat(torch.cat([h.weight for h in model.heads]))  # [D, K * card]
        self.rope_theta = c.rope_theta
        self.turns = torch.zeros(0, self.head_dim // 2, dtype=torch.complex64, device=self.emb.device)
        self.rope(capacity - 1)

    def rope(self, pos: int) -> torch.Tensor:
        """The rotary turn of position ``pos`` as complex numbers ``cos + i sin``, ``[head_dim / 2]`` (the table
        grows on demand)."""
        if pos >= self.turns.shape[0]:
            n = max(pos + 1, 2 * self.turns.shape[0])
            cos, sin = rope_tables(torch.arange(n, device=self.emb.device), self.head_dim, self.rope_theta)
            self.turns = torch.complex(cos, sin)
        return self.turns[pos]

    def _qkv(self, weight: torch.Tensor) -> torch.Tensor:
        """The self-attention's ``[3D, D]`` weight with the query and key rows of every head in
        :attr:`side_by_side` order (the values' rows as they are)."""
        d, hd = self.dim, self.head_dim
        heads = (torch.arange(self.n_heads, device=weight.device)[:, None] * hd + self.side_by_side[None]).flatten()
        order = torch.cat([heads, d + heads, torch.arange(2 * d, 3 * d, device=weight.device)])
        return weight[order]

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
            qkv=self._mat(self._qkv(block.attn.qkv.weight)),
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


def _rotate(x: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Rotary positions for one step: ``x`` ``[..., hd]`` with its pairs side by side, ``turn`` ``[hd / 2]``
    complex."""
    z = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
    return torch.view_as_real(z * turn).flatten(-2)


def _step_view(w: StepWeights, cache: KVCache) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Ready ``cache`` (filled by :meth:`MusicLM.forward`) for :func:`decode_step`, once: the keys stored so far put
    in :attr:`StepWeights.side_by_side` order, and the masks made additive (0 or -inf: the same scores as the
    boolean masks, without converting them at every step). Returns ``(self mask [B, 1, 1, capacity] or None,
    cross mask [B, 1, 1, S] or None)``."""
    if not cache.pairs_side_by_side:
        n = cache.length
        for k in cache.k:
            k[:, :, :n] = k[:, :, :n, w.side_by_side]
        cache.pairs_side_by_side = True
    if cache.step_masks is None:

        def additive(mask):
            return None if mask is None else torch.zeros(mask.shape, device=mask.device).masked_fill_(~mask, -math.inf)

        cache.step_masks = (None if cache.all_valid else additive(cache.key_valid[:, None, None]),
                            additive(cache.cross_mask))  # fmt: skip
    return cache.step_masks


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
    turn = w.rope(pos)
    h, hd = w.n_heads, w.head_dim
    self_mask, cross_mask = _step_view(w, cache)
    valid = None if self_mask is None else self_mask[..., : pos + 1]
    cross_kv, cross_any = cache.cross_kv, cache.cross_any
    for i, layer in enumerate(w.layers):
        if ctl is not None and layer.again is not None:
            x = x + matmul(ctl, layer.again)
        qkv = matmul(_layer_norm(x, layer.ln1).to(dt), layer.qkv).float().view(b, 3, h, hd)
        q, k = _rotate(qkv[:, :2], turn).unbind(1)  # (B, H, hd) each, pairs side by side
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


def decode_block(
    w: StepWeights, tokens: torch.Tensor, cache: KVCache, controls: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`decode_step` for ``N`` consecutive positions at once: logits ``[B, N, K, card]`` (float32), entry ``i``
    the step after ``tokens[..., : i + 1]``; ``tokens`` ``[B, K, N]`` (delayed columns, ids in ``[0, card]``) are
    appended to ``cache`` at positions ``cache.length ..``, each seeing the cache and the block's earlier positions;
    ``controls`` ``[B, N, F]`` (None = none). One pass reads the weights once for all ``N`` positions, which is what
    a step costs on a CPU: the sampling loop checks ``N - 1`` guessed columns at the price of about one step
    (:func:`audiogen.lm.generate.generate`, ``draft``). Rolling back is setting ``cache.length`` lower: later
    positions are written over."""
    b, _, n = tokens.shape
    pos = cache.length
    if pos + n > cache.capacity:
        raise ValueError(f"KV cache holds {cache.capacity} positions, {pos + n} needed")
    dt, d = w.dtype, w.dim
    x = w.emb[tokens.transpose(1, 2) + w.offsets].sum(2).reshape(b * n, d)  # (B·N, D) float32
    ctl = None
    if controls is not None:
        ctl = controls.reshape(b * n, -1).to(dt)
        x = x + matmul(ctl, w.control_in)
    w.rope(pos + n - 1)
    turns = w.turns[pos : pos + n, None]  # (N, 1, hd/2): broadcast over heads
    h, hd = w.n_heads, w.head_dim
    self_mask, cross_mask = _step_view(w, cache)
    # position pos + i sees the cache and the block up to itself
    mask = torch.zeros(n, pos + n, device=x.device)
    mask[:, pos:] = torch.full((n, n), -math.inf, device=x.device).triu_(1)
    mask = mask[None, None] if self_mask is None else mask[None, None] + self_mask[..., : pos + n]
    cross_kv, cross_any = cache.cross_kv, cache.cross_any
    for i, layer in enumerate(w.layers):
        if ctl is not None and layer.again is not None:
            x = x + matmul(ctl, layer.again)
        qkv = matmul(_layer_norm(x, layer.ln1).to(dt), layer.qkv).float().view(b, n, 3, h, hd)
        q, k = _rotate(qkv[:, :, :2], turns[:, None]).unbind(2)  # (B, N, H, hd) each, pairs side by side
        kc, vc = cache.k[i], cache.v[i]
        kc[:, :, pos : pos + n] = k.transpose(1, 2)
        vc[:, :, pos : pos + n] = qkv[:, :, 2].transpose(1, 2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), kc[:, :, : pos + n], vc[:, :, : pos + n],
                                           attn_mask=mask)  # fmt: skip
        x = x + matmul(y.transpose(1, 2).reshape(b * n, d).to(dt), layer.proj)
        if layer.cross_q is not None and cross_kv[i] is not None:
            cq = matmul(_layer_norm(x, layer.ln_cross).to(dt), layer.cross_q).float().view(b, n, h, hd)
            ck, cv = cross_kv[i]
            y = F.scaled_dot_product_attention(cq.transpose(1, 2), ck, cv, attn_mask=cross_mask)  # (B, H, N, hd)
            y = matmul(y.transpose(1, 2).reshape(b * n, d).to(dt), layer.cross_proj)
            x = x + (y if cross_any is None else (y.view(b, n, d) * cross_any).view(b * n, d))
        m = F.gelu(matmul(_layer_norm(x, layer.ln2).to(dt), layer.fc1))
        x = x + matmul(m, layer.fc2)
    cache.length = pos + n
    return matmul(_layer_norm(x, w.norm).to(dt), w.heads).float().view(b, n, w.n_q, w.card)
