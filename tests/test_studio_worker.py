"""The studio's worker when its database fails (locked past its timeout, disk full): the thread lives on, says so on
the page and in the log, waits, and tries again; a job's own failure still fails the job."""

import asyncio
import itertools
import json
import logging
import sqlite3
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("httpx", reason="httpx (TestClient) is not installed (pip install -e '.[dev]')")

from audiogen.generator import MusicGenerator
from audiogen.studio.app import _event_stream, create_app
from audiogen.studio.form import clean
from audiogen.studio.library import Library
from audiogen.studio.testing import page_client
from audiogen.studio.worker import Worker

REQUEST = {"text": "calm piano at night", "emotion": "calm", "duration": 2, "variants": 1, "seed": 5, "tempo": 90}
TINY_RETRY_S = (0.01, 0.04)


@pytest.fixture(scope="module")
def generator():
    return MusicGenerator.debug()


@pytest.fixture
def library(tmp_path):
    return Library(tmp_path / "lib")


def _add_job(library: Library) -> int:
    req = clean(REQUEST, briefs=library.brief)
    return library.add_job(req, req["variants"], req["seed"])


def _locked(*_args, **_kwargs):
    raise sqlite3.OperationalError("database is locked")


def _fails(real, times: int):
    """``real``, raising "database is locked" on its first ``times`` calls; ``.calls`` counts them all."""

    def call(*args, **kwargs):
        call.calls += 1
        if call.calls <= times:
            _locked()
        return real(*args, **kwargs)

    call.calls = 0
    return call


def _wait(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_worker_thread_survives_a_locked_database_says_so_and_runs_the_job_after(
    library, generator, monkeypatch, caplog
):
    broken = threading.Event()
    broken.set()
    real_claim = library.claim_job
    calls = []

    def claim_job():
        calls.append(time.monotonic())
        if broken.is_set():
            _locked()
        return real_claim()

    monkeypatch.setattr(library, "claim_job", claim_job)
    worker = Worker(library, generator=generator, retry_s=TINY_RETRY_S)
    with caplog.at_level(logging.WARNING, logger="audiogen.studio"), page_client(create_app(library, worker)) as client:
        job = client.post("/api/jobs", json=REQUEST).json()
        _wait(lambda: len(calls) >= 5)  # it tried again and again
        status = client.get("/api/jobs").json()["status"]
        assert status.startswith("error: ") and "database is locked" in status
        assert worker._thread.is_alive()
        waits = [b - a for a, b in itertools.pairwise(calls)]
        assert all(w >= TINY_RETRY_S[0] * 0.9 for w in waits) and max(waits) < 5  # a bounded backoff
        assert library.job(job["id"])["state"] == "queued"

        broken.clear()  # the database works again
        _wait(lambda: library.job(job["id"])["state"] == "done")
        _wait(lambda: client.get("/api/jobs").json()["status"] == "ready")
        assert worker._thread.is_alive()
        assert client.get("/api/tracks").json()["total"] == 1

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all("database is locked" in m and "\n" not in m for m in errors)
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_the_backoff_doubles_up_to_its_limit(library, generator, monkeypatch):
    calls = []

    def claim_job():
        calls.append(time.monotonic())
        _locked()

    monkeypatch.setattr(library, "claim_job", claim_job)
    worker = Worker(library, generator=generator, retry_s=(0.02, 0.08))
    statuses = []
    real_wait = worker._stop.wait
    monkeypatch.setattr(worker._stop, "wait", lambda s: (statuses.append(worker.status), real_wait(0))[1])
    worker.start()
    _wait(lambda: len(statuses) >= 5)
    worker.stop()
    assert [s.rsplit("again in ", 1)[1] for s in statuses[:5]] == ["0.02 s", "0.04 s", "0.08 s", "0.08 s", "0.08 s"]


def test_a_job_end_the_database_refused_is_stored_later_not_failed(library, generator, monkeypatch):
    job_id = _add_job(library)
    monkeypatch.setattr(library, "finish_job", _fails(library.finish_job, 2))
    worker = Worker(library, generator=generator)
    for _ in range(2):
        with pytest.raises(sqlite3.OperationalError):
            worker.run_once()
        assert library.job(job_id)["state"] == "running"
    assert worker.run_once()  # stores the end; the track is not made twice
    job = library.job(job_id)
    assert job["state"] == "done" and job["error"] is None
    assert library.tracks()[1] == 1
    assert not worker.run_once()


def test_a_variant_the_database_refused_leaves_no_files_and_is_made_again(library, generator, monkeypatch):
    job_id = _add_job(library)
    monkeypatch.setattr(library, "add_track", _fails(library.add_track, 1))
    worker = Worker(library, generator=generator)
    with pytest.raises(sqlite3.OperationalError):
        worker.run_once()
    assert list(library.audio_dir.iterdir()) == []
    assert library.job(job_id)["state"] == "running"
    assert worker.run_once()
    job = library.job(job_id)
    assert job["state"] == "done" and job["error"] is None and job["attempts"] == 1
    assert library.tracks()[1] == 1 and len(list(library.audio_dir.iterdir())) >= 2


def test_progress_the_database_refused_does_not_stop_the_job(library, generator, monkeypatch):
    job_id = _add_job(library)
    monkeypatch.setattr(library, "set_progress", _locked)
    worker = Worker(library, generator=generator)
    assert worker.run_once()
    assert library.job(job_id)["state"] == "done" and library.tracks()[1] == 1


def test_a_failing_generation_still_fails_its_job_and_the_worker_goes_on(library, generator, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("out of ideas")

    monkeypatch.setattr(generator, "generate", boom)
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker)) as client:
        job = client.post("/api/jobs", json=REQUEST).json()
        _wait(lambda: library.job(job["id"])["state"] == "failed")
        assert library.job(job["id"])["error"] == "generation failed: out of ideas (RuntimeError)"
        assert list(library.audio_dir.iterdir()) == []
        _wait(lambda: worker.status == "ready")
        assert worker._thread.is_alive()


def test_the_event_stream_still_sends_the_status_while_the_database_cannot_be_read(library, generator, monkeypatch):
    worker = Worker(library, generator=generator)
    app = create_app(library, worker, start_worker=False)
    _add_job(library)

    async def first_and_after_failure():
        stream = _event_stream(app)
        await anext(stream)  # retry:
        first = await anext(stream)
        monkeypatch.setattr(library, "jobs", _locked)
        worker.status = "error: the queue's database failed: database is locked; trying again in 1 s"
        second = await asyncio.wait_for(anext(stream), 5)
        await stream.aclose()
        return first, second

    first, second = asyncio.run(first_and_after_failure())
    before, after = (json.loads(e.removeprefix("data: ")) for e in (first, second))
    assert before["status"] == "ready" and after["status"].startswith("error: ")
    assert after["jobs"] == before["jobs"]  # the queue last read
