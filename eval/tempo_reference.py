"""The tempo reading's own ceiling: how often the generation eval's tempo analysis finds the labelled tempo of real or
rendered music whose tempo is known exactly (the rendered symbolic corpus), per tempo band.

    python -m audiogen.eval.tempo_reference --manifest SYMBOLIC_MANIFEST --seconds 20

The generation eval counts a track as following its requested tempo when the analysis (librosa's beat tracker,
:mod:`audiogen.analysis`) reads it within 4 % / 8 %, half and double time being misses. That tracker leans
toward 120 BPM, so slow music is often read at double time even when it keeps its tempo perfectly; this script
measures how often, on music whose tempo is known, so the generation numbers can be read against it. Writes the
"## Tempo reading on music of known tempo" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from audiogen.eval.report import command_line, machine, replace_section, table, today

SECTION = "## Tempo reading on music of known tempo"
BANDS = ((0.0, 85.0, "below 85 BPM"), (85.0, 135.0, "85–135 BPM"), (135.0, 1e9, "above 135 BPM"))


def read_tempo(path, seconds: float) -> float:
    """The eval's tempo reading (BPM) of the first ``seconds`` of an audio file."""
    from audiogen.analysis import ANALYSIS_SR, describe
    from audiogen.audio import load_audio

    return float(describe(load_audio(path, ANALYSIS_SR, duration=seconds), ANALYSIS_SR)["tempo"])


def band_rows(pairs: list[tuple[float, float]]) -> list[list[str]]:
    """Table rows per tempo band (and all) for ``(labelled, read)`` BPM pairs: n, within 4 % / 8 %, read at double /
    half time."""
    from audiogen.eval.metrics import tempo_hit

    rows = []
    for lo, hi, name in (*BANDS, (0.0, 1e9, "all")):
        sel = [(t, m) for t, m in pairs if lo <= t < hi]
        if not sel:
            continue

        def share(pred, sel=sel):
            return f"{np.mean([pred(t, m) for t, m in sel]):.2f}"

        rows.append(
            [
                name,
                str(len(sel)),
                share(lambda t, m: tempo_hit(m, t, 0.04)),
                share(lambda t, m: tempo_hit(m, t, 0.08)),
                share(lambda t, m: tempo_hit(m, 2 * t, 0.08)),
                share(lambda t, m: tempo_hit(m, t / 2, 0.08)),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", nargs="+", required=True, help="manifest(s) whose records carry an exact tempo")
    ap.add_argument("--split", default="valid", help="split to read (default valid; 'all' = every record)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds read from each file (default 20)")
    ap.add_argument("--limit", type=int, default=None, help="read at most this many records")
    ap.add_argument("--out", default="BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not args.seconds > 2:
        ap.error(f"--seconds must be > 2, got {args.seconds}")
    from pathlib import Path

    from audiogen.data.manifest import read_manifest

    started = machine()
    items = []
    for manifest in args.manifest:
        for rec in read_manifest(manifest):
            if rec.tempo and (args.split == "all" or rec.split == args.split):
                items.append((rec.resolve_path(Path(manifest).parent), float(rec.tempo)))
    items = items[: args.limit] if args.limit else items
    if not items:
        ap.error(f"no record of split {args.split!r} with a tempo in {args.manifest}")
    pairs = []
    for i, (path, tempo) in enumerate(items):
        try:
            pairs.append((tempo, read_tempo(path, args.seconds)))
        except (OSError, RuntimeError, ValueError) as err:
            print(f"skipped {path}: {err}", file=sys.stderr)
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(items)}", file=sys.stderr)
    body = [
        f"Command: `{command_line('python -m audiogen.eval.tempo_reference', argv)}`  ",
        f"Machine: {started}; {today()}. The first {args.seconds:g} s of each file, read by the same analysis as the "
        "generation eval's tempo adherence (half and double time are misses there; here they are counted).",
        "",
        *table(
            ["labelled tempo", "tracks", "within 4 %", "within 8 %", "read at double time", "read at half time"],
            band_rows(pairs),
        ),
    ]
    replace_section(args.out, SECTION, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
