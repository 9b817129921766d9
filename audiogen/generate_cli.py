"""``audiogen generate``: a request in words, emotion and style → a finished MP3."""

from __future__ import annotations

import argparse
from importlib import resources


def default_model_dir():
    """The folder of the shipped default model inside the package (None when no model is shipped)."""
    root = resources.files("audiogen") / "pretrained" / "default"
    return root if (root / "lm" / "config.json").is_file() else None


def _run(args: argparse.Namespace) -> int:
    if default_model_dir() is None:
        raise FileNotFoundError(
            "no model shipped yet: this build of audiogen has no trained default model "
            "(audiogen/pretrained/default); train one with the recipes in recipes/ or pass --model DIR"
        )
    raise NotImplementedError  # replaced when the generation API lands


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate a track from a text prompt, emotion and style")
    p.add_argument("text", help="what the music should be, in words")
    p.add_argument("--emotion", help="an emotion label, e.g. happy, sad, calm, tense")
    p.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("-o", "--output", default="out.mp3")
    p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    p.set_defaults(func=_run)
