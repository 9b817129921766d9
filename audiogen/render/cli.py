"""``audiogen render JOBS --out DIR``: a jobs file of briefs → deliverable MP3s (see :mod:`audiogen.render`).

Also runs as ``python -m audiogen.render`` and ``accelerate launch -m audiogen.render JOBS --out DIR``, which splits
the batch over the launched processes.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = (
    "Render every brief of a jobs file (CSV, JSON lines or YAML) × its variants to checked MP3s in DIR, with a "
    "ledger (ledger.sqlite), a manifest (manifest.csv/json) and a summary (summary.json). Re-running the same "
    "command resumes: finished tracks are skipped, interrupted ones redone."
)
EPILOG = (
    "Jobs file fields: id, duration (both required); text, emotion or valence+arousal, style (tags separated by "
    "';' or ','), reference (a clip, relative to the jobs file), image (a picture) or video (a video to score; its "
    "length is the duration), both relative to the jobs file, tempo, key, variants, seed, loudness "
    "(streaming, ebu-r128, atsc-a85 or LUFS), ending (fade, none, loop), bitrate, originality (check, strict, off), "
    "output, notes. Exit status: 0 all tracks done, 1 some failed or pending, 2 bad input."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", help="the jobs file: .csv, .jsonl, .json or .yaml")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; re-use it to resume)")
    p.add_argument("--model", default=None, metavar="DIR", help="model folder (default: the shipped model)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="rendering processes on this machine")
    p.add_argument("--retry-failed", action="store_true", help="render tracks that failed in an earlier run again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--originality", default=None, choices=["check", "strict", "off"],
        help="the check against the model's training music for jobs that give no 'originality': 'check' (the "
        "default: the manifest's 'originality' column and the summary name the flagged tracks), 'strict' (a flagged "
        "track is made again with the next seed, up to 3 tracks) or 'off'",
    )  # fmt: skip
    p.add_argument("--check", action="store_true", help="only check the jobs file and say what would be rendered")


def _check_only(jobs_path: str) -> int:
    from audiogen.render.jobs import expand, load_jobs

    jobs = load_jobs(jobs_path)
    items = expand(jobs)
    minutes = sum(item.job.duration for item in items) / 60
    print(f"{jobs_path}: OK — {len(jobs)} jobs, {len(items)} tracks, {minutes:.1f} min of audio")
    return 0


def run(args: argparse.Namespace, generator_factory=None) -> int:
    """Run the command; returns the exit status. Bad input raises ValueError (status 2 in the CLI)."""
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.check:
        return _check_only(args.jobs)
    if args.model is not None and not os.path.isdir(args.model):
        raise FileNotFoundError(f"--model {args.model}: no such model folder")
    from audiogen.render.batch import RenderError, Shard, render_batch

    try:
        shard = Shard()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by accelerate launch / torchrun
            if args.workers > 1:
                raise ValueError("--workers cannot be combined with accelerate launch; use --num_processes instead")
            shard = Shard.from_accelerate()
        summary = render_batch(
            args.jobs,
            args.out,
            model=args.model,
            workers=args.workers,
            retry_failed=args.retry_failed,
            progress=not args.no_progress,
            generator_factory=generator_factory,
            shard=shard,
            originality=args.originality,
        )
    except RenderError as err:
        raise ValueError(str(err)) from err
    except OSError as err:
        from audiogen.fileio import is_write_failure

        if not is_write_failure(err):
            raise
        raise ValueError(f"{err}; the batch stopped (make room or fix the folder, then run the same command again: "
                         "it resumes)") from None  # fmt: skip
    if summary is None:
        return 0
    for line in summary.lines():
        print(line)
    print(f"summary: {os.path.join(args.out, 'summary.json')}")
    return 0 if summary.failed == 0 and summary.pending == 0 else 1


def register(sub) -> None:
    """Add ``render`` to the ``audiogen`` command line."""
    p = sub.add_parser("render", help="render a jobs file of briefs to MP3s", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None, generator_factory=None) -> int:
    """``python -m audiogen.render`` (and ``accelerate launch -m audiogen.render``)."""
    p = argparse.ArgumentParser(prog="audiogen render", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args, generator_factory=generator_factory)
    except KeyboardInterrupt:
        print("audiogen render: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"audiogen render: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"audiogen render: error: {err}", file=sys.stderr)
        return 2
