"""The models shipped inside the package: ``default/codec`` and ``default/lm`` (config.json + model.safetensors),
and ``codec-v2``, the next codec (it keeps more of the notes; no shipped LM speaks its tokens yet)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / "default"
CODECS = {"v2": Path(__file__).resolve().parent / "codec-v2"}  # named codecs besides the default's


def default_codec_dir() -> Path:
    """Folder of the shipped codec; raises ``FileNotFoundError`` with a clear message if none is shipped."""
    path = DEFAULT_DIR / "codec"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            "no codec shipped yet: this build of audiogen has no trained default codec "
            f"({path}); train one with recipes/cpu-small/codec.yaml or pass a codec folder"
        )
    return path


def default_lm_dir() -> Path:
    """Folder of the shipped language model; raises ``FileNotFoundError`` if none is shipped."""
    path = DEFAULT_DIR / "lm"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            "no model shipped yet: this build of audiogen has no trained default language model "
            f"({path}); train one with recipes/cpu-small/lm.yaml or pass a model folder"
        )
    return path


def named_codec_dir(name: str) -> Path:
    """Folder of a shipped codec by name (:data:`CODECS`); ``ValueError`` naming the allowed for an unknown one."""
    if name not in CODECS:
        raise ValueError(f"unknown codec name {name!r}; shipped: {', '.join(sorted(CODECS))}")
    path = CODECS[name]
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"codec {name!r} is not part of this build of audiogen ({path})")
    return path
