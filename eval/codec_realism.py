"""Renders through codecs: what each codec, at a given number of codebooks, does to the same soundfont renders.

The plans of the plan-adherence benchmark (:mod:`audiogen.eval.bench_perform`: the prompt set's emotion pairs,
composed by the default model's facade) are rendered by the soundfont, then encoded and decoded by each codec at
its number of codebooks, all mastered the same way. Each version is read back as the benchmark reads a track (beat
F, chord accuracy, key, tempo) and, with the musicnn judge, as far from real music as it sits (Fréchet distance to
real valid crops, a linear probe's AUC against them) and how often it ranks an emotion pair right. So it tells how
much of a performer's distance to real music its codec already gives the renders it starts from.

    python -m audiogen.eval.codec_realism --codec OLD_CODEC:4 NEW_CODEC:4 NEW_CODEC:6 --manifest DEBIAN_MANIFEST \
        [--pair-seeds 2] [--limit N] [--duration 30] [--ref-clips 48] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from audiogen.eval import bench_perform as bp

HEADING = "## Renders through codecs (distance to real music)"
COLUMNS = ["audio", "beat F", "chord maj/min", "key", "tempo ±4 %", "musicnn pairs", "Fréchet musicnn",
           "probe AUC vs real"]  # fmt: skip


def parse_codec(spec: str) -> tuple[str, int]:
    """``"DIR:K"`` -> ``(DIR, K)``: a codec folder and how many of its codebooks to use (K >= 1)."""
    path, sep, k = spec.rpartition(":")
    if not sep or not path or not k.isdigit() or int(k) < 1:
        raise ValueError(f"codec {spec!r}: give a codec folder and a number of codebooks, as DIR:K (K >= 1)")
    return path, int(k)


def render_records(plans_and_requests, codecs: dict, log=print) -> list[dict]:
    """One record per (plan, system): ``"render"`` and each ``codecs`` entry ``name -> (codec, n_q)``, the render
    encoded and decoded at ``n_q`` codebooks (capped at the codec's own), with :func:`bench_perform.readings`."""
    import torch

    from audiogen.data.render import render_midi

    out = []
    for i, (req, seed, plan) in enumerate(plans_and_requests):
        t0 = time.perf_counter()
        render = bp.master_to(render_midi(plan.to_midi(), plan.duration), plan.duration)
        audios = {"render": render}
        with torch.inference_mode():
            for name, (codec, k) in codecs.items():
                codes = codec.encode(torch.from_numpy(render)[None], n_q=min(k, codec.n_q))
                audios[name] = bp.master_to(codec.decode(codes)[0].numpy(), plan.duration)
        for name, audio in audios.items():
            out.append({"id": req.id, "seed": seed, "request": req, "system": name, "audio": audio, "plan": plan,
                        **bp.readings(audio, plan)})  # fmt: skip
        log(f"  [{i + 1}/{len(plans_and_requests)}] {req.id} seed {seed}: {plan.summary()} "
            f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return out


def rows(systems: list[str], summary: dict, judged: dict | None) -> list[list[str]]:
    """Table rows: each system's plan readings and, with the judge, its pairs, Fréchet distance and probe AUC."""

    def f(v, fmt=".2f"):
        return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)

    out = []
    for s in systems:
        m, j = summary[s], (judged or {}).get(s, {})
        out.append([s, f(m["beat_f"]), f(m["chord"]), f(m["key"]), f(m["tempo"]),
                    f(j.get("pairs")) + (f" ({j['pairs_n']})" if j else ""), f(j.get("frechet"), ".1f"),
                    f(j.get("probe_auc"))])  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.codec_realism", description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codecs as DIR:K (K codebooks), one or more")
    ap.add_argument("--manifest", help="real-music manifest (its valid split: Fréchet, probe)")
    ap.add_argument("--pair-seeds", type=int, default=1, help="seeds per emotion pair (default 1)")
    ap.add_argument("--limit", type=int, default=None, help="keep only the first N plans")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per plan (default 30)")
    ap.add_argument("--ref-clips", type=int, default=48, help="real valid crops of 10 s (default 48)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="file whose section is rewritten (default: print only)")
    args = ap.parse_args(argv)
    try:
        specs = [parse_codec(c) for c in args.codec]
    except ValueError as err:
        ap.error(str(err))

    import torch

    from audiogen.codec.backends import load_codec
    from audiogen.eval.report import command_line, machine, replace_section, table, today
    from audiogen.generator import MusicGenerator

    torch.set_num_threads(args.threads)
    started, t0 = machine(), time.perf_counter()
    gen = MusicGenerator.from_pretrained(None)  # composes the plans as the benchmark does
    codecs = {}
    for path, k in specs:
        codec = load_codec(path)
        codecs[f"{codec.name}, {k} codebooks ({codec.cfg.kbps(min(k, codec.n_q)):g} kbps)"] = (codec, k)
    items = [(req, seed, bp.compose_for(gen, req, seed, args.duration))
             for req, seed in bp.requests(args.pair_seeds, 0, args.limit)]  # fmt: skip
    records = render_records(items, codecs)
    systems = ["render", *codecs]
    summary = bp.summarise(records, systems)
    judged = None
    if args.manifest:
        from audiogen.eval.codec_bench import load_clips
        from audiogen.eval.judge import JudgeUnavailable, MusicnnJudge

        try:
            real, titles = load_clips([args.manifest], 10.0, args.ref_clips, crops_per_track=3)
            judged = bp.judge_metrics(records, real, titles, MusicnnJudge(None), systems)
        except JudgeUnavailable as err:
            print(f"musicnn judge unavailable: {err}", file=sys.stderr)
    body = [
        f"Command: `{command_line('python -m audiogen.eval.codec_realism', argv)}`  ",
        f"Machine: {started}; date {today()}; {len(items)} plans of {args.duration:g} s, "
        f"{time.perf_counter() - t0:.0f} s wall.",
        "",
        *table(COLUMNS, rows(systems, summary, judged)),
    ]
    if args.out:
        replace_section(args.out, HEADING, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
