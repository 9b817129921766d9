"""Where the time of one track goes, and the sampling loop's step against its arithmetic.

Side by side in one process, interleaved so that a noisy spell hits every variant alike, the same 30 s request
(120 BPM, composed plan, its sketch, CFG, beat guidance: the facade's defaults) through three sampling loops:

- ``eager``: every KV-cached step through :meth:`MusicLM.forward` in float32 (as release 0.3.4 sampled);
- ``fast float32``: :func:`audiogen.lm.fast.decode_step` in float32 (the same tokens);
- ``fast <auto>``: the default precision on this CPU (int8 weights where it multiplies bfloat16 natively);

and, in a process of its own, an earlier release's code (a temporary git worktree of its commit, its shipped model;
release 0.3.4 unless ``--release COMMIT --release-name NAME`` says otherwise) for the same request, which the
speed-up is measured against.

For each: the wall time of ``generate`` and of each of its phases (composing, the sketch, the LM, decoding,
mastering) and of writing the MP3. Then, for the default loop alone: the LM step's time against the time of its
matrix products alone (the same packed weights, the same rows; the overhead ratio), the next-token distributions'
distance to float32 along one generation (mean KL, the share of equal argmaxes), the time to import the package and
load the model, and the whole ``audiogen generate`` process for the same request.

    python -m audiogen.eval.bench_speed [--threads 2] [--repeats 2] [--duration 30] [--out BENCHMARKS.md]
        [--release COMMIT --release-name NAME]

Writes the "## Generation speed: the sampling loop" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from audiogen.eval.report import command_line, machine, replace_section, table, today

SECTION = "## Generation speed: the sampling loop"
PROMPT = "a hopeful corporate track with piano and strings"
# phase name, where its function lives ("facade": the module audiogen.generator; "performer": the generator's
# Performer), and the function's name there
PHASES = (("compose", "facade", "plans_for"), ("sketch", "performer", "sketch"), ("LM", "performer", "sample"),
          ("decode", "performer", "decode"), ("master", "facade", "master"),
          ("originality check", "generator", "_checked"))  # fmt: skip


class PhaseTimer:
    """Wraps the phases of one generator's ``generate`` (the facade's steps and its performer's) and adds up their
    wall time by phase name."""

    def __init__(self, gen) -> None:
        self.gen, self.seconds = gen, {}

    @contextlib.contextmanager
    def active(self):
        import audiogen.generator as facade

        owners = {"facade": facade, "performer": self.gen.performer, "generator": self.gen}
        originals = {(where, attr): getattr(owners[where], attr) for _, where, attr in PHASES}
        for name, where, attr in PHASES:
            setattr(owners[where], attr, self._timed(name, originals[where, attr]))
        try:
            yield self
        finally:
            for (where, attr), fn in originals.items():
                if where != "facade":
                    delattr(owners[where], attr)  # the instance's wrapper goes; the class's method shows again
                else:
                    setattr(owners[where], attr, fn)

    def _timed(self, name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return wrapper


@contextlib.contextmanager
def sampling_loop(step: str, draft: int):
    """Route the facade's LM call through ``step`` (``"eager"`` or ``"fast"``) with ``draft`` columns per pass for
    the block."""
    import audiogen.perform as perform

    original = perform.lm_generate
    perform.lm_generate = functools.partial(original, step=step, draft=draft)
    try:
        yield
    finally:
        perform.lm_generate = original


def one_track(gen, duration: float, seed: int, step: str, precision: str, draft: int, originality: str) -> dict:
    """Generate the benchmark's request once with loop ``step`` in ``precision``, ``draft`` columns per pass and the
    ``originality`` mode; wall time by phase, MP3 included."""
    from audiogen.lm import GenerationParams

    timer = PhaseTimer(gen)
    t0 = time.perf_counter()
    with sampling_loop(step, draft), timer.active():
        track = gen.generate(PROMPT, emotion="happy", tempo=120, duration=duration, seed=seed, progress=False,
                             params=GenerationParams(precision=precision), originality=originality)  # fmt: skip
    total = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        track.save(Path(tmp) / "t.mp3")
        mp3 = time.perf_counter() - t1
    assert abs(track.duration - duration) < 0.05
    return {"total": total, "mp3": mp3, **timer.seconds}


def same_tokens(gen, frames: int = 300) -> bool:
    """Whether the fast float32 loop (with its passes of guessed columns) and the eager loop sample the same tokens
    for one request (CFG, a plan's controls and sketch, the same seed)."""
    from audiogen.compose.planner import compose_plan
    from audiogen.compose.sketch import sketch_codes
    from audiogen.conditioning.base import Attributes
    from audiogen.lm import GenerationParams
    from audiogen.lm import generate as lm_generate

    plan = compose_plan(PROMPT, emotion="happy", tempo=120, duration=frames / gen.codec.frame_rate, seed=0)
    attrs = [Attributes(text=PROMPT, emotion="happy", tempo=120.0, duration=frames / gen.codec.frame_rate)]
    performer = gen.performer
    extra = dict(beats=performer.plan_beats([plan], frames), controls=performer.plan_controls([plan], frames),
                 sketch=sketch_codes(gen.codec, [plan], frames, gen.lm.config.n_q))  # fmt: skip
    params = GenerationParams(seed=0, precision="float32", sketch_strength=gen.sketch_strength)
    out = [lm_generate(gen.lm, gen.lm.condition, attrs, frames, params, step=s, **extra) for s in ("eager", "fast")]
    return bool(torch.equal(*out))


def pass_counts(gen, duration: float) -> dict:
    """Passes of the model the default loop makes for the benchmark's request: ``{"steps", "single", "blocks",
    "columns"}`` (sampled columns; one-column steps; passes of guesses and the columns they read)."""
    lm_generate = sys.modules["audiogen.lm.generate"]  # the package's name `generate` is the function
    counts = {"steps": 0, "single": 0, "blocks": 0, "columns": 0}
    step, block = lm_generate.decode_step, lm_generate.decode_block

    def one(*a, **k):
        counts["single"] += 1
        return step(*a, **k)

    def many(w, tokens, *a, **k):
        counts["blocks"] += 1
        counts["columns"] += tokens.shape[-1]
        return block(w, tokens, *a, **k)

    lm_generate.decode_step, lm_generate.decode_block = one, many
    try:
        gen.generate(PROMPT, emotion="happy", tempo=120, duration=duration, seed=0, originality="off",
                     progress=lambda done, total: counts.__setitem__("steps", total))  # fmt: skip
    finally:
        lm_generate.decode_step, lm_generate.decode_block = step, block
    return counts


def step_against_matmul(gen, precision: str, frames: int = 300) -> dict:
    """Mean seconds of one fast decoding step (2 guidance rows, ``frames`` steps after a 1-step prefix) and of its
    matrix products alone, with the same packed weights in ``precision``."""
    from audiogen.conditioning.base import Attributes
    from audiogen.lm.fast import StepWeights, decode_step
    from audiogen.lm.fast import matmul as packed_matmul
    from audiogen.lm.sampling import guidance_attributes

    lm = gen.lm
    cond = lm.condition(guidance_attributes([Attributes(text=PROMPT, emotion="happy", tempo=120.0)], 2))
    weights = StepWeights(lm, frames + 64, precision)
    tokens = torch.randint(0, lm.config.card, (frames, 2, lm.config.n_q), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        cache = lm.new_cache(2, cond.prefix.shape[1] + frames + 2)
        lm(tokens[0][..., None], cond, cache)
        t0 = time.perf_counter()
        for t in range(1, frames):
            decode_step(weights, tokens[t], cache)
        step = (time.perf_counter() - t0) / (frames - 1)
        names = ("qkv", "proj", "cross_q", "cross_proj", "fc1", "fc2")
        mats = [weights.heads] + [getattr(layer, n) for layer in weights.layers for n in names]
        mats = [m for m in mats if m is not None]
        inputs = {}
        for m in mats:
            rows_in = m[0].shape[1] if isinstance(m, tuple) else m.shape[0]
            inputs.setdefault(rows_in, torch.randn(2, rows_in).to(weights.dtype))
        for _ in range(3):
            for m in mats:
                packed_matmul(inputs[m[0].shape[1] if isinstance(m, tuple) else m.shape[0]], m)
        t0 = time.perf_counter()
        for _ in range(frames - 1):
            for m in mats:
                packed_matmul(inputs[m[0].shape[1] if isinstance(m, tuple) else m.shape[0]], m)
        matmul = (time.perf_counter() - t0) / (frames - 1)
    return {"step": step, "matmul": matmul}


def distribution_distance(gen, precision: str, frames: int = 300) -> dict:
    """Teacher-forced along one float32 generation: mean KL (nats) from float32's next-token distributions to
    ``precision``'s, its 99th percentile, the share of equal argmaxes, and float32's mean entropy."""
    from audiogen.conditioning.base import Attributes
    from audiogen.lm import GenerationParams
    from audiogen.lm import generate as lm_generate
    from audiogen.lm.fast import StepWeights, decode_step
    from audiogen.lm.pattern import build_delayed
    from audiogen.lm.sampling import guidance_attributes

    lm = gen.lm
    attrs = [Attributes(text=PROMPT, emotion="happy", tempo=120.0)]
    codes = lm_generate(lm, lm.condition, attrs, frames, GenerationParams(seed=0, precision="float32"))
    seq = build_delayed(codes, lm.config.special_token).repeat(2, 1, 1)
    cond = lm.condition(guidance_attributes(attrs, 2))
    logits = {}
    with torch.inference_mode():
        for p in ("float32", precision):
            weights = StepWeights(lm, frames + 64, p)
            cache = lm.new_cache(2, cond.prefix.shape[1] + seq.shape[-1])
            lm(seq[..., :1], cond, cache)
            logits[p] = torch.stack([decode_step(weights, seq[..., t], cache) for t in range(1, seq.shape[-1])])
    ref, low = logits["float32"].log_softmax(-1), logits[precision].log_softmax(-1)
    kl = (ref.exp() * (ref - low)).sum(-1).flatten()
    return {"kl": float(kl.mean()), "kl_p99": float(kl.quantile(0.99)),
            "argmax": float((ref.argmax(-1) == low.argmax(-1)).float().mean()),
            "entropy": float(-(ref.exp() * ref).sum(-1).mean())}  # fmt: skip


RELEASE = "43bde5c"  # release 0.3.4, the speed this loop is measured against

_BASELINE = """
import sys, time
import torch
torch.set_num_threads({threads})
from audiogen.generator import MusicGenerator
gen = MusicGenerator.from_pretrained(None)
gen.generate({prompt!r}, duration=2.0, seed=0, progress=False)
for seed in {seeds!r}:
    t = time.perf_counter()
    gen.generate({prompt!r}, emotion="happy", tempo=120, duration={duration!r}, seed=seed, progress=False)
    print(time.perf_counter() - t, flush=True)
"""


@contextlib.contextmanager
def release_checkout(commit: str = RELEASE):
    """A temporary checkout of ``commit`` importable as ``audiogen`` (its ``conditioning/`` and ``eval/`` linked in
    as the subpackages they install as); yields the folder to put first on ``PYTHONPATH``."""
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                               check=True).stdout.strip())  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "release"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(tree), commit], check=True)
        try:
            for sub in ("conditioning", "eval"):
                (tree / "audiogen" / sub).symlink_to(tree / sub, target_is_directory=True)
            yield tree
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=False)


