"""Measure the originality check (BENCHMARKS.md, "Originality").

    python -m audiogen.eval.originality generated --n 200 --duration 10 --out GEN.jsonl --flagged-dir FLAGGED
    python -m audiogen.eval.originality detection DEBIAN.jsonl SYMBOLIC.jsonl --cache TOKENS \\
        --heldout HELDOUT.jsonl --exclude CALIBRATION_ROWS.jsonl --out DETECT.jsonl
    python -m audiogen.eval.originality cost --repeats 3
    python -m audiogen.eval.originality report CALIBRATION_ROWS.jsonl DETECT.jsonl GEN.jsonl

``generated``: tracks from the eval prompts (cycled, seed = row number), each read by the generator's own check;
flagged tracks are written to ``--flagged-dir`` with a CQT spectrogram beside them, to be looked at and listened to.
``detection``: 30 s excerpts of training items used neither by the calibration nor by the copy encoder's training,
copied in every alteration of
:data:`audiogen.originality.calibrate.ALTERATIONS` (share flagged; goal >= 95 %), and excerpts of held-out real
music never trained on (share flagged; goal <= 1 %). ``cost``: a 30 s generation with the check and without, in
alternation, and the check alone. ``report``: markdown tables of every reading's distribution per kind of row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from audiogen.originality.calibrate import ALTERATIONS, alter, excerpt_of, readings_row
from audiogen.originality.check import LEVELS


def _write_rows(path: str, rows: list[dict]) -> None:
    from audiogen.fileio import atomic_write_text

    atomic_write_text(Path(path), "".join(json.dumps(r) + "\n" for r in rows))


def _read_rows(paths: list[str]) -> list[dict]:
    return [json.loads(line) for p in paths for line in Path(p).read_text().splitlines() if line.strip()]


def generated(args: argparse.Namespace) -> int:
    """Generate ``--n`` tracks from the eval prompts and record each one's readings."""
    import torch

    from audiogen.eval.prompts import load_prompts
    from audiogen.generator import MusicGenerator

    torch.set_num_threads(args.threads)
    gen = MusicGenerator.from_pretrained(args.model)
    if gen.originality_checker() is None:
        raise SystemExit(f"{args.model or 'the default model'} has no originality index")
    prompts = load_prompts()
    flagged_dir = Path(args.flagged_dir) if args.flagged_dir else None
    rows = []
    for n in range(args.n):
        req = prompts[n % len(prompts)]
        track = gen.generate(**req.generate_kwargs(seed=n, duration=args.duration))
        rows.append(readings_row(track.originality, kind="generated", source=req.id, seed=n))
        if track.originality.flagged and flagged_dir is not None:
            flagged_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{n:03d}-{req.id}"
            track.save(flagged_dir / f"{stem}.mp3")
            _spectrogram(track.audio, flagged_dir / f"{stem}.png", track.originality.summary())
        print(f"generated {n + 1}/{args.n}: {track.originality.summary()}", file=sys.stderr, flush=True)
    _write_rows(args.out, rows)
    return 0


