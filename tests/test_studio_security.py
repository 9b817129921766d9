"""The studio as a safe local server, driven in-process: who may call it (Host, Origin and token), how much they may
send (bodies, fields, the queue, uploads), what it answers (no input quoted back, security headers), and the
library's ids and jobs (ids never reused, a running job cancelled, a resumed job that keeps deletions)."""

import asyncio
import json
import sqlite3
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("httpx", reason="httpx (TestClient) is not installed (pip install -e '.[dev]')")

from fastapi.testclient import TestClient

from audiogen.generator import MusicGenerator
from audiogen.studio import app as studio_app
from audiogen.studio import briefs as B
from audiogen.studio.app import create_app
from audiogen.studio.guard import Guard
from audiogen.studio.library import MARKER, Library
from audiogen.studio.testing import PAGE_ORIGIN, page_client, studio_over
from audiogen.studio.worker import Worker

REQUEST = {"text": "calm piano at night", "emotion": "calm", "duration": 2, "variants": 2, "seed": 5}
HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


@pytest.fixture(scope="module")
def generator():
    return MusicGenerator.debug()


@pytest.fixture
def studio(tmp_path, generator):
    """(client, library, worker): the client sends what the page sends; the worker is run by hand."""
    with studio_over(tmp_path / "lib", generator) as studio:
        yield studio


def _bare(client, **headers) -> TestClient:
    """A client of the same app that sends only ``headers`` (no Origin, no token unless given)."""
    return TestClient(client.app, base_url=PAGE_ORIGIN, headers=headers)


def _track(library: Library, job_id: int = 1, variant: int = 0) -> int:
    """A track row with an MP3 file, without generating anything."""
    stem = library.new_stem(job_id, variant)
    library.file_path(stem, "mp3").write_bytes(b"ID3 not really an mp3")
    return library.add_track(dict(job_id=job_id, variant=variant, title="t", prompt="p", seed=variant, duration=1.0,
                                  request={}, params={}, plan=None, peaks=[0.0], stem=stem, kinds=["mp3"]))  # fmt: skip


# -- who may call --------------------------------------------------------------------------------------------------
def test_a_foreign_host_gets_nothing(studio):
    """DNS rebinding: a page elsewhere points its own name at 127.0.0.1; the browser then sends its name as Host."""
    client, library, _ = studio
    track = _track(library)
    evil = {"Host": "attacker.example:8765"}
    calls = [("GET", "/"), ("GET", "/api/tracks"), ("GET", f"/api/tracks/{track}/file/mp3"),
             ("DELETE", f"/api/tracks/{track}"), ("GET", "/api/options"), ("POST", "/api/jobs")]  # fmt: skip
    for method, url in calls:
        res = client.request(method, url, headers={**evil, "Origin": "http://attacker.example:8765"})
        assert res.status_code == 421, (method, url, res.status_code)
        assert "is not this server" in res.json()["detail"] and "token" not in res.text
    assert library.track(track) is not None
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST"):
        assert client.get("/api/tracks", headers={"Host": host}).status_code == 200, host


def test_the_host_check_knows_the_bound_address_and_port():
    guard = Guard("127.0.0.1", 8765)
    assert guard.host_error("127.0.0.1:8765") is None and guard.host_error("localhost:8765") is None
    assert guard.host_error("[::1]:8765") is None
    assert "another port" in guard.host_error("127.0.0.1:9999")
    assert "another port" in guard.host_error("localhost")  # no port: 80
    assert "not this server" in guard.host_error("127.0.0.1.nip.io:8765")
    for bad in (None, "", ":8765", "[::1", "localhost:http", "localhost:99999999"):
        assert guard.host_error(bad) is not None, bad
    lan = Guard("mybox.lan", 80)
    assert lan.host_error("mybox.lan") is None and lan.host_error("192.168.1.9") is not None
    anywhere = Guard("0.0.0.0", 8765)  # any address of this machine, by number; still no foreign names
    assert anywhere.host_error("192.168.1.9:8765") is None and anywhere.host_error("[fe80::1]:8765") is None
    assert anywhere.host_error("evil.example:8765") is not None


