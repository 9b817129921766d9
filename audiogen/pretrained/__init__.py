"""The models shipped inside the package: ``default/codec`` and ``default/lm`` (config.json + model.safetensors),
with the default's emotion, style and originality models beside them."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / "default"


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
