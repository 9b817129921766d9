"""``audiogen check FILE|PLAN`` and ``audiogen originality build|calibrate``.

``check`` exits 0 when nothing is flagged, 1 when something is, 2 for bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PLAN_SUFFIXES = (".json",)


def model_dir(model: str | None) -> Path:
    """The model folder ``--model`` names (default: the shipped one); FileNotFoundError when it is not a folder."""
    if model is None:
        from audiogen.pretrained import DEFAULT_DIR

        return DEFAULT_DIR
    path = Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"--model {model}: no such folder")
    return path


def checker_for(model: str | None):
    """The :class:`~audiogen.originality.OriginalityChecker` of a model folder; a clear error without an index."""
    from audiogen.originality.checker import DIR_NAME, OriginalityChecker

    folder = model_dir(model)
    checker = OriginalityChecker.from_model(folder)
    if checker is None:
        raise FileNotFoundError(f"{folder} has no originality index ({DIR_NAME}/index.json); build one with "
                                "`audiogen originality build` (see recipes/)")  # fmt: skip
    return checker


def check_one(checker, target: str, max_seconds: float):
    """The :class:`~audiogen.originality.Originality` of an audio file or a plan (``.json``)."""
    from audiogen.fileio import path_problem

    problem = path_problem(target)
    if problem is not None:
        raise FileNotFoundError(f"{target}: {problem}")
    if Path(target).suffix.lower() in PLAN_SUFFIXES:
        from audiogen.compose.plan import Plan
        from audiogen.compose.plan_check import check_plan

        plan = Plan.from_json(target)
        check_plan(plan)
        return checker.check_plan(plan)
    from audiogen.audio import load_audio

    audio = load_audio(target, 32000, duration=max_seconds)
    if len(audio) < 32000:
        raise ValueError(f"{target} is {len(audio) / 32000:.2f} s long; the check needs at least 1 s of audio")
    return checker.check_audio(audio, 32000)


def _check(args: argparse.Namespace) -> int:
    if not 1 <= args.max_seconds <= 3600:
        raise ValueError(f"--max-seconds must be in [1, 3600], got {args.max_seconds:g}")
    checker = checker_for(args.model)
    flagged = False
    for target in args.inputs:
        result = check_one(checker, target, args.max_seconds)
        flagged |= result.flagged
        if args.json:
            print(json.dumps({"file": target, **result.to_dict()}, ensure_ascii=False))
        else:
            print(f"{target}: {result.summary()}")
    return 1 if flagged else 0


def _build(args: argparse.Namespace) -> int:
    from audiogen.originality.checker import ENCODER_DIR
    from audiogen.originality.index import build_index

    encoder = args.encoder or args.style
    index = build_index(
        args.cache,
        args.manifests,
        encoder,
        split=args.split,
        logmel_dir=args.logmel_cache,
        sound_rendered=args.sound_rendered,
    )
    index.save(args.out)
    if args.encoder:  # the index's sound vectors are the copy encoder's: it ships inside the index's folder (fp16)
        import torch

        from audiogen.conditioning.style_encoder import StyleEncoder

        StyleEncoder.from_pretrained(args.encoder).save_pretrained(Path(args.out) / ENCODER_DIR, dtype=torch.float16)
    print(f"originality index of {len(index.items)} items ({index.nbytes() / 1e6:.2f} MB) in {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from audiogen.fileio import atomic_write_text
    from audiogen.originality.calibrate import calibration_rows, thresholds_from
    from audiogen.originality.checker import DIR_NAME

    checker = checker_for(args.model)
    rows = calibration_rows(checker, args.cache, args.manifests, args.unrelated, args.copies, args.seed)
    if args.rows:
        atomic_write_text(Path(args.rows), "".join(json.dumps(r) + "\n" for r in rows))
    thresholds, summary = thresholds_from(rows)
    checker.index.thresholds, checker.index.calibration = thresholds, summary
    checker.index.save(model_dir(args.model) / DIR_NAME)
    print(json.dumps({"thresholds": thresholds, "calibration": summary}, indent=1))
    return 0


def register(sub) -> None:
    c = sub.add_parser(
        "check",
        help="is a track close to what the model learned from? (exit 0: original, 1: flagged, 2: bad input)",
        description="Compare audio files or plans (.json) with the training corpus of a model: melody and chord "
        "runs, codec token runs, sound. Exit status 0 when nothing is flagged, 1 when something is, 2 for bad input.",
    )
    c.add_argument("inputs", nargs="+", metavar="FILE|PLAN")
    c.add_argument("--model", default=None, help="model folder with an originality/ index (default: the shipped one)")
    c.add_argument("--json", action="store_true", help="one JSON object per input instead of a line")
    c.add_argument("--max-seconds", type=float, default=600.0, help="read at most this much of each file")
    c.set_defaults(func=_check)

    o = sub.add_parser("originality", help="build and calibrate a model's originality index")
    osub = o.add_subparsers(dest="originality_command", metavar="ORIGINALITY_COMMAND")
    o.set_defaults(func=lambda _a: o.print_help() or 1)
    b = osub.add_parser("build", help="index a token cache (codes + controls) and its audio's style vectors")
    b.add_argument("manifests", nargs="+", help="the manifests the cache was built from")
    b.add_argument("--cache", required=True, help="token cache folder with controls (audiogen codec controls)")
    b.add_argument("--style", required=True, help="style encoder folder (MODEL/style)")
    b.add_argument(
        "--encoder",
        default=None,
        help="copy encoder folder (python -m audiogen.originality.encoder); "
        "its vectors make the sound windows and it is copied into the index (default: the style encoder)",
    )
    b.add_argument("--out", required=True, help="where to write it (MODEL/originality)")
    b.add_argument("--split", default="train", help="the split the model was trained on")
    b.add_argument("--logmel-cache", default=None, help="keep the items' log-mels here (a rebuild reads no audio)")
    b.add_argument(
        "--sound-rendered",
        action="store_true",
        help="also index the sound of music rendered through a soundfont (default: recordings only)",
    )
    b.set_defaults(func=_build)
    k = osub.add_parser("calibrate", help="set the verdict's thresholds from unrelated tracks and altered copies")
    k.add_argument("manifests", nargs="+")
    k.add_argument("--cache", required=True)
    k.add_argument("--model", default=None, help="model folder whose originality/ index is calibrated")
    k.add_argument("--unrelated", type=int, default=100, help="training excerpts read without their own item")
    k.add_argument("--copies", type=int, default=50, help="training excerpts copied, each in every alteration")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--rows", default=None, help="also write every reading here (JSON lines)")
    k.set_defaults(func=_calibrate)
