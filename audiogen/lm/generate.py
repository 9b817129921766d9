"""Autoregressive generation: KV-cached decoding of the delay pattern, guidance, prompts and a sliding window.

A track longer than the model's window is made of segments (MusicGen's ``extend_stride``): the first fills the
window; each next one keeps the last ``window - extend_stride`` frames as context (re-encoded into a fresh KV cache)
and adds ``extend_stride`` new frames. Every segment is conditioned with its own timing: ``position`` = the
segment's start in seconds, ``duration`` = the whole track's length (unless the attributes give one).

A model with a beat clock (:mod:`audiogen.lm.clock`) is given, at every step, the phase of the beat: from the
requested tempo (a steady grid from the track's first frame) or from explicit beat times. Under guidance the
unconditional rows run without the clock (``GenerationParams.clock_guidance``), so guidance pushes the beat too.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace

import torch

from audiogen.conditioning.base import Attributes, Conditions
from audiogen.lm.clock import batch_clock, grid_beats
from audiogen.lm.model import MusicLM
from audiogen.lm.pattern import build_delayed, delay_steps, revert_delayed, valid_mask
from audiogen.lm.sampling import GenerationParams, combine_guidance, guidance_attributes, sample_next

Provider = Callable[[list[Attributes]], Conditions]
Progress = Callable[[int, int], None]
UNKNOWN = -1  # a position of the delayed sequence still to be sampled


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
    beats: Sequence[Sequence[float] | None] | None = None,
) -> torch.Tensor:
    """Generate codes for a batch of requests.

    provider: turns attributes into :class:`Conditions` (None = unconditional). attributes: one per output row.
    n_frames: length of the output, prompt included. prompt: codes ``[B, K', Tp]`` (``K' >= n_q``, ``Tp <
    n_frames``) to continue. callback(step, total_steps) is called after every decoding step. use_cache=False
    recomputes the whole sequence each step (slow; a reference for tests and benchmarks). beats: for a model with a
    beat clock, one list of beat times (seconds from the first frame, prompt included) or None per row; by default
    a steady grid at each row's ``tempo`` (no clock for a row without one). Ignored by a model without a clock.
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
    rows = params.guidance_rows if provider is not None else 1
    duration = n_frames / cfg.frame_rate
    progress = _Progress(callback, total_steps)
    row_beats = _row_beats(model, attributes, beats, rows, params, duration)
    with _eval_mode(model, provider):
        for start, end in segments:
            timed = [
                replace(a, position=start / cfg.frame_rate, duration=duration if a.duration is None else a.duration)
                for a in attributes
            ]
            conditions = None if provider is None else _to_device(provider(guidance_attributes(timed, rows)), device)
            clock = None
            if row_beats is not None:
                n_steps = delay_steps(end - start, cfg.n_q)
                clock = batch_clock(row_beats, start, n_steps, cfg.frame_rate, device)
            context, n_new = out[..., start:], end - out.shape[-1]
            segment = _generate_segment(
                model, conditions, rows, context, n_new, params, generator, progress, use_cache, clock
            )
            out = torch.cat([out, segment[..., out.shape[-1] - start :]], dim=-1)  # keep the new frames
    return out


def _row_beats(model, attributes, beats, rows: int, params: GenerationParams, duration: float):
    """Beat times of every guided row (``rows * B``, None = no clock), or None for a model without a clock."""
    if not model.config.clock_features:
        return None
    if beats is None:
        beats = [None if a.tempo is None else grid_beats(a.tempo, duration + 1.0) for a in attributes]
    elif len(beats) != len(attributes):
        raise ValueError(f"beats must hold one entry (beat times or None) per row: {len(attributes)}, got {len(beats)}")
    beats = [None if b is None else _check_beats(b) for b in beats]
    if rows == 1:
        return beats
    # guidance rows: full (and no-emotion) keep the clock; the unconditional rows drop it under clock_guidance
    last = [None] * len(beats) if params.clock_guidance else beats
    return beats * (rows - 1) + last


def _check_beats(b) -> list[float]:
    import numpy as np

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


def _generate_segment(model, conditions, rows, context, n_new, params, generator, progress, use_cache, clock=None):
    """Continue ``context`` ``[B, K, C]`` by ``n_new`` frames in one window; returns ``[B, K, C + n_new]``.

    clock: ``[rows * B, delay_steps(C + n_new), F]`` beat clock of the segment's steps, or None."""
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
    if use_cache:
        n_prefix = 0 if conditions is None else conditions.prefix.shape[1]
        cache = model.new_cache(rows * b, n_prefix + n_steps)

    def clk(a: int, b: int):
        return None if clock is None else clock[:, a:b]

    logits = model(seq[..., :first].repeat(rows, 1, 1), conditions, cache, clk(0, first))[:, :, -1]  # (rows*B, K, card)
    for step in range(first, n_steps):
        tokens = sample_next(combine_guidance(logits, params, rows), params, generator)
        column = seq[..., step]
        seq[..., step] = torch.where(column == UNKNOWN, tokens, column)
        progress.step()
        if step + 1 == n_steps:
            break
        if use_cache:
            logits = model(seq[..., step : step + 1].repeat(rows, 1, 1), None, cache, clk(step, step + 1))[:, :, -1]
        else:
            logits = model(seq[..., : step + 1].repeat(rows, 1, 1), conditions, None, clk(0, step + 1))[:, :, -1]
    return revert_delayed(seq, frames)
