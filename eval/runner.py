"""``python -m audiogen.eval`` / ``audiogen eval``: regenerate the "## Codec" and "## Generation" sections of
BENCHMARKS.md and the evaluation plots in one command, and say how long it took.

    python -m audiogen.eval --model DIR --codec DIR --manifest REAL.jsonl --symbolic-manifest SYMBOLIC.jsonl
    python -m audiogen.eval --tiny [--codec DIR --manifest M]   # a smoke run with the debug model (seconds)

The musicnn judge is used when it can run (see :mod:`audiogen.eval.judge`); without it the judge's rows read n/a.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

GENERATION_SECTION = "## Generation"
PROGRAM = "python -m audiogen.eval"
SR = 32000
TINY_DURATION = 2.0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    from audiogen.eval.prompts import PROMPTS_V1

    ap.add_argument("--model", help="generation model folder (default: the shipped model; --tiny: the debug model)")
    ap.add_argument("--codec", help="codec folder: the codec section and the codec-resynthesis reference line")
    ap.add_argument("--manifest", nargs="+", default=[], help="real-music manifest(s); their valid split is used")
    ap.add_argument("--symbolic-manifest", nargs="+", default=[], help="rendered symbolic corpus manifest(s)")
    ap.add_argument("--prompts", default=str(PROMPTS_V1), help="prompt set (default: prompts_v1.jsonl)")
    ap.add_argument("--limit", type=int, default=None, help="render N requests: pairs and single requests in turn")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds for every request (default 0)")
    ap.add_argument("--diversity", type=int, nargs=2, default=[8, 3], metavar=("REQUESTS", "SEEDS"),
                    help="the first REQUESTS requests get SEEDS seeds each (default 8 3)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1, help="torch threads for generation (default 1)")
    ap.add_argument("--ref-clips", type=int, default=90, help="reference crops of 10 s per set (default 90)")
    ap.add_argument("--codec-n-q", type=int, default=4, help="codebooks of the codec-resynthesis line (default 4)")
    ap.add_argument("--judge-python", help="Python of the judge environment (default: see audiogen.eval.judge)")
    ap.add_argument("--no-judge", action="store_true", help="skip the musicnn judge")
    ap.add_argument("--judge", action="store_true", help="--tiny: use the judge too (off by default)")
    ap.add_argument("--no-visqol", action="store_true", help="skip ViSQOL in the codec section")
    ap.add_argument("--skip-codec", action="store_true", help="leave the codec section alone")
    ap.add_argument("--skip-generation", action="store_true", help="leave the generation section alone")
    ap.add_argument("--tiny", action="store_true", help="a tiny smoke run: few prompts, 2 s tracks, debug model")
    ap.add_argument("--out", default="BENCHMARKS.md", help="file whose sections are rewritten")
    ap.add_argument("--plots-dir", default="docs/benchmarks", help="folder of the PNG plots")
    ap.add_argument("--json", default=None, help="also write all numbers to this JSON file")


def load_generator(model: str | None, tiny: bool):
    """``MusicGenerator.from_pretrained(model)``, or ``MusicGenerator.debug()`` for ``--tiny`` without a model."""
    try:
        from audiogen.generator import MusicGenerator
    except ModuleNotFoundError as err:
        if err.name != "audiogen.generator":
            raise
        raise FileNotFoundError("this build of audiogen has no generation facade (audiogen.generator)") from None
    return MusicGenerator.debug() if tiny and model is None else MusicGenerator.from_pretrained(model)


def tiny_requests(requests: list) -> list:
    """The smoke set: the first valence pair, the first arousal pair and two requests with tempo and key."""
    from audiogen.eval.prompts import pairs

    groups = pairs(requests)
    out = []
    for contrast in ("valence", "arousal"):
        out += next((m for m in groups.values() if m[0].contrast == contrast), [])
    out += [r for r in requests if r.tempo and r.key and r.pair is None][:2]
    return out


def _judge(args, log):
    from audiogen.eval.judge import JudgeUnavailable, MusicnnJudge

    if args.no_judge or (args.tiny and not args.judge):
        return None, "not used in this run"
    try:
        return MusicnnJudge(args.judge_python), ""
    except JudgeUnavailable as err:
        log(f"musicnn judge unavailable: {err}")
        return None, "not installed here (`make judge-env`)"


def references(args, log, generator=None) -> Callable[[], dict]:
    """A function building the judge's reference sets: real valid-split crops, their resynthesis by the codec
    (``--codec``, else the generator's own), and the rendered symbolic corpus (each when its input was given)."""

    def build() -> dict:
        from audiogen.eval.codec_bench import codec_roundtrip, load_clips

        refs = {}
        if args.manifest:
            refs["real"] = load_clips(args.manifest, 10.0, args.ref_clips, crops_per_track=3)[0]
            codec = getattr(generator, "codec", None)
            if args.codec:
                from audiogen.codec.model import Codec

                codec = Codec.from_pretrained(args.codec).eval()
            if codec is not None:
                refs["codec"] = codec_roundtrip(codec, refs["real"], min(args.codec_n_q, codec.cfg.n_q))
        if args.symbolic_manifest:
            refs["symbolic"] = load_clips(args.symbolic_manifest, 10.0, args.ref_clips, crops_per_track=3)[0]
        log("reference sets: " + (", ".join(f"{k} {len(v)} crops" for k, v in refs.items()) or "none"))
        return refs

    return build


def make_plots(tracks, results: dict, plots_dir: Path) -> dict[str, Path]:
    """Tempo scatter, emotion confusion matrix and spectrograms of the first paired tracks."""
    from audiogen.conditioning.emotions import QUADRANT_NAMES
    from audiogen.eval import plots

    out = {}
    if results.get("tempo_points"):
        out["tempo"] = plots.tempo_plot(results["tempo_points"], plots_dir / "tempo.png")
    an = results["analyzer"]
    labels = [f"{q}\n{QUADRANT_NAMES[q]}" for q in an["quadrants"]]
    out["emotion"] = plots.confusion_plot(an["confusion"], labels, plots_dir / "emotion_confusion.png")
    shown = [t for t in tracks if t.request.pair is not None][:4] or list(tracks[:4])
    items = [
        (f"{t.request.id} ({t.request.emotion or t.request.text}, seed {t.seed})", t.audio, t.sample_rate)
        for t in shown
    ]
    out["spectrograms"] = plots.spectrograms(items, plots_dir / "spectrograms.png")
    return out


def _fmt(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def _judge_rows(j: dict, judge_note: str) -> list[list[str]]:
    fd, patches = j.get("fd", {}), j.get("patches", {})
    if not j:
        note = f"n/a: musicnn judge {judge_note}"
        vals = {k: ("n/a", note) for k in ("generated", "codec", "symbolic", "valence", "arousal")}
    else:
        vals = {k: (_fmt(fd.get(k), ".2f"), f"{patches.get(k, 0)} patches") for k in ("generated", "codec", "symbolic")}
        vals["generated"] = (vals["generated"][0], f"{patches.get('generated', 0)} vs {patches.get('real', 0)} patches")
        for c in ("valence", "arousal"):
            vals[c] = (_fmt(j[f"{c}_pairs"]["accuracy"], ".2f"), f"{j[f'{c}_pairs']['n']} pairs")
    labels = {
        "generated": "Fréchet musicnn distance to real music (valid split): generated",
        "codec": "… reference line: the codec's resynthesis of the valid split",
        "symbolic": "… reference line: the rendered symbolic corpus",
        "valence": "Valence pairs ranked right by musicnn (happy − sad)",
        "arousal": "Arousal pairs ranked right by musicnn (party − chill/mellow)",
    }
    return [[labels[k], *vals[k]] for k in labels]


def _analyzer_rows(an: dict) -> list[list[str]]:
    pair = "ranked right by our analyzer"
    return [
        [f"Valence pairs {pair}", _fmt(an["valence"]["accuracy"], ".2f"), f"{an['valence']['n']} pairs"],
        [f"Arousal pairs {pair}", _fmt(an["arousal"]["accuracy"], ".2f"), f"{an['arousal']['n']} pairs"],
        ["Analyzer's emotion quadrant = requested quadrant", _fmt(an["quadrant_accuracy"], ".2f"),
         f"{int(np.sum(an['confusion']))} tracks"],
        ["Correlation of requested and analysed valence / arousal",
         f"{_fmt(an['valence_r'], '.2f')} / {_fmt(an['arousal_r'], '.2f')}", "Pearson r"],
    ]  # fmt: skip


def _rows(results: dict, judge_note: str, threads: int) -> list[list[str]]:
    lv, sp, div = results["levels"], results["speed"], results["diversity"]
    tempo, key = results.get("tempo") or {}, results.get("key") or {}
    n, nt = f"{results['tracks']} tracks", f"{tempo.get('n', 0)} tracks"
    rows = _judge_rows(results.get("judge") or {}, judge_note) + _analyzer_rows(results["analyzer"])
    rows += [
        ["Tempo within 4 % / 8 % of the request (half/double time = miss)",
         f"{_fmt(tempo.get('within_4pct'), '.2f')} / {_fmt(tempo.get('within_8pct'), '.2f')}",
         nt],
        ["Tempo mean absolute error (BPM)", _fmt(tempo.get("mean_abs_error_bpm"), ".1f"), nt],
        ["Key accuracy (tonic and mode) / mode accuracy",
         f"{_fmt(key.get('key'), '.2f')} / {_fmt(key.get('mode'), '.2f')}", f"{key.get('n', 0)} tracks"],
        [f"Diversity across seeds (mean pairwise distance, {div['embedding']})", _fmt(div["value"]),
         f"{div['groups']} requests"],
        ["Silent 100 ms frames (< -60 dBFS) / mostly silent tracks",
         f"{lv['silent_frames']:.1%} / {lv['mostly_silent_tracks']:.1%}", n],
        ["Clipped samples (abs ≥ 0.999) / tracks with any",
         f"{lv['clipped_samples']:.2%} / {lv['tracks_with_clipping']:.1%}", n],
        [f"Real-time factor of generation (compute / audio time, {threads} thread(s))", _fmt(sp["rtf"], ".2f"),
         f"{sp['audio_seconds']:.0f} s of audio"],
        ["Peak resident memory of the process", f"{sp['peak_rss_mib']:.0f} MiB", "after generation"],
    ]  # fmt: skip
    return rows


def generation_section(meta: dict, results: dict, plot_paths: dict, out: Path, judge_note: str) -> list[str]:
    """The body of the "## Generation" section."""
    from audiogen.eval.report import table

    lines = []
    if meta["tiny"]:
        lines += ["**Tiny smoke run** (`--tiny`): a few short tracks from a debug model; these numbers test the "
                  "pipeline, they do not measure a model.", ""]  # fmt: skip
    lines += [
        f"Model `{results.get('model_version') or meta['model']}` on the prompt set `{meta['prompts']}` "
        f"({results['requests']} requests, {results['tracks']} tracks, {results['speed']['audio_seconds']:.0f} s of "
        f"audio) ({meta['date']}; {meta['machine']}).",
        "",
        f"Command: `{meta['command']}` (paths are the local models and corpora). Took {meta['took_s']:.0f} s.",
        "",
        "Tempo, key, mode, valence and arousal are measured with `audiogen.analysis` (the analysis that labels "
        "the training data); musicnn (MSD model, 200-d penultimate layer per 3 s patch) is the independent judge.",
        "",
    ]
    lines += table(["metric", "value", "n / note"], _rows(results, judge_note, meta["threads"]))
    if plot_paths:
        rel = {k: Path(os.path.relpath(p, out.resolve().parent)).as_posix() for k, p in plot_paths.items()}
        lines += ["", "Plots: " + ", ".join(f"[{k}]({v})" for k, v in rel.items()) + "."]
    return lines


def run_generation(args, argv: list[str], generator=None, log: Callable = print, program: str = PROGRAM) -> dict:
    """Render the prompt set, compute the metrics, write plots, the "## Generation" section and (optionally) JSON."""
    from audiogen.eval.generation import EvalConfig, evaluate
    from audiogen.eval.prompts import load_prompts
    from audiogen.eval.report import command_line, machine, replace_section, today

    t0 = time.perf_counter()
    meta = {"date": today(), "machine": machine(), "tiny": args.tiny, "model": args.model or "default"}
    meta["threads"] = args.threads
    meta["command"] = command_line(program, argv)
    meta["prompts"] = Path(args.prompts).name
    requests = load_prompts(args.prompts)
    if args.tiny:
        requests = tiny_requests(requests)
    cfg = EvalConfig(
        seeds=tuple(args.seeds),
        diversity_requests=1 if args.tiny else args.diversity[0],
        diversity_seeds=2 if args.tiny else args.diversity[1],
        limit=args.limit,
        duration=TINY_DURATION if args.tiny else None,
    )
    import torch

    torch.set_num_threads(args.threads)
    generator = generator if generator is not None else load_generator(args.model, args.tiny)
    judge, judge_note = _judge(args, log)
    log(f"generation: {min(len(requests), cfg.limit or len(requests))} requests from {meta['prompts']}")
    results, tracks = evaluate(generator, requests, cfg, judge, references(args, log, generator), log)
    plot_paths = make_plots(tracks, results, Path(args.plots_dir))
    meta["took_s"] = time.perf_counter() - t0
    out = Path(args.out)
    replace_section(out, GENERATION_SECTION, generation_section(meta, results, plot_paths, out, judge_note))
    log(f"wrote the '{GENERATION_SECTION}' section of {out} in {meta['took_s']:.0f} s")
    return {"meta": meta, **results, "plots": {k: str(v) for k, v in plot_paths.items()}}


def run_codec(args, argv: list[str], log: Callable = print, program: str = PROGRAM) -> dict | None:
    """The codec benchmark with this command's options (tiny settings under ``--tiny``)."""
    from audiogen.eval import codec_bench

    if args.skip_codec or not (args.codec and args.manifest):
        log("codec section: skipped (needs --codec and --manifest)" if not args.skip_codec else "codec: skipped")
        return None
    tiny = args.tiny
    bench = argparse.Namespace(
        codec=args.codec, manifest=args.manifest, clips=2 if tiny else None, seconds=TINY_DURATION if tiny else 10.0,
        no_visqol=args.no_visqol or tiny, speed_seconds=1.0 if tiny else 10.0, threads=[1] if tiny else [1, 2],
        repeats=1 if tiny else 3, out=args.out, json=None, tiny=tiny,
    )  # fmt: skip
    return codec_bench.run(bench, argv, log, program=program)


def run(
    args: argparse.Namespace, argv: list[str], generator=None, log: Callable = print, program: str = PROGRAM
) -> int:
    """Both sections (``argv`` and ``program`` are recorded as the command); prints the total time."""
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    t0 = time.perf_counter()
    results = {}
    if not args.skip_generation:  # first, so that the peak memory it reports is generation's own
        results["generation"] = run_generation(args, argv, generator, log, program)
    results["codec"] = run_codec(args, argv, log, program)
    if args.json:
        from audiogen.eval.codec_bench import write_json

        write_json(args.json, results)
    log(f"evaluation done in {time.perf_counter() - t0:.0f} s")
    return 0
