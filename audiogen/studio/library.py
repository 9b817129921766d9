"""The studio's library on disk: one SQLite database (jobs and tracks) beside a folder of audio files.

```
LIBRARY/
    studio.sqlite3        jobs (the queue and its progress) and tracks (every kept result), WAL mode
    audio/STEM.mp3        the files of track STEM (.mp3, .wav, .mid, and .mp4 for a video brief's result); STEM is
                          made here, never taken from a request
    briefs/HASH.EXT       an uploaded picture or video, named by the SHA-256 of its bytes (EXT one of the allowed
                          picture and video extensions); HASH.thumb.jpg its thumbnail (the picture, or the first frame)
    .lock                 held by the one server that uses this library (taken before the database is opened)
    .audiogen-studio-library   the marker: this folder is a studio library (written when the studio makes it)
```

The studio uses a folder as its library only if it is new or empty (it then writes the marker first, before anything
else), holds the marker, or holds the studio's own database (a library of an earlier version: the marker is added).
A folder that holds anything else is not taken: :class:`Library` refuses it (:class:`NotALibraryError`) and
:func:`library_root` picks its subfolder ``audiogen-studio/`` instead, so the studio never deletes in a folder it did
not make.

Track ids are never reused (``AUTOINCREMENT``; a library of an earlier version is moved over at its first open), so a
stale link to a deleted track finds nothing rather than another track. A job records the variants it has kept
(``kept``), so a job resumed after a stop makes only the variants it never made, not those the user has deleted since.

Every write is one short ``BEGIN IMMEDIATE`` transaction on its own connection, so several threads or processes (the
worker, two browser tabs' requests) can use the library at once without corrupting it. Files are written completely
before the row that names them is committed; a track is deleted from the database before its files are unlinked, and
:meth:`Library.sweep` removes whatever an interrupted write or delete left: temporaries and files no row names, but
only names the studio itself writes (``STEM.KIND`` and ``.STEM.KIND.XXXXXXXX.part*`` in ``audio/``; ``HASH.EXT``,
``HASH.thumb.jpg``, ``.HASH.thumb.jpg.XXXXXXXX.part`` and ``.upload-HEX.part`` in ``briefs/``). Any other file is
left alone. An uploaded brief is kept while a track or a waiting job names it (``request["brief"]["id"]``); one that
nothing names may be removed (:meth:`Library.prune_briefs`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audiogen.studio.schema import SCHEMA, studio_tables, upgrade

FILE_KINDS = ("mp3", "wav", "mid", "mp4")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
MAX_ATTEMPTS = 2  # a job interrupted by a server stop is run again once, then marked failed
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names nothing
_STEM = re.compile(r"[0-9]{6}-[0-9]{1,2}-[0-9a-f]{12}")
_HASH = re.compile(r"[0-9a-f]{64}")
BRIEF_KINDS = ("image", "video")
BRIEF_GRACE_S = 24 * 3600.0  # an upload nothing names yet is kept this long (the page may be about to use it)
MARKER = ".audiogen-studio-library"  # the file that makes a folder a studio library
MARKER_TITLE = "audiogen studio library"  # the marker's first line
SUBFOLDER = "audiogen-studio"  # the library inside a folder that holds other files (see library_root)
DATABASE = "studio.sqlite3"
_MARKER_TEXT = f"""{MARKER_TITLE}
This folder is a library of `audiogen studio`: {DATABASE} (jobs and tracks), audio/ and briefs/.
The studio deletes here only files it wrote itself: a track's files (audio/STEM.mp3, .wav, .mid, .mp4), an upload's
files (briefs/HASH.EXT, HASH.thumb.jpg) and the temporaries of their writes. It never touches any other file.
"""
# tempfile.mkstemp's 8 random characters, then the ".part" suffix of audiogen.fileio.atomic_write and
# audiogen.audio.save_audio (which adds the file's own extension after it)
_TEMP = r"[a-z0-9_]{8}\.part(?:\.[a-z0-9]{1,8})?"
_KIND = "|".join(FILE_KINDS)
_AUDIO_FILE = re.compile(rf"(?P<stem>{_STEM.pattern})\.(?P<kind>{_KIND})")
_AUDIO_TEMP = re.compile(rf"\.{_STEM.pattern}\.(?:{_KIND})\.{_TEMP}")
_BRIEF_FILE = re.compile(rf"(?P<hash>{_HASH.pattern})\.(?P<ext>thumb\.jpg|[a-z0-9]{{1,8}})")
_BRIEF_TEMP = re.compile(rf"\.upload-[0-9a-f]{{16}}\.part|\.{_HASH.pattern}\.thumb\.jpg\.{_TEMP}")

_TRACK_JSON = ("request", "params", "plan", "peaks", "kinds", "originality")


class LibraryBusyError(RuntimeError):
    """Another studio server already uses this library folder."""


class QueueFullError(RuntimeError):
    """The queue already holds as many waiting jobs as it may."""


class NotALibraryError(ValueError):
    """A folder that holds other files and is not a studio library: the studio does not use it (it would delete in
    a folder it did not make)."""


def is_library(root: str | os.PathLike) -> bool:
    """Whether ``root`` is a studio library: it holds the marker, or the studio's own database (a library made by a
    version before the marker)."""
    root = Path(root).expanduser()
    return _has_marker(root) or _has_studio_database(root)


def _has_marker(root: Path) -> bool:
    try:
        with open(root / MARKER, encoding="utf-8", errors="replace") as fh:
            return fh.readline().strip() == MARKER_TITLE
    except OSError:
        return False


def _has_studio_database(root: Path) -> bool:
    """Whether ``root/studio.sqlite3`` is a database with the studio's tables (opened read-only: nothing is written)."""
    path = root / DATABASE
    if not path.is_file():
        return False
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            return studio_tables(con)
        finally:
            con.close()
    except sqlite3.Error:
        return False


