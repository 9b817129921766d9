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
    from audiogen.analysis import corpus_norms, valence_arousal

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


def cross_validate(train: Dataset, config, options=None, folds: int = 5) -> dict:
    """Track-grouped ``folds``-fold cross-validation on the training split: every excerpt of a track falls in one
    fold (the CRC-32 of its track id), and the central excerpts of the held-out tracks are scored.

    Returns ``{"folds", "train_cpu_s" (mean CPU s of one training run), "score" (mean Pearson r of the model over
    valence/arousal and domains), "domains": {domain: {"model": va_metrics, "ridge": va_metrics}}}``.
    """
    import time
    import zlib

    from audiogen.conditioning.emotion_train import TrainOptions, train_model

    if not 2 <= folds <= 20:
        raise ValueError(f"folds must be in [2, 20], got {folds}")
    options = options or TrainOptions()
    fold = np.asarray([zlib.crc32(t.encode()) % folds for t in train.track])
    central = np.ones(len(fold), bool) if train.central is None else np.asarray(train.central, bool)
    pred, ridge = np.zeros_like(train.va), np.zeros_like(train.va)
    t0 = time.process_time()
    for k in range(folds):
        held = (fold == k) & central
        if not held.any():
            continue
        fit = subset(train, fold != k)
        out = train_model(fit, config, options).predict_features(train.x[held])
        pred[held] = [[p["valence"], p["arousal"]] for p in out]
        ridge[held] = ridge_predict(fit, train.x[held])
    domains = np.asarray(train.domain)
    result: dict = {"folds": folds, "train_cpu_s": (time.process_time() - t0) / folds, "domains": {}}
    for dom in ("rendered", "real"):
        sel = central & (domains == dom)
        if sel.any():
            result["domains"][dom] = {
                "model": va_metrics(pred[sel], train.va[sel]),
                "ridge": va_metrics(ridge[sel], train.va[sel]),
            }
    rs = [m["model"][f"r_{d}"] for m in result["domains"].values() for d in ("valence", "arousal")]
    result["score"] = float(np.nanmean(rs)) if rs else math.nan
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
    parts = []
    for dom, by_method in cv["domains"].items():
        m, r = by_method["model"], by_method["ridge"]
        parts.append(
            f"{dom} (n={m['n']}): r valence {_fmt(m['r_valence'])} (ridge {_fmt(r['r_valence'])}), r arousal "
            f"{_fmt(m['r_arousal'])} (ridge {_fmt(r['r_arousal'])}), quadrant accuracy "
            f"{_fmt(m['quadrant_accuracy'])} (ridge {_fmt(r['quadrant_accuracy'])})"
        )
    return [
        f"The valid split is small, so also {cv['folds']}-fold cross-validation over the training tracks (grouped "
        "by track, central excerpts, same recipe; the `cv` command, which is also what the training options were "
        "chosen with): " + "; ".join(parts) + "."
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
        f"{info['real_weight']:g} (shared by the track's excerpts: up to 3 windows of 30 s), rendered pieces 1.",
        "",
        "```",
        f"{PROGRAM} features --manifests {info['manifests']} --features-cache {info['cache']}",
        f"{PROGRAM} train --manifests {info['manifests']} --features-cache {info['cache']} --out {info['model']}"
        + "".join(f" {w}" for w in info["recipe"]),
        info["command"],
        "```",
        "",
        f"Machine: {machine()}; {today()}. Training set: {info['n_train']} excerpts ({info['n_train_tracks']} "
        f"tracks); valid split (whole tracks, central window only) below. Feature extraction: "
        f"{_fmt(t['mean_cpu_s'])} CPU s per 30 s excerpt, {t['total_cpu_s'] / 60:.0f} CPU min for all "
        f"{t['excerpts']} cached excerpts (one thread, niced, on the shared machine); one training run (a CV fold): "
        f"{results['cv']['train_cpu_s']:.0f} CPU s.",
        "",
        *_va_table(results),
        "",
        "Pearson r between prediction and target on the valid split; quadrant = EMOPIA quadrant of (valence, "
        "arousal). Baselines: ridge regression on the same features, and the rule-based analysis applied to the "
        "30 s excerpt (no title words). On rendered music the rule is a fair baseline (the labels are independent "
        "of it); on real music it is not a baseline but the target itself measured on less audio without title "
        "words, i.e. roughly the ceiling of what the model can reproduce.",
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
    """The ``evaluate`` command: metrics on the valid split, the PNG, the BENCHMARKS section, optional JSON.

    The training flags in ``args`` must describe how ``args.model`` was trained: the cross-validation line retrains
    with them, and the section prints them in the ``train`` command."""
    import json
    import os

    from audiogen.conditioning.emotion_train import recipe_flags, recipe_from_args
    from audiogen.eval.report import command_line, replace_section

    model = EmotionModel.from_pretrained(args.model)
    config, options = recipe_from_args(args, model.config.tags, model.config.label_sources)
    for name in ("hidden", "layers", "dropout"):
        if getattr(config, name) != getattr(model.config, name):
            raise ValueError(
                f"--{name} {getattr(config, name)} does not match the model's {name} {getattr(model.config, name)}: "
                "pass the flags the model was trained with"
            )
    tags = model.config.tags
    train, _ = build_dataset(args.manifests, args.features_cache, "train", tags=tags, real_weight=args.real_weight)
    valid, _ = build_dataset(args.manifests, args.features_cache, "valid", tags=tags, real_weight=args.real_weight)
    results = evaluate_model(model, train, valid)
    results["cv"] = cross_validate(train, config, options)
    results["timing"] = feature_timing(args.features_cache)
    short = command_line(PROGRAM, argv).split()
    info = {
        "params": sum(p.numel() for p in model.parameters()),
        "bytes": (Path(args.model) / WEIGHTS_NAME).stat().st_size,
        "label_sources": model.config.label_sources,
        "real_weight": args.real_weight,
        "recipe": recipe_flags(args),
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
            info["png_rel"] = os.path.relpath(Path(args.png).resolve(), Path(args.benchmarks).resolve().parent)
    if args.benchmarks:
        replace_section(args.benchmarks, SECTION, _section(results, info))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    print(json.dumps({d: m["model"] for d, m in results["domains"].items()}, indent=1))
    return results
