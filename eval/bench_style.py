"""Style-encoder retrieval on the valid split, next to baselines; rewrites the "## Style encoder" section.

    python eval/bench_style.py --manifest DATA/debian/manifest.jsonl DATA/symbolic/manifest.jsonl \\
        --cache runs/style/cache [--style audiogen/pretrained/default/style] [--out BENCHMARKS.md]

Every valid track gives two 8-s clips (its first and last cached window, see
:mod:`audiogen.conditioning.train_style_encoder`); a clip's vector is the mean of its two 4-s halves. The numbers
(defined in :func:`~audiogen.conditioning.train_style_encoder.retrieval`) are computed for the shipped encoder with
the shipped index, for the same network with random weights, for plain log-mel statistics, and for chance.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from audiogen.eval.report import command_line, machine, replace_section, today

SECTION = "## Style encoder"
METRICS = ("same_track@1", "same_track@5", "same_source@1", "same_source@5", "tag_f1")


def logmel_stats(logmel: torch.Tensor) -> torch.Tensor:
    """Baseline vector: per-band mean and standard deviation of the clip-centred log-mel, ``[B, M, F]`` -> ``[B, 2M]``
    (standardise across clips before comparing)."""
    x = logmel - logmel.mean(dim=(1, 2), keepdim=True)
    return torch.cat([x.mean(-1), x.std(-1)], dim=1)


def chance(cache, queries: list[int], ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Expected hit rates of a random ranking over the same galleries as
    :func:`~audiogen.conditioning.train_style_encoder.retrieval` (queries: valid track rows)."""
    g = 2 * len(cache.split("valid")) - 1  # one relevant clip among the other valid clips
    train = [cache.tracks[t]["source"] for t in cache.split("train")]
    n = len(train)
    out: dict[str, float] = {"tracks": len(queries), **{f"same_track@{k}": min(k, g) / g for k in ks}}
    for k in ks:
        j = min(k, n)
        miss = [math.comb(n - train.count(cache.tracks[t]["source"]), j) / math.comb(n, j) for t in queries]
        out[f"same_source@{k}"] = 1 - sum(miss) / len(miss)
    return out


def evaluate(args: argparse.Namespace) -> list[tuple[str, str, dict]]:
    """Rows ``(group, method, metrics)`` for all valid tracks and for the recorded (Debian) ones."""
    from audiogen.conditioning.style_encoder import StyleEncoder, StyleIndex
    from audiogen.conditioning.train_style_encoder import build_cache, retrieval, window_vectors

    torch.set_num_threads(args.threads)
    trained = StyleEncoder.from_pretrained(args.style)
    index = StyleIndex.load(args.style)
    cfg = trained.config
    cache = build_cache(args.manifest, Path(args.cache), cfg, args.sources, args.max_windows)
    crop = int(cfg.crop_seconds * cfg.sample_rate) // cfg.hop + 1
    windows, valid, train = cache.windows_of(), cache.split("valid"), cache.split("train")
    if index.names != tuple(cache.tracks[t]["name"] for t in train):
        raise ValueError(f"the index in {args.style} was not built from these manifests' training tracks")
    every = list(range(cache.logmel.shape[0]))
    valid_rows = [w for t in valid for w in (windows[t][0], windows[t][-1])]
    train_rows = [w for t in train for w in windows[t]]

    shipped = torch.zeros(len(every), cfg.dim)  # the training tracks come from the shipped index
    shipped[valid_rows] = window_vectors(trained.embed_log_mel, cache, valid_rows, crop)
    torch.manual_seed(0)
    untrained = StyleEncoder(cfg).eval()
    stats = window_vectors(logmel_stats, cache, every, crop)  # standardised with the training windows' statistics
    mu, sd = stats[train_rows].mean(0), stats[train_rows].std(0) + 1e-6
    methods = {
        "trained encoder (shipped, with its index)": (shipped, index),
        "same network, random weights": (window_vectors(untrained.embed_log_mel, cache, every, crop), None),
        f"log-mel mean and std ({2 * cfg.n_mels}-d)": (F.normalize((stats - mu) / sd, dim=-1), None),
    }
    rows = []
    for group, prefix in (("all valid", ""), ("Debian valid", "debian/")):
        queries = [t for t in valid if cache.tracks[t]["source"].startswith(prefix)]
        if not queries:
            continue
        for name, (vecs, idx) in methods.items():
            rows.append((group, name, retrieval(vecs, cache, index=idx, queries=queries)))
        rows.append((group, "chance", chance(cache, queries)))
    return rows


def table(rows: list[tuple[str, str, dict]]) -> list[str]:
    """Markdown table lines, one row per ``(group, method, metrics)``; a missing number is shown as "–"."""
    head = "| queries | method | " + " | ".join(METRICS) + " |"
    lines = [head, "|---|---|" + "---|" * len(METRICS)]
    for group, name, m in rows:
        cells = [f"{m[k]:.3f}" if k in m else "–" for k in METRICS]
        label = f"{group} ({m['tracks']} tracks)" if "tracks" in m else group
        lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_style", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", nargs="+", required=True, help="the manifests the encoder was trained on")
    ap.add_argument("--cache", required=True, help="log-mel cache folder (built if missing)")
    ap.add_argument("--style", default=None, help="encoder + index folder (default: the shipped one)")
    ap.add_argument("--sources", nargs="*", default=None)
    ap.add_argument("--max-windows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = ap.parse_args(argv)
    if args.style is None:
        from audiogen.pretrained import DEFAULT_DIR

        args.style = str(DEFAULT_DIR / "style")
    start, t0 = machine(), time.time()
    rows = evaluate(args)
    style_arg = args.style if "pretrained" not in args.style else "audiogen/pretrained/default/style"
    argv = [a if a != args.style else style_arg for a in (sys.argv[1:] if argv is None else argv)]
    body = [
        f"Retrieval of valid-split clips (tracks the encoder never trained on) by cosine similarity "
        f"({today()}; {start}; {time.time() - t0:.0f} s).",
        f"Command: `{command_line('python eval/bench_style.py', argv)}`.",
        "",
        "Each valid track gives two 8-s clips, its first and its last cached window (up to 8 non-overlapping",
        "windows are spread evenly over a track, so the two never overlap); a clip's vector is the mean of its two",
        "4-s halves. same_track@k: the other clip of the query's track is among its k nearest of all other valid",
        "clips. same_source@k: a training track of the query's source (a Debian package; `composer` or `music21`",
        "for the rendered pieces) is among its k nearest training tracks, one vector per track (the mean over all",
        "its windows, as in the shipped index). tag_f1: micro-F1 of the style tags voted by the 5 nearest training",
        "tracks (3 of 5 votes) against the clip's own style-vocabulary tags. Chance: a random ranking of the same",
        "galleries.",
        "",
        *table(rows),
    ]
    replace_section(args.out, SECTION, body)
    print("\n".join(body), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