def _usable(root: Path) -> bool:
    """Whether the studio may make or use its library at ``root``: a new or empty folder, or a library already."""
    if not root.exists():
        return True
    if not root.is_dir():
        return False
    return not any(root.iterdir()) or is_library(root)


def library_root(path: str | os.PathLike) -> tuple[Path, str | None]:
    """Where the studio keeps its library when told ``path``, and a line for the user when that is not ``path``
    itself: ``path`` if it is new, empty or a studio library; else its subfolder :data:`SUBFOLDER` (when that is new,
    empty or a studio library), so the files already in ``path`` are never touched. Raises
    :class:`NotALibraryError` when neither may be used (``path`` itself being a file is left to :class:`Library`)."""
    path = Path(path).expanduser()
    if not path.is_dir() or _usable(path):
        return path, None
    sub = path / SUBFOLDER
    if not _usable(sub):
        raise NotALibraryError(
            f"--library {path}: holds other files and is not an audiogen studio library, and neither is its "
            f"{SUBFOLDER}/; name a new or empty folder (the studio deletes nothing in a folder it did not make)"
        )
    note = (f"{path} holds other files and is not a studio library, so the library is its subfolder {sub} "
            "(nothing outside it is written or deleted)")  # fmt: skip
    return sub, note


def default_library_dir() -> Path:
    """``$AUDIOGEN_STUDIO_LIBRARY``, else ``$XDG_DATA_HOME/audiogen/studio`` (``~/.local/share/audiogen/studio``)."""
    if os.environ.get("AUDIOGEN_STUDIO_LIBRARY"):
        return Path(os.environ["AUDIOGEN_STUDIO_LIBRARY"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "audiogen" / "studio"


class Library:
    """Jobs and tracks in ``root/studio.sqlite3``, audio files in ``root/audio/``, uploads in ``root/briefs/``.

    ``root`` must be new, empty or a studio library (see :func:`is_library`); a folder that holds other files raises
    :class:`NotALibraryError` before anything is written in it, and so does a ``studio.sqlite3`` that is not the
    studio's database. ``exclusive``: take :meth:`lock` before the database is opened (a server does; raises
    :class:`LibraryBusyError` when another one holds it)."""

    def __init__(self, root: str | os.PathLike, exclusive: bool = False) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"--library {self.root}: exists and is not a folder")
        self._claim()
        self.audio_dir = self.root / "audio"
        self.audio_dir.mkdir(exist_ok=True)
        self.briefs_dir = self.root / "briefs"
        self.briefs_dir.mkdir(exist_ok=True)
        self.db_path = self.root / DATABASE
        self._lock_fd: int | None = None
        self.changes = 0  # counts this process's committed writes: the event stream looks at it before the database
        if exclusive:
            self.lock()
        try:
            self._open_database()
        except BaseException:
            self.unlock()
            raise

    def _open_database(self) -> None:
        """Create or upgrade the schema; raises :class:`NotALibraryError`, before writing anything, for a file that
        is not a studio database (not SQLite, or SQLite with tables of its own)."""
        not_ours = NotALibraryError(f"{self.db_path} is not a studio database (move it away, or name another "
                                    "--library)")  # fmt: skip
        try:
            with self._connect() as con:
                if con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() and not studio_tables(con):
                    raise not_ours
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
                upgrade(con)
        except sqlite3.OperationalError:  # locked, unreadable, read-only: not about what the file is
            raise
        except sqlite3.DatabaseError:  # "file is not a database", "database disk image is malformed"
            raise not_ours from None

    def _claim(self) -> None:
        """Make sure ``root`` is a studio library before anything is written in it: a new or empty folder gets the
        marker first; one that holds the studio's database but no marker (an earlier version's library) gets it
        added; any other folder is refused with :class:`NotALibraryError`."""
        if _has_marker(self.root):
            return
        if not _usable(self.root):
            raise NotALibraryError(
                f"--library {self.root}: holds other files and is not an audiogen studio library; the studio uses "
                f"only a new or empty folder or one of its own libraries (it never deletes files it did not write): "
                f"name a new folder such as {self.root / SUBFOLDER}"
            )
        from audiogen.fileio import atomic_write

        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / MARKER, lambda tmp: Path(tmp).write_text(_MARKER_TEXT, encoding="utf-8"))

    # -- connections --------------------------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=30000")
        con.execute("PRAGMA synchronous=NORMAL")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken up front, so two writers queue instead of deadlocking)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        self.changes += 1

    def lock(self) -> None:
        """Claim the library for this process (one server per library); raises :class:`LibraryBusyError`."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory lock, the database still serialises writers
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LibraryBusyError(f"{self.root}: another audiogen studio is using this library") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release :meth:`lock`."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def revision(self) -> int:
        """A counter that changes whenever a track is added, changed or deleted (the page refreshes on it)."""
        with self._connect() as con:
            return int(con.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0])

    # -- jobs ---------------------------------------------------------------------------------------------------
    def add_job(self, request: dict, variants: int, seed: int, max_waiting: int | None = None) -> int:
        """Queue a validated request; returns the job id. With ``max_waiting``, raises :class:`QueueFullError` when
        that many jobs are already queued or running (checked in the same transaction)."""
        with self._write() as con:
            if max_waiting is not None:
                waiting = con.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]
                if waiting >= max_waiting:
                    raise QueueFullError(f"the queue is full ({waiting} jobs waiting, at most {max_waiting}); wait "
                                         "for some to finish, or cancel some")  # fmt: skip
            cur = con.execute(
                "INSERT INTO jobs (created, state, request, variants, seed, progress) VALUES (?, 'queued', ?, ?, ?, ?)",
                (time.time(), json.dumps(request), variants, seed, json.dumps([0.0] * variants)),
            )
            return int(cur.lastrowid)

    def claim_job(self) -> dict | None:
        """Mark the oldest queued job running and return it (None when the queue is empty)."""
        with self._write() as con:
            row = con.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ? WHERE id = ?",
                (time.time(), row["id"]),
            )
        job = self.job(row["id"])
        return job

    def job(self, job_id: int) -> dict | None:
        """One job as a dict (``request``, ``progress`` and ``kept`` decoded), or None."""
        if not _valid_id(job_id):
            return None
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job_dict(row)

    def jobs(self, limit: int = 20) -> list[dict]:
        """Queued and running jobs in queue order, then the ``limit`` most recent finished ones."""
        with self._connect() as con:
            active = con.execute("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY id").fetchall()
            recent = con.execute(
                "SELECT * FROM jobs WHERE state NOT IN ('queued', 'running') ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_job_dict(r) for r in (*active, *recent)]

    def set_progress(self, job_id: int, progress: list[float]) -> None:
        """Store the per-variant progress (fractions in [0, 1]) of a running job."""
        with self._write() as con:
            con.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))

    def finish_job(self, job_id: int, error: str | None = None) -> None:
        """Mark a running job done, or failed with ``error`` (said on the page); a job cancelled meanwhile stays
        cancelled."""
        with self._write() as con:
            con.execute(
                "UPDATE jobs SET state = ?, error = ?, finished = ? WHERE id = ? AND state = 'running'",
                ("failed" if error else "done", error, time.time(), job_id),
            )

    def cancel_job(self, job_id: int) -> str | None:
        """Cancel a queued or running job (a running one stops at its next progress report, see
        :class:`~audiogen.studio.worker.Worker`); returns the state it was in, or None when there is no such job
        or it has already ended."""
        if not _valid_id(job_id):
            return None
        with self._write() as con:
            row = con.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["state"] not in ("queued", "running"):
                return None
            con.execute("UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ?", (time.time(), job_id))
            return row["state"]

    def job_state(self, job_id: int) -> str | None:
        """The state of job ``job_id`` (None when there is no such job)."""
        if not _valid_id(job_id):
            return None
        with self._connect() as con:
            row = con.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row["state"]

    def recover(self) -> int:
        """After a server stop: jobs left running are queued again (once), or failed after :data:`MAX_ATTEMPTS`.
        Returns how many were queued again."""
        with self._write() as con:
            con.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, error = 'interrupted by a server stop twice; "
                "not tried again' WHERE state = 'running' AND attempts >= ?",
                (time.time(), MAX_ATTEMPTS),
            )
            cur = con.execute("UPDATE jobs SET state = 'queued', started = NULL WHERE state = 'running'")
            return cur.rowcount

    # -- tracks -------------------------------------------------------------------------------------------------
    def new_stem(self, job_id: int, variant: int) -> str:
        """A fresh file stem for variant ``variant`` of job ``job_id`` (the only names files ever get)."""
        return f"{job_id % 1_000_000:06d}-{variant % 100}-{secrets.token_hex(6)}"

    def file_path(self, stem: str, kind: str) -> Path:
        """Where the ``kind`` file of ``stem`` lives; refuses anything but a stem made by :meth:`new_stem`."""
        if kind not in FILE_KINDS or not _STEM.fullmatch(stem):
            raise ValueError(f"not a library file: {stem!r}.{kind!r}")
        return self.audio_dir / f"{stem}.{kind}"

    def add_track(self, fields: dict) -> int:
        """Insert a finished track (its files already complete under :meth:`file_path`) and record its variant as
        kept by its job, in one transaction; returns its id (never one a deleted track had)."""
        row = dict(fields, created=time.time())
        for name in _TRACK_JSON:
            if row.get(name) is not None:  # None stays NULL (a track without a plan, or not checked)
                row[name] = json.dumps(row[name])
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._write() as con:
            cur = con.execute(f"INSERT INTO tracks ({cols}) VALUES ({marks})", tuple(row.values()))
            con.execute("UPDATE meta SET value = value + 1 WHERE key = 'rev'")
            if fields.get("job_id") is not None:
                job = con.execute("SELECT kept FROM jobs WHERE id = ?", (fields["job_id"],)).fetchone()
                if job is not None:
                    kept = sorted(set(json.loads(job["kept"])) | {int(fields["variant"])})
                    con.execute("UPDATE jobs SET kept = ? WHERE id = ?", (json.dumps(kept), fields["job_id"]))
            return int(cur.lastrowid)

    def variants_done(self, job_id: int) -> set[int]:
        """The variants job ``job_id`` has already made: those it recorded as kept (whether or not the user has
        deleted their tracks since), and those in the library (a job of an earlier version recorded none)."""
        with self._connect() as con:
            in_library = {r[0] for r in con.execute("SELECT variant FROM tracks WHERE job_id = ?", (job_id,))}
            row = con.execute("SELECT kept FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return in_library | (set(json.loads(row["kept"])) if row is not None else set())

    def track(self, track_id: int) -> dict | None:
        """One track as a dict, or None (also for an id no track can have)."""
        if not _valid_id(track_id):
            return None
        with self._connect() as con:
            row = con.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone()
        return None if row is None else _track_dict(row)

    def tracks(
        self, query: str = "", emotion: str = "", starred: bool = False, limit: int = 200, offset: int = 0
    ) -> tuple[list[dict], int]:
        """Tracks newest first, filtered by words in the prompt/title/style, an emotion label and the star;
        returns ``(page, total matching)``."""
        where, args = [], []
        for word in query.split()[:8]:
            where.append("(prompt LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\' OR style LIKE ? ESCAPE '\\')")
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [like, like, like]
        if emotion:
            where.append("emotion = ?")
            args.append(emotion)
        if starred:
            where.append("starred = 1")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connect() as con:
            total = con.execute(f"SELECT COUNT(*) FROM tracks {clause}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT * FROM tracks {clause} ORDER BY id DESC LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
        return [_track_dict(r) for r in rows], int(total)

    def set_starred(self, track_id: int, starred: bool) -> bool:
        """Star or unstar a track; False if there is no such track."""
        if not _valid_id(track_id):
            return False
        with self._write() as con:
            cur = con.execute("UPDATE tracks SET starred = ? WHERE id = ?", (int(starred), track_id))
            con.execute("UPDATE meta SET value = value + 1 WHERE key = 'rev'")
            return cur.rowcount == 1

    def delete_track(self, track_id: int) -> bool:
        """Delete a track: its row first (committed), then its files. False if there is no such track."""
        if not _valid_id(track_id):
            return False
        with self._write() as con:
            row = con.execute("SELECT stem FROM tracks WHERE id = ?", (track_id,)).fetchone()
            if row is None:
                return False
            con.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
            con.execute("UPDATE meta SET value = value + 1 WHERE key = 'rev'")
        self.remove_files(row["stem"])
        self.prune_briefs()
        return True

    def remove_files(self, stem: str) -> None:
        """Unlink every file of ``stem`` (those missing are fine)."""
        for kind in FILE_KINDS:
            self.file_path(stem, kind).unlink(missing_ok=True)

    def sweep(self) -> list[str]:
        """Delete what an interrupted write or delete left in ``audio/`` and ``briefs/``: temporaries of a write,
        files of a track whose row was never committed or already deleted, uploads nothing has named for
        :data:`BRIEF_GRACE_S`. Only names the studio itself writes are candidates (see the module's notes); any other
        file, and anything that is not a plain file, is left alone. Returns the names removed. Run with the library
        locked."""
        if not _has_marker(self.root):
            raise NotALibraryError(f"--library {self.root}: the library's marker {MARKER} is gone; nothing swept")
        self.prune_briefs()
        with self._connect() as con:
            stems = {r[0] for r in con.execute("SELECT stem FROM tracks")}
            briefs = {r[0]: r[1] for r in con.execute("SELECT hash, ext FROM briefs")}
        removed = []
        for path in self.audio_dir.iterdir():
            if self._sweepable(path) and self._stray_audio(path.name, stems):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        for path in self.briefs_dir.iterdir():
            if self._sweepable(path) and self._stray_brief(path.name, briefs):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed

    @staticmethod
    def _sweepable(path: Path) -> bool:
        return path.is_file() and not path.is_symlink()

    @staticmethod
    def _stray_audio(name: str, stems: set[str]) -> bool:
        """A temporary of a track file, or a track file no row names (nothing else the studio did not write)."""
        if _AUDIO_TEMP.fullmatch(name):
            return True
        found = _AUDIO_FILE.fullmatch(name)
        return found is not None and found["stem"] not in stems

    @staticmethod
    def _stray_brief(name: str, briefs: dict[str, str]) -> bool:
        """A temporary of an upload or thumbnail, or an upload's file (or thumbnail) no row names."""
        if _BRIEF_TEMP.fullmatch(name):
            return True
        found = _BRIEF_FILE.fullmatch(name)
        if found is None or found["ext"] not in _brief_extensions():
            return False
        ext = briefs.get(found["hash"])
        return ext is None or found["ext"] not in (ext, "thumb.jpg")

    # -- briefs (uploaded pictures and videos) ------------------------------------------------------------------
    def brief_path(self, digest: str, ext: str) -> Path:
        """Where the upload with SHA-256 ``digest`` lives; refuses anything but a hex digest and an allowed
        extension (``"thumb.jpg"``: its thumbnail)."""
        if not _HASH.fullmatch(digest) or ext not in _brief_extensions():
            raise ValueError(f"not a library brief: {digest!r}.{ext!r}")
        return self.briefs_dir / f"{digest}.{ext}"

    def add_brief(self, digest: str, kind: str, ext: str, name: str, size: int, reading: dict) -> dict:
        """Record an upload whose file (and thumbnail) are complete under :meth:`brief_path`; an upload of the same
        bytes again keeps the one row and takes the newer display ``name``. Returns the row."""
        if kind not in BRIEF_KINDS:
            raise ValueError(f"brief kind must be one of {BRIEF_KINDS}, got {kind!r}")
        self.brief_path(digest, ext)  # checks the name
        with self._write() as con:
            con.execute(
                "INSERT INTO briefs (hash, kind, ext, name, size, created, reading) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(hash) DO UPDATE SET name = excluded.name, created = excluded.created",
                (digest, kind, ext, name, size, time.time(), json.dumps(reading)),
            )
        return self.brief(digest)

    def brief(self, digest: str) -> dict | None:
        """One upload's row (``reading`` decoded), or None (also for anything that is not a digest)."""
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            return None
        with self._connect() as con:
            row = con.execute("SELECT * FROM briefs WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["reading"] = json.loads(d["reading"])
        return d

    def brief_in_use(self, digest: str) -> bool:
        """Whether a track or a queued or running job names the upload ``digest``."""
        with self._connect() as con:
            return _brief_in_use(con, digest)

    def prune_briefs(self, min_age_s: float = BRIEF_GRACE_S) -> list[str]:
        """Remove uploads that no track and no waiting job names and that are older than ``min_age_s``: the rows
        (checked and deleted in one transaction, so a job queued meanwhile keeps its brief), then the files.
        Returns their digests."""
        with self._write() as con:
            old = con.execute("SELECT hash, ext FROM briefs WHERE created <= ?", (time.time() - min_age_s,)).fetchall()
            gone = [(h, e) for h, e in old if not _brief_in_use(con, h)]
            con.executemany("DELETE FROM briefs WHERE hash = ?", [(h,) for h, _ in gone])
        for digest, ext in gone:
            for part in (ext, "thumb.jpg"):
                self.brief_path(digest, part).unlink(missing_ok=True)
        return [h for h, _ in gone]


def _valid_id(value) -> bool:
    """Whether ``value`` can be a row id: an int in [0, :data:`MAX_ID`] (SQLite cannot even look a larger one up)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _brief_extensions() -> set[str]:
    """The extensions an upload's files are stored under: the allowed picture and video ones, and ``thumb.jpg``."""
    from audiogen.brief.image import IMAGE_EXTENSIONS
    from audiogen.brief.video import VIDEO_EXTENSIONS

    return {e.lstrip(".") for e in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)} | {"thumb.jpg"}


def _brief_in_use(con: sqlite3.Connection, digest: str) -> bool:
    where = "json_extract(request, '$.brief.id') = ?"
    if con.execute(f"SELECT 1 FROM tracks WHERE {where} LIMIT 1", (digest,)).fetchone():
        return True
    active = f"SELECT 1 FROM jobs WHERE state IN ('queued', 'running') AND {where} LIMIT 1"
    return con.execute(active, (digest,)).fetchone() is not None


def _job_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["request"] = json.loads(d["request"])
    d["progress"] = json.loads(d["progress"])
    d["kept"] = json.loads(d.get("kept") or "[]")
    return d


def _track_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    for name in _TRACK_JSON:
        if d.get(name) is not None:
            d[name] = json.loads(d[name])
    d["starred"] = bool(d["starred"])
    return d
