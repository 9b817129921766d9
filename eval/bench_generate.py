"""Generation speed of a model end to end: wall time and real-time factor of a default 30 s request with a tempo
(CFG, beat clock and beat guidance on, the model's lean on the plan's sketch, KV cache, codec decode and mastering
included), the same request without the sketch and the sketch alone (render + encode), peak memory, and the
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


def time_request(gen, duration: float, seed: int, sketch_strength: float | None = None) -> tuple[float, object]:
    """Seconds to generate the benchmark's request (``sketch_strength``: None = the model's default) and the track."""
    from audiogen.lm import GenerationParams

    start = time.perf_counter()
    track = gen.generate(
        "a hopeful corporate track with piano and strings",
        emotion="happy",
        tempo=120,  # a tempo turns on the beat clock and beat guidance: the slower path
        duration=duration,
        seed=seed,
        progress=False,
        params=GenerationParams(sketch_strength=sketch_strength),
    )
    return time.perf_counter() - start, track


def sketch_seconds(gen, track) -> float:
    """Seconds to render ``track``'s plan with the soundfont and encode it (the sketch the LM leans on)."""
    from audiogen.compose.sketch import sketch_codes

    frames = round(track.plan.duration * gen.codec.frame_rate)
    start = time.perf_counter()
    sketch_codes(gen.codec, [track.plan], frames, gen.lm.config.n_q)
    return time.perf_counter() - start


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


def sketch_share(gen, plan, strengths: tuple[float, ...], seed: int = 0) -> dict[float, float]:
    """Share of the LM's tokens (4 codebooks, every frame) equal to the plan's sketch at each sketch strength, for
    ``plan`` performed with the facade's controls and guidance (the same call ``generate`` makes)."""
    from audiogen.compose.sketch import sketch_codes
    from audiogen.conditioning.base import Attributes
    from audiogen.lm import GenerationParams
    from audiogen.lm import generate as lm_generate

    frames = round(plan.duration * gen.codec.frame_rate)
    attrs = [Attributes(text="a hopeful corporate track with piano and strings", emotion="happy", tempo=plan.tempo,
                        duration=frames / gen.codec.frame_rate)]  # fmt: skip
    sketch = sketch_codes(gen.codec, [plan], frames, gen.lm.config.n_q)
    beats, controls = gen.performer.plan_beats([plan], frames), gen.performer.plan_controls([plan], frames)
    out = {}
    for strength in strengths:
        params = GenerationParams(seed=seed, sketch_strength=strength)
        codes = lm_generate(gen.lm, gen.lm.condition, attrs, frames, params, beats=beats, controls=controls,
                            sketch=sketch)  # fmt: skip
        out[strength] = float((codes == sketch).float().mean())
    return out


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
    time_request(gen, 2.0, 0)  # one-time costs (imports, the soundfont's bytes) stay out of the timings
    runs, plain = [], []
    for seed in range(args.repeats):  # interleaved, so a noisy spell hits both
        runs.append(time_request(gen, args.duration, seed))
        plain.append(time_request(gen, args.duration, seed, sketch_strength=0.0))
    walls = [w for w, _ in runs]
    assert all(abs(t.duration - args.duration) < 0.05 for _, t in runs + plain)
    sketch_s = min(sketch_seconds(gen, t) for _, t in runs)
    cached, uncached, same = cache_speedup(gen, args.cache_frames)
    from audiogen.compose.planner import compose_plan

    short = compose_plan("a hopeful corporate track with piano and strings", emotion="happy", tempo=120,
                         duration=10.0, seed=0)  # fmt: skip
    shares = sketch_share(gen, short, (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0))
    best, best_plain = min(walls), min(w for w, _ in plain)
    rows = [
        [
            f"{args.duration:g} s request at 120 BPM, CFG, clock and beat guidance on, sketch strength "
            f"{gen.sketch_strength:g} (LM + decode + mastering)",
            f"{best:.1f} s (of {len(walls)})",
            f"{args.duration / best:.2f}x",
        ],
        ["the same without the sketch (strength 0)", f"{best_plain:.1f} s (of {len(plain)})",
         f"{args.duration / best_plain:.2f}x; with the sketch {best / best_plain:.2f}x the time"],
        ["the sketch alone (soundfont render + encode)", f"{sketch_s:.2f} s", ""],
        ["model load", f"{load_s:.1f} s", ""],
        [f"LM only, {args.cache_frames} frames, KV cache", f"{cached:.2f} s", ""],
        [
            f"LM only, {args.cache_frames} frames, no cache",
            f"{uncached:.2f} s",
            f"cache {uncached / cached:.1f}x faster, tokens identical: {same}",
        ],
        ["peak memory (RSS)", f"{peak_rss_mib():.0f} MiB", ""],
        ["tokens equal to the sketch's, 10 s plan, by sketch strength", "",
         ", ".join(f"{k:g}: {v:.0%}" for k, v in shares.items())],
    ]  # fmt: skip
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