def release_seconds(tree: Path, duration: float, seeds: list[int], threads: int) -> list[float]:
    """Wall seconds of the release's own ``generate`` (its code and its shipped model, in a fresh process, after a
    warm-up call) for the benchmark's request, one per seed."""
    import os

    env = dict(os.environ, PYTHONPATH=str(tree))
    code = _BASELINE.format(threads=threads, prompt=PROMPT, seeds=seeds, duration=duration)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=str(tree))  # fmt: skip
    return [float(x) for x in out.stdout.split()]


def first_chunk_seconds(gen, duration: float, repeats: int = 2) -> float:
    """Best wall seconds from calling ``gen.stream`` for the benchmark's request to its first chunk of audio (the
    stream is then closed, which cancels the rest)."""
    best = math.inf
    for seed in range(repeats):
        t0 = time.perf_counter()
        with gen.stream(PROMPT, emotion="happy", tempo=120, duration=duration, seed=seed) as stream:
            chunk = next(iter(stream))
            best = min(best, time.perf_counter() - t0)
        assert len(chunk) > 0
    return best


def process_seconds(duration: float, threads: int) -> tuple[float, float]:
    """Wall seconds of ``python -c 'import audiogen.generator'`` + model load, and of the whole ``audiogen
    generate`` process for the benchmark's request (the MP3 written to a temporary folder)."""
    load = ("import time; t = time.perf_counter(); from audiogen.generator import MusicGenerator; "
            "MusicGenerator.from_pretrained(None); print(time.perf_counter() - t)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from audiogen.cli import main; sys.exit(main())",
                        "generate", PROMPT, "--emotion", "happy", "--tempo", "120",
                        "--duration", f"{duration:g}", "--seed", "0", "--threads", str(threads), "-o",
                        str(Path(tmp) / "t.mp3")], capture_output=True, check=True)  # fmt: skip
        whole = time.perf_counter() - t0
    return float(out.stdout.strip().splitlines()[-1]), whole


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--release", default=RELEASE,
                    help=f"commit whose code and shipped model are the speed to compare with (default {RELEASE})")
    ap.add_argument("--release-name", default="release 0.3.4", help="what that commit is, for the table")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = machine()
    from audiogen.generator import MusicGenerator
    from audiogen.lm.fast import resolve_precision
    from audiogen.lm.generate import DRAFT

    auto = resolve_precision("auto")
    gen = MusicGenerator.from_pretrained(None)
    gen.generate(PROMPT, duration=2.0, seed=0, progress=False)  # one-time costs stay out of the timings
    variants = [("eager float32 (each step through the model's forward)", "eager", "float32", 1, "check"),
                (f"fast float32, {DRAFT} columns a pass", "fast", "float32", DRAFT, "check"),
                (f"fast {auto}, one column a pass", "fast", "auto", 1, "check"),
                (f"fast {auto}, {DRAFT} columns a pass (default)", "fast", "auto", DRAFT, "check"),
                ("the default without the originality check (the work release 0.3.4 did)", "fast", "auto", DRAFT,
                 "off")]  # fmt: skip
    runs: dict[str, list[dict]] = {v[0]: [] for v in variants}
    release: list[float] = []
    with release_checkout(args.release) as tree:
        for seed in range(args.repeats):  # interleaved with the release's code, so a noisy spell hits all alike
            release += release_seconds(tree, args.duration, [seed], args.threads)
            for name, step, precision, draft, originality in variants:
                runs[name].append(one_track(gen, args.duration, seed, step, precision, draft, originality))
    same = same_tokens(gen)
    base = min(release)
    rows = [[f"{args.release_name}'s code and model ({args.release}, its own process)",
             f"{base:.2f} s (best of {len(release)})",
             "1.00x", f"{args.duration / base:.1f}x", ""]]  # fmt: skip
    for name, *_ in variants:
        best = min(runs[name], key=lambda r: r["total"])
        phases = ", ".join(f"{p} {best.get(p, 0.0):.2f}" for p, _, _ in PHASES)
        rows.append([name, f"{best['total']:.2f} s (best of {len(runs[name])})", f"{base / best['total']:.2f}x",
                     f"{args.duration / best['total']:.1f}x", f"{phases}, MP3 {best['mp3']:.2f}"])  # fmt: skip
    passes = pass_counts(gen, args.duration)
    ratio = step_against_matmul(gen, auto)
    dist = distribution_distance(gen, auto) if auto != "float32" else None
    first_s = first_chunk_seconds(gen, args.duration)
    load_s, whole_s = process_seconds(args.duration, args.threads)
    body = [
        f"Command: `{command_line('python -m audiogen.eval.bench_speed', argv)}`  ",
        f"Model: {gen.model_version}. Machine: {started}; {args.threads} torch thread(s); {today()}.",
        "",
        f"The same {args.duration:g} s request (120 BPM, plan, sketch, CFG, beat guidance) through "
        f"{args.release_name}'s code and through each sampling loop of this one, interleaved; speed-up against "
        f"{args.release_name}; phases in seconds of the best run (the eager loop shares this version's per-segment "
        "tables for guidance and the sketch). Every row of this version but the last checks its track's "
        "originality, as `generate` does by default (release 0.3.4 had no such check).",
        "",
        *table(["sampling loop", "generate()", "speed-up", "real-time factor", "phases (s)"], rows),
        "",
        f"- Fast float32, {DRAFT} columns a pass, gives the eager loop's tokens: {same}.",
        f"- Passes of the model in the default loop for this request: {passes['single'] + passes['blocks']} for "
        f"{passes['steps']} sampled columns ({passes['single']} single steps; {passes['blocks']} passes that read "
        f"{passes['columns']} columns, the sampled one and the sketch's next ones as guesses; a pass goes on to "
        f"guess only after a column that came out as the sketch's).",
        f"- One step of the default loop ({auto}, 2 guidance rows): {ratio['step'] * 1e3:.2f} ms; its matrix "
        f"products alone: {ratio['matmul'] * 1e3:.2f} ms (overhead ratio {ratio['step'] / ratio['matmul']:.2f}x).",
    ]
    if dist is not None:
        body.append(
            f"- {auto} against float32, teacher-forced along one float32 generation: next-token KL {dist['kl']:.1e} "
            f"nats on average (99th percentile {dist['kl_p99']:.1e}; float32's entropy {dist['entropy']:.2f} nats), "
            f"equal argmax {dist['argmax']:.1%}."
        )
    body += [
        f"- `MusicGenerator.stream` for the same request: its first chunk of audio {first_s:.2f} s after the call "
        "(best of 2; the plan composed, its sketch rendered and coded, the first frames sampled and decoded).",
        f"- Import and model load in a fresh process: {load_s:.2f} s; the whole `audiogen generate` process for the "
        f"same request: {whole_s:.2f} s.",
        f"- Peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.",
    ]
    replace_section(args.out, SECTION, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
