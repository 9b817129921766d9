"""The render ledger: one SQLite row per track (job × variant), shared by every process of a batch.

The database lives in the output folder (``ledger.sqlite``, WAL mode, synchronous writes), so it survives crashes
and tells a re-run what is finished. Row life cycle::

    queued ──claim──► running ──► done      (file renamed into place, decoded, measured, checksummed)
                         │  └───► failed    (error text kept; re-queued by --retry-failed)
                         └─ crash: still "running" at the next start → checked and redone if its file is not valid

Processes claim rows in an ``IMMEDIATE`` transaction (one writer at a time), so no row is ever handed out twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER_NAME = "ledger.sqlite"
STATUSES = ("queued", "running", "done", "failed")
RESULT_COLUMNS = ("duration_s", "lufs", "true_peak_db", "size_bytes", "sha256", "warning", "originality")
ADDED_COLUMNS = {"originality": "TEXT"}  # columns added since the first ledgers (added to an older one when opened)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL,
    variant INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    file TEXT NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    target_lufs REAL,
    requested_s REAL NOT NULL,
    notes TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    duration_s REAL,
    lufs REAL,
    true_peak_db REAL,
    size_bytes INTEGER,
    sha256 TEXT,
    warning TEXT,
    originality TEXT,
    error TEXT,
    queued_at REAL,
    started_at REAL,
    finished_at REAL,
    render_s REAL,
    PRIMARY KEY (job_id, variant)
);
CREATE INDEX IF NOT EXISTS items_queue ON items (active, status, ord);
"""


@dataclass(frozen=True)
class Row:
    """A ledger row as a read-only record (column name → value)."""

    data: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        if name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def key(self) -> tuple[str, int]:
        return (self.data["job_id"], self.data["variant"])


class Ledger:
    """One process's connection to the ledger of an output folder."""

    def __init__(self, folder: str | Path, timeout: float = 120.0):
        self.path = Path(folder) / LEDGER_NAME
        self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """Bring a ledger of an earlier version up to date: the columns of :data:`ADDED_COLUMNS` it lacks."""
        if set(ADDED_COLUMNS) <= self._columns():
            return
        with self.transaction() as conn:  # looked at again inside: another process may have just added them
            for name, kind in ADDED_COLUMNS.items():
                if name not in self._columns():
                    conn.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")

    def _columns(self) -> set[str]:
        return {r["name"] for r in self.conn.execute("PRAGMA table_info(items)")}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error): the caller is the only writer inside."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def rows(self, active_only: bool = True) -> list[Row]:
        """All rows in batch order."""
        where = "WHERE active = 1" if active_only else ""
        return [Row(dict(r)) for r in self.conn.execute(f"SELECT * FROM items {where} ORDER BY ord")]

    def counts(self) -> dict[str, int]:
        """Active rows per status (every status present, zero if none)."""
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self.conn.execute("SELECT status, COUNT(*) FROM items WHERE active = 1 GROUP BY status"):
            out[status] = n
        return out

    def claim(self, worker: str, rank: int = 0, world: int = 1) -> tuple[str, int] | None:
        """Atomically take the next queued row of shard ``rank`` of ``world`` (by batch order) and mark it
        running; None when the shard has nothing queued."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT job_id, variant FROM items WHERE active = 1 AND status = 'queued' AND ord % ? = ? "
                "ORDER BY ord LIMIT 1",
                (world, rank),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE items SET status = 'running', attempts = attempts + 1, worker = ?, "
                "started_at = ?, finished_at = NULL, error = NULL WHERE job_id = ? AND variant = ?",
                (worker, time.time(), row["job_id"], row["variant"]),
            )
        return (row["job_id"], row["variant"])

    def mark_done(self, key: tuple[str, int], result: dict[str, Any], render_s: float) -> None:
        """Record a finished track: ``result`` holds :data:`RESULT_COLUMNS` (measured on the written file)."""
        values = [result.get(c) for c in RESULT_COLUMNS]
        sets = ", ".join(f"{c} = ?" for c in RESULT_COLUMNS)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE items SET status = 'done', {sets}, error = NULL, finished_at = ?, render_s = ? "
                "WHERE job_id = ? AND variant = ?",
                (*values, time.time(), render_s, *key),
            )

    def mark_failed(self, key: tuple[str, int], error: str, render_s: float | None) -> None:
        """Record a failed attempt with its error text (results cleared)."""
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE items SET status = 'failed', error = ?, finished_at = ?, render_s = ?, "
                f"{', '.join(f'{c} = NULL' for c in RESULT_COLUMNS)} WHERE job_id = ? AND variant = ?",
                (error, time.time(), render_s, *key),
            )

    def release(self, key: tuple[str, int]) -> None:
        """Put a claimed row back in the queue (its render stopped for a cause outside the job, such as a full disk):
        the next run renders it."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE items SET status = 'queued', worker = NULL, started_at = NULL WHERE job_id = ? AND variant = ?",
                key,
            )

    def fail_running(self, worker: str, error: str) -> int:
        """Mark every row still ``running`` under ``worker`` as failed (its process died); returns how many."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE items SET status = 'failed', error = ?, finished_at = ? "
                "WHERE status = 'running' AND worker = ?",
                (error, time.time(), worker),
            )
        return cur.rowcount

    def sync(self, entries: list[tuple[Any, str, str, dict[str, Any] | None]]) -> None:
        """Make the ledger describe the current batch, in one transaction.

        ``entries`` are ``(item, params, action, result)`` in batch order, with ``action`` one of ``"new"`` (insert or
        replace as queued), ``"requeue"`` (queued again, results cleared), ``"keep"`` (status unchanged) or
        ``"adopt"`` (a crashed render whose file proved valid: done with ``result``). Rows of jobs no longer in the
        batch are kept but marked inactive.
        """
        now = time.time()
        with self.transaction() as conn:
            conn.execute("UPDATE items SET active = 0")
            for ord_, (item, params, action, result) in enumerate(entries):
                key = (item.job.id, item.variant)
                if action == "new":
                    target = item.job.mastering().target_lufs
                    conn.execute(
                        "INSERT OR REPLACE INTO items (job_id, variant, ord, file, seed, params, target_lufs, "
                        "requested_s, notes, active, status, attempts, queued_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'queued', 0, ?)",
                        (*key, ord_, item.file, item.seed, params, target, item.job.duration, item.job.notes, now),
                    )
                    continue
                conn.execute(
                    "UPDATE items SET active = 1, ord = ?, notes = ? WHERE job_id = ? AND variant = ?",
                    (ord_, item.job.notes, *key),
                )
                if action == "requeue":
                    cleared = ", ".join(f"{c} = NULL" for c in (*RESULT_COLUMNS, "error", "finished_at", "render_s"))
                    conn.execute(
                        f"UPDATE items SET status = 'queued', queued_at = ?, {cleared} "
                        "WHERE job_id = ? AND variant = ?",
                        (now, *key),
                    )
                elif action == "adopt":
                    sets = ", ".join(f"{c} = ?" for c in RESULT_COLUMNS)
                    conn.execute(
                        f"UPDATE items SET status = 'done', {sets}, error = NULL, finished_at = ? "
                        "WHERE job_id = ? AND variant = ?",
                        (*(result.get(c) for c in RESULT_COLUMNS), now, *key),
                    )
