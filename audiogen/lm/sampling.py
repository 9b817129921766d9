"""Generation options, next-token sampling (temperature, top-k, top-p, greedy) and classifier-free guidance.

Guidance runs the conditional and unconditional passes as extra rows of ONE batch. With ``emotion_scale`` unset
there are two rows per item, full condition and none::

    logits = l_none + cfg_scale * (l_full - l_none)

With ``emotion_scale`` set there are three rows, full condition, condition without emotion, and none; the emotion
gets its own push on top of the general guidance::

    logits = l_none + cfg_scale * (l_noemo - l_none) + emotion_scale * (l_full - l_noemo)

(``emotion_scale == cfg_scale`` is plain guidance; a larger one exaggerates the emotion.) ``control_scale`` adds a
row with every condition but without the dense controls (the plan), and the controls their own push::

    logits = l_none + cfg_scale * (l_full - l_none) + (emotion_scale - cfg_scale) * (l_full - l_noemo)
                    + (control_scale - cfg_scale) * (l_full - l_noctrl)

(each term only when its scale is set; with the emotion term alone this is the formula above). The row order is
:func:`guidance_kinds`. With ``cfg_scale == 1`` and no other scale, guidance is off and one row per item is run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from audiogen.conditioning.base import Attributes


@dataclass(frozen=True)
class GenerationParams:
    """Per-call sampling options.

    temperature > 0; codebook_temperature: a temperature per codebook from the first, each > 0, in place of
    ``temperature`` for those codebooks (the rest keep ``temperature``; None = all at ``temperature``); top_k >= 0
    (0 = off); 0 < top_p <= 1 (1 = off); greedy takes the argmax (ignores the rest).
    cfg_scale >= 0 and emotion_scale >= 0 or None: see the module docstring. seed: makes a generation reproducible
    bit for bit (None = a fresh random seed). window: frames of context the model sees at most (None = the
    model's ``max_frames``); extend_stride: new frames per step of the sliding window beyond the first window
    (None = 60% of the window, MusicGen's 18 s of 30 s); the last ``window - extend_stride`` frames are kept as
    context. control_guidance: for a model with controls, whether the unconditional guidance rows run without them
    (guidance then strengthens the plan as it does the other conditions) or with them. control_scale >= 0 or None:
    the controls' own guidance (see the module docstring). beat_scale >= 0: weight of
    beat guidance (:mod:`audiogen.lm.beat_prior`) on rows with a tempo or beats; None = the model's default (0
    for a model without a beat prior), 0 = off. sketch_strength >= 0: a bonus (in logits, added to the guided
    logits before the filters) for the code of the plan's sketch (:mod:`audiogen.compose.sketch`: the plan played
    by the soundfont, encoded by the codec) at each position the LM samples; 0 = off (the LM performs from the
    controls alone), a large value copies the sketch; None = the model folder's default (``model.json``), 0 for
    :func:`audiogen.lm.generate.generate` called directly. sketch_codebooks: how many codebooks, from the first, get the
    bonus (None = all). precision: of the KV-cached decoding steps, ``"float32"``, ``"bfloat16"`` (half the
    weight bytes read per step) or ``"int8"`` (a quarter); the last two only where the CPU multiplies bfloat16
    natively, see :mod:`audiogen.lm.fast`; ``"auto"``: int8 where it may, else float32 (so the same seed can give
    other tokens on another CPU).
    """

    temperature: float = 1.0
    codebook_temperature: tuple[float, ...] | None = None
    top_k: int = 250
    top_p: float = 1.0
    greedy: bool = False
    cfg_scale: float = 3.0
    emotion_scale: float | None = None
    seed: int | None = None
    window: int | None = None
    extend_stride: int | None = None
    control_guidance: bool = True
    control_scale: float | None = None
    beat_scale: float | None = None
    sketch_strength: float | None = None
    sketch_codebooks: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.codebook_temperature is not None:
            temps = tuple(self.codebook_temperature)
            if not temps or not all(isinstance(t, (int, float)) and t > 0 and math.isfinite(t) for t in temps):
                raise ValueError(f"codebook_temperature must be a non-empty sequence of finite numbers > 0, one per "
                                 f"codebook from the first, or None; got {self.codebook_temperature!r}")  # fmt: skip
            object.__setattr__(self, "codebook_temperature", tuple(float(t) for t in temps))
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1] (1 = off), got {self.top_p}")
        if not self.cfg_scale >= 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.emotion_scale is not None and not self.emotion_scale >= 0:
            raise ValueError(f"emotion_scale must be >= 0 or None, got {self.emotion_scale}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must lie in [0, 2**63), got {self.seed}")
        if self.window is not None and self.window < 2:
            raise ValueError(f"window must be >= 2 frames or None, got {self.window}")
        if self.beat_scale is not None and not (self.beat_scale >= 0 and math.isfinite(self.beat_scale)):
            raise ValueError(f"beat_scale must be a finite number >= 0 or None (model default), got {self.beat_scale}")
        if self.control_scale is not None and not (self.control_scale >= 0 and math.isfinite(self.control_scale)):
            raise ValueError(f"control_scale must be a finite number >= 0 or None, got {self.control_scale}")
        if self.sketch_strength is not None and not (self.sketch_strength >= 0 and math.isfinite(self.sketch_strength)):
            raise ValueError(
                f"sketch_strength must be a finite number >= 0 (0 = off) or None (the model's default), "
                f"got {self.sketch_strength}"
            )
        if self.sketch_codebooks is not None and self.sketch_codebooks < 1:
            raise ValueError(f"sketch_codebooks must be >= 1 or None (all), got {self.sketch_codebooks}")
        if self.precision not in ("auto", "float32", "bfloat16", "int8"):
            raise ValueError(f"precision must be 'auto', 'float32', 'bfloat16' or 'int8', got {self.precision!r}")
        if self.extend_stride is not None and self.extend_stride < 1:
            raise ValueError(f"extend_stride must be >= 1 frame or None, got {self.extend_stride}")

    @property
    def guidance_rows(self) -> int:
        """Rows per item in the guided batch (:func:`guidance_kinds`): 1 (no guidance) to 4."""
        return len(guidance_kinds(self))


def guidance_kinds(params: GenerationParams, rows: int | None = None) -> list[str]:
    """The guidance rows of ``params`` in batch order: ``"full"``, ``"noemo"`` (no emotion), ``"noctrl"`` (no dense
    controls), ``"none"`` (nothing). ``rows=1`` (a model without conditions) is ``["full"]``."""
    if rows == 1:
        return ["full"]
    kinds = ["full"]
    if params.emotion_scale is not None:
        kinds.append("noemo")
    if params.control_scale is not None:
        kinds.append("noctrl")
    if len(kinds) > 1 or params.cfg_scale != 1.0:
        kinds.append("none")
    return kinds


def guidance_attributes(attributes: Sequence[Attributes], rows: int | Sequence[str]) -> list[Attributes]:
    """The batch of attributes of the guidance rows (a row count 1..3 in the classic order, or :func:`guidance_kinds`):
    ``[full..., (no emotion...,) (full again, for no controls...,) none...]``."""
    full = list(attributes)
    if isinstance(rows, int):
        rows = {1: ["full"], 2: ["full", "none"], 3: ["full", "noemo", "none"]}[rows]
    drop = {"full": None, "noctrl": None, "noemo": "emotion", "none": "all"}
    return [a if drop[k] is None else a.drop(drop[k]) for k in rows for a in full]


def combine_guidance(logits: torch.Tensor, params: GenerationParams, rows: int | None = None) -> torch.Tensor:
    """Merge guidance rows: ``[rows * B, ...]`` logits (row order of :func:`guidance_kinds`) -> ``[B, ...]``.

    ``rows`` defaults to ``params.guidance_rows`` (1 when generating without conditions).
    """
    kinds = guidance_kinds(params, rows)
    if len(kinds) == 1:
        return logits
    parts = dict(zip(kinds, logits.chunk(len(kinds)), strict=True))
    full, none = parts["full"], parts["none"]
    if kinds == ["full", "none"]:
        return none + params.cfg_scale * (full - none)
    if kinds == ["full", "noemo", "none"]:
        noemo = parts["noemo"]
        return none + params.cfg_scale * (noemo - none) + params.emotion_scale * (full - noemo)
    out = none + params.cfg_scale * (full - none)
    if "noemo" in parts:
        out = out + (params.emotion_scale - params.cfg_scale) * (full - parts["noemo"])
    if "noctrl" in parts:
        out = out + (params.control_scale - params.cfg_scale) * (full - parts["noctrl"])
    return out


def sample_next(
    logits: torch.Tensor,
    params: GenerationParams,
    generator: torch.Generator | None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw one token per codebook: ``logits [B, K, card]`` -> ``[B, K]`` long.

    Temperature first (``codebook_temperature`` for the codebooks it names), then top-k, then top-p (nucleus: the
    smallest set of tokens whose probability reaches ``top_p``; the most likely token is always kept). ``bias``
    ``[B, K, card]`` (beat guidance) is added after the filters: it reweights the tokens the model finds plausible
    and never brings back one the filters dropped.
    """
    if params.greedy:
        return (logits if bias is None else logits + bias).argmax(dim=-1)
    logits = logits.float()
    if params.codebook_temperature is not None:
        k = logits.shape[-2]
        temps = [*params.codebook_temperature[:k]] + [params.temperature] * max(0, k - len(params.codebook_temperature))
        logits = logits / torch.tensor(temps, dtype=logits.dtype, device=logits.device)[:, None]
    elif params.temperature != 1.0:  # dividing by 1 changes nothing: skip the pass over the logits
        logits = logits / params.temperature
    card = logits.shape[-1]
    if 0 < params.top_k < card:
        kth = torch.topk(logits, params.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= params.top_p  # mass before this token already reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    if bias is not None:
        logits = logits + bias
    return draw(logits.softmax(dim=-1), generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of ``probs`` ``[..., card]`` (each row non-negative, summing to about 1) drawn with those
    probabilities: ``[...]`` long.

    By the inverse of the cumulative distribution: one uniform ``u`` per row from ``generator``, and the first index
    whose running sum exceeds ``u`` times the row's total, so an index of probability 0 is never drawn. It draws
    from the same distribution as ``torch.multinomial(probs, 1)`` with one uniform number per row instead of that
    kernel's setup (about 0.13 ms against 0.02 ms for four rows of 1,024 on this project's CPU; the sampling loop
    draws once per step).
    """
    cdf = probs.cumsum(dim=-1)
    u = torch.rand((*probs.shape[:-1], 1), generator=generator, dtype=cdf.dtype, device=cdf.device)
    index = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    return index.clamp_(max=probs.shape[-1] - 1).squeeze(-1)
