"""Corpus statistics: hours per source and split, label distributions, and the PNG plots shown in DATA.md."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from audiogen.conditioning.emotions import EMOTIONS
from audiogen.data.manifest import Record, read_manifest
from audiogen.music import SHARPS

PITCH_ORDER = SHARPS


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    )


def hours_table(records: Sequence[Record]) -> str:
    """Hours (and track counts) per source, split by train/valid/test, with totals."""
    splits = ("train", "valid", "test")
    hours: dict[str, Counter] = {}
    tracks: Counter = Counter()
    for r in records:
        hours.setdefault(r.source, Counter())[r.split] += r.duration / 3600
        tracks[r.source] += 1
    rows = [["source", "tracks", *splits, "hours"]]
    for src in sorted(hours):
        rows.append(
            [src, str(tracks[src]), *(f"{hours[src][s]:.2f}" for s in splits), f"{sum(hours[src].values()):.2f}"]
        )
    total = Counter()
    for h in hours.values():
        total.update(h)
    rows.append(
        ["total", str(sum(tracks.values())), *(f"{total[s]:.2f}" for s in splits), f"{sum(total.values()):.2f}"]
    )
    return _table(rows)


def emotion_table(records: Sequence[Record], by: str = "source") -> str:
    """Track counts of each emotion label per value of ``by`` (a record attribute), unlabelled as ``-``."""
    groups = sorted({getattr(r, by) for r in records})
    counts = Counter((r.emotion or "-", getattr(r, by)) for r in records)
    emotions = [e for e in (*EMOTIONS, "-") if any(counts[(e, g)] for g in groups)]
    short = [g.split("/")[-1][:14] for g in groups]
    rows = [["emotion", *short, "all"]]
    for e in emotions:
        rows.append([e, *(str(counts[(e, g)]) for g in groups), str(sum(counts[(e, g)] for g in groups))])
    return _table(rows)


def manifest_stats(manifests: Sequence[str | os.PathLike], plots_dir: str | os.PathLike | None = None) -> str:
    """A text report of ``manifests`` (hours, emotion × source counts, keys, tempo quartiles, style tags); with
    ``plots_dir``, also writes ``tempo_hist.png``, ``key_hist.png`` and ``emotion_counts.png`` there."""
    import numpy as np

    records = [r for m in manifests for r in read_manifest(m)]
    if not records:
        raise ValueError(f"no records in {[str(m) for m in manifests]}")
    parts = [
        "Hours per source and split",
        hours_table(records),
        "",
        "Emotion x source (tracks)",
        emotion_table(records),
    ]
    labelled = [r for r in records if r.emotion]
    parts.append(
        f"\nlabelled: {len(labelled)}/{len(records)} records; methods: "
        + ", ".join(f"{k or 'none'} {v}" for k, v in Counter(r.label_method for r in records).items())
    )
    tempos = np.array([r.tempo for r in records if r.tempo])
    if tempos.size:
        q = np.percentile(tempos, [5, 25, 50, 75, 95])
        parts.append("tempo BPM percentiles 5/25/50/75/95: " + " / ".join(f"{x:.0f}" for x in q))
    modes = Counter(r.mode for r in records if r.mode)
    if modes:
        parts.append("mode: " + ", ".join(f"{k} {v}" for k, v in modes.most_common()))
        keys = Counter(f"{r.key} {r.mode}" for r in records if r.key)
        parts.append("keys: " + ", ".join(f"{k} {v}" for k, v in keys.most_common()))
    from audiogen.conditioning.styles import filter_tags

    styles = Counter(t for r in records for t in filter_tags(r.tags))
    if styles:
        parts.append("style tags: " + ", ".join(f"{k} {v}" for k, v in styles.most_common(20)))
    if plots_dir is not None:
        written = write_plots(records, plots_dir)
        parts.append("plots: " + ", ".join(str(p) for p in written))
    return "\n".join(parts)


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_plots(records: Sequence[Record], out_dir: str | os.PathLike) -> list[Path]:
    """Small PNG histograms of tempo, key (major/minor stacked) and emotion counts; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist([r.tempo for r in records if r.tempo], bins=np.arange(40, 225, 8), color="#4a7")
    ax.set(xlabel="tempo (BPM)", ylabel="tracks", title="Tempo")
    fig.tight_layout()
    _save(fig, out / "tempo_hist.png")
    paths.append(out / "tempo_hist.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.arange(12)
    maj = [sum(1 for r in records if r.key == k and r.mode == "major") for k in PITCH_ORDER]
    mnr = [sum(1 for r in records if r.key == k and r.mode == "minor") for k in PITCH_ORDER]
    ax.bar(x, maj, label="major", color="#e93")
    ax.bar(x, mnr, bottom=maj, label="minor", color="#37a")
    ax.set_xticks(x, PITCH_ORDER)
    ax.set(ylabel="tracks", title="Key")
    ax.legend()
    fig.tight_layout()
    _save(fig, out / "key_hist.png")
    paths.append(out / "key_hist.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    counts = Counter(r.emotion for r in records if r.emotion)
    names = [e for e in EMOTIONS if counts[e]]
    ax.bar(range(len(names)), [counts[e] for e in names], color="#a5c")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set(ylabel="tracks", title="Emotion labels")
    fig.tight_layout()
    _save(fig, out / "emotion_counts.png")
    paths.append(out / "emotion_counts.png")
    plt.close(fig)
    return paths
