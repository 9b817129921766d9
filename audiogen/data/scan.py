"""Index a folder of the user's own audio into a manifest, with labels from sidecar metadata or from analysis.

Sidecar metadata (all optional):

* ``metadata.csv`` or ``metadata.json`` in any folder of the tree, one entry per file. CSV: a header with a ``file``
  column (file name relative to the CSV's folder) and any of ``title, caption, emotion, valence, arousal, tags,
  tempo, key, mode`` (``tags`` separated by ``;`` or ``,``). JSON: ``{"file name": {fields}}`` or a list of objects
  with a ``file`` field.
* ``SONG.EXT.json`` or ``SONG.json`` next to ``SONG.EXT``: an object with the same fields; it wins over the folder
  file.

An emotion without a point takes the label's valence/arousal; a point without an emotion takes the nearest label.
Fields the sidecar does not give come from :mod:`audiogen.analysis` (unless analysis is off). Values that are
out of range are reported and ignored. Unreadable audio files are reported on stderr and skipped.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from audiogen.audio import AudioError, audio_info, load_audio
from audiogen.conditioning.emotions import EMOTIONS, EmotionError, check_label, nearest_label
from audiogen.data.manifest import Record, read_manifest, split_for_track, write_manifest

SCAN_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")
SIDECAR_NAMES = ("metadata.csv", "metadata.json")
SIDECAR_FIELDS = ("title", "caption", "emotion", "valence", "arousal", "tags", "tempo", "key", "mode")
SIDECAR_METHOD = "sidecar"


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr)


def _clean_entry(entry: dict, where: str) -> dict:
    """Validate one sidecar entry; invalid fields are reported and dropped."""
    out: dict = {}
    for name in SIDECAR_FIELDS:
        value = entry.get(name)
        if value is None or value == "":
            continue
        try:
            if name in ("valence", "arousal"):
                value = float(value)
                if not -1 <= value <= 1:
                    raise ValueError(f"{name} must lie in [-1, 1], got {value}")
            elif name == "tempo":
                value = float(value)
                if not 20 <= value <= 400:
                    raise ValueError(f"tempo must lie in [20, 400] BPM, got {value}")
            elif name == "emotion":
                value = check_label(value)
            elif name == "mode":
                value = str(value).strip().lower()
                if value not in ("major", "minor"):
                    raise ValueError(f"mode must be 'major' or 'minor', got {value!r}")
            elif name == "tags":
                value = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
                value = [str(t).strip() for t in value if str(t).strip()]
            else:
                value = str(value).strip()
        except (ValueError, EmotionError) as err:
            _warn(f"{where}: ignoring {name}: {err}")
            continue
        out[name] = value
    if ("valence" in out) != ("arousal" in out):
        _warn(f"{where}: valence and arousal must be given together; ignoring the one given")
        out.pop("valence", None)
        out.pop("arousal", None)
    return out


def _read_folder_sidecar(path: Path) -> dict[Path, dict]:
    """Entries of a ``metadata.csv``/``metadata.json``, keyed by the audio file's resolved path."""
    try:
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = [{"file": k, **v} for k, v in data.items()] if isinstance(data, dict) else list(data)
    except (OSError, ValueError, csv.Error, AttributeError, TypeError) as err:
        _warn(f"{path}: unreadable sidecar metadata, ignored ({err})")
        return {}
    out = {}
    for i, row in enumerate(rows, 1):
        name = (row or {}).get("file") or (row or {}).get("filename")
        if not name:
            _warn(f"{path}: entry {i} has no 'file' field, ignored")
            continue
        out[(path.parent / name).resolve()] = _clean_entry(row, f"{path} entry {i}")
    return out


def _file_sidecar(audio: Path) -> dict:
    for cand in (audio.with_name(audio.name + ".json"), audio.with_suffix(".json")):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
            except (OSError, ValueError) as err:
                _warn(f"{cand}: unreadable sidecar metadata, ignored ({err})")
                return {}
            return _clean_entry(data, str(cand))
    return {}


