"""Autoregressive generation: KV-cached decoding of the delay pattern, guidance, prompts and a sliding window.

A track longer than the model's window is made of segments (MusicGen's ``extend_stride``): the first fills the
window; each next one keeps the last ``window - extend_stride`` frames as context (re-encoded into a fresh KV cache)
and adds ``extend_stride`` new frames. Every segment is conditioned with its own timing: ``position`` = the
segment's start in seconds, ``duration`` = the whole track's length (unless the attributes give one).

A model with controls (:mod:`audiogen.controls.layout`) is given, at every step, the dense controls of the frame:
those of a plan (chords, melody, beats, dynamics) when the caller passes them, else the beat group alone from the
requested tempo (a steady grid from the track's first frame) or from explicit beat times. Under guidance the
unconditional rows run without controls (``GenerationParams.control_guidance``), so guidance pushes the plan too;
``control_scale`` adds a row without controls only, for a push of its own.

A model with a beat prior (:mod:`audiogen.lm.beat_prior`) adds ``beat_scale * pmi[band, k, phase bin]`` to the
guided, filtered logits of codebook ``k`` of every frame of a row with beats (``GenerationParams.beat_scale``), with or
without a clock.

A plan's sketch (``sketch``: codes of the plan played by the soundfont and encoded by the codec, see
:mod:`audiogen.compose.sketch`) adds ``GenerationParams.sketch_strength`` to the guided logits of the sketch's code at
every position sampled (before the filters): the LM performs the sketch, keeping its notes where it finds them
plausible and playing its own where not. Strength 0 is the plain performance, a large one copies the sketch.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import torch

from audiogen.conditioning.base import Attributes, Conditions
from audiogen.controls import layout
from audiogen.controls.layout import beat_phase, grid_beats
from audiogen.lm.beat_prior import beat_tempo, phase_bins
from audiogen.lm.fast import StepWeights, decode_block, decode_step
from audiogen.lm.model import MusicLM
from audiogen.lm.pattern import build_delayed, delay_steps, revert_delayed, valid_mask
from audiogen.lm.sampling import (
    GenerationParams,
    combine_guidance,
    guidance_attributes,
    guidance_kinds,
    sample_next,
)

Provider = Callable[[list[Attributes]], Conditions]
Progress = Callable[[int, int], None]
FramesReady = Callable[[int, torch.Tensor], None]
UNKNOWN = -1  # a position of the delayed sequence still to be sampled
DRAFT = 8  # columns per pass of the fast step when a sketch gives the guesses (see generate's ``draft``)


def plan_segments(n_frames: int, prompt_frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Segments as ``(context_start, end)`` frame pairs: each generates ``[context_end, end)`` after re-reading
    ``[context_start, context_end)`` with ``context_end`` the previous ``end`` (the prompt's end at first)."""
    if not 1 <= stride < window:
        raise ValueError(f"extend_stride must lie in [1, window - 1] = [1, {window - 1}], got {stride}")
    segments, done = [], prompt_frames
    while done < n_frames:
        context = min(done, window - stride)
        end = min(n_frames, done - context + window)
        segments.append((done - context, end))
        done = end
    return segments


