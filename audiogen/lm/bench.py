"""LM decoding speed on this machine: seconds per generated step, with KV cache and guidance, per model size.

    python -m audiogen.lm.bench --threads 1 --window 500   # sizing table (markdown), KV-cache speed-up, 30 s run

A 30 s track is 1500 steps at 50 frames/s, so finishing it in under 30 s (before the codec decoder) needs more
than 50 steps/s. The cost of a step grows with the context (attention over the cache), so each size is timed near
the start of a window and near its end (``window - 50`` cached frames; the cache is filled with zeros, which costs
the same as real keys) and the 30 s estimate uses their mean. ``--window 500`` measures a model trained on 10 s
windows, which generates with a sliding 10 s window (plus a re-encoded context per slide, in the end-to-end
run). Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from audiogen.conditioning.base import Attributes, Conditions
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams, combine_guidance, sample_next

SIZES = {  # name: (dim, layers, heads, card); 1024x24 with 2048 codes is MusicGen-small's shape
    "1024x24": (1024, 24, 16, 2048),
    "768x12": (768, 12, 12, 1024),
    "512x8": (512, 8, 8, 1024),
    "384x8": (384, 8, 6, 1024),
    "384x6": (384, 6, 6, 1024),
    "256x8": (256, 8, 4, 1024),
    "256x6": (256, 6, 4, 1024),
}
PREFIX, CROSS = 8, 16  # conditioning tokens like the default provider's (8 prefix tokens, a short text)


def fake_conditions(rows: int, dim: int) -> Conditions:
    """Random conditioning of the shipped provider's shape: ``rows`` items, 8 prefix and 16 cross tokens."""
    return Conditions(
        torch.randn(rows, PREFIX, dim),
        torch.ones(rows, PREFIX, dtype=torch.bool),
        torch.randn(rows, CROSS, dim),
        torch.ones(rows, CROSS, dtype=torch.bool),
    )


@torch.inference_mode()
def step_seconds(model: MusicLM, rows: int, context: int, steps: int) -> tuple[float, float]:
    """Mean ``(wall, CPU)`` seconds of one decoding step (forward of ``rows`` guidance rows + guidance + sampling)
    with ``context`` frames already cached."""
    cfg = model.config
    params = GenerationParams(cfg_scale=3.0, emotion_scale=4.0 if rows == 3 else None)
    cache = model.new_cache(rows, PREFIX + context + steps + 8)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, cfg.card, (1, cfg.n_q, 1))
    logits = model(tokens.repeat(rows, 1, 1), fake_conditions(rows, cfg.dim), cache)[:, :, -1]
    cache.length += context  # pretend `context` more positions are cached
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        tokens = sample_next(combine_guidance(logits, params), params, gen)[..., None]
        logits = model(tokens.repeat(rows, 1, 1), None, cache)[:, :, -1]
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def quantized(model: MusicLM) -> MusicLM:
    """The model with int8 dynamically quantized linear layers (torch's eager-mode API, deprecated but present)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _mark(seconds: float) -> str:
    """Bold when under the 30 s budget."""
    return f"**{seconds:.1f}**" if seconds < 30 else f"{seconds:.1f}"


def sizing_table(steps: int, window: int, sizes: list[str]) -> list[str]:
    """One markdown row per size and guidance rows: wall steps/s early and late in the window, and 1500-step
    estimates in wall and CPU seconds (fp32, and int8 dynamic quantization)."""
    lines = [
        f"| model | params (M) | rows | steps/s wall, start / {window - 50} cached | 1500 steps, wall (s) "
        "| 1500 steps, CPU (s) | int8, CPU (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in sizes:
        dim, layers, heads, card = SIZES[name]
        torch.manual_seed(0)
        model = MusicLM(LMConfig(dim=dim, n_layers=layers, n_heads=heads, card=card, max_frames=window)).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        int8 = quantized(model)
        n = max(5, steps // 4) if dim >= 768 else steps
        for rows in (2, 3):
            early, late = step_seconds(model, rows, 0, n), step_seconds(model, rows, window - 50, n)
            q_early, q_late = step_seconds(int8, rows, 0, n), step_seconds(int8, rows, window - 50, n)
            wall = 1500 * (early[0] + late[0]) / 2
            cpu = 1500 * (early[1] + late[1]) / 2
            q_cpu = 1500 * (q_early[1] + q_late[1]) / 2
            speeds = f"{1 / early[0]:.1f} / {1 / late[0]:.1f} | {_mark(wall)} | {_mark(cpu)} | {_mark(q_cpu)}"
            lines.append(f"| {name} | {params:.1f} | {rows} | {speeds} |")
            print(lines[-1], flush=True)
    return lines


@torch.inference_mode()
def cache_speedup(frames: int) -> str:
    """Generate the same tokens (greedy, guidance with 2 rows) with and without the KV cache; returns a summary."""
    torch.manual_seed(0)
    model = MusicLM(LMConfig(dim=384, n_layers=8, n_heads=6, max_frames=2 * frames)).eval()
    cond = fake_conditions(2, 384)
    provider = lambda attrs: cond  # noqa: E731 - fixed conditioning for both runs
    params = GenerationParams(greedy=True, cfg_scale=3.0)
    times, outs = [], []
    for use_cache in (True, False):
        start = time.process_time()
        outs.append(generate(model, provider, [Attributes()], frames, params, use_cache=use_cache))
        times.append(time.process_time() - start)
    same = torch.equal(outs[0], outs[1])
    return (
        f"KV cache, 384x8, {frames} frames, guidance 2 rows: cached {times[0]:.2f} CPU s, uncached {times[1]:.2f} "
        f"CPU s, speed-up {times[1] / times[0]:.1f}x, identical tokens: {same}"
    )


@torch.inference_mode()
def full_generation(frames: int, window: int, name: str) -> str:
    """End-to-end :func:`generate` of ``frames`` frames (sliding ``window``, guidance 2 rows, top-k 250)."""
    dim, layers, heads, card = SIZES[name]
    torch.manual_seed(0)
    model = MusicLM(LMConfig(dim=dim, n_layers=layers, n_heads=heads, card=card, max_frames=window)).eval()
    cond = fake_conditions(2, dim)
    wall, cpu = time.perf_counter(), time.process_time()
    generate(model, lambda attrs: cond, [Attributes()], frames, GenerationParams(seed=0))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"generate(), {name}, {frames} frames, window {window}, guidance 2 rows: {wall:.1f} s wall, {cpu:.1f} s CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    ap.add_argument("--window", type=int, default=1500, help="frames in the window (1500 = 30 s)")
    ap.add_argument("--cache-frames", type=int, default=150, help="frames for the cached/uncached comparison")
    ap.add_argument("--full-frames", type=int, default=1500, help="frames for the end-to-end run (0 = skip)")
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated sizes among {', '.join(SIZES)}")
    ap.add_argument("--full-size", default="384x8", help="size of the end-to-end run")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads")
    print(f"load average {os.getloadavg()[0]:.1f} at start (other jobs slow the numbers down)")
    sizes = [x for x in args.sizes.split(",") if x]
    unknown = [x for x in [*sizes, args.full_size] if x not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; allowed: {', '.join(SIZES)}")
    sizing_table(args.steps, args.window, sizes)
    print(cache_speedup(args.cache_frames), flush=True)
    if args.full_frames:
        print(full_generation(args.full_frames, args.window, args.full_size), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