def _spectrogram(audio: np.ndarray, path: Path, title: str) -> None:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cqt = librosa.amplitude_to_db(np.abs(librosa.cqt(audio, sr=32000, fmin=65.4, n_bins=72)), ref=np.max)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.imshow(cqt, origin="lower", aspect="auto", vmin=-60, extent=(0, len(audio) / 32000, 0, 72))
    ax.set(xlabel="seconds", ylabel="semitones above C2", title=title[:150])
    ax.title.set_fontsize(7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def detection(args: argparse.Namespace) -> int:
    """Altered copies of training excerpts and held-out real music, each read by the model's check."""
    from audiogen.data.manifest import iter_manifest
    from audiogen.data.token_cache import TokenCache
    from audiogen.originality.cli import checker_for
    from audiogen.originality.encoder import TRAIN_SHARE, encoder_bucket
    from audiogen.originality.index import manifest_roots

    checker = checker_for(args.model)
    cache, records = TokenCache(args.cache), manifest_roots(args.manifests)
    used = {r["source"] for r in _read_rows(args.exclude)} if args.exclude else set()
    indexed = {it["id"] for it in checker.index.items}
    rng = np.random.default_rng(args.seed)
    pool = [i for i in cache.split("train") if cache[i].id in indexed and cache[i].id not in used
            and cache[i].record.get("track") in records and encoder_bucket(cache[i].id) >= TRAIN_SHARE]  # fmt: skip
    rows = []
    for n, i in enumerate(rng.permutation(pool)[: args.copies]):
        item = cache[i]
        rec, root = records[item.record["track"]]
        y, start = excerpt_of(rec, root, item.frames, cache.frame_rate, rng)
        for kind in ALTERATIONS:
            z, how = alter(y, 32000, kind, rng)
            result = checker.check_audio(z, 32000)
            rows.append(readings_row(result, kind=kind, how=how, source=item.id, start=round(start, 2),
                                     flagged=result.flagged, right_item=_right_item(result, item.id)))  # fmt: skip
        print(f"copies {n + 1}/{args.copies}", file=sys.stderr, flush=True)
    held = list(iter_manifest(args.heldout)) if args.heldout else []
    root = Path(args.heldout).parent if args.heldout else None
    for n, rec in enumerate(held):
        frames = int(rec.duration * cache.frame_rate)
        for _ in range(args.per_heldout):
            y, start = excerpt_of(rec, root, frames, cache.frame_rate, rng)
            result = checker.check_audio(y, 32000)
            rows.append(readings_row(result, kind="heldout", source=rec.track, start=round(start, 2),
                                     flagged=result.flagged))  # fmt: skip
        print(f"held-out {n + 1}/{len(held)}", file=sys.stderr, flush=True)
    _write_rows(args.out, rows)
    return 0


def _right_item(result, item_id: str) -> bool:
    """True when every flagged reading names the copied item."""
    flagged = [r for r in result.readings if r.flagged]
    return bool(flagged) and all((r.item or {}).get("id") == item_id for r in flagged)


def cost(args: argparse.Namespace) -> int:
    """Seconds of a 30 s generation with and without the check (alternating), and of the check alone."""
    import torch

    from audiogen.generator import MusicGenerator

    torch.set_num_threads(args.threads)
    gen = MusicGenerator.from_pretrained(args.model)
    t0 = time.perf_counter()
    checker = gen.originality_checker()
    load_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {"off": [], "check": [], "check alone": []}
    for r in range(args.repeats):
        for mode in ("off", "check") if r % 2 == 0 else ("check", "off"):
            t = time.perf_counter()
            track = gen.generate("an upbeat pop track", duration=30, seed=r, originality=mode, progress=False)
            times[mode].append(time.perf_counter() - t)
        t = time.perf_counter()
        checker.check_audio(track.audio, track.sample_rate, plan=track.plan)
        times["check alone"].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = {"index_load_s": round(load_s, 3), "index_bytes": checker.index.nbytes(),
           "median_s": {k: round(v, 3) for k, v in med.items()},
           "check_share_of_generation": round(med["check alone"] / med["off"], 4),
           "with_over_without": round(med["check"] / med["off"], 4), "repeats": args.repeats,
           "threads": args.threads}  # fmt: skip
    print(json.dumps(out, indent=1))
    return 0


def report(args: argparse.Namespace) -> int:
    """Markdown: per kind of row, the count, each reading's median / 90th percentile / max and the share flagged."""
    from audiogen.originality.checker import DIR_NAME
    from audiogen.originality.cli import model_dir
    from audiogen.originality.index import OriginalityIndex

    thresholds = OriginalityIndex.load(model_dir(args.model) / DIR_NAME).thresholds
    rows = _read_rows(args.rows)
    for r in rows:  # every row judged by the index's present thresholds
        r["flagged"] = any(r.get(lv) is not None and lv in thresholds and r[lv] >= thresholds[lv] for lv in LEVELS)
    if args.by_source:  # recordings apart from pieces rendered through a soundfont (the symbolic corpora)
        for r in rows:
            src = str(r.get("source", ""))
            if r["kind"] != "generated":
                r["kind"] += " (rendered)" if src.startswith(("composer", "music21")) else " (recorded)"
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    print("| rows | n | " + " | ".join(f"{lv} median / p90 / max" for lv in LEVELS) + " | flagged |")
    print("|---|---|" + "---|" * (len(LEVELS) + 1))
    for kind in kinds:
        sel = [r for r in rows if r["kind"] == kind]
        cells = []
        for lv in LEVELS:
            v = np.array([r[lv] for r in sel if r.get(lv) is not None], dtype=float)
            cells.append("–" if not len(v) else " / ".join(f"{x:.3g}" for x in np.quantile(v, [0.5, 0.9, 1.0])))
        flagged = [r["flagged"] for r in sel]
        share = f"{np.mean(flagged):.1%} ({sum(flagged)})"
        print(f"| {kind} | {len(sel)} | " + " | ".join(cells) + f" | {share} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m audiogen.eval.originality", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generated")
    g.add_argument("--model", default=None)
    g.add_argument("--n", type=int, default=200)
    g.add_argument("--duration", type=float, default=10.0)
    g.add_argument("--out", required=True)
    g.add_argument("--flagged-dir", default=None)
    g.add_argument("--threads", type=int, default=1)
    g.set_defaults(func=generated)
    d = sub.add_parser("detection")
    d.add_argument("manifests", nargs="+")
    d.add_argument("--cache", required=True)
    d.add_argument("--model", default=None)
    d.add_argument("--heldout", default=None, help="a manifest of real music never trained on")
    d.add_argument("--per-heldout", type=int, default=2, help="excerpts per held-out track")
    d.add_argument("--exclude", nargs="*", default=[], help="calibration rows whose sources are left out")
    d.add_argument("--copies", type=int, default=50)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--out", required=True)
    d.set_defaults(func=detection)
    c = sub.add_parser("cost")
    c.add_argument("--model", default=None)
    c.add_argument("--repeats", type=int, default=3)
    c.add_argument("--threads", type=int, default=2)
    c.set_defaults(func=cost)
    r = sub.add_parser("report")
    r.add_argument("rows", nargs="+")
    r.add_argument("--model", default=None, help="whose index's thresholds judge the rows")
    r.add_argument("--by-source", action="store_true", help="recordings and soundfont renders apart")
    r.set_defaults(func=report)
    args = p.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
