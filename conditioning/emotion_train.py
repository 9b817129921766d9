"""Training data and training loop of the emotion model (:mod:`audiogen.conditioning.emotion_model`).

Targets come from the manifests: ``valence``/``arousal`` of every labelled record, and the style-vocabulary tags
(:func:`audiogen.conditioning.styles.filter_tags` of the record's tags) that at least ``min_tag_count`` training
records carry. Absent tags count as negatives only where the source annotates that kind of tag: a source whose
records nearly all name an instrument is taken to list its instruments, one that never names instruments says
nothing about them (the tag's loss is masked there). ``slow``/``fast`` are left out (the analysis derives them from
the tempo estimate, which the output reports anyway), and so are style words that are also emotion labels (``epic``):
the valence/arousal head covers those.

Real-music targets are whatever the manifest holds — for the Debian corpus that is our own rule-based analysis
(``audio-analysis-v1``), so on real music the model learns to reproduce that analysis from 30 s of audio. Those
records are weighted by ``real_weight``; rendered pieces (exact composer parameters) weigh 1.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from audiogen.conditioning.emotion_features import FeatureCache, cache_key, training_windows
from audiogen.conditioning.emotion_model import EmotionModel, EmotionModelConfig
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.conditioning.styles import GENRE_TAGS, INSTRUMENTS, STYLE_TAGS, filter_tags

RENDERED_SOURCES = ("composer", "music21")
EXCLUDED_TAGS = ("slow", "fast")
ANNOTATED_FRACTION = 0.9  # a source "annotates" a tag kind when this share of its records name one
DEFAULT_REAL_WEIGHT = 0.5  # weight of a real-music track (its excerpts share it); a rendered piece weighs 1
DEFAULT_MIN_TAG_COUNT = 20  # training records a style tag needs to get an output


def domain_of(source: str) -> str:
    """``"rendered"`` for the symbolic corpus' sources, ``"real"`` for everything else."""
    return "rendered" if source.split("/")[0] in RENDERED_SOURCES else "real"


def source_of(source: str) -> str:
    """The corpus a record's source belongs to (``"debian/wesnoth-music"`` -> ``"debian"``)."""
    return source.split("/")[0]


@dataclass
class Excerpt:
    """One training or evaluation excerpt: a record's window and where its audio lies."""

    record: object  # audiogen.data.manifest.Record
    path: Path
    start: float
    length: float
    central: bool

    @property
    def key(self) -> str | None:
        """The feature-cache key, or None when the audio file is missing."""
        if not self.path.is_file():
            return None
        return cache_key(self.path, self.record.offset + self.start, self.length)


def load_records(manifests: list[str | Path], labelled_only: bool = True) -> list[tuple[object, Path]]:
    """``(record, audio path)`` of every record in ``manifests`` (only those with valence/arousal labels when
    ``labelled_only``)."""
    from audiogen.data.manifest import read_manifest

    out = []
    for m in manifests:
        m = Path(m)
        for r in read_manifest(m):
            if not labelled_only or (r.valence is not None and r.arousal is not None):
                out.append((r, r.resolve_path(m.parent)))
    return out


def excerpts(records: list[tuple[object, Path]], extra_real: bool = True) -> list[Excerpt]:
    """Central windows of all records, then (``extra_real``) two more windows of long real-music training tracks."""
    central, extra = [], []
    for r, path in records:
        wide = extra_real and r.split == "train" and domain_of(r.source) == "real"
        for i, (start, length) in enumerate(training_windows(r.duration, extra=wide)):
            (central if i == 0 else extra).append(Excerpt(r, path, start, length, i == 0))
    return central + extra


def fill_features(manifests: list[str | Path], cache_dir: str | Path, extra_real: bool = True) -> dict:
    """Extract the features of every excerpt of ``manifests`` that the cache lacks (central windows first; labels
    are not needed, so this can run while a manifest is still being labelled)."""
    from audiogen.conditioning.emotion_features import fill_cache

    cache = FeatureCache(cache_dir)
    jobs = [(e.path, e.record.offset, e.start, e.length) for e in excerpts(load_records(manifests, False), extra_real)]
    return fill_cache(jobs, cache)


def choose_tags(records: list, min_count: int = DEFAULT_MIN_TAG_COUNT) -> tuple[str, ...]:
    """Style-vocabulary tags named by at least ``min_count`` training records (vocabulary order)."""
    counts = Counter(t for r in records if r.split == "train" for t in filter_tags(r.tags))
    return tuple(t for t in STYLE_TAGS if counts[t] >= min_count and t not in EXCLUDED_TAGS and t not in EMOTIONS)


