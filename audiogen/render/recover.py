"""Checking delivered files and bringing the ledger up to date before a batch (re)starts.

A finished track is trusted only if its file still exists with the size and SHA-256 the ledger recorded. A track
left ``running`` by a crashed process is adopted if its file decodes to the requested length within the loudness and
true-peak specs (the file was renamed into place before the crash; its originality check is read back from its
tags); otherwise it is deleted and rendered again.
Temporary files (``.NAME.XXXXXXXX.part…``) left by interrupted writes are removed, and only those whose ``NAME`` is a
file this batch writes (a track of the ledger or of the jobs, or a report); nothing else in the folder is touched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen.audio import SAMPLE_RATE, AudioError, load_audio
from audiogen.fileio import file_sha256
from audiogen.mastering.measure import integrated_loudness, true_peak_db
from audiogen.render.jobs import Item
from audiogen.render.ledger import Ledger, Row
from audiogen.render.originality import tagged_record

DURATION_TOLERANCE_S = 0.05
LOUDNESS_TOLERANCE_LU = 1.0
TRUE_PEAK_CEILING_DB = -1.0
# audiogen.audio.save_audio and the report writers (tempfile.mkstemp) name temporaries ".NAME.XXXXXXXX.part[.EXT]"
TEMP_RE = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.part(\.[A-Za-z0-9]{1,8})?")
REPORT_FILES = ("manifest.csv", "manifest.json", "summary.json")


class RenderCheckError(RuntimeError):
    """A written file does not hold what was asked for (wrong length, unreadable)."""


def inspect_file(path: Path, requested_s: float, target_lufs: float | None) -> dict[str, Any]:
    """Decode a written MP3 and measure it.

    Returns:
        ``duration_s``, ``lufs`` (None if silent), ``true_peak_db``, ``size_bytes``, ``sha256`` and ``warning``
        (None, or what misses the delivery spec: loudness off its target by more than 1 LU, true peak above −1 dBTP).

    Raises:
        RenderCheckError: the file does not decode, or its length is off by more than 50 ms.
    """
    try:
        audio = load_audio(path, sample_rate=SAMPLE_RATE, allow_silent=True)  # (T,)
    except AudioError as err:
        raise RenderCheckError(f"the written file does not decode: {err}") from err
    duration = audio.size / SAMPLE_RATE
    if abs(duration - requested_s) > DURATION_TOLERANCE_S:
        raise RenderCheckError(f"the written file lasts {duration:.3f} s, not the requested {requested_s:g} s")
    lufs = integrated_loudness(audio, SAMPLE_RATE)
    peak = true_peak_db(audio, SAMPLE_RATE)
    warnings = []
    if target_lufs is not None and (not math.isfinite(lufs) or abs(lufs - target_lufs) > LOUDNESS_TOLERANCE_LU):
        warnings.append(f"loudness {lufs:.1f} LUFS is more than {LOUDNESS_TOLERANCE_LU:g} LU off {target_lufs:g} LUFS")
    if peak > TRUE_PEAK_CEILING_DB:
        warnings.append(f"true peak {peak:.2f} dBTP is above {TRUE_PEAK_CEILING_DB:g} dBTP")
    return {
        "duration_s": duration,
        "lufs": lufs if math.isfinite(lufs) else None,
        "true_peak_db": peak if math.isfinite(peak) else None,
        "size_bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "warning": "; ".join(warnings) or None,
    }


def clean_temporaries(folder: Path, names) -> list[Path]:
    """Delete the temporaries our interrupted writes of ``names`` (file names in ``folder``) left there; returns the
    paths removed. Files of any other name are never touched."""
    wanted = set(names) | set(REPORT_FILES)
    removed = []
    for path in sorted(Path(folder).glob(".*.part*")):
        m = TEMP_RE.fullmatch(path.name)
        if m and m["name"] in wanted and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _verified(path: Path, row: Row) -> bool:
    try:
        return path.stat().st_size == row.size_bytes and file_sha256(path) == row.sha256
    except OSError:
        return False


def _adoptable(path: Path, item: Item) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        result = inspect_file(path, item.job.duration, item.job.mastering().target_lufs)
    except RenderCheckError:
        return None
    return dict(result, originality=tagged_record(path)) if result["warning"] is None else None


@dataclass
class SyncReport:
    """What :func:`sync` found: rows already finished (skipped this run), recovered from a crash, queued."""

    skipped: list[tuple[str, int]]
    adopted: list[tuple[str, int]]
    pending: list[tuple[str, int]]
    failed_kept: list[tuple[str, int]]
    temporaries_removed: int = 0


def sync(ledger: Ledger, items: list[Item], folder: Path, model: str, retry_failed: bool) -> SyncReport:
    """Bring the ledger in line with ``items`` and the files in ``folder`` (see the module docstring).

    A changed brief (any rendering parameter, the file name, or the model) makes its row new again. Only one
    process may run this at a time, before any worker starts.
    """
    folder = Path(folder)
    rows = {row.key: row for row in ledger.rows(active_only=False)}
    ours = {Path(item.file).name for item in items} | {Path(r.file).name for r in rows.values() if r.file}
    report = SyncReport([], [], [], [], temporaries_removed=len(clean_temporaries(folder, ours)))
    entries = []
    for item in items:
        params = item.params(model)
        row = rows.get(item.key)
        path = folder / item.file
        action, result = "keep", None
        if row is None or row.params != params:
            action = "new"
        elif row.status == "done":
            action = "keep" if _verified(path, row) else "requeue"
        elif row.status == "running":
            result = _adoptable(path, item)
            action = "adopt" if result is not None else "requeue"
        elif row.status == "failed" and retry_failed:
            action = "requeue"
        status = row.status if action == "keep" else "done" if action == "adopt" else "queued"
        if status in ("queued", "failed"):
            path.unlink(missing_ok=True)  # a stale or broken file never stays under a final name
        if action == "adopt":
            report.adopted.append(item.key)
        elif status == "done":
            report.skipped.append(item.key)
        elif status == "failed":
            report.failed_kept.append(item.key)
        else:
            report.pending.append(item.key)
        entries.append((item, params, action, result))
    ledger.sync(entries)
    return report
