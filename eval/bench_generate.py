"""Generation speed of a model end to end: wall time and real-time factor of a default 30 s request with a tempo
(CFG, beat clock and beat guidance on, KV cache, codec decode and mastering included), peak memory, and the
KV-cache speed-up measured side by side.

    python -m audiogen.eval.bench_generate --threads 2

Writes the "## Generation speed" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch

from audiogen.eval.report import command_line, machine, replace_section, table, today

SECTION = "## Generation speed"


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_request(gen, duration: float, seed: int) -> tuple[float, object]:
    start = time.perf_counter()
    track = gen.generate(
        "a hopeful corporate track with piano and strings",
        emotion="happy",
        tempo=120,  # a tempo turns on the beat clock and beat guidance: the slower path
        duration=duration,
        seed=seed,
        progress=False,
    )
    return time.perf_counter() - start, track


def cache_speedup(gen, frames: int, seed: int = 0) -> tuple[float, float, bool]:
    """Seconds to sample ``frames`` frames with and without the KV cache (same seed, CFG on) and whether the
    tokens are identical."""
    from audiogen.conditioning.base import Attributes
    from audiogen.lm import GenerationParams
    from audiogen.lm import generate as lm_generate

    attrs = [Attributes(text="calm piano", emotion="calm", tempo=90, duration=frames / gen.lm.config.frame_rate)]
    params = GenerationParams(seed=seed)
    out, times = [], []
    for use_cache in (True, False):
        start = time.perf_counter()
        out.append(lm_generate(gen.lm, gen.lm.condition, attrs, frames, params, use_cache=use_cache))
        times.append(time.perf_counter() - start)
    return times[0], times[1], bool(torch.equal(out[0], out[1]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model; 'debug' = tiny)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cache-frames", type=int, default=150)
    ap.add_argument("--out", default="BENCHMARKS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = machine()
    from audiogen.generator import MusicGenerator

    t0 = time.perf_counter()
    gen = MusicGenerator.debug() if args.model == "debug" else MusicGenerator.from_pretrained(args.model)
    load_s = time.perf_counter() - t0
    runs = [time_request(gen, args.duration, seed) for seed in range(args.repeats)]
    walls = [w for w, _ in runs]
    assert all(abs(t.duration - args.duration) < 0.05 for _, t in runs)
    cached, uncached, same = cache_speedup(gen, args.cache_frames)
    best = min(walls)
    rows = [
        [
            f"{args.duration:g} s request at 120 BPM, CFG, clock and beat guidance on (LM + decode + mastering)",
            f"{best:.1f} s (of {len(walls)})",
            f"{args.duration / best:.2f}x",
        ],
        ["model load", f"{load_s:.1f} s", ""],
        [f"LM only, {args.cache_frames} frames, KV cache", f"{cached:.2f} s", ""],
        [
            f"LM only, {args.cache_frames} frames, no cache",
            f"{uncached:.2f} s",
            f"cache {uncached / cached:.1f}x faster, tokens identical: {same}",
        ],
        ["peak memory (RSS)", f"{peak_rss_mib():.0f} MiB", ""],
    ]
    body = [
        f"Command: `{command_line('python -m audiogen.eval.bench_generate', argv)}`  ",
        f"Model: {gen.model_version}. Machine: {started}; {args.threads} torch thread(s); {today()}.",
        "",
        *table(["what", "wall time", "real-time factor / note"], rows),
    ]
    replace_section(args.out, SECTION, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
