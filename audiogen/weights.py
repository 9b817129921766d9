"""Weights on disk: safetensors files checked before use.

Every model folder written by a ``save_pretrained`` (or an export command) carries ``checksums.json``, the SHA-256
of each weights file in it. :func:`load_weights` verifies the file against it (naming the damaged file), refuses a
file that is not valid safetensors, and refuses weights holding NaN or infinite values, so a damaged download or a
diverged training run is reported at load time instead of producing noise. A folder without ``checksums.json``
(written before this existed) still loads, unverified.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from audiogen.fileio import file_sha256

CHECKSUMS_NAME = "checksums.json"


class WeightsError(ValueError):
    """A weights file that is damaged, unreadable, or holds non-finite values."""


sha256 = file_sha256  # the name this module's callers know


def write_checksums(directory: str | os.PathLike, names: list[str] | None = None) -> Path:
    """Record the SHA-256 of ``names`` (default: every ``*.safetensors``) of ``directory`` in ``checksums.json``."""
    from audiogen.fileio import atomic_write

    directory = Path(directory)
    names = sorted(names if names is not None else (p.name for p in directory.glob("*.safetensors")))
    sums = {n: sha256(directory / n) for n in names if (directory / n).is_file()}
    text = json.dumps({"sha256": sums}, indent=1) + "\n"
    return atomic_write(directory / CHECKSUMS_NAME, lambda p: Path(p).write_text(text))


def verify(path: str | os.PathLike) -> None:
    """Check ``path`` against its folder's ``checksums.json`` (no-op when the folder has none or does not list it)."""
    path = Path(path)
    record = path.parent / CHECKSUMS_NAME
    if not record.is_file():
        return
    try:
        sums = json.loads(record.read_text())["sha256"]
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{record}: not a readable checksum file; re-export the model folder") from None
    if path.name in sums and sha256(path) != sums[path.name]:
        raise WeightsError(
            f"{path}: damaged weights file (its SHA-256 does not match {record.name}); reinstall audiogen or re-export "
            "the model"
        )


def load_weights(path: str | os.PathLike, check_finite: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, verified (see the module docstring)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    verify(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({str(err)[:200]})") from None
    if check_finite:
        for name, t in state.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise WeightsError(f"{path}: tensor '{name}' holds NaN or infinite values; the weights are unusable")
    return state
