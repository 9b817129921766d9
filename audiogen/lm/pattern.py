"""MusicGen's "delay" interleaving of K codebooks into one sequence the LM predicts one step at a time.

Codebook ``k`` is shifted right by ``k`` steps, and one extra "start" step (all special) comes first, so at sequence
step ``s`` codebook ``k`` holds the code of frame ``s - 1 - k``. With K = 3 codebooks and frames 1, 2, 3, 4, ...::

    step:  0  1  2  3  4  5  6
         [[S, 1, 2, 3, 4, S, S],     codebook 0
          [S, S, 1, 2, 3, 4, S],     codebook 1
          [S, S, S, 1, 2, 3, 4]]     codebook 2

``S`` is the special token: "nothing here (yet)". A sequence of T frames takes ``T + K`` steps. The LM reads steps
``0 .. T+K-2`` and predicts steps ``1 .. T+K-1``; when it predicts codebook ``k`` of frame ``t`` it has already seen
every codebook ``< k`` of frame ``t`` and all codebooks of earlier frames, so one LM step per frame suffices.
Frames beyond a track's end may be given as ``S`` too (padding); they stay ``S`` in the sequence.
"""

from __future__ import annotations

import torch


def delay_steps(n_frames: int, n_q: int) -> int:
    """Length of the delayed sequence for ``n_frames`` frames of ``n_q`` codebooks (start step included)."""
    return n_frames + n_q


def _frame_index(n_steps: int, n_q: int, device: torch.device | None = None) -> torch.Tensor:
    """Frame held by each (codebook, step) of the pattern: ``[n_q, n_steps]`` long, ``step - 1 - k`` (may be < 0)."""
    steps = torch.arange(n_steps, device=device)
    return steps[None, :] - 1 - torch.arange(n_q, device=device)[:, None]


def valid_mask(n_frames: int, n_q: int, device: torch.device | None = None) -> torch.Tensor:
    """Which (codebook, step) positions of the delayed sequence hold a real frame: ``[n_q, n_frames + n_q]`` bool."""
    idx = _frame_index(delay_steps(n_frames, n_q), n_q, device)
    return (idx >= 0) & (idx < n_frames)


def build_delayed(codes: torch.Tensor, special: int) -> torch.Tensor:
    """Interleave frame-aligned codes into the delay pattern.

    codes: ``[B, K, T]`` integer codes. Returns ``[B, K, T + K]``: ``out[:, k, s] = codes[:, k, s - 1 - k]`` where
    that frame exists, else ``special``.
    """
    if codes.dim() != 3:
        raise ValueError(f"codes must be [B, K, T], got shape {tuple(codes.shape)}")
    b, k, t = codes.shape
    idx = _frame_index(delay_steps(t, k), k, codes.device)  # [K, S]
    if t == 0:
        return codes.new_full((b, k, k), special)
    valid = (idx >= 0) & (idx < t)
    gathered = torch.gather(codes, 2, idx.clamp(0, t - 1).expand(b, k, -1))
    return torch.where(valid, gathered, torch.full_like(gathered, special))


def revert_delayed(seq: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
    """Undo :func:`build_delayed`: ``[B, K, S]`` delayed sequence -> ``[B, K, T]`` frame-aligned codes.

    ``T`` defaults to ``S - K`` (the full sequence). Works for any tensor with steps on the last axis (e.g. logits
    ``[B, K, S, card]`` after moving the class axis: pass ``seq`` with steps last).
    """
    if seq.dim() != 3:
        raise ValueError(f"seq must be [B, K, S], got shape {tuple(seq.shape)}")
    b, k, s = seq.shape
    t = s - k if n_frames is None else n_frames
    if t < 0 or t + k > s:
        raise ValueError(f"a delayed sequence of {s} steps holds at most {s - k} frames of {k} codebooks, asked {t}")
    # frame t of codebook k sits at step t + 1 + k
    steps = torch.arange(t, device=seq.device)[None, :] + 1 + torch.arange(k, device=seq.device)[:, None]
    return torch.gather(seq, 2, steps.expand(b, k, -1))
