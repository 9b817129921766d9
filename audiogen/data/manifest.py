"""Corpus manifests: JSON lines, one :class:`Record` per audio file (or segment of one).

Every source (Debian game music, rendered symbolic music, a user's folder) writes the same record, so training,
analysis and evaluation read one format. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

SPLITS = ("train", "valid", "test")


@dataclass
class Record:
    """One manifest line.

    ``path`` is absolute or relative to the manifest's folder. ``track`` groups segments of one recording: the
    train/valid split is decided per track so no recording appears on both sides. ``offset``/``duration`` select a
    segment (seconds). ``valence``/``arousal`` lie in [-1, 1]. ``descriptors`` holds the raw analysis numbers the
    labels were derived from (loudness, onset density, brightness, key strength...).
    """

    path: str
    duration: float
    sample_rate: int
    source: str
    licence: str
    split: str = "train"
    track: str = ""
    offset: float = 0.0
    title: str = ""
    caption: str = ""
    emotion: str | None = None
    valence: float | None = None
    arousal: float | None = None
    tempo: float | None = None
    key: str | None = None
    mode: str | None = None
    tags: list[str] = field(default_factory=list)
    label_method: str = ""
    descriptors: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration}")
        for name in ("valence", "arousal"):
            v = getattr(self, name)
            if v is not None and not -1.0 <= v <= 1.0:
                raise ValueError(f"{name} must lie in [-1, 1], got {v}")
        if self.mode not in (None, "major", "minor"):
            raise ValueError(f"mode must be 'major', 'minor' or None, got {self.mode!r}")
        if not self.track:
            self.track = self.path

    def resolve_path(self, root: str | os.PathLike) -> Path:
        """The audio file's path, relative paths taken from ``root`` (the manifest's folder)."""
        p = Path(self.path)
        return p if p.is_absolute() else Path(root) / p

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def write_manifest(path: str | os.PathLike, records: Iterable[Record]) -> int:
    """Write ``records`` as JSON lines to ``path`` atomically; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in records:
                f.write(r.to_json() + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def iter_manifest(path: str | os.PathLike) -> Iterator[Record]:
    """Yield the records of a JSON-lines manifest; a malformed line raises ``ValueError`` naming file and line."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Record.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{lineno}: bad manifest record ({err})") from err


def read_manifest(path: str | os.PathLike) -> list[Record]:
    """All records of a manifest, as a list."""
    return list(iter_manifest(path))


def record_key(record: Record) -> str:
    """A file-name-safe key for a record (its track, offset and duration; 16 hex digits): how per-record caches
    (the note posteriors, :mod:`audiogen.data.note_cache`) name its file."""
    import hashlib

    text = f"{record.track}|{record.offset:.3f}|{record.duration:.3f}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def split_for_track(track: str, valid_fraction: float = 0.1, salt: str = "audiogen") -> str:
    """Deterministic train/valid assignment of a whole track from a hash of its id."""
    import hashlib

    h = int(hashlib.sha1(f"{salt}:{track}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "valid" if h < valid_fraction else "train"
