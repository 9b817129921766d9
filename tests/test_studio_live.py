"""The studio's live audio: a running job's first variant served while it is generated (``GET /api/jobs/{id}/live``),
in-process with the debug model; the worker is run by hand in a thread."""

import asyncio
import json
import struct
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("httpx", reason="httpx (TestClient) is not installed (pip install -e '.[dev]')")

from fastapi.testclient import TestClient

from audiogen.audio import SAMPLE_RATE
from audiogen.generator import MusicGenerator
from audiogen.stream import pcm16
from audiogen.studio import worker as worker_module
from audiogen.studio.app import _event_stream
from audiogen.studio.form import api_kwargs, clean
from audiogen.studio.live import LiveAudio, live_body, wav_header
from audiogen.studio.testing import studio_over
from audiogen.studio.worker import Worker, _mastering

REQUEST = {"text": "calm piano at night", "emotion": "calm", "duration": 3, "variants": 2, "seed": 5, "tempo": 90}


@pytest.fixture(scope="module")
def generator():
    return MusicGenerator.debug()


@pytest.fixture
def studio(tmp_path, generator):
    with studio_over(tmp_path / "lib", generator) as studio:
        yield studio


def _wait(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _run_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_once, daemon=True)
    thread.start()
    return thread


def test_the_first_variant_is_served_while_the_job_runs_then_kept_like_any_other(studio, generator, monkeypatch):
    client, library, worker = studio
    job = client.post("/api/jobs", json=REQUEST).json()
    release, saving = threading.Event(), threading.Event()
    keep = worker._keep

    def held_keep(job, variant, *args, **kwargs):  # variant 0's files wait until the test has read the stream
        if variant == 0:
            saving.set()
            release.wait(60)
        return keep(job, variant, *args, **kwargs)

    monkeypatch.setattr(worker, "_keep", held_keep)
    thread = _run_in_thread(worker)
    _wait(lambda: worker.live is not None)
    url = f"/api/jobs/{job['id']}/live"
    assert client.get("/api/jobs").json()["live"] == {"job": job["id"], "variant": 0, "url": url}
    plain = TestClient(client.app, base_url="http://127.0.0.1")  # a GET needs no Origin and no token
    res = plain.get(url)  # ends once the variant's last chunk is sent, before its files are written
    assert res.status_code == 200 and res.headers["content-type"] == "audio/wav"
    assert res.headers["cache-control"] == "no-store"
    assert res.content[:44] == wav_header(SAMPLE_RATE)
    assert saving.is_set() and library.job(job["id"])["state"] == "running" and library.tracks()[1] == 0

    snapshot = asyncio.run(_second_event(client.app))
    assert snapshot["live"]["job"] == job["id"] and snapshot["jobs"][0]["state"] == "running"

    req = clean(REQUEST, briefs=library.brief)
    with generator.stream(req["text"], **api_kwargs(req), seed=5, mastering=_mastering(req)) as stream:
        expected = b"".join(pcm16(c) for c in stream)
    assert res.content[44:] == expected  # the stream's own chunks: 3 s of 16-bit samples
    assert len(expected) == 2 * 3 * SAMPLE_RATE

    release.set()
    thread.join(60)
    assert library.job(job["id"])["state"] == "done" and worker.live is None
    tracks, total = library.tracks()
    assert total == 2 and sorted(t["variant"] for t in tracks) == [0, 1]  # the other variant made with generate
    gone = client.get(url)
    assert gone.status_code == 404 and "not making its live variant" in gone.json()["detail"]


async def _second_event(app) -> dict:
    stream = _event_stream(app)
    await anext(stream)  # retry:
    event = await anext(stream)
    await stream.aclose()
    return json.loads(event.removeprefix("data: "))


def test_unknown_jobs_and_other_hosts_are_refused(studio):
    client, _library, _worker = studio
    res = client.get("/api/jobs/999/live")
    assert res.status_code == 404 and res.json()["detail"] == "no job 999"
    job = client.post("/api/jobs", json=REQUEST).json()
    queued = client.get(f"/api/jobs/{job['id']}/live")  # not started: nothing to hear yet
    assert queued.status_code == 404 and "not making its live variant" in queued.json()["detail"]
    rebound = client.get(f"/api/jobs/{job['id']}/live", headers={"Host": "attacker.example"})
    assert rebound.status_code == 421 and "content-security-policy" in rebound.headers
    assert client.get("/api/jobs/abc/live").status_code == 422


def test_cancelling_ends_the_live_audio_and_keeps_nothing(studio, monkeypatch):
    client, library, worker = studio
    job = client.post("/api/jobs", json={**REQUEST, "duration": 30, "variants": 1}).json()
    first, go_on = threading.Event(), threading.Event()

    class HeldLive(LiveAudio):  # the worker waits after its first chunk until the job is cancelled
        def add(self, chunk):
            super().add(chunk)
            first.set()
            go_on.wait(60)

    monkeypatch.setattr(worker_module, "LiveAudio", HeldLive)
    thread = _run_in_thread(worker)
    assert first.wait(60)
    live = worker.live
    assert client.delete(f"/api/jobs/{job['id']}").json() == {"cancelled": job["id"]}
    go_on.set()
    thread.join(60)
    assert live.ended and len(live.parts()) == 1 and worker.live is None
    assert library.job(job["id"])["state"] == "cancelled" and library.tracks()[1] == 0
    assert list((library.root / "audio").iterdir()) == []


def test_a_listener_gets_every_chunk_from_the_start_and_stops_at_the_end():
    live = LiveAudio(7, 0)
    live.add(np.full(4, 0.5, dtype=np.float32))

    async def listen() -> bytes:
        out = []
        async for part in live_body(live, lambda: False):
            out.append(part)
            if len(out) == 2:  # the header and the chunk there was: the next comes later, then the end
                live.add(np.array([-1.5, 1.0], dtype=np.float32))
                live.end()
        return b"".join(out)

    body = asyncio.run(listen())
    header = struct.unpack("<4sI4s4sIHHIIHH4sI", body[:44])
    assert header[0] == b"RIFF" and header[6] == 1 and header[7] == SAMPLE_RATE and header[10] == 16
    assert header[1] == header[12] == 0xFFFFFFFF  # a length not known yet
    assert np.frombuffer(body[44:], "<i2").tolist() == [16384] * 4 + [-32767, 32767]
    assert live.seconds == 6 / SAMPLE_RATE and live.public()["url"] == "/api/jobs/7/live"
