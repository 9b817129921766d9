"""The studio's HTTP API, library and worker, driven in-process (FastAPI's TestClient; the debug model)."""

import io
import sqlite3
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("httpx", reason="httpx (TestClient) is not installed (pip install -e '.[dev]')")

from audiogen.audio import SAMPLE_RATE, load_audio
from audiogen.generator import MusicGenerator, make_requests
from audiogen.studio.app import create_app
from audiogen.studio.library import MAX_ATTEMPTS, Library
from audiogen.studio.testing import page_client, studio_over
from audiogen.studio.worker import Worker

REQUEST = {"text": "calm piano at night", "emotion": "calm", "duration": 4, "variants": 2, "seed": 5, "tempo": 90}


@pytest.fixture(scope="module")
def generator():
    return MusicGenerator.debug()


@pytest.fixture
def studio(tmp_path, generator):
    """(client, library, worker) over a fresh library; the worker is run by hand with ``worker.run_once()``."""
    with studio_over(tmp_path / "lib", generator) as studio:
        yield studio


def _queue(client, **changes):
    res = client.post("/api/jobs", json={**REQUEST, **changes})
    assert res.status_code == 201, res.text
    return res.json()


def _api_message(**kwargs) -> str:
    with pytest.raises(ValueError) as err:
        make_requests("x", **kwargs)
    return str(err.value)


def test_bad_fields_get_the_api_messages_each_beside_its_field(studio):
    client, library, _ = studio
    res = client.post("/api/jobs", json={**REQUEST, "tempo": 300, "key": "H", "emotion": "hapy", "variants": 9})
    assert res.status_code == 422
    errors = res.json()["errors"]
    assert errors["tempo"] == _api_message(tempo=300) == "tempo must lie in [40, 220] BPM, got 300"
    assert errors["key"] == _api_message(key="H")
    assert "Did you mean 'happy'?" in errors["emotion"]
    assert errors["variants"] == "variants must be a whole number in [1, 8], got 9"
    assert set(errors) == {"tempo", "key", "emotion", "variants"}
    res = client.post("/api/jobs", json={"text": "x", "valence": 0.5})
    assert res.json()["errors"] == {"valence": "give both valence and arousal, or neither"}
    res = client.post("/api/jobs", json={"text": "x", "tempo": "fast", "loudness": "loud", "shoe": 1})
    assert "unknown field(s) shoe" in res.json()["errors"]["form"]
    res = client.post("/api/jobs", json={"text": "x", "tempo": "fast", "loudness": "loud", "duration": 0})
    errors = res.json()["errors"]
    assert errors["tempo"].startswith("tempo must be a number in [40, 220]")
    assert errors["loudness"].startswith("loudness must be one of the presets 'streaming'")
    assert errors["duration"] == "duration must lie in [1, 600] seconds, got 0"
    assert client.post("/api/jobs", json=[1, 2]).status_code == 422
    assert library.jobs() == []  # nothing was queued


def test_two_variants_are_generated_kept_and_downloadable(studio):
    client, library, worker = studio
    job = _queue(client)
    assert job["state"] == "queued" and job["progress"] == [0.0, 0.0]
    assert worker.run_once() and not worker.run_once()
    job = client.get("/api/jobs").json()["jobs"][0]
    assert job["state"] == "done" and job["progress"] == [1.0, 1.0] and job["error"] is None
    tracks = client.get("/api/tracks").json()
    assert tracks["total"] == 2
    by_seed = {t["seed"]: t for t in tracks["tracks"]}
    assert set(by_seed) == {5, 6}
    t = by_seed[5]
    assert t["emotion"] == "calm" and t["tempo"] == 90 and t["duration"] == 4.0
    assert t["request"]["seed"] == 5 and t["request"]["variants"] == 1
    assert set(t["files"]) == {"mp3", "wav", "mid"} and "stem" not in t
    assert t["plan"]["summary"].startswith(t["plan"]["key"]) and t["plan"]["bars"][0]["n"] == 1
    assert len(t["peaks"]) == 600 and max(t["peaks"]) <= 1.0
    assert t["originality"] is None  # the debug model has no originality index: nothing was checked
    mp3 = client.get(t["files"]["mp3"] + "?download=1")
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.headers["content-disposition"].startswith("attachment; filename=")
    audio = _decode(mp3.content, ".mp3", library)
    assert audio.shape == (4 * SAMPLE_RATE,)
    wav = client.get(t["files"]["wav"])
    assert wav.headers["content-disposition"].startswith("inline")
    assert _decode(wav.content, ".wav", library).shape == (4 * SAMPLE_RATE,)
    mid = client.get(t["files"]["mid"])
    assert mid.status_code == 200 and mid.content[:4] == b"MThd"
    ranged = client.get(t["files"]["mp3"], headers={"Range": "bytes=0-99"})  # the player seeks with ranges
    assert ranged.status_code == 206 and len(ranged.content) == 100


