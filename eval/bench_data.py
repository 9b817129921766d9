"""Data-loading speed: random training crops per second from :class:`audiogen.data.dataset.AudioDataset`.

After one untimed pass over the same crops (so every setting reads from the page cache), measures the dataset read in
the main process, then through a DataLoader with 1 and 2 worker processes, and appends the numbers (with the command,
the machine and the date) to the "## Data loading" section of BENCHMARKS.md.

    python eval/bench_data.py MANIFEST [MANIFEST ...] [--segment-seconds 1 5] [--items 200] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

from audiogen.eval.report import machine

SECTION = "## Data loading"


def segments_per_second(dataset, items: int, workers: int, batch_size: int = 8) -> float:
    """Crops per second: a plain loop over ``items`` items (``workers=0``) or a DataLoader with ``workers``."""
    import torch
    from torch.utils.data import DataLoader

    from audiogen.data.dataset import collate_segments

    if workers == 0:
        t0 = time.perf_counter()
        for i in range(items):
            dataset[i]
        return items / (time.perf_counter() - t0)
    loader = DataLoader(
        torch.utils.data.Subset(dataset, range(items)),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_segments,
        worker_init_fn=lambda _: torch.set_num_threads(1),
    )
    t0 = time.perf_counter()
    n = sum(batch["audio"].shape[0] for batch in loader)
    return n / (time.perf_counter() - t0)


def append_section(path: Path, lines: list[str]) -> None:
    """Append ``lines`` to the end of the "## Data loading" section of ``path`` (created if absent), atomically."""
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
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--segment-seconds", nargs="+", type=float, default=[1.0, 5.0])
    ap.add_argument("--items", type=int, default=200, help="crops timed per setting (default 200)")
    ap.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = ap.parse_args(argv)

    import torch

    from audiogen.data.dataset import AudioDataset

    torch.set_num_threads(1)
    # Manifest paths shortened to their last two components: the numbers are written to a committed file.
    manifests = {str(m) for m in args.manifests}
    shown = [str(Path(*Path(a).parts[-2:])) if a in manifests else a for a in (argv or sys.argv[1:])]
    command = "python eval/bench_data.py " + " ".join(shlex.quote(a) for a in shown)
    lines = [
        f"Random training crops per second, RMS-normalised to -20 dBFS, 32 kHz mono "
        f"({dt.date.today().isoformat()}; {machine()}).",
        f"Command: `{command}` (manifest paths are the local corpus).",
        "",
        "| segment | main process | DataLoader, 1 worker | DataLoader, 2 workers |",
        "|---|---|---|---|",
    ]
    for seconds in args.segment_seconds:
        ds = AudioDataset(args.manifests, seconds, split="train", seed=0)
        for i in range(args.items):  # warm-up: the same crops, so every setting reads from the page cache
            ds[i]
        rates = [segments_per_second(ds, args.items, w) for w in (0, 1, 2)]
        row = f"| {seconds:g} s | " + " | ".join(f"{r:.1f} /s ({r * seconds:.0f}x real time)" for r in rates) + " |"
        print(row, flush=True)
        lines.append(row)
    append_section(args.out, lines)
    print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