def _kind(tag: str) -> str:
    return "genre" if tag in GENRE_TAGS else "instrument" if tag in INSTRUMENTS else "production"


def tag_targets(records: list, tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Targets ``(N, n_tags)`` in {0, 1} and loss masks ``(N, n_tags)`` in {0, 1} (see the module docstring)."""
    by_source: dict[str, list] = {}
    for r in records:
        by_source.setdefault(source_of(r.source), []).append(set(filter_tags(r.tags)))
    annotated = set()
    for src, tag_sets in by_source.items():
        for kind in ("genre", "instrument", "production"):
            named = sum(any(_kind(t) == kind for t in s) for s in tag_sets)
            if named >= ANNOTATED_FRACTION * len(tag_sets):
                annotated.add((src, kind))
        annotated |= {(src, t) for s in tag_sets for t in s}  # a tag a source uses at all is a tag it annotates
    y = np.zeros((len(records), len(tags)), dtype=np.float32)
    mask = np.zeros_like(y)
    for i, r in enumerate(records):
        have, src = set(filter_tags(r.tags)), source_of(r.source)
        for j, t in enumerate(tags):
            y[i, j] = float(t in have)
            mask[i, j] = float((src, _kind(t)) in annotated or (src, t) in annotated)
    return y, mask


@dataclass
class Dataset:
    """Arrays of one split: features ``x (N, F)``, targets ``va (N, 2)``, ``tags``/``tag_mask (N, n_tags)``,
    sample ``weight (N,)``, and per-excerpt ``domain``, ``track`` and ``central`` flags."""

    x: np.ndarray
    va: np.ndarray
    tags: np.ndarray
    tag_mask: np.ndarray
    weight: np.ndarray
    domain: list[str] = field(default_factory=list)
    track: list[str] = field(default_factory=list)
    central: np.ndarray | None = None
    descriptors: list[dict] = field(default_factory=list)


def build_dataset(
    manifests: list[str | Path],
    cache_dir: str | Path,
    split: str,
    tags: tuple[str, ...] | None = None,
    real_weight: float = DEFAULT_REAL_WEIGHT,
    min_tag_count: int = DEFAULT_MIN_TAG_COUNT,
) -> tuple[Dataset, tuple[str, ...]]:
    """The cached excerpts of ``split`` as arrays (excerpts not in the cache yet are skipped), and the tag list
    (chosen from the training records when ``tags`` is None). A real-music track's weight is shared by its
    excerpts."""
    cache = FeatureCache(cache_dir)
    records = load_records(manifests)
    if tags is None:
        tags = choose_tags([r for r, _ in records], min_count=min_tag_count)
    all_y, all_mask = tag_targets([r for r, _ in records], tags)
    index = {id(r): i for i, (r, _) in enumerate(records)}
    chosen = [e for e in excerpts([rp for rp in records if rp[0].split == split]) if split == "train" or e.central]
    per_track = Counter(e.record.track for e in chosen)
    rows = []
    for e in chosen:
        key = e.key
        entry = cache.get(key) if key is not None else None
        if entry is None or "features" not in entry:
            continue
        r = e.record
        base = real_weight if domain_of(r.source) == "real" else 1.0
        rows.append((entry, r, index[id(r)], e.central, base / per_track[r.track]))
    if not rows:
        raise ValueError(f"no cached features for split {split!r}: run the 'features' command on these manifests first")
    ds = Dataset(
        x=np.asarray([row[0]["features"] for row in rows], dtype=np.float32),
        va=np.asarray([[row[1].valence, row[1].arousal] for row in rows], dtype=np.float32),
        tags=all_y[[row[2] for row in rows]],
        tag_mask=all_mask[[row[2] for row in rows]],
        weight=np.asarray([row[4] for row in rows], dtype=np.float32),
        domain=[domain_of(row[1].source) for row in rows],
        track=[row[1].track for row in rows],
        central=np.asarray([row[3] for row in rows]),
        descriptors=[row[0]["descriptors"] for row in rows],
    )
    return ds, tags


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings of :func:`train_model`."""

    epochs: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.5  # chosen by track-grouped CV on the train split (0.05, 0.5, 2 tried)
    tag_loss_weight: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 100_000:
            raise ValueError(f"epochs must be in [1, 100000], got {self.epochs}")
        if not 1 <= self.batch_size <= 65_536:
            raise ValueError(f"batch_size must be in [1, 65536], got {self.batch_size}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"lr must be in (0, 1], got {self.lr}")
        if self.weight_decay < 0 or self.tag_loss_weight < 0:
            raise ValueError("weight_decay and tag_loss_weight must be >= 0")


def emotion_loss(
    model: EmotionModel,
    x: torch.Tensor,
    va: torch.Tensor,
    tags: torch.Tensor,
    tag_mask: torch.Tensor,
    weight: torch.Tensor,
    tag_loss_weight: float = 0.5,
) -> torch.Tensor:
    """Training loss of a batch, a scalar: the weighted mean squared error of valence/arousal (``va (B, 2)``) plus
    ``tag_loss_weight`` times the masked, weighted binary cross-entropy of the tags (``tags``, ``tag_mask``
    ``(B, n_tags)``); ``x (B, F)``, ``weight (B,)``."""
    pred_va, logits = model(x)
    loss = (weight[:, None] * (pred_va - va) ** 2).sum() / weight.sum().clamp_min(1e-6) / 2
    if logits.shape[1]:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, tags, reduction="none")
        m = tag_mask * weight[:, None]
        loss = loss + tag_loss_weight * (bce * m).sum() / m.sum().clamp_min(1e-6)
    return loss


def train_model(ds: Dataset, config: EmotionModelConfig, options: TrainOptions | None = None) -> EmotionModel:
    """Fit an :class:`EmotionModel` on ``ds`` with :func:`emotion_loss` (AdamW, cosine learning-rate decay, the
    input standardisation taken from ``ds.x``). Returns the model in eval mode."""
    options = options or TrainOptions()
    n = len(ds.x)
    if n == 0:
        raise ValueError("cannot train on an empty dataset")
    if ds.x.ndim != 2 or ds.x.shape[1] != config.n_features:
        raise ValueError(f"features must have shape (N, {config.n_features}), got {ds.x.shape}")
    if ds.va.shape != (n, 2) or ds.weight.shape != (n,) or ds.tags.shape != ds.tag_mask.shape:
        raise ValueError(
            f"targets do not match {n} excerpts: va {ds.va.shape}, weight {ds.weight.shape}, tags {ds.tags.shape}, "
            f"tag_mask {ds.tag_mask.shape}"
        )
    if ds.tags.shape != (n, len(config.tags)):
        raise ValueError(f"dataset has {ds.tags.shape[1]} tag columns but the config names {len(config.tags)} tags")
    torch.manual_seed(options.seed)
    random.seed(options.seed)
    model = EmotionModel(config)
    model.set_normalisation(ds.x)
    x, va = torch.from_numpy(ds.x), torch.from_numpy(ds.va)
    y, mask, w = torch.from_numpy(ds.tags), torch.from_numpy(ds.tag_mask), torch.from_numpy(ds.weight)
    opt = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    steps_per_epoch = math.ceil(n / options.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=options.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(options.seed)
    model.train()
    for _ in range(options.epochs):
        for idx in torch.randperm(n, generator=gen).split(options.batch_size):
            loss = emotion_loss(model, x[idx], va[idx], y[idx], mask[idx], w[idx], options.tag_loss_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


TRAIN_FLAGS = {  # command-line flag -> (attribute, type, help); defaults come from the dataclasses
    "--hidden": ("hidden", int, "width of the MLP"),
    "--layers": ("layers", int, "hidden layers of the MLP"),
    "--dropout": ("dropout", float, "dropout after each hidden layer"),
    "--epochs": ("epochs", int, "passes over the training excerpts"),
    "--lr": ("lr", float, "peak AdamW learning rate (cosine decay)"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--tag-loss-weight": ("tag_loss_weight", float, "weight of the tag BCE next to the valence/arousal MSE"),
    "--seed": ("seed", int, "random seed"),
}


def _defaults() -> dict:
    config, options = EmotionModelConfig(), TrainOptions()
    return {attr: getattr(config, attr, getattr(options, attr, None)) for attr, _, _ in TRAIN_FLAGS.values()}


def add_training_arguments(p) -> None:
    """The training recipe's flags (shared by ``train``, ``cv`` and ``evaluate``, whose cross-validation retrains)."""
    p.add_argument("--real-weight", type=float, default=DEFAULT_REAL_WEIGHT, help="weight of a real-music track")
    p.add_argument("--min-tag-count", type=int, default=DEFAULT_MIN_TAG_COUNT, help="training records a tag needs")
    defaults = _defaults()
    for flag, (attr, kind, help_text) in TRAIN_FLAGS.items():
        p.add_argument(flag, type=kind, default=defaults[attr], help=f"{help_text} (default {defaults[attr]})")


def recipe_from_args(args, tags: tuple[str, ...], label_sources: dict | None = None):
    """``(EmotionModelConfig, TrainOptions)`` from the flags of :func:`add_training_arguments`."""
    config = EmotionModelConfig(
        hidden=args.hidden, layers=args.layers, dropout=args.dropout, tags=tags, label_sources=label_sources or {}
    )
    options = TrainOptions(
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        tag_loss_weight=args.tag_loss_weight,
        seed=args.seed,
    )
    return config, options


def recipe_flags(args) -> list[str]:
    """The training flags of ``args`` that differ from their defaults, as command-line words."""
    words = []
    if args.real_weight != DEFAULT_REAL_WEIGHT:
        words += ["--real-weight", f"{args.real_weight:g}"]
    if args.min_tag_count != DEFAULT_MIN_TAG_COUNT:
        words += ["--min-tag-count", str(args.min_tag_count)]
    defaults = _defaults()
    for flag, (attr, _, _) in TRAIN_FLAGS.items():
        if getattr(args, attr) != defaults[attr]:
            words += [flag, f"{getattr(args, attr):g}"]
    return words


def label_sources(manifests: list[str | Path]) -> dict[str, list[str]]:
    """Label methods per corpus (``{"debian": ["audio-analysis-v1"], ...}``), recorded in the model config."""
    methods: dict[str, set] = {}
    for r, _ in load_records(manifests):
        methods.setdefault(source_of(r.source), set()).add(r.label_method or "unknown")
    return {k: sorted(v) for k, v in sorted(methods.items())}


def _parser():
    import argparse

    prog = "python -m audiogen.conditioning.emotion_model"
    p = argparse.ArgumentParser(prog=prog, description="Train and evaluate the music emotion model.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("features", "extract and cache the features of every labelled record (resumable)"),
        ("train", "train the emotion model on the train split and save it"),
        ("cv", "track-grouped cross-validation of a training recipe on the train split (for choosing options)"),
        ("evaluate", "evaluate a model on the valid split; write the BENCHMARKS section and a confusion matrix"),
    ):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("--manifests", nargs="+", required=True, help="manifest JSON-lines files")
        s.add_argument("--features-cache", required=True, help="folder of the feature cache (features.jsonl)")
        if name != "features":
            add_training_arguments(s)
    sub.choices["features"].add_argument("--no-extra", action="store_true", help="central windows only")
    sub.choices["train"].add_argument("--out", required=True, help="folder to write config.json + model.safetensors")
    sub.choices["cv"].add_argument("--folds", type=int, default=5, help="number of folds (grouped by track)")
    e = sub.choices["evaluate"]
    e.add_argument("--model", required=True, help="model folder written by 'train' (the training flags should match)")
    e.add_argument("--benchmarks", default=None, help="BENCHMARKS.md to update (its emotion-analysis section)")
    e.add_argument("--png", default=None, help="where to write the quadrant confusion matrix (PNG)")
    e.add_argument("--json", default=None, help="also write the metrics as JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m audiogen.conditioning.emotion_model`` (features / train / cv / evaluate)."""
    import json
    import os
    import sys

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    raw = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(raw)
    if args.command == "features":
        counts = fill_features(args.manifests, args.features_cache, extra_real=not args.no_extra)
        print(json.dumps(counts))
        return 0
    if args.command == "evaluate":
        from audiogen.conditioning.emotion_eval import run_evaluation

        run_evaluation(args, raw)
        return 0
    ds, tags = build_dataset(
        args.manifests, args.features_cache, "train", real_weight=args.real_weight, min_tag_count=args.min_tag_count
    )
    config, options = recipe_from_args(args, tags, label_sources(args.manifests))
    if args.command == "cv":
        from audiogen.conditioning.emotion_eval import cross_validate

        result = cross_validate(ds, config, options, folds=args.folds)
        print(json.dumps({"recipe": recipe_flags(args), **result}, indent=1, default=float))
        return 0
    model = train_model(ds, config, options)
    model.save_pretrained(args.out)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"trained on {len(ds.x)} excerpts ({n_params} parameters, {len(tags)} tags): {args.out}")
    return 0