def test_each_track_carries_its_originality_check(tmp_path):
    from audiogen.originality.testing import plans_index
    from audiogen.studio.form import api_kwargs, clean

    request = {"text": "calm piano", "duration": 16, "variants": 2, "seed": 3}  # 16 s: 8 melody symbols
    gen = MusicGenerator.debug()
    planted = gen.generate(request["text"], **api_kwargs(clean(request)), seed=3, originality="off", progress=False)
    index = plans_index([planted.plan])  # holds what variant 0 (seed 3) composes
    index.thresholds["melody"] = 6.0
    index.save(tmp_path / "originality")
    gen.originality_dir = tmp_path / "originality"
    with studio_over(tmp_path / "lib", gen) as (client, _library, worker):
        _queue(client, **request, emotion=None, tempo=None)
        worker.run_once()
        by_seed = {t["seed"]: t for t in client.get("/api/tracks").json()["tracks"]}
        flagged, original = by_seed[3]["originality"], by_seed[4]["originality"]
        assert flagged["flagged"] is True and original["flagged"] is False
        melody = flagged["readings"][0]
        assert (melody["level"], melody["item"]["title"], melody["value"]) == ("melody", "Test piece 0", 8.0)
        assert flagged["summary"].startswith('FLAGGED, close to a training item: melody 8 notes (flag at 6): like '
                                             '"Test piece 0" (test)')  # fmt: skip
        assert original["summary"].startswith("original: melody ")
        assert client.get(f"/api/tracks/{by_seed[3]['id']}").json()["originality"] == flagged


def _decode(data: bytes, suffix: str, library: Library) -> np.ndarray:
    path = library.root.parent / f"download{suffix}"
    path.write_bytes(data)
    return load_audio(path, SAMPLE_RATE)


def test_again_with_this_seed_gives_the_same_track(studio):
    client, _library, worker = studio
    _queue(client, variants=2, seed=40)
    worker.run_once()
    second = next(t for t in client.get("/api/tracks").json()["tracks"] if t["seed"] == 41)
    _queue(client, **second["request"])  # what the page's "again with this seed" sends
    worker.run_once()
    again = client.get("/api/tracks").json()["tracks"][0]
    assert again["id"] != second["id"] and again["seed"] == 41
    a = io.BytesIO(client.get(second["files"]["wav"]).content).getvalue()
    b = io.BytesIO(client.get(again["files"]["wav"]).content).getvalue()
    assert a == b


@pytest.mark.parametrize(
    "url",
    [
        "/api/tracks/1/file/..%2f..%2fstudio.sqlite3",
        "/api/tracks/1/file/../../studio.sqlite3",
        "/api/tracks/1/file/sqlite3",
        "/api/tracks/1/file/mp3%00.sqlite3",
        "/api/tracks/..%2f1/file/mp3",
        "/api/tracks/-1/file/mp3",
        "/api/tracks/99/file/mp3",
        "/static/..%2findex.html",
        "/static/..%2f..%2fgenerator.py",
        "/static/%2e%2e/app.py",
        "/studio.sqlite3",
    ],
)
def test_downloads_serve_only_library_files(studio, url):
    client, _library, worker = studio
    _queue(client, variants=1)
    worker.run_once()
    res = client.get(url)
    assert res.status_code in (404, 422), (url, res.status_code)
    assert b"SQLite format" not in res.content and b"import " not in res.content


def test_a_file_name_is_never_taken_from_outside(tmp_path):
    library = Library(tmp_path / "lib")
    for stem in ("../studio", "/etc/passwd", "000001-0-abc", "000001-0-0123456789ab/../x"):
        with pytest.raises(ValueError, match="not a library file"):
            library.file_path(stem, "mp3")
    with pytest.raises(ValueError):
        library.file_path(library.new_stem(1, 0), "sqlite3")
    assert library.file_path(library.new_stem(1, 0), "mp3").parent == library.audio_dir


def test_delete_removes_the_row_then_the_files(studio):
    client, library, worker = studio
    _queue(client, variants=2)
    worker.run_once()
    tracks = client.get("/api/tracks").json()["tracks"]
    gone, kept = tracks
    assert client.delete(f"/api/tracks/{gone['id']}").json() == {"deleted": gone["id"]}
    assert client.delete(f"/api/tracks/{gone['id']}").status_code == 404
    assert client.get(gone["files"]["mp3"]).status_code == 404
    stem = library.track(kept["id"])["stem"]
    assert sorted(p.name for p in library.audio_dir.iterdir()) == [f"{stem}.{kind}" for kind in ("mid", "mp3", "wav")]
    assert client.get("/api/tracks").json()["total"] == 1


