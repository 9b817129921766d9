"""Batch-rendering throughput: tracks per minute of ``audiogen render`` with 1 and 2 worker processes.

Writes one jobs file of short briefs, renders it into a fresh folder once per worker count (same jobs, same seeds),
and appends a table with the command, the machine and the date to the "## Batch rendering" section of BENCHMARKS.md.

    python eval/bench_render.py --model MODEL_DIR [--jobs 8] [--variants 2] [--duration 10] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

SECTION = "## Batch rendering"
BRIEFS = (
    ("happy", "a hopeful corporate track with piano and strings", "piano;strings"),
    ("calm", "a gentle ambient bed for a wellness ad", "ambient;pad"),
    ("energetic", "an upbeat electronic sting for a sports spot", "electronic;drums"),
    ("sad", "a slow melancholic piano theme", "piano;slow"),
    ("epic", "a cinematic trailer build with brass", "cinematic;brass"),
    ("playful", "a quirky marimba jingle for a kids' product", "marimba;upbeat"),
    ("dreamy", "a lo-fi loop with soft keys", "lo-fi;piano"),
    ("tense", "a dark pulsing underscore for a thriller promo", "synth;minimal"),
)


def machine() -> str:
    """One line describing this machine: CPU model, core count, GPU if any, load average."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{model}, {os.cpu_count()} cores{gpu}, load average {load} at start"


def write_jobs(path: Path, jobs: int, variants: int, duration: float) -> Path:
    """A CSV of ``jobs`` briefs (emotions, prompts and styles cycled from :data:`BRIEFS`)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "emotion", "style", "duration", "variants", "seed", "loudness"])
        for i in range(jobs):
            emotion, text, style = BRIEFS[i % len(BRIEFS)]
            loudness = LOUDNESS[i % len(LOUDNESS)]
            w.writerow([f"bench-{i:03d}", text, emotion, style, duration, variants, i, loudness])
    return path


LOUDNESS = ("streaming", "ebu-r128", "atsc-a85")


def deliverable_check(out_dir: Path) -> tuple[float, float, int]:
    """Decode every finished MP3 of a render folder and measure it independently (pyloudnorm, 4x true peak):
    ``(largest |LUFS - target| in LU, highest true peak in dBTP, files checked)``."""
    import json

    import pyloudnorm

    from audiogen.audio import load_audio
    from audiogen.mastering.measure import true_peak_db

    worst_lu, worst_tp, n = 0.0, -120.0, 0
    for t in json.loads((out_dir / "manifest.json").read_text())["tracks"]:
        if t["status"] != "done":
            continue
        y = load_audio(out_dir / t["file"]).astype("float64")
        worst_lu = max(worst_lu, abs(pyloudnorm.Meter(32000).integrated_loudness(y) - t["target_lufs"]))
        worst_tp = max(worst_tp, true_peak_db(y, 32000))
        n += 1
    return worst_lu, worst_tp, n


def bench(jobs_file: Path, root: Path, workers: list[int], model: str | None = None, generator_factory=None):
    """Render ``jobs_file`` once per worker count into ``root/workers-N``; returns ``[(N, Summary), ...]``."""
    from audiogen.render.batch import render_batch

    results = []
    for n in workers:
        summary = render_batch(
            jobs_file,
            root / f"workers-{n}",
            model=model,
            workers=n,
            progress=False,
            generator_factory=generator_factory,
        )
        check = deliverable_check(root / f"workers-{n}")
        results.append((n, summary, check))
        print(f"{n} worker(s): {summary.rendered} tracks in {summary.wall_s:.1f} s = {summary.tracks_per_min:.2f}/min")
    return results


def table(results) -> list[str]:
    """Markdown rows: workers, tracks, failed, wall time, tracks/min, minutes of audio per minute of wall time."""
    rows = [
        "| worker processes | tracks | failed | wall time (s) | tracks / min | audio min / wall min "
        "| max \\|LUFS − target\\| (decoded MP3) | max true peak (dBTP) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, s, (lu, tp, _) in results:
        speed = s.audio_minutes / (s.wall_s / 60) if s.wall_s > 0 else 0.0
        rows.append(
            f"| {n} | {s.rendered} | {s.failed} | {s.wall_s:.1f} | {s.tracks_per_min:.2f} | {speed:.2f} "
            f"| {lu:.2f} LU | {tp:.2f} |"
        )
    return rows


def append_section(path: Path, lines: list[str]) -> None:
    """Append ``lines`` to the end of the "## Batch rendering" section of ``path`` (created if absent), atomically."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    block = "\n".join(lines) + "\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}"
    else:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        end = len(text) if nxt < 0 else nxt + 1
        text = text[:end].rstrip("\n") + "\n\n" + block + ("\n" + text[end:] if nxt >= 0 else "")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--jobs", type=int, default=8, help="briefs in the jobs file")
    ap.add_argument("--variants", type=int, default=2, help="variants per brief")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per track")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker-process counts to compare")
    ap.add_argument("--work-dir", type=Path, default=None, help="where to render (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="the benchmarks file to append to")
    args = ap.parse_args(argv)
    started = dt.datetime.now().astimezone()
    host = machine()
    with tempfile.TemporaryDirectory(prefix="bench_render_") as tmp:
        root = args.work_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        jobs_file = write_jobs(root / "jobs.csv", args.jobs, args.variants, args.duration)
        results = bench(jobs_file, root, args.workers, model=args.model)
    command = "python eval/bench_render.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"### {started:%Y-%m-%d %H:%M %Z} — {args.jobs} briefs × {args.variants} variants × {args.duration:g} s",
        "",
        f"Command: `{command}`  ",
        f"Machine: {host}  ",
        f"Model: {args.model or 'the shipped default model'}",
        "",
        *table(results),
    ]
    append_section(args.out, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
