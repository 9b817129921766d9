"""Evaluation of the emotion model on the valid split: correlations, quadrant accuracy, tags, and baselines.

Run as ``python -m audiogen.conditioning.emotion_model evaluate ...``; it writes the ``## Music emotion analysis``
section of BENCHMARKS.md and a quadrant confusion-matrix PNG. Baselines on the same excerpts: a ridge regression on
the same features (is the MLP worth it?) and the rule-based analysis ``audio-analysis-v1`` applied to each
excerpt's descriptors (on rendered music, where the labels are independent of that rule).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from audiogen.conditioning.emotion_model import WEIGHTS_NAME, EmotionModel
from audiogen.conditioning.emotion_train import Dataset, build_dataset
from audiogen.conditioning.emotions import QUADRANT_NAMES, QUADRANTS, quadrant

SECTION = "## Music emotion analysis"
PROGRAM = "python -m audiogen.conditioning.emotion_model"


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two ``(N,)`` arrays (NaN when either is constant or N < 3)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def quadrants(va: np.ndarray) -> list[str]:
    """EMOPIA quadrant of each row of ``va`` ``(N, 2)``."""
    return [quadrant(float(v), float(a)) for v, a in va]


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of ``scores`` ``(N,)`` for binary ``labels`` ``(N,)`` (NaN without positives)."""
    labels = np.asarray(labels) > 0.5
    if not labels.any():
        return math.nan
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def va_metrics(pred: np.ndarray, target: np.ndarray) -> dict:
    """``n``, Pearson r and mean absolute error of valence and arousal, and quadrant accuracy of ``(N, 2)`` arrays."""
    acc = np.mean([p == t for p, t in zip(quadrants(pred), quadrants(target), strict=True)]) if len(pred) else math.nan
    return {
        "n": len(pred),
        "r_valence": pearson(pred[:, 0], target[:, 0]),
        "r_arousal": pearson(pred[:, 1], target[:, 1]),
        "mae_valence": float(np.abs(pred[:, 0] - target[:, 0]).mean()) if len(pred) else math.nan,
        "mae_arousal": float(np.abs(pred[:, 1] - target[:, 1]).mean()) if len(pred) else math.nan,
        "quadrant_accuracy": float(acc),
    }