def test_changes_need_the_pages_origin_and_token(studio):
    client, library, _ = studio
    track = _track(library)
    token = client.get("/api/options").json()["token"]
    assert len(token) >= 24
    job = library.add_job({"text": "x"}, 1, 0)
    png = {"file": ("a.png", b"\x89PNG not really", "image/png")}
    calls = [
        ("POST", "/api/jobs", {"json": REQUEST}),
        ("POST", "/api/jobs", {"content": json.dumps(REQUEST), "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/api/briefs", {"files": png}),  # multipart: a form on any page can send it without a preflight
        ("PATCH", f"/api/tracks/{track}", {"json": {"starred": True}}),
        ("DELETE", f"/api/tracks/{track}", {}),
        ("DELETE", f"/api/jobs/{job}", {}),
    ]
    senders = {
        "no Origin, no token": {},
        "no Origin": {"X-Studio-Token": token},
        "a foreign Origin": {"Origin": "http://evil.example", "X-Studio-Token": token},
        "a null Origin": {"Origin": "null", "X-Studio-Token": token},
        "another port": {"Origin": "http://127.0.0.1:1234", "X-Studio-Token": token},
        "no token": {"Origin": PAGE_ORIGIN},
        "a wrong token": {"Origin": PAGE_ORIGIN, "X-Studio-Token": token[:-1] + "x"},
    }
    for who, headers in senders.items():
        bare = _bare(client, **headers)
        for method, url, kwargs in calls:
            res = bare.request(method, url, **kwargs)
            assert res.status_code == 403, (who, method, url, res.status_code, res.text)
            assert res.json()["detail"]
    assert library.track(track)["starred"] is False and library.job(job)["state"] == "queued"
    assert library.jobs() == [library.job(job)] and list(library.briefs_dir.iterdir()) == []
    assert client.patch(f"/api/tracks/{track}", json={"starred": True}).status_code == 200  # the page's own
    assert client.delete(f"/api/jobs/{job}").status_code == 200
    assert client.delete(f"/api/tracks/{track}").status_code == 200


def test_json_routes_take_only_json(studio):
    """Whatever the framework's default, a body that is not sent as JSON is refused (415): a form or a fetch with a
    text body needs no preflight."""
    client, library, _ = studio
    track = _track(library)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": ctype} if ctype else {}
        res = client.post("/api/jobs", content=json.dumps(REQUEST), headers=headers)
        assert res.status_code == 415 and "application/json" in res.json()["detail"], (ctype, res.text)
        res = client.patch(f"/api/tracks/{track}", content='{"starred": true}', headers=headers)
        assert res.status_code == 415, ctype
    assert library.jobs() == []
    res = client.post("/api/jobs", content="{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400
    res = client.post("/api/jobs", content="[" * 100_00 + "]" * 100_00, headers={"Content-Type": "application/json"})
    assert res.status_code == 400
    res = client.post("/api/jobs", json=REQUEST, headers={"Content-Type": "application/json; charset=utf-8"})
    assert res.status_code == 201


# -- how much they may send -----------------------------------------------------------------------------------------
def test_bodies_are_bounded_by_length_and_as_they_stream(studio):
    client, library, _ = studio
    track = _track(library)
    big = json.dumps({"text": "x" * 300_000})
    res = client.post("/api/jobs", content=big, headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and "at most 65,536 bytes" in res.json()["detail"]

    def chunks():  # no Content-Length: only the count of streamed bytes can stop it
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192].encode()

    res = client.post("/api/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and "too large" in res.json()["detail"]
    assert client.request("DELETE", f"/api/tracks/{track}", content=b"x" * 100_000).status_code == 413
    assert client.get("/api/tracks", headers={"Content-Length": "abc"}).status_code == 400
    assert library.jobs() == [] and library.track(track) is not None


def test_errors_never_quote_the_body_back(studio):
    client, library, _ = studio
    junk = "Z" * 40_000
    unknown_fields = {f"{junk[:9000]}{i}": 1 for i in range(4)}
    for body in ([junk], {"text": "x", "emotion": junk}, {"text": "x", "key": junk}, {"text": "x", "tempo": [junk]},
                 {"text": junk[:2001]}, {"text": "x", "style": junk}, unknown_fields):  # fmt: skip
        res = client.post("/api/jobs", json=body)
        assert res.status_code == 422, res.text[:200]
        assert len(res.content) < 1500 and "Z" * 25 not in res.text, res.text[:300]  # at most a short part
    errors = client.post("/api/jobs", json={"text": "x", "emotion": junk}).json()["errors"]
    assert errors == {"emotion": "emotion must be at most 64 characters, got 40000"}
    for url in (f"/api/tracks/{'9' * 3000}x", f"/api/tracks?limit={'7' * 3000}"):
        res = client.get(url)
        assert res.status_code == 422 and len(res.content) < 1000 and "7777777777" not in res.text, url
    assert library.jobs() == []


def test_style_tags_and_other_fields_are_bounded(studio):
    client, library, _ = studio
    res = client.post("/api/jobs", json={**REQUEST, "style": ", ".join(["piano"] * 100)})
    assert res.status_code == 422 and res.json()["errors"]["style"] == "style must be at most 12 tags, got 100"
    res = client.post("/api/jobs", json={**REQUEST, "style": ["piano"] * 13})
    assert res.json()["errors"]["style"] == "style must be at most 12 tags, got 13"
    res = client.post("/api/jobs", json={**REQUEST, "style": "piano, " + "q" * 33})
    assert res.json()["errors"]["style"] == "a style tag must be at most 32 characters, got one of 33"
    res = client.post("/api/jobs", json={**REQUEST, "style": ["piano", {"a": 1}]})
    assert res.json()["errors"]["style"] == "style tags must be text, got a dict"
    res = client.post("/api/jobs", json={**REQUEST, "seed": "1" * 65, "valence": [0.1] * 3, "arousal": 0.2})
    errors = res.json()["errors"]
    assert errors == {"seed": "seed must be at most 64 characters, got 65",
                      "valence": "valence must be one value, got a list"}  # fmt: skip
    assert library.jobs() == []
    ok = client.post("/api/jobs", json={**REQUEST, "style": "piano, strings, lo-fi"})
    assert ok.status_code == 201 and ok.json()["request"]["style"] == "piano, strings, lo-fi"


def test_the_queue_is_bounded(studio, monkeypatch):
    client, library, _ = studio
    monkeypatch.setattr(studio_app, "MAX_WAITING_JOBS", 3)
    ids = [client.post("/api/jobs", json=REQUEST).json()["id"] for _ in range(3)]
    res = client.post("/api/jobs", json=REQUEST)
    assert res.status_code == 429
    assert res.json()["errors"]["form"].startswith("the queue is full (3 jobs waiting, at most 3)")
    assert len(library.jobs()) == 3
    client.delete(f"/api/jobs/{ids[0]}")  # room again
    assert client.post("/api/jobs", json=REQUEST).status_code == 201


def _pngs(n: int, tmp_path) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        path = tmp_path / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        out.append(path.read_bytes())
    return out


def test_uploads_are_bounded_and_read_one_at_a_time(tmp_path, generator, monkeypatch):
    """Three pictures at once: two are taken (and decoded one after the other), the third is told to wait."""
    import httpx

    library = Library(tmp_path / "lib")
    app = create_app(library, Worker(library, generator=generator), start_worker=False)
    active, peak = [0], [0]
    real = B.read_brief

    def slow_read(kind, path):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        try:
            return real(kind, path)
        finally:
            active[0] -= 1

    monkeypatch.setattr(B, "read_brief", slow_read)
    headers = dict(page_client(app).headers)  # the page's Origin and token

    async def three_at_once():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PAGE_ORIGIN, headers=headers) as c:
            posts = [c.post("/api/briefs", files={"file": (f"p{i}.png", data, "image/png")})
                     for i, data in enumerate(_pngs(3, tmp_path))]  # fmt: skip
            return await asyncio.gather(*posts)

    answers = asyncio.run(three_at_once())
    assert sorted(a.status_code for a in answers) == [201, 201, 429], [a.text for a in answers]
    busy = next(a for a in answers if a.status_code == 429).json()["errors"]["brief"]
    assert busy.startswith("2 uploads are being received or read already (at most 2 at once)")
    assert peak[0] == 1
    assert app.state.uploads == 0


def test_a_video_without_a_stated_length_stops_decoding_at_the_limit(tmp_path, monkeypatch):
    """A video whose container states no length is decoded only until it is known to be too long."""
    import av

    from audiogen.brief import video as V

    class Sink:  # not seekable: the muxer cannot go back to write the length
        def __init__(self):
            self.data = bytearray()

        def write(self, b):
            self.data += bytes(b)
            return len(b)

    sink = Sink()
    with av.open(sink, "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(100):  # 4 s
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 2, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    path = tmp_path / "endless.mkv"
    path.write_bytes(sink.data)
    with av.open(str(path)) as c:
        assert c.duration is None and c.streams.video[0].duration is None
    decoded = []
    real = V.histogram
    monkeypatch.setattr(V, "histogram", lambda rgb: decoded.append(1) or real(rgb))
    monkeypatch.setattr(V, "MAX_SECONDS", 1.0)
    V._read_video.cache_clear()
    with pytest.raises(ValueError, match="lasts more than 1 s"):
        V.read_video(path)
    assert len(decoded) < 45  # 1.5 s of the 4 s at 25 fps, not all 100 frames
    V._read_video.cache_clear()


# -- what it answers -----------------------------------------------------------------------------------------------
def test_every_response_carries_the_security_headers(studio):
    client, library, _ = studio
    track = _track(library)
    json_type = {"Content-Type": "application/json"}
    answers = [client.get("/"), client.get("/static/app.js"), client.get("/api/options"), client.get("/nothing"),
               client.get(f"/api/tracks/{track}/file/mp3"), client.get("/", headers={"Host": "evil.example"}),
               _bare(client).delete(f"/api/tracks/{track}"),
               client.post("/api/jobs", content=b"x" * 70_000, headers=json_type)]  # fmt: skip
    crash = TestClient(client.app, base_url=PAGE_ORIGIN, raise_server_exceptions=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(library, "tracks", lambda *a: 1 / 0)
        answers.append(crash.get("/api/tracks"))  # the framework's own answer to a crash
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 200, 421, 403, 413, 500]
    for res in answers:
        for name in HEADERS:
            assert name in res.headers, (res.request.url, name)
        assert res.headers["x-frame-options"] == "DENY" and res.headers["x-content-type-options"] == "nosniff"
        csp = res.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answers[1].headers["content-type"].startswith("text/javascript")


def test_the_page_needs_nothing_the_policy_forbids(studio):
    """No inline script or style, no style attribute, no event handler attribute in the page: the CSP allows only
    the page's own files."""
    import re

    client, _, _ = studio
    html = client.get("/").text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    for name in ("app.js", "brief.js"):
        js = client.get(f"/static/{name}").text
        assert 'setAttribute("style"' not in js and "eval(" not in js and "new Function" not in js
        assert not re.search(r"style: `", js), name  # styles go through el.style, not a style attribute


# -- the library's ids and jobs ------------------------------------------------------------------------------------
def test_track_ids_are_never_reused(studio):
    client, library, _ = studio
    first, newest = _track(library, variant=0), _track(library, variant=1)
    old_link = f"/api/tracks/{newest}/file/mp3"
    assert client.delete(f"/api/tracks/{newest}").status_code == 200
    again = _track(library, variant=2)
    assert again not in (first, newest)
    assert client.get(old_link).status_code == 404  # the stale link finds nothing, not another track
    for huge in (2**63, 2**64 + 5, 10**30):
        for method in ("GET", "DELETE"):
            assert client.request(method, f"/api/tracks/{huge}").status_code == 404, (method, huge)
        assert client.get(f"/api/tracks/{huge}/file/mp3").status_code == 404
        assert client.patch(f"/api/tracks/{huge}", json={"starred": True}).status_code == 404
        assert client.delete(f"/api/jobs/{huge}").status_code == 404
    assert client.get(f"/api/tracks?offset={2**63}").status_code == 422


def test_a_library_of_an_earlier_version_gets_ids_that_are_never_reused(tmp_path):
    root = tmp_path / "lib"
    Library(root)
    with sqlite3.connect(root / "studio.sqlite3") as con:  # the tables as an earlier version made them
        sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'tracks'").fetchone()[0]
        con.execute("DROP TABLE tracks")
        con.execute(sql.replace("AUTOINCREMENT", "").replace(",\n    originality TEXT", ""))
        assert "originality" not in {r[1] for r in con.execute("PRAGMA table_info(tracks)")}
        sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
        con.execute("DROP TABLE jobs")
        con.execute(sql.replace(",\n    kept TEXT NOT NULL DEFAULT '[]'", ""))
        assert "kept" not in {r[1] for r in con.execute("PRAGMA table_info(jobs)")}
    with sqlite3.connect(root / "studio.sqlite3") as con:
        con.execute(
            "INSERT INTO tracks (id, variant, created, title, seed, duration, request, params, peaks, stem, "
            "kinds) VALUES (7, 0, 0, 't', 0, 1, '{}', '{}', '[]', '000001-0-0123456789ab', '[]')"
        )
    library = Library(root)
    assert library.track(7)["title"] == "t"  # kept, with its id
    assert library.track(7)["originality"] is None  # the column was added; the old track was not checked
    newer = _track(library)
    assert newer == 8 and library.delete_track(newer)
    assert _track(library, variant=1) == 9
    job = library.add_job({"text": "x"}, 1, 0)
    assert library.job(job)["kept"] == []


def test_a_library_made_before_the_originality_check_gains_its_column(tmp_path):
    root = tmp_path / "lib"
    _track(Library(root))
    with sqlite3.connect(root / "studio.sqlite3") as con:
        con.execute("ALTER TABLE tracks DROP COLUMN originality")
    library = Library(root)
    assert library.tracks()[0][0]["originality"] is None and _track(library, variant=1) == 2


def test_a_running_job_can_be_cancelled(studio, generator, monkeypatch):
    client, library, worker = studio
    job = client.post("/api/jobs", json=REQUEST).json()
    real, calls, answers = generator.generate, [], []

    def generate(*args, **kwargs):  # the user presses Cancel while the first variant is being made
        calls.append(kwargs["seed"])
        answers.append(client.delete(f"/api/jobs/{job['id']}"))
        return real(*args, **kwargs)

    monkeypatch.setattr(generator, "generate", generate)
    assert worker.run_once()
    assert [a.status_code for a in answers] == [200] and answers[0].json() == {"cancelled": job["id"]}
    assert calls == [5]  # the second variant was never started
    assert library.job(job["id"])["state"] == "cancelled" and worker.status == "ready"
    assert client.get("/api/tracks").json()["total"] == 0 and list(library.audio_dir.iterdir()) == []
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 409  # it has ended
    assert client.delete("/api/jobs/999").status_code == 404
    assert not worker.run_once()


def test_a_job_cancelled_between_variants_keeps_what_it_made(studio, generator, monkeypatch):
    client, library, worker = studio
    job = client.post("/api/jobs", json=REQUEST).json()
    real_keep = worker._keep

    def keep(*args, **kwargs):  # the cancel lands just as the first variant is being kept
        out = real_keep(*args, **kwargs)
        client.delete(f"/api/jobs/{job['id']}")
        return out

    monkeypatch.setattr(worker, "_keep", keep)
    worker.run_once()
    assert library.job(job["id"])["state"] == "cancelled"
    assert [t["seed"] for t in client.get("/api/tracks").json()["tracks"]] == [5]


def test_a_resumed_job_does_not_remake_a_deleted_variant(tmp_path, generator):
    library = Library(tmp_path / "lib")
    worker = Worker(library, generator=generator)
    job_id = library.add_job(dict(REQUEST, ending="fade", loudness="streaming", valence=None, arousal=None,
                                  style=None, tempo=None, key=None, brief=None), 2, 40)  # fmt: skip
    job = library.claim_job()  # the server stops after the first variant was kept ...
    worker._keep(job, 0, 40, generator.generate("x", duration=2, seed=40, progress=False))
    first = library.tracks()[0][0]
    assert library.delete_track(first["id"])  # ... and the user deletes it before the next start
    assert library.recover() == 1
    assert library.variants_done(job_id) == {0}
    worker.run_once()
    assert library.job(job_id)["state"] == "done"
    assert [t["seed"] for t in library.tracks()[0]] == [41]  # only the variant never made


# -- one-line refusals at the start ---------------------------------------------------------------------------------
def test_a_second_studio_on_one_library_says_so_in_one_line(tmp_path, capsys):
    from audiogen import cli

    root = tmp_path / "lib"
    first = Library(root)
    first.lock()
    try:
        assert cli.main(["studio", "--library", str(root), "--model", "debug", "--port", "0"]) == 2
    finally:
        first.unlock()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "another audiogen studio is using this library" in err, err


def test_a_database_that_is_not_the_studios_is_refused_in_one_line(tmp_path, capsys):
    from audiogen import cli

    root = tmp_path / "lib"
    Library(root)
    (root / "studio.sqlite3").write_bytes(b"these are my notes, not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (root / f"studio.sqlite3{suffix}").unlink(missing_ok=True)
    assert (root / MARKER).is_file()
    assert cli.main(["studio", "--library", str(root), "--model", "debug", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{root / 'studio.sqlite3'} is not a studio database" in err, err
    with sqlite3.connect(tmp_path / "other.sqlite3") as con:  # an SQLite database with tables of its own
        con.execute("CREATE TABLE jobs (name TEXT)")
    (root / "studio.sqlite3").write_bytes((tmp_path / "other.sqlite3").read_bytes())
    assert cli.main(["studio", "--library", str(root), "--model", "debug", "--port", "0"]) == 2
    assert "is not a studio database" in capsys.readouterr().err
    assert (root / "studio.sqlite3").read_bytes() == (tmp_path / "other.sqlite3").read_bytes()  # left as it was
