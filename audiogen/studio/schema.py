"""The studio's database schema: the tables of a library's ``studio.sqlite3``, how a studio database is recognised,
and the upgrade of a library made by an earlier version.

Track ids use ``AUTOINCREMENT``, so a deleted track's id is never given to another one (a stale link finds nothing).
A job records the variants it has kept (``kept``, a JSON list), so a job resumed after a stop makes only the variants
it never made.
"""

from __future__ import annotations

import sqlite3

# what a studio database holds (a library made before the marker existed is recognised by it)
DATABASE_TABLES = {"jobs": {"id", "state", "request", "progress"}, "tracks": {"id", "stem", "kinds"}, "meta": {"key"}}

TRACKS_TABLE = """
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER,
    variant INTEGER NOT NULL,
    created REAL NOT NULL,
    title TEXT NOT NULL,
    prompt TEXT,
    emotion TEXT,
    valence REAL,
    arousal REAL,
    style TEXT,
    tempo REAL,
    key TEXT,
    seed INTEGER NOT NULL,
    duration REAL NOT NULL,
    request TEXT NOT NULL,
    params TEXT NOT NULL,
    plan TEXT,
    peaks TEXT NOT NULL,
    stem TEXT NOT NULL UNIQUE,
    kinds TEXT NOT NULL,
    model TEXT,
    starred INTEGER NOT NULL DEFAULT 0,
    originality TEXT
);
"""
TRACKS_INDEX = "CREATE INDEX IF NOT EXISTS tracks_created ON tracks (created);"
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    variants INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    progress TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    kept TEXT NOT NULL DEFAULT '[]'
);
{tracks}
CREATE TABLE IF NOT EXISTS briefs (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ext TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    reading TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('rev', 0);
""".replace("{tracks}", TRACKS_TABLE.strip() + "\n" + TRACKS_INDEX)


def studio_tables(con: sqlite3.Connection) -> bool:
    """Whether the database of ``con`` has the studio's tables (read only)."""
    for table, needed in DATABASE_TABLES.items():
        if not needed <= {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
            return False
    return True


def upgrade(con: sqlite3.Connection) -> None:
    """Bring a library of an earlier version up to date, in one transaction: the jobs' ``kept`` column, track ids
    that are never reused (the tracks table rebuilt with ``AUTOINCREMENT``; its rows and their ids unchanged) and the
    tracks' ``originality`` column (their tracks were not checked: NULL)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        if "kept" not in {r[1] for r in con.execute("PRAGMA table_info(jobs)")}:
            con.execute("ALTER TABLE jobs ADD COLUMN kept TEXT NOT NULL DEFAULT '[]'")
        sql = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tracks'").fetchone()[0]
        if "AUTOINCREMENT" not in sql.upper():
            columns = ", ".join(r[1] for r in con.execute("PRAGMA table_info(tracks)"))
            con.execute(TRACKS_TABLE.replace("tracks (", "tracks_upgraded (", 1))
            con.execute(f"INSERT INTO tracks_upgraded ({columns}) SELECT {columns} FROM tracks")
            con.execute("DROP TABLE tracks")
            con.execute("ALTER TABLE tracks_upgraded RENAME TO tracks")
            con.execute(TRACKS_INDEX)
        if "originality" not in {r[1] for r in con.execute("PRAGMA table_info(tracks)")}:
            con.execute("ALTER TABLE tracks ADD COLUMN originality TEXT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