def confusion(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quadrant confusion counts ``(4, 4)``: rows = target quadrant, columns = predicted."""
    out = np.zeros((4, 4), dtype=np.int64)
    for p, t in zip(quadrants(pred), quadrants(target), strict=True):
        out[QUADRANTS.index(t), QUADRANTS.index(p)] += 1
    return out


def ridge_predict(train: Dataset, test_x: np.ndarray, alpha: float = 10.0) -> np.ndarray:
    """Weighted ridge regression of valence/arousal on standardised features; predictions ``(M, 2)`` clipped."""
    mean, std = train.x.mean(0), train.x.std(0).clip(1e-3)
    x = np.clip((train.x - mean) / std, -8, 8)
    x = np.hstack([x, np.ones((len(x), 1), dtype=np.float32)])
    w = train.weight[:, None]
    reg = alpha * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    coef = np.linalg.solve(x.T @ (w * x) + reg, x.T @ (w * train.va))
    t = np.clip((test_x - mean) / std, -8, 8)
    return np.clip(np.hstack([t, np.ones((len(t), 1), dtype=np.float32)]) @ coef, -1, 1)


def rule_predict(train: Dataset, test: Dataset) -> np.ndarray:
    """``audio-analysis-v1`` valence/arousal of each test excerpt's descriptors (no title cues), normalised with the
    training excerpts' real-music descriptors (the Debian corpus statistics, as in the manifests)."""
    from audiogen.data.analysis import corpus_norms, valence_arousal

    real = [d for d, dom in zip(train.descriptors, train.domain, strict=True) if dom == "real"]
    norms = corpus_norms(real)
    return np.asarray([valence_arousal(d, norms) for d in test.descriptors], dtype=np.float32)


def subset(ds: Dataset, sel: np.ndarray) -> Dataset:
    """The rows ``sel`` (boolean ``(N,)``) of a dataset."""
    idx = np.flatnonzero(sel)
    return Dataset(
        x=ds.x[idx],
        va=ds.va[idx],
        tags=ds.tags[idx],
        tag_mask=ds.tag_mask[idx],
        weight=ds.weight[idx],
        domain=[ds.domain[i] for i in idx],
        track=[ds.track[i] for i in idx],
        central=None if ds.central is None else ds.central[idx],
        descriptors=[ds.descriptors[i] for i in idx] if ds.descriptors else [],
    )


def cross_validate(train: Dataset, config, folds: int = 5) -> dict:
    """Track-grouped ``folds``-fold cross-validation on the training split (central excerpts of the held-out
    tracks), per domain; also returns the mean CPU seconds of one training run (``train_cpu_s``)."""
    import time
    import zlib

    from audiogen.conditioning.emotion_train import TrainOptions, train_model

    fold = np.asarray([zlib.crc32(t.encode()) % folds for t in train.track])
    central = np.ones(len(fold), bool) if train.central is None else train.central
    pred = np.zeros_like(train.va)
    t0 = time.process_time()
    for k in range(folds):
        model = train_model(subset(train, fold != k), config, TrainOptions())
        held = (fold == k) & central
        out = model.predict_features(train.x[held])
        pred[held] = [[p["valence"], p["arousal"]] for p in out]
    domains = np.asarray(train.domain)
    result = {"train_cpu_s": (time.process_time() - t0) / folds, "domains": {}}
    for dom in ("rendered", "real"):
        sel = central & (domains == dom)
        if sel.any():
            result["domains"][dom] = va_metrics(pred[sel], train.va[sel])
    return result


def evaluate_model(model: EmotionModel, train: Dataset, valid: Dataset) -> dict:
    """All metrics of ``model`` and the baselines on ``valid``, per domain (``rendered``, ``real``, ``all``)."""
    preds = model.predict_features(valid.x)
    pred = np.asarray([[p["valence"], p["arousal"]] for p in preds], dtype=np.float32)
    baselines = {"model": pred, "ridge": ridge_predict(train, valid.x), "rule": rule_predict(train, valid)}
    domains = np.asarray(valid.domain)
    out: dict = {"domains": {}, "confusion": {}}
    for dom in ("rendered", "real", "all"):
        sel = np.ones(len(domains), bool) if dom == "all" else domains == dom
        if not sel.any():
            continue
        out["domains"][dom] = {name: va_metrics(p[sel], valid.va[sel]) for name, p in baselines.items()}
        out["confusion"][dom] = confusion(pred[sel], valid.va[sel]).tolist()
    out["tags"] = tag_metrics(model, preds, valid)
    return out


def tag_metrics(model: EmotionModel, preds: list[dict], valid: Dataset) -> dict:
    """Per-tag average precision and positives on the valid excerpts where the tag is annotated, and their mean."""
    per_tag = {}
    for j, tag in enumerate(model.config.tags):
        sel = valid.tag_mask[:, j] > 0
        labels = valid.tags[sel, j]
        if labels.sum() < 1:
            continue
        scores = np.asarray([p["tags"][tag] for p in preds])[sel]
        per_tag[tag] = {"ap": average_precision(scores, labels), "positives": int(labels.sum()), "n": int(sel.sum())}
    aps = [v["ap"] for v in per_tag.values()]
    return {"mean_ap": float(np.mean(aps)) if aps else math.nan, "per_tag": per_tag}


def plot_confusion(matrices: dict, path: str | Path) -> Path:
    """Write the quadrant confusion matrices (one panel per domain) as a small PNG, atomically."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doms = [d for d in ("rendered", "real") if d in matrices]
    fig, axes = plt.subplots(1, len(doms), figsize=(3.2 * len(doms), 3.0), squeeze=False)
    labels = [f"{q}\n{QUADRANT_NAMES[q].split('/')[0]}" for q in QUADRANTS]
    for ax, dom in zip(axes[0], doms, strict=True):
        m = np.asarray(matrices[dom])
        ax.imshow(m, cmap="Blues")
        for i in range(4):
            for j in range(4):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color="black" if m[i, j] < m.max() / 2 else "w")
        ax.set_xticks(range(4), labels, fontsize=7)
        ax.set_yticks(range(4), labels, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("target", fontsize=8)
        ax.set_title(f"{dom} music (valid, n={int(m.sum())})", fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _fmt(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _va_table(results: dict) -> list[str]:
    from audiogen.eval.report import table

    names = {"model": "**emotion model (MLP)**", "ridge": "ridge regression, same features", "rule": "rule (analysis)"}
    rows = []
    for dom, by_method in results["domains"].items():
        for method, m in by_method.items():
            rows.append(
                [
                    f"{dom} (n={m['n']})",
                    names[method],
                    _fmt(m["r_valence"]),
                    _fmt(m["r_arousal"]),
                    _fmt(m["mae_valence"]),
                    _fmt(m["mae_arousal"]),
                    _fmt(m["quadrant_accuracy"]),
                ]
            )
    header = ["valid excerpts", "predictor", "r valence", "r arousal", "MAE valence", "MAE arousal", "quadrant acc."]
    return table(header, rows)


def feature_timing(cache_dir: str | Path) -> dict:
    """CPU seconds per cached excerpt (mean) and in total, from the cache's ``cpu_s`` fields."""
    from audiogen.conditioning.emotion_features import FeatureCache

    secs = [e["cpu_s"] for e in FeatureCache(cache_dir).entries.values() if "cpu_s" in e]
    return {"excerpts": len(secs), "mean_cpu_s": float(np.mean(secs)) if secs else math.nan, "total_cpu_s": sum(secs)}


def _cv_lines(cv: dict) -> list[str]:
    parts = [
        f"{dom} (n={m['n']}): r valence {_fmt(m['r_valence'])}, r arousal {_fmt(m['r_arousal'])}, "
        f"quadrant accuracy {_fmt(m['quadrant_accuracy'])}"
        for dom, m in cv["domains"].items()
    ]
    return [
        "The valid split is small, so also 5-fold cross-validation over the training tracks (grouped by "
        "track, central excerpts, same options): " + "; ".join(parts) + "."
    ]


def _section(results: dict, info: dict) -> list[str]:
    """The BENCHMARKS.md section body."""
    from audiogen.eval.report import machine, today

    t = info["timing"]
    tags = results["tags"]
    ranked = sorted(tags["per_tag"].items(), key=lambda kv: -kv[1]["ap"])
    tag_list = ", ".join(f"{k} {_fmt(v['ap'])}" for k, v in ranked)
    sources = "; ".join(f"{k}: {', '.join(v)}" for k, v in info["label_sources"].items())
    lines = [
        "`audiogen analyze` reports valence/arousal from a small model trained on our corpus: an MLP "
        f"({info['params']} parameters, {info['bytes'] / 1024:.0f} KiB fp16 safetensors) on the features of the "
        "central 30 s (9 analysis descriptors, tonic-relative chroma, mean/std/flux of 64 log-mel bands).",
        "",
        "Targets and where they come from (label methods per source): " + sources + ". Only the composer's labels "
        "are exact (they are its parameters); music21 labels come from the scores, and **real-music (Debian) "
        "targets are our own rule-based audio analysis** (`audio-analysis-v1`: mode, brightness, tempo, loudness, "
        "onset rate, plus title words), so on real music the numbers below measure how well the model reproduces "
        f"that analysis from 30 s of audio, not agreement with listeners. Real-music tracks weigh "
        f"{info['real_weight']:g} (each track's weight shared by its 3 excerpts), rendered pieces 1.",
        "",
        "```",
        f"{PROGRAM} features --manifests {info['manifests']} --features-cache {info['cache']}",
        f"{PROGRAM} train --manifests {info['manifests']} --features-cache {info['cache']} --out {info['model']}",
        info["command"],
        "```",
        "",
        f"Machine: {machine()}; {today()}. Training set: {info['n_train']} excerpts ({info['n_train_tracks']} "
        f"tracks); valid split (whole tracks, central window only) below. Feature extraction: "
        f"{_fmt(t['mean_cpu_s'])} CPU s per 30 s excerpt, {t['total_cpu_s'] / 60:.0f} CPU min for all "
        f"{t['excerpts']} excerpts (one thread, niced, on the shared machine); one training run: "
        f"{results['cv']['train_cpu_s']:.0f} CPU s.",
        "",
        *_va_table(results),
        "",
        "Pearson r between prediction and target on the valid split; quadrant = EMOPIA quadrant of (valence, "
        "arousal). The rule row on real music compares the rule on the 30 s excerpt (no title words) with the same "
        "rule on the central 120 s with title words, i.e. the ceiling-like agreement of the target with itself.",
        "",
        *_cv_lines(results["cv"]),
        "",
        f"Style tags ({len(info['tags'])}: {', '.join(info['tags'])}), valid average precision where annotated: "
        f"mean {_fmt(tags['mean_ap'])} ({tag_list}).",
    ]
    if info.get("png_rel"):
        lines += ["", f"![quadrant confusion matrices]({info['png_rel']})"]
    return lines


def run_evaluation(args, argv: list[str]) -> dict:
    """The ``evaluate`` command: metrics on the valid split, the PNG, the BENCHMARKS section, optional JSON."""
    import json
    import os

    from audiogen.eval.report import command_line, replace_section

    model = EmotionModel.from_pretrained(args.model)
    real_weight = 0.5
    train, _ = build_dataset(args.manifests, args.features_cache, "train", tags=model.config.tags)
    valid, _ = build_dataset(args.manifests, args.features_cache, "valid", tags=model.config.tags)
    results = evaluate_model(model, train, valid)
    results["cv"] = cross_validate(train, model.config)
    results["timing"] = feature_timing(args.features_cache)
    short = command_line(PROGRAM, argv).split()
    info = {
        "params": sum(p.numel() for p in model.parameters()),
        "bytes": (Path(args.model) / WEIGHTS_NAME).stat().st_size,
        "label_sources": model.config.label_sources,
        "real_weight": real_weight,
        "manifests": " ".join(short[short.index("--manifests") + 1 : short.index("--features-cache")]),
        "cache": short[short.index("--features-cache") + 1],
        "model": short[short.index("--model") + 1],
        "command": command_line(PROGRAM, argv),
        "timing": results["timing"],
        "n_train": len(train.x),
        "n_train_tracks": len(set(train.track)),
        "tags": list(model.config.tags),
    }
    if args.png:
        plot_confusion(results["confusion"], args.png)
        if args.benchmarks:
            info["png_rel"] = os.path.relpath(args.png, Path(args.benchmarks).resolve().parent)
    if args.benchmarks:
        replace_section(args.benchmarks, SECTION, _section(results, info))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    print(json.dumps({d: m["model"] for d, m in results["domains"].items()}, indent=1))
    return results
