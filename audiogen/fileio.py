"""Atomic file writes: a file appears complete under its name or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def public_mode() -> int:
    """The permission bits a plain ``open()`` would give a new file here (``0o666`` minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


MAX_NAME_BYTES = 255  # what Linux, macOS and Windows file systems allow for one name


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be written: its folder exists and is writable, it is not a folder,
    and its name fits the file system (255 bytes, with room for the temporary name written first). Returns the path;
    raises ``ValueError`` saying what is wrong."""
    path = Path(path)
    name = path.name.encode("utf-8", "surrogateescape")
    if not name:
        raise ValueError(f"{what} {path}: not a file name")
    if len(name) + 20 > MAX_NAME_BYTES:  # ".NAME.XXXXXXXX.part" is written first
        raise ValueError(f"{what} {str(path)[:80]}...: the file name is {len(name)} bytes; at most "
                         f"{MAX_NAME_BYTES - 20} are allowed")  # fmt: skip
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{what} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise ValueError(f"{what} {path}: is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path}: the file exists and is not writable")
    return path


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries an interrupted (killed) write of ``path`` left beside it: ``.NAME.XXXXXXXX.part*``
    for exactly this ``NAME``, nothing else. Returns the paths removed."""
    import re

    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.part(\.[A-Za-z0-9]{1,8})?")
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    for candidate in folder.glob(f".{path.name}.*.part*"):
        if pattern.fullmatch(candidate.name) and candidate.is_file() and not candidate.is_symlink():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The file gets the usual permissions (not ``mkstemp``'s private 0600); on any failure the temporary file is removed
    and ``path`` is left as it was. Returns ``path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, public_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