@torch.inference_mode()
def generate(
    model: MusicLM,
    provider: Provider | None,
    attributes: Sequence[Attributes],
    n_frames: int,
    params: GenerationParams | None = None,
    prompt: torch.Tensor | None = None,
    callback: Progress | None = None,
    use_cache: bool = True,
    step: str = "fast",
    beats: Sequence[Sequence[float] | None] | None = None,
    controls: Sequence[np.ndarray | None] | None = None,
    sketch: torch.Tensor | None = None,
    on_frames: FramesReady | None = None,
    draft: int = DRAFT,
) -> torch.Tensor:
    """Generate codes for a batch of requests.

    provider: turns attributes into :class:`Conditions` (None = unconditional). attributes: one per output row.
    n_frames: length of the output, prompt included. prompt: codes ``[B, K', Tp]`` (``K' >= n_q``, ``Tp <
    n_frames``) to continue. callback(step, total_steps) is called after every decoding step. use_cache=False
    recomputes the whole sequence each step (slow; a reference for tests and benchmarks). step: how a KV-cached
    step runs, ``"fast"`` (:func:`audiogen.lm.fast.decode_step`, in ``params.precision``) or ``"eager"`` (the
    model's own forward on one position: the reference the fast step is tested against). beats: for a model with
    controls or a beat prior, one list of beat times (seconds from the first frame, prompt included) or None per
    row; by default a steady grid at each row's ``tempo`` (no beat for a row without one). controls: for a model
    with controls, one ``[>= n_frames, CONTROL_FEATURES]`` array (a plan's, :func:`audiogen.controls.from_plan.
    plan_controls`) or None per row; a row without one gets the beat group from its beats. sketch: codes
    ``[B, >= n_q, >= n_frames]`` the sampling leans towards by ``params.sketch_strength`` (None or strength 0: off).
    on_frames(first, codes): called as soon as frames are complete (every codebook sampled), in order, with the
    index of the first of them (prompt frames count) and their codes ``[B, n_q, n]`` (the prompt's are not passed);
    an exception it raises stops the generation (how a consumer that went away cancels it). draft: with the fast step
    and a sketch, how many columns one pass of the model reads: the column just sampled and ``draft - 1`` of the
    sketch's, guessed to come next (:func:`audiogen.lm.fast.decode_block`); sampling then goes on through the
    guesses for as long as it draws what was guessed. Each step is still drawn from its own logits with its own
    random numbers, so the tokens are those of one pass per column (``draft=1``) up to the floating-point order of
    the products (tests/test_lm_fast.py); only the number of passes changes.
    Returns ``[B, n_q, n_frames]`` long codes, frame-aligned (the delay reverted), the prompt first.
    """
    params = params or GenerationParams()
    cfg = model.config
    batch = len(attributes)
    if batch == 0:
        raise ValueError("attributes must hold one Attributes per output row, got none")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    device = next(model.parameters()).device
    out = _check_prompt(prompt, batch, cfg.n_q, cfg.card, n_frames, device)
    window = params.window or cfg.max_frames
    stride = params.extend_stride or max(1, min(window - 1, int(0.6 * window)))
    segments = plan_segments(n_frames, out.shape[-1], window, stride)
    ends = [out.shape[-1]] + [end for _, end in segments]
    total_steps = sum(end - prev + cfg.n_q - 1 for prev, end in itertools.pairwise(ends))
    seed = params.seed if params.seed is not None else secrets.randbits(63)
    generator = torch.Generator(device=device).manual_seed(seed)
    kinds = guidance_kinds(params, None if provider is not None else 1)
    rows = len(kinds)
    duration = n_frames / cfg.frame_rate
    progress = _Progress(callback, total_steps)
    request_beats = _request_beats(model, attributes, beats, params, duration)
    row_controls = _control_rows(model, controls, request_beats, kinds, params, n_frames, device)
    beat_scale, frame_bins, bands = _beat_guidance(model, request_beats, params, n_frames, device)
    sketch = _check_sketch(sketch, params, batch, cfg.n_q, cfg.card, n_frames, device)
    if step not in ("fast", "eager"):
        raise ValueError(f"step must be 'fast' or 'eager', got {step!r}")
    if not isinstance(draft, int) or draft < 1:
        raise ValueError(f"draft must be an integer >= 1 (1 = one column per pass), got {draft!r}")
    fast = None
    if use_cache:
        fast = StepWeights(model, delay_steps(window, cfg.n_q) + 64, params.precision) if step == "fast" else "eager"
    with _eval_mode(model, provider):
        for start, end in segments:
            timed = [
                replace(a, position=start / cfg.frame_rate, duration=duration if a.duration is None else a.duration)
                for a in attributes
            ]
            conditions = None if provider is None else _to_device(provider(guidance_attributes(timed, kinds)), device)
            ctl = None
            if row_controls is not None:
                ctl = row_controls[:, start : start + delay_steps(end - start, cfg.n_q)]
            context, n_new = out[..., start:], end - out.shape[-1]
            guide = None if frame_bins is None else (model.beat_prior, beat_scale, frame_bins[:, start:end], bands)
            lean = None if sketch is None else build_delayed(sketch[..., start:end], UNKNOWN)
            ready = None if on_frames is None else (lambda f, codes, at=start: on_frames(at + f, codes))
            segment = _generate_segment(model, conditions, rows, context, n_new, params, generator, progress, fast,
                                        ctl, guide, lean, ready, draft)  # fmt: skip
            out = torch.cat([out, segment[..., out.shape[-1] - start :]], dim=-1)  # keep the new frames
    return out