def test_star_and_filters(studio):
    client, _library, worker = studio
    _queue(client, variants=1, text="rain on a tin roof", emotion="sad")
    _queue(client, variants=1, text="victory parade", emotion="triumphant", style="brass, march")
    worker.run_once()
    worker.run_once()
    assert worker.status == "ready"
    rain, parade = sorted(client.get("/api/tracks").json()["tracks"], key=lambda t: t["id"])
    assert client.patch(f"/api/tracks/{rain['id']}", json={"starred": True}).json()["starred"] is True
    assert client.patch(f"/api/tracks/{rain['id']}", json={"starred": "yes"}).status_code == 422

    def ids(**query):
        return [t["id"] for t in client.get("/api/tracks", params=query).json()["tracks"]]

    assert ids(q="tin roof") == [rain["id"]]
    assert ids(q="brass") == [parade["id"]]
    assert ids(emotion="triumphant") == [parade["id"]]
    assert ids(starred=True) == [rain["id"]]
    assert ids(q="100%") == [] and ids(q="_") == []  # LIKE wildcards are matched literally


def test_a_failed_job_says_why_and_leaves_nothing(studio, monkeypatch):
    client, library, worker = studio
    from audiogen.track import Track

    real_save = Track.save

    def save(self, path, *args, **kwargs):
        if str(path).endswith(".wav"):
            real_save(self, path, *args, **kwargs)  # a complete file, then the disk "fills up"
            raise OSError(28, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(Track, "save", save)
    _queue(client, variants=1)
    worker.run_once()
    job = client.get("/api/jobs").json()["jobs"][0]
    assert job["state"] == "failed"
    assert job["error"] == "could not write the track: No space left on device"
    assert list(library.audio_dir.iterdir()) == []
    assert client.get("/api/tracks").json()["total"] == 0


def test_queue_runs_in_order_and_a_queued_job_can_be_cancelled(studio):
    client, _library, worker = studio
    first, second = _queue(client, variants=1), _queue(client, variants=1, seed=9)
    assert client.delete(f"/api/jobs/{second['id']}").json() == {"cancelled": second["id"]}
    assert client.delete(f"/api/jobs/{second['id']}").status_code == 409
    assert worker.run_once() and not worker.run_once()
    states = {j["id"]: j["state"] for j in client.get("/api/jobs").json()["jobs"]}
    assert states == {first["id"]: "done", second["id"]: "cancelled"}


def test_progress_is_reported_per_variant(studio, monkeypatch):
    client, library, worker = studio
    seen = []
    real = library.set_progress
    monkeypatch.setattr("audiogen.studio.worker._PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(library, "set_progress", lambda job_id, p: (seen.append(list(p)), real(job_id, p)))
    _queue(client, variants=2)
    worker.run_once()
    assert seen[-1] == [1.0, 1.0]
    firsts = [p[0] for p in seen]
    assert firsts == sorted(firsts) and any(0 < f < 1 for f in firsts)  # variant 1 rose step by step
    assert all(p[1] == 0.0 for p in seen if p[0] < 1.0)  # variant 2 waited for variant 1


def test_events_stream_the_queue_and_library_revision(studio):
    client, _library, _worker = studio
    import asyncio
    import json

    from audiogen.studio.app import _event_stream

    _queue(client, variants=1)
    app = client.app

    async def first_two():
        stream = _event_stream(app)
        out = [await anext(stream), await anext(stream)]
        await stream.aclose()
        return out

    retry, event = asyncio.run(first_two())
    assert retry.startswith("retry:")
    snap = json.loads(event.removeprefix("data: "))
    assert snap["status"] == "ready" and snap["rev"] == 0 and snap["jobs"][0]["state"] == "queued"


def test_two_writers_at_once_do_not_corrupt_the_library(tmp_path):
    """Two connections (as two tabs' requests and the worker make) writing and reading at the same time."""
    root = tmp_path / "lib"
    libs = [Library(root), Library(root)]
    errors = []

    def write(lib: Library, who: int) -> None:
        try:
            for i in range(40):
                stem = lib.new_stem(who, i % 100)
                lib.add_track(_row(who, i, stem))
                lib.add_job({"text": f"{who}-{i}"}, 1, i)
                lib.tracks(query=str(who))
                if i % 4 == 0:
                    lib.set_starred(lib.tracks()[0][0]["id"], True)
        except Exception as err:  # collected: a thread's exception would be lost
            errors.append(err)

    threads = [threading.Thread(target=write, args=(lib, who)) for who, lib in enumerate(libs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tracks, total = libs[0].tracks(limit=500)
    assert total == 80 and len({t["stem"] for t in tracks}) == 80
    assert len(libs[1].jobs(limit=100)) == 80
    with sqlite3.connect(root / "studio.sqlite3") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert libs[0].revision() == 80 + 20


def _row(job_id: int, variant: int, stem: str) -> dict:
    return dict(job_id=job_id, variant=variant, title=f"t{job_id}-{variant}", prompt=f"{job_id}", seed=variant,
                duration=1.0, request={}, params={}, plan=None, peaks=[0.0], stem=stem, kinds=["mp3"])  # fmt: skip


def test_the_library_survives_a_restart(tmp_path, generator):
    root = tmp_path / "lib"
    library = Library(root)
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker, start_worker=False)) as client:
        _queue(client, variants=1)
        worker.run_once()
        kept = client.get("/api/tracks").json()["tracks"][0]
        _queue(client, variants=2, seed=70)
        interrupted = library.claim_job()  # the server stops while this job runs
        worker._keep(interrupted, 0, 70, generator.generate("x", duration=2, seed=70, progress=False))
    stray = library.audio_dir / ".000009-0-0123456789ab.mp3.abcdefgh.part.mp3"
    stray.write_bytes(b"half")  # a temporary left by a killed write
    orphan = library.audio_dir / "000009-0-0123456789ab.mp3"
    orphan.write_bytes(b"no row")

    library = Library(root)  # the next start
    assert library.recover() == 1
    assert sorted(library.sweep()) == sorted([stray.name, orphan.name])
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker, start_worker=False)) as client:
        tracks = client.get("/api/tracks").json()["tracks"]
        assert kept["id"] in [t["id"] for t in tracks] and len(tracks) == 2
        assert client.get(kept["files"]["mp3"]).status_code == 200
        job = next(j for j in client.get("/api/jobs").json()["jobs"] if j["id"] == interrupted["id"])
        assert job["state"] == "queued" and job["attempts"] == 1
        worker.run_once()  # resumed: variant 0 was already kept, only variant 1 is made
        seeds = sorted(t["seed"] for t in client.get("/api/tracks").json()["tracks"])
        assert seeds == sorted([kept["seed"], 70, 71])


