"""A batch killed with SIGKILL mid-way resumes to exactly the expected set of valid MP3s: no partial file under a
final name at any time, every file decodes to its requested length, every checksum matches the ledger."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_render_batch import ledger_rows, write_jobs
from test_render_fakes import fake_factory

from audiogen.audio import SAMPLE_RATE, load_audio
from audiogen.render.batch import render_batch
from audiogen.render.jobs import expand, load_jobs
from audiogen.render.recover import file_sha256

TESTS = Path(__file__).resolve().parent
# The renderer in a child process: the fake generator sleeps a little per track so the kill lands mid-batch.
CHILD = """
import functools, sys
sys.path.insert(0, {tests!r})
from test_render_fakes import fake_factory
from audiogen.render.batch import render_batch
render_batch({jobs!r}, {out!r}, generator_factory=functools.partial(fake_factory, delay=0.3), progress=False)
"""
OWN_FILES = {"ledger.sqlite", "manifest.csv", "manifest.json", "summary.json", "render.lock"}


def done_count(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def assert_valid_mp3(path: Path, seconds: float) -> None:
    audio = load_audio(path, allow_silent=True)
    assert abs(audio.size / SAMPLE_RATE - seconds) <= 0.05, path.name


def test_sigkill_mid_batch_then_rerun_gives_exactly_the_expected_files(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=6, variants=2)
    items = expand(load_jobs(jobs))
    out = tmp_path / "out"
    code = CHILD.format(tests=str(TESTS), jobs=str(jobs), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while done_count(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the renderer ended before it could be killed: {proc.stderr.read().decode()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = done_count(out)
    assert 3 <= finished_before < len(items)

    by_file = {item.file: item for item in items}
    for path in out.glob("*.mp3"):  # whatever lies under a final name is complete
        assert_valid_mp3(path, by_file[path.name].job.duration)

    summary = render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    assert summary.rendered + summary.skipped == len(items) and summary.failed == 0 and summary.pending == 0
    assert summary.skipped >= finished_before
    names = {p.name for p in out.iterdir()} - {"ledger.sqlite-wal", "ledger.sqlite-shm"}
    assert names == set(by_file) | OWN_FILES  # the tracks and the batch's own files; no temporaries
    rows = ledger_rows(out)
    for item in items:
        path = out / item.file
        assert_valid_mp3(path, item.job.duration)
        assert rows[item.key].status == "done" and rows[item.key].sha256 == file_sha256(path)
