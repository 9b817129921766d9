"""``audiogen data build-debian | scan | stats``: build and inspect real-music corpora."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(data_sub) -> None:
    """Add the ``build-debian``, ``scan`` and ``stats`` subcommands to the ``audiogen data`` group."""
    p = data_sub.add_parser(
        "build-debian",
        help="download Debian game-music packages and index their music",
        description="Download (apt-get download) and unpack (dpkg-deb -x) Debian game-music packages under WORK, "
        "find their music tracks and write one manifest record per track. Work already done is skipped.",
    )
    p.add_argument("--work", required=True, type=Path, help="work folder (WORK/debs, WORK/extract)")
    p.add_argument("--out", required=True, type=Path, help="manifest to write (JSON lines)")
    p.add_argument("--packages", nargs="+", default=None, help="packages (default: all known game-music packages)")
    p.add_argument("--min-duration", type=float, default=30.0, help="shortest track kept, seconds (default 30)")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="share of tracks held out (default 0.1)")
    p.add_argument("--no-analysis", action="store_true", help="index only (no tempo/key/emotion labels)")
    p.add_argument("--analysis-seconds", type=float, default=120.0, help="seconds analysed per track (default 120)")
    p.add_argument("--jobs", type=int, default=1, help="analysis processes (default 1)")
    p.set_defaults(func=_build_debian)

    s = data_sub.add_parser(
        "scan",
        help="index a folder of your own audio",
        description="Index every audio file under DIR. Labels come from sidecar metadata when present "
        "(metadata.csv / metadata.json in the folder, or FILE.json next to a file); the rest is analysed. "
        "Unreadable files are reported and skipped.",
    )
    s.add_argument("dir", type=Path, help="folder of audio files (searched recursively)")
    s.add_argument("--out", required=True, type=Path, help="manifest to write (JSON lines)")
    s.add_argument("--source", default=None, help="source name in the records (default: user/<folder name>)")
    s.add_argument("--licence", default="user-provided", help="licence recorded for the files")
    s.add_argument("--min-duration", type=float, default=1.0, help="shortest file kept, seconds (default 1)")
    s.add_argument("--valid-fraction", type=float, default=0.1, help="share of files held out (default 0.1)")
    s.add_argument("--no-analysis", action="store_true", help="index only (sidecar labels are still read)")
    s.add_argument("--analysis-seconds", type=float, default=120.0, help="seconds analysed per file (default 120)")
    s.set_defaults(func=_scan)

    t = data_sub.add_parser(
        "stats",
        help="hours and label distributions of manifests",
        description="Print hours per source and split and label counts; with --plots, write PNG histograms.",
    )
    t.add_argument("manifests", nargs="+", type=Path, help="manifest files")
    t.add_argument("--plots", type=Path, default=None, help="folder for tempo/key/emotion PNG plots")
    t.set_defaults(func=_stats)


def _build_debian(args: argparse.Namespace) -> int:
    from audiogen.data import debian
    from audiogen.data.manifest import write_manifest

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    records = debian.build_records(
        args.work, args.out, args.packages, min_duration=args.min_duration, valid_fraction=args.valid_fraction
    )
    if not records:
        raise ValueError("no music found: check --work and --packages")
    write_manifest(args.out, records)
    if not args.no_analysis:
        from audiogen.analysis import label_manifest

        label_manifest(args.out, max_seconds=args.analysis_seconds, jobs=args.jobs)
    _print_hours(records)
    print(f"wrote {len(records)} tracks to {args.out}")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from audiogen.data.scan import scan_folder

    n_ok, n_bad = scan_folder(
        args.dir,
        args.out,
        source=args.source,
        licence=args.licence,
        min_duration=args.min_duration,
        valid_fraction=args.valid_fraction,
        analyse=not args.no_analysis,
        max_seconds=args.analysis_seconds,
    )
    print(f"indexed {n_ok} files into {args.out}; {n_bad} unreadable files skipped")
    return 0 if n_ok else 1


def _stats(args: argparse.Namespace) -> int:
    from audiogen.data.stats import manifest_stats

    print(manifest_stats(args.manifests, plots_dir=args.plots))
    return 0


def _print_hours(records) -> None:
    from audiogen.data.debian import hours_by

    for source, hours in hours_by(records).items():
        print(f"{source:40s} {hours:6.2f} h", file=sys.stdout)
    print(f"{'total':40s} {sum(r.duration for r in records) / 3600:6.2f} h")