def test_a_job_interrupted_too_often_is_failed(tmp_path):
    library = Library(tmp_path / "lib")
    job_id = library.add_job({"text": "x"}, 1, 0)
    for _ in range(MAX_ATTEMPTS):
        assert library.claim_job()["id"] == job_id
        library.recover()
    job = library.job(job_id)
    assert job["state"] == "failed" and "interrupted by a server stop" in job["error"]


def test_one_server_per_library(tmp_path):
    from audiogen.studio.library import LibraryBusyError

    first, second = Library(tmp_path / "lib"), Library(tmp_path / "lib")
    first.lock()
    with pytest.raises(LibraryBusyError, match="another audiogen studio is using this library"):
        second.lock()
    first.unlock()
    second.lock()
    second.unlock()


def test_the_page_fetches_nothing_from_the_network(studio):
    client, _, _ = studio
    page = client.get("/")
    assert page.status_code == 200 and "audiogen Studio" in page.text
    for url in ("/", "/static/app.js", "/static/brief.js", "/static/app.css", "/static/favicon.svg"):
        body = client.get(url).text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert "http://" not in body and "https://" not in body and "@import" not in body and "url(" not in body
    options = client.get("/api/options").json()
    assert "calm" in options["emotions"] and options["tempo"] == [40.0, 220.0] and "C# minor" in options["keys"]


def test_the_command_says_how_to_get_the_extra(monkeypatch, capsys, tmp_path):
    import sys

    from audiogen import cli

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.main(["studio", "--library", str(tmp_path / "lib")]) == 2
    err = capsys.readouterr().err
    assert "audiogen studio: error: the studio needs uvicorn" in err and "pip install 'audiogen[studio]'" in err
    assert not (tmp_path / "lib").exists()


def test_the_command_checks_its_arguments_before_starting(capsys, tmp_path):
    from audiogen import cli

    assert cli.main(["studio", "--port", "70000", "--library", str(tmp_path / "a")]) == 2
    assert "--port must lie in [0, 65535]" in capsys.readouterr().err
    assert cli.main(["studio", "--model", str(tmp_path), "--library", str(tmp_path / "b")]) == 2
    assert "not an audiogen model folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main(["studio", "--model", "debug", "--library", str(tmp_path / "file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