def _check_sketch(sketch, params: GenerationParams, batch: int, n_q: int, card: int, n_frames: int, device):
    """The sketch's first ``n_q`` codebooks ``[B, n_q, n_frames]`` on ``device``, or None when it is off (none given,
    or strength 0); codebooks past ``params.sketch_codebooks`` are marked unknown (no bonus)."""
    if sketch is None or not params.sketch_strength:
        return None
    if sketch.dim() != 3 or sketch.shape[0] != batch or sketch.shape[1] < n_q or sketch.shape[2] < n_frames:
        raise ValueError(f"sketch must be [{batch}, >= {n_q}, >= {n_frames}] codes, got shape {tuple(sketch.shape)}")
    sketch = sketch[:, :n_q, :n_frames].to(device=device, dtype=torch.long).clone()
    if int(sketch.min()) < 0 or int(sketch.max()) >= card:
        raise ValueError(f"sketch codes must lie in [0, {card - 1}]")
    if params.sketch_codebooks is not None:
        sketch[:, params.sketch_codebooks :] = UNKNOWN
    return sketch


def _request_beats(model, attributes, beats, params: GenerationParams, duration: float) -> list | None:
    """Beat times per request (None = no beat for that row), or None when neither controls nor beat guidance need
    them."""
    if not model.config.control_features and _beat_scale(model, params) == 0:
        return None
    if beats is None:
        return [None if a.tempo is None else grid_beats(a.tempo, duration + 1.0) for a in attributes]
    if len(beats) != len(attributes):
        raise ValueError(f"beats must hold one entry (beat times or None) per row: {len(attributes)}, got {len(beats)}")
    return [None if b is None else _check_beats(b) for b in beats]


def _control_rows(model, controls, beats, kinds, params: GenerationParams, n_frames: int, device):
    """Controls of every guided row ``[rows * B, n_frames + n_q, F]`` (row order of ``kinds``), or None when the
    model has no control input or no row has any control."""
    cfg = model.config
    if not cfg.control_features:
        if controls is not None and any(c is not None for c in controls):
            raise ValueError("this model has no control input (control_features=0); it cannot follow a plan")
        return None
    batch = len(beats) if beats is not None else len(controls or [])
    if controls is not None and beats is not None and len(controls) != len(beats):
        raise ValueError(f"controls must hold one entry (an array or None) per row: {len(beats)}, got {len(controls)}")
    steps = n_frames + cfg.n_q
    base = torch.zeros(batch, steps, cfg.control_features)
    for i in range(batch):
        given = None if controls is None else controls[i]
        if given is not None:
            arr = np.asarray(given, dtype=np.float32)
            if arr.ndim != 2 or arr.shape[1] != cfg.control_features or len(arr) < n_frames:
                raise ValueError(
                    f"controls of row {i} must be [>= {n_frames}, {cfg.control_features}], got {tuple(arr.shape)}"
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"controls of row {i} hold NaN or infinite values")
            base[i, : min(len(arr), steps)] = torch.from_numpy(arr[:steps])
        elif beats is not None and beats[i] is not None:
            beat_only = layout.empty(steps)
            layout.write_beats(beat_only, beats[i], None, cfg.frame_rate)
            base[i] = torch.from_numpy(beat_only)
    if not bool(base.abs().sum()):
        return None
    zeros = torch.zeros_like(base)
    pick = {"full": base, "noemo": base, "noctrl": zeros, "none": zeros if params.control_guidance else base}
    return torch.cat([pick[k] for k in kinds]).to(device)


