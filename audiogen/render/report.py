"""Human-readable records of a batch: the manifest (``manifest.csv`` and ``manifest.json``, one entry per track,
rewritten atomically as the batch goes) and the end-of-run summary (``summary.json``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audiogen.fileio import atomic_write_text, public_mode
from audiogen.render import originality
from audiogen.render.ledger import Ledger, Row

MANIFEST_COLUMNS = (
    "job_id", "variant", "file", "status", "text", "emotion", "style", "seed", "requested_s", "duration_s",
    "target_lufs", "lufs", "true_peak_db", "size_bytes", "sha256", "attempts", "render_s", "started", "finished",
    "warning", "originality", "error", "notes",
)  # fmt: skip


FILE_MODE = public_mode()  # what a plain open() would create (temporary files are private, 0o600)


write_atomic = atomic_write_text  # the name this module has used


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")


def manifest_entry(row: Row) -> dict[str, Any]:
    """One track of the manifest (rounded for reading; exact values stay in the ledger). ``originality``:
    ``"original"``, ``"flagged"`` or None (not checked); ``seed``: the seed of the file (the next ones when
    ``--originality strict`` made a flagged track again)."""
    entry = {c: row.data.get(c) for c in MANIFEST_COLUMNS if c in row.data}
    entry["originality"] = originality.verdict(row.data.get("originality"))
    kept = originality.kept_seed(row.data.get("originality"))
    entry["seed"] = row.data.get("seed") if kept is None else kept
    brief = json.loads(row.params)
    emotion = brief.get("emotion")
    if emotion is None and brief.get("valence") is not None:
        emotion = f"valence {brief['valence']:g}, arousal {brief['arousal']:g}"
    entry.update(text=brief.get("text"), emotion=emotion, style="; ".join(brief.get("style") or []) or None)
    entry["started"], entry["finished"] = _iso(row.started_at), _iso(row.finished_at)
    for name, digits in (("duration_s", 3), ("lufs", 2), ("true_peak_db", 2), ("render_s", 2)):
        if entry.get(name) is not None:
            entry[name] = round(entry[name], digits)
    return {c: entry.get(c) for c in MANIFEST_COLUMNS}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: strings starting like a formula get a leading apostrophe (the
    OWASP advice against CSV injection); numbers and empty cells stay as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_manifest(ledger: Ledger, folder: Path) -> list[dict[str, Any]]:
    """Rewrite ``manifest.csv`` and ``manifest.json`` in ``folder`` from the ledger (tracks of the current batch)."""
    entries = [manifest_entry(row) for row in ledger.rows()]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in e.items()} for e in entries)
    folder = Path(folder)
    write_atomic(folder / "manifest.csv", buf.getvalue())
    write_atomic(folder / "manifest.json", json.dumps({"tracks": entries}, indent=2, ensure_ascii=False) + "\n")
    return entries


@dataclass
class Summary:
    """The outcome of one ``audiogen render`` run.

    ``rendered``: tracks finished by this run; ``skipped``: already finished before it (files verified), including
    ``recovered`` ones a crashed run had written completely; ``failed``: tracks of the batch in the failed state
    (``failed_this_run`` of them failed now); ``pending``: neither done nor failed (an interrupted run);
    ``audio_minutes``: minutes of audio rendered by this run; ``tracks_per_min``: ``rendered`` per minute of wall time;
    ``checked``: finished tracks of the batch with an originality check; ``flagged``: those close to a training item
    (``job_id``, ``variant``, ``file`` and ``close_to``: the training items' titles and the levels that flagged).
    """

    total: int
    rendered: int
    skipped: int
    recovered: int
    failed: int
    failed_this_run: int
    pending: int
    warnings: int
    audio_minutes: float
    delivered_minutes: float
    wall_s: float
    tracks_per_min: float
    processes: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("audio_minutes", "delivered_minutes", "wall_s", "tracks_per_min"):
            out[name] = round(out[name], 3)
        return out

    def lines(self) -> list[str]:
        """The summary for people."""
        out = [
            f"rendered {self.rendered}, skipped {self.skipped} (already done), failed {self.failed}"
            + (f", pending {self.pending}" if self.pending else "")
            + f" — {self.total} tracks in the batch",
            f"{self.audio_minutes:.2f} min of audio in {self.wall_s:.1f} s wall time: "
            f"{self.tracks_per_min:.2f} tracks/min with {self.processes} process(es)",
        ]
        if self.warnings:
            out.append(f"{self.warnings} track(s) miss the loudness/true-peak spec: see 'warning' in the manifest")
        out += [f"failed: {f['job_id']} v{f['variant']}: {f['error']}" for f in self.failures[:20]]
        if len(self.failures) > 20:
            out.append(f"... and {len(self.failures) - 20} more failures (see the manifest)")
        return out + originality.summary_lines(self.checked, self.flagged)


def summarize(ledger: Ledger, pending_at_start: set[tuple[str, int]], recovered: int, wall_s: float,
              processes: int) -> Summary:  # fmt: skip
    """The summary of a run that started with ``pending_at_start`` queued tracks."""
    rows = ledger.rows()
    done_now = [r for r in rows if r.status == "done" and r.key in pending_at_start]
    failed = [r for r in rows if r.status == "failed"]
    minutes = sum(r.duration_s or 0.0 for r in done_now) / 60
    return Summary(
        total=len(rows),
        rendered=len(done_now),
        skipped=sum(r.status == "done" and r.key not in pending_at_start for r in rows),
        recovered=recovered,
        failed=len(failed),
        failed_this_run=sum(r.key in pending_at_start for r in failed),
        pending=sum(r.status in ("queued", "running") for r in rows),
        warnings=sum(r.status == "done" and bool(r.warning) for r in rows),
        audio_minutes=minutes,
        delivered_minutes=sum(r.duration_s or 0.0 for r in rows if r.status == "done") / 60,
        wall_s=wall_s,
        tracks_per_min=len(done_now) / (wall_s / 60) if wall_s > 0 else 0.0,
        processes=processes,
        failures=[{"job_id": r.job_id, "variant": r.variant, "file": r.file, "error": r.error} for r in failed],
        checked=sum(r.status == "done" and r.originality is not None for r in rows),
        flagged=[entry for r in rows if (entry := originality.flagged_entry(r)) is not None],
    )


def write_summary(summary: Summary, folder: Path) -> Path:
    """``folder/summary.json``, atomically."""
    path = Path(folder) / "summary.json"
    write_atomic(path, json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path