def sidecar_labels(root: Path, files: list[Path]) -> dict[Path, dict]:
    """Sidecar labels of ``files`` (folder files first, per-file JSON overriding them field by field)."""
    folder: dict[Path, dict] = {}
    for name in SIDECAR_NAMES:
        for meta in sorted(Path(root).rglob(name)):
            folder.update(_read_folder_sidecar(meta))
    out = {}
    for f in files:
        entry = {**folder.get(f.resolve(), {}), **_file_sidecar(f)}
        if "emotion" in entry and "valence" not in entry:
            entry["valence"], entry["arousal"] = EMOTIONS[entry["emotion"]]
        elif "valence" in entry and "emotion" not in entry:
            entry["emotion"] = nearest_label(entry["valence"], entry["arousal"])
        if entry:
            out[f] = entry
    return out


def find_audio(root: Path) -> list[Path]:
    """Audio files (by extension) under ``root``, sorted, hidden files and folders left out."""
    root = Path(root)
    found = []
    for p in root.rglob("*"):
        hidden = any(part.startswith(".") for part in p.relative_to(root).parts)
        if p.suffix.lower() in SCAN_EXTENSIONS and p.is_file() and not hidden:
            found.append(p)
    return sorted(found)


def _check_readable(path: Path) -> tuple[float, int]:
    """``(duration, sample_rate)`` after decoding the first second; raises AudioError if the file is unusable."""
    duration, sr, _ = audio_info(path)
    if duration <= 0:
        raise AudioError(f"{path}: no audio samples")
    load_audio(path, sr, duration=min(1.0, duration), allow_silent=True)
    return duration, sr


def _index(
    files: list[Path],
    root: Path,
    out: Path,
    side: dict[Path, dict],
    source: str,
    licence: str,
    min_duration: float,
    valid_fraction: float,
) -> tuple[list[Record], dict[str, dict | None], int]:
    """Unlabelled records of the readable ``files``, their sidecar entries by record path, and the unreadable count."""
    records, by_path, bad = [], {}, 0
    for f in files:
        try:
            duration, sr = _check_readable(f)
        except AudioError as err:
            _warn(f"unreadable, skipped: {err}")
            bad += 1
            continue
        if duration < min_duration:
            continue
        track = f"{source}/{f.relative_to(root).as_posix()}"
        rec = Record(
            path=os.path.relpath(f.resolve(), out.parent.resolve()),
            duration=round(duration, 3),
            sample_rate=sr,
            source=source,
            licence=licence,
            split=split_for_track(track, valid_fraction),
            track=track,
            title=side.get(f, {}).get("title") or f.stem.replace("_", " "),
        )
        records.append(rec)
        by_path[rec.path] = side.get(f)
    return records, by_path, bad


def scan_folder(
    root: str | os.PathLike,
    out: str | os.PathLike,
    source: str | None = None,
    licence: str = "user-provided",
    min_duration: float = 1.0,
    valid_fraction: float = 0.1,
    analyse: bool = True,
    max_seconds: float | None = 120.0,
) -> tuple[int, int]:
    """Index every audio file under ``root`` into the manifest ``out``; returns ``(indexed, unreadable)``.

    Records get sidecar labels where present; with ``analyse``, tempo/key/mode/valence/arousal/emotion/caption
    that the sidecar does not give come from audio analysis (cached next to ``out``, see
    :func:`audiogen.analysis.label_manifest`).
    """
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    source = source or f"user/{root.resolve().name}"
    files = find_audio(root)
    side = sidecar_labels(root, files)
    records, by_path, bad = _index(files, root, out, side, source, licence, min_duration, valid_fraction)
    write_manifest(out, records)
    if analyse and records:
        from audiogen.analysis import LABEL_METHOD, label_manifest

        label_manifest(out, max_seconds=max_seconds, overwrite=True, progress=False)
        records = read_manifest(out)
        method = f"{SIDECAR_METHOD}+{LABEL_METHOD}"
    else:
        method = SIDECAR_METHOD
    for r in records:
        entry = by_path.get(r.path)
        if entry:
            for name, value in entry.items():
                setattr(r, name, value)
            if any(name != "title" for name in entry):
                r.label_method = method if r.descriptors else SIDECAR_METHOD
    write_manifest(out, records)
    if bad:
        _warn(f"{bad} unreadable file(s) skipped")
    return len(records), bad