def _beat_scale(model, params: GenerationParams) -> float:
    prior = model.beat_prior
    if params.beat_scale is None:
        return 0.0 if prior is None else prior.default_scale
    if params.beat_scale > 0 and prior is None:
        raise ValueError(
            "beat_scale > 0 needs a model with a beat prior (beat_prior.safetensors in its LM folder); "
            "use beat_scale=None or 0 for this model"
        )
    return float(params.beat_scale)


def _beat_guidance(model, beats, params: GenerationParams, n_frames: int, device):
    """``(scale, frame_bins [B, n_frames], bands [B])`` of beat guidance (bin -1 = no beat), or ``(0, None, None)``
    when it is off."""
    scale, prior = _beat_scale(model, params), model.beat_prior
    if scale == 0 or beats is None or all(b is None for b in beats):
        return 0.0, None, None
    times = np.arange(n_frames) / model.config.frame_rate
    bins = [phase_bins(beat_phase(b, times) if b is not None else times * np.nan, prior.bins) for b in beats]
    bands = [0 if b is None else prior.band(beat_tempo(b)) for b in beats]
    return scale, torch.from_numpy(np.stack(bins)).to(device), torch.tensor(bands, device=device)


def _check_beats(b) -> np.ndarray:
    arr = np.asarray(b, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < 2 or not np.all(np.isfinite(arr)) or not np.all(np.diff(arr) > 0):
        raise ValueError("beat times must be >= 2 finite, strictly increasing numbers of seconds")
    return arr


@contextmanager
def _eval_mode(*modules):
    """Switch nn.Modules to eval mode (no dropout) for the block, then restore their mode."""
    modules = [m for m in modules if isinstance(m, torch.nn.Module)]
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def _check_prompt(prompt, batch: int, n_q: int, card: int, n_frames: int, device) -> torch.Tensor:
    if prompt is None:
        return torch.zeros(batch, n_q, 0, dtype=torch.long, device=device)
    if prompt.dim() != 3 or prompt.shape[0] != batch or prompt.shape[1] < n_q:
        raise ValueError(f"prompt must be [{batch}, >= {n_q}, Tp] codes, got shape {tuple(prompt.shape)}")
    if prompt.shape[-1] >= n_frames:
        raise ValueError(f"prompt has {prompt.shape[-1]} frames; n_frames ({n_frames}) must be longer")
    prompt = prompt[:, :n_q].to(device=device, dtype=torch.long)
    if prompt.numel() and (int(prompt.min()) < 0 or int(prompt.max()) >= card):
        raise ValueError(f"prompt codes must lie in [0, {card - 1}]")
    return prompt


class _Progress:
    def __init__(self, callback: Progress | None, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


def _to_device(cond: Conditions, device) -> Conditions:
    return Conditions(*(t.to(device) for t in (cond.prefix, cond.prefix_mask, cond.cross, cond.cross_mask)))


def _generate_segment(
    model,
    conditions,
    rows,
    context,
    n_new,
    params,
    generator,
    progress,
    fast,
    controls=None,
    guide=None,
    sketch=None,
    ready=None,
    draft=1,
):
    """Continue ``context`` ``[B, K, C]`` by ``n_new`` frames in one window; returns ``[B, K, C + n_new]``.

    fast: the model's :class:`~audiogen.lm.fast.StepWeights`: the first call reads the prefix and the context
    into a KV cache and every next step runs :func:`~audiogen.lm.fast.decode_step`; ``"eager"``: the same cache,
    each step through the model's forward; None recomputes the whole sequence at every step (the slow
    reference).
    controls: ``[rows * B, delay_steps(C + n_new), F]`` controls of the segment's steps, or None. guide: beat
    guidance ``(prior, scale, bins [B, C + n_new], bands [B])`` (phase bin of every frame of the segment, -1 =
    none; tempo band of every row) or None. sketch: the sketch's codes in the delay pattern ``[B, K, delay_steps(C +
    n_new)]`` (:data:`UNKNOWN` = no bonus there), or None. ready(f, codes): called with each new frame ``f`` (index
    into the segment) and its codes ``[B, K, 1]`` once its last codebook is sampled. draft: columns per pass of the
    fast step when there is a sketch (:func:`generate`)."""
    b, k, c = context.shape
    special = model.config.special_token
    frames = c + n_new
    n_steps = delay_steps(frames, k)
    seq = torch.full((b, k, n_steps), UNKNOWN, dtype=torch.long, device=context.device)
    seq.masked_fill_(~valid_mask(frames, k, context.device), special)
    known = build_delayed(context, special)  # (B, K, C + K)
    seq[..., : c + k] = torch.where(valid_mask(c, k, context.device), known, seq[..., : c + k])
    first = c + 1  # first step with an unknown position: codebook 0 of frame C
    cache = None
    if fast is not None:
        n_prefix = 0 if conditions is None else conditions.prefix.shape[1]
        cache = model.new_cache(rows * b, n_prefix + n_steps)

    def clk(a: int, b: int):
        return None if controls is None else controls[:, a:b]

    with _prefill_precision(fast, cache):
        logits = model(seq[..., :first].repeat(rows, 1, 1), conditions, cache, clk(0, first))[:, :, -1].float()
    # the per-step tables, drawn once for the segment: beat guidance's offsets and the sketch's bonus
    beat = None if guide is None else _beat_table(guide, first, n_steps, k)  # (steps, B, K, card)
    lean = None if sketch is None else _lean_table(sketch, params.sketch_strength, logits.dtype)
    # the guesses a pass of the fast step reads after each sampled column: the sketch's codes, the known columns kept
    guess = None
    if isinstance(fast, StepWeights) and sketch is not None and draft > 1:
        guess = torch.where(seq == UNKNOWN, sketch.clamp(min=0), seq)
    pending = [logits]  # logits of steps step, step + 1, ... (those after the first: if the guesses hold)
    step = first
    while True:
        for j, logits in enumerate(pending):
            bias = None if beat is None else beat[step - first]
            guided = combine_guidance(logits, params, rows)
            if lean is not None:
                guided = guided.scatter_add(-1, lean[0][..., step, None], lean[1][..., step, None])
            tokens = sample_next(guided, params, generator, bias)
            column = seq[..., step]
            seq[..., step] = torch.where(column == UNKNOWN, tokens, column)
            progress.step()
            if ready is not None and c <= step - k < frames:  # frame step - k has just got its last codebook
                f = step - k
                ready(f, seq[:, torch.arange(k), f + 1 + torch.arange(k)][..., None].clone())
            step += 1
            if step == n_steps:
                return revert_delayed(seq, frames)
            if j + 1 < len(pending) and not torch.equal(seq[..., step - 1], guess[..., step - 1]):
                cache.length -= len(pending) - 1 - j  # the positions read after the wrong guess: written over
                break
        pending = _next_logits(model, fast, seq, step - 1, rows, cache, conditions, controls, guess, draft, n_steps)


def _next_logits(model, fast, seq, step, rows, cache, conditions, controls, guess, draft, n_steps) -> list:
    """Logits after column ``step`` of ``seq`` (just sampled): one entry ``[rows * B, K, card]``, or, with
    ``guess`` ``[B, K, steps]``, one per column of a pass that also reads the guesses for the steps after it
    (:func:`~audiogen.lm.fast.decode_block`), entry ``i`` valid if guesses ``step + 1 .. step + i`` come true."""
    if isinstance(fast, StepWeights):
        # guess ahead only while the performance follows the sketch: the column just sampled is the sketch's own
        following = guess is not None and torch.equal(seq[..., step], guess[..., step])
        n = min(draft, n_steps - 1 - step) if following else 1
        if n == 1:
            ctl_step = None if controls is None else controls[:, step]
            return [decode_step(fast, seq[..., step].repeat(rows, 1), cache, ctl_step)]
        cols = torch.cat([seq[..., step : step + 1], guess[..., step + 1 : step + n]], dim=-1).repeat(rows, 1, 1)
        ctl = None if controls is None else controls[:, step : step + n]
        return list(decode_block(fast, cols, cache, ctl).unbind(1))
    if fast is not None:
        ctl = None if controls is None else controls[:, step : step + 1]
        return [model(seq[..., step : step + 1].repeat(rows, 1, 1), None, cache, ctl)[:, :, -1]]
    ctl = None if controls is None else controls[:, : step + 1]
    return [model(seq[..., : step + 1].repeat(rows, 1, 1), conditions, None, ctl)[:, :, -1]]


@contextmanager
def _prefill_precision(fast, cache):
    """The segment's first call (prefix and context, a whole window's positions at once) in the fast step's
    precision: bfloat16 matrix products when the steps run in bfloat16 or int8 (:mod:`audiogen.lm.fast`; about half
    the time of float32 on a CPU that multiplies bfloat16 natively), float32 otherwise (the reference paths). The
    cache it fills stays in float32."""
    if not isinstance(fast, StepWeights) or fast.dtype != torch.bfloat16:
        yield
        return
    with torch.autocast(cache.k[0].device.type, dtype=torch.bfloat16):
        yield
    cache.cross_kv = [None if kv is None else (kv[0].float(), kv[1].float()) for kv in cache.cross_kv]


def _beat_table(guide, first: int, n_steps: int, k: int) -> torch.Tensor:
    """Beat guidance's logit offsets of every step ``first .. n_steps - 1`` of a segment, ``[steps, B, K, card]``:
    step ``s`` is ``scale * prior.bias(_step_bins(bins, s, k), bands)``, drawn in one gather."""
    prior, scale, bins, bands = guide
    steps = torch.arange(first, n_steps, device=bins.device)
    frames = steps[:, None] - 1 - torch.arange(k, device=bins.device)[None]  # (S, K): frame of codebook j
    inside = (frames >= 0) & (frames < bins.shape[1])
    picked = bins[:, frames.clamp(0, bins.shape[1] - 1)].permute(1, 0, 2)  # (S, B, K)
    picked = torch.where(inside[:, None], picked, torch.full_like(picked, -1))
    return scale * prior.bias(picked.reshape(-1, k), bands.repeat(len(steps))).view(len(steps), *picked.shape[1:], -1)


def _lean_table(sketch: torch.Tensor, strength: float, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The sketch's bonus as ``(index, value)`` for ``scatter_add`` over the card axis, each ``[B, K, steps]``:
    the sketch's code (0 where unknown) and ``strength`` where it is known, else 0 (adding 0 changes nothing)."""
    return sketch.clamp(min=0), (sketch >= 0).to(dtype) * strength


def _lean(logits: torch.Tensor, codes: torch.Tensor, strength: float) -> torch.Tensor:
    """``logits`` ``[B, K, card]`` with ``strength`` added at ``codes`` ``[B, K]`` (nothing where a code is
    :data:`UNKNOWN`)."""
    known = (codes >= 0).to(logits.dtype)[..., None] * strength
    return logits.scatter_add(-1, codes.clamp(min=0)[..., None], known)


def _step_bins(frame_bins: torch.Tensor, step: int, k: int) -> torch.Tensor:
    """Phase bins ``[B, K]`` of the frames sampled at delayed ``step``: codebook ``j`` holds frame ``step - 1 - j``
    (-1 where that frame lies outside ``frame_bins`` ``[B, F]``)."""
    frames = step - 1 - torch.arange(k, device=frame_bins.device)
    inside = (frames >= 0) & (frames < frame_bins.shape[1])
    picked = frame_bins[:, frames.clamp(0, frame_bins.shape[1] - 1)]
    return torch.where(inside[None], picked, torch.full_like(picked, -1))
