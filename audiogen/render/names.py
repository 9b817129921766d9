"""Output file names that stay inside the output folder and work on every common file system.

A name is a plain file name: no folder separators, no ``..``, no leading dot, no control characters, none of the
characters Windows forbids (``<>:"|?*``), no trailing dot or space, not a reserved device name (``CON``, ``NUL``,
``COM1``, ...), at most :data:`MAX_NAME` characters. ``.mp3`` is added by the renderer (a given ``.mp3`` is dropped).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_NAME = 150
MAX_NAME_BYTES = 200  # UTF-8 bytes: file systems limit names to 255 bytes; the ".mp3" and temporary names need room
_FORBIDDEN = set('<>:"|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
ALLOWED = (
    f"a plain file name of at most {MAX_NAME} characters: no '/' or '\\', no '..', no leading '.', "
    'no control characters, none of <>:"|?*, no trailing dot or space'
)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def check_output_name(name: str) -> str:
    """The checked base name (``.mp3`` removed). Raises ValueError saying what is wrong and what is allowed."""
    base = name.strip()
    if base.lower().endswith(".mp3"):
        base = base[:-4]
    problem = None
    if not base:
        problem = "the name is empty"
    elif "/" in base or "\\" in base:
        problem = "it is a path, not a file name"
    elif ".." in base:
        problem = "it contains '..'"
    elif base.startswith("."):
        problem = "it starts with '.' (a hidden file)"
    elif any(_is_control(c) for c in base):
        problem = "it contains a control character"
    elif _FORBIDDEN & set(base):
        problem = f"it contains {''.join(sorted(_FORBIDDEN & set(base)))!r}"
    elif base.endswith((".", " ")):
        problem = "it ends with a dot or a space"
    elif base.split(".")[0].upper() in _RESERVED:
        problem = f"'{base.split('.')[0]}' is a reserved device name on Windows"
    elif len(base) > MAX_NAME:
        problem = f"it has {len(base)} characters"
    elif len(base.encode("utf-8")) > MAX_NAME_BYTES:
        problem = f"it is {len(base.encode('utf-8'))} bytes long in UTF-8 (at most {MAX_NAME_BYTES})"
    if problem:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ValueError(f"output name {shown!r} is not allowed: {problem}; allowed: {ALLOWED}")
    return base


def name_from_id(job_id: str) -> str:
    """A file name made from a job id: anything not allowed in a name becomes ``-``."""
    slug = "".join("-" if _is_control(c) or c in _FORBIDDEN or c in "/\\" else c for c in job_id)
    slug = re.sub(r"\.{2,}", "-", slug).strip(" .-") or "-"
    slug = re.sub(r"-{2,}", "-", slug)[:MAX_NAME]
    while len(slug.encode("utf-8")) > MAX_NAME_BYTES:
        slug = slug[:-1]
    slug = slug.rstrip(" .")
    try:
        return check_output_name(slug)
    except ValueError:
        shown = job_id if len(job_id) <= 60 else job_id[:57] + "..."
        raise ValueError(f"cannot make a file name from the id {shown!r}") from None


def inside(folder: Path, file: str) -> Path:
    """``folder / file``, refusing anything that would resolve outside ``folder`` (a last line of defence)."""
    folder = Path(folder).resolve()
    path = (folder / file).resolve()
    if path.parent != folder:
        raise ValueError(f"refusing to write {file!r}: it would land outside {folder}")
    return path
