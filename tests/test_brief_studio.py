"""Picture and video briefs in the studio's API: uploads (checked with the API's readers, stored under their hash),
jobs that use them, the video's muxed MP4, and what is kept when results are deleted (TestClient; the debug model)."""

import hashlib

import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("httpx", reason="httpx (TestClient) is not installed (pip install -e '.[dev]')")
pytest.importorskip("python_multipart", reason="python-multipart is not installed (pip install -e '.[dev]')")

from audiogen.brief.image import read_image
from audiogen.brief.mux import stream_summary
from audiogen.brief.synth import colour_field_video, contrast_pair, save_rgb
from audiogen.brief.video import read_video
from audiogen.generator import MusicGenerator
from audiogen.studio.app import create_app
from audiogen.studio.library import Library
from audiogen.studio.testing import page_client
from audiogen.studio.worker import Worker

FPS = 25


@pytest.fixture(scope="module")
def generator():
    return MusicGenerator.debug()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A bright synthetic picture and a 2 s video with one cut at 1.2 s."""
    folder = tmp_path_factory.mktemp("media")
    picture = save_rgb(contrast_pair(3)[0], folder / "poster.png")
    video = folder / "spot.mp4"
    colour_field_video(video, [1.2], 2.0, fps=FPS, colours=[(250, 220, 60), (20, 20, 60)])
    return picture, video


@pytest.fixture
def studio(tmp_path, generator):
    library = Library(tmp_path / "lib")
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker, start_worker=False, max_upload_bytes=200_000)) as client:
        yield client, library, worker


def _upload(client, *files):
    """POST /api/briefs with ``(name, bytes)`` files, each in a part named ``file``."""
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    return client.post("/api/briefs", files=parts)


def _brief_files(library) -> list[str]:
    return sorted(p.name for p in library.briefs_dir.iterdir())


def test_a_picture_is_read_as_analyze_image_reports_it_and_stored_by_its_hash(studio, media):
    client, library, worker = studio
    picture, _ = media
    data = picture.read_bytes()
    res = _upload(client, ("poster.png", data))
    assert res.status_code == 201, res.text
    brief = res.json()
    digest = hashlib.sha256(data).hexdigest()
    assert (brief["id"], brief["kind"], brief["name"], brief["size"]) == (digest, "image", "poster.png", len(data))
    expected = read_image(picture)
    assert brief["reading"]["valence"] == expected.valence and brief["reading"]["arousal"] == expected.arousal
    assert brief["reading"]["style_tags"] == list(expected.style_tags) and brief["reading"]["choices"]["genre"]
    assert client.get(f"/api/briefs/{digest}").json() == brief
    thumb = client.get(brief["thumb"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"
    assert _brief_files(library) == [f"{digest}.png", f"{digest}.thumb.jpg"]

    res = client.post("/api/jobs", json={"text": "a poster", "brief": digest, "emotion": None, "duration": 2,
                                         "variants": 1, "seed": 3})  # fmt: skip
    assert res.status_code == 201 and res.json()["request"]["brief"] == {"id": digest, "kind": "image",
                                                                         "name": "poster.png"}  # fmt: skip
    worker.run_once()
    (track,) = client.get("/api/tracks").json()["tracks"]
    assert (track["valence"], track["arousal"]) == (expected.valence, expected.arousal)  # the picture's point
    assert track["brief"]["name"] == "poster.png" and set(track["files"]) == {"mp3", "wav", "mid"}

    client.post("/api/jobs", json=dict(track["request"], seed=track["seed"], variants=1))  # "again with this seed"
    worker.run_once()
    again = client.get("/api/tracks").json()["tracks"][0]
    assert again["id"] != track["id"] and again["request"]["brief"]["id"] == digest
    assert client.get(again["files"]["wav"]).content == client.get(track["files"]["wav"]).content


def test_a_video_job_lasts_the_video_and_offers_the_muxed_mp4(studio, media):
    client, library, worker = studio
    _, video = media
    brief = _upload(client, ("spot.mp4", video.read_bytes())).json()
    reading = read_video(video)
    assert brief["kind"] == "video" and brief["reading"]["duration"] == reading.duration == 2.0
    assert brief["reading"]["cuts"] == [1.2] and client.get(brief["thumb"]).status_code == 200  # the first frame
    res = client.post("/api/jobs", json={"text": "a spot", "brief": brief["id"], "duration": 30, "variants": 1,
                                         "seed": 8})  # fmt: skip
    assert res.status_code == 201 and res.json()["request"]["duration"] == 2.0  # the field is ignored
    bad = client.post("/api/jobs", json={"text": "a spot", "brief": brief["id"], "ending": "loop"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"ending": "a video brief ends on the video's last frame; allowed endings with "
                                              "video=: fade, none"}  # fmt: skip
    worker.run_once()
    (track,) = client.get("/api/tracks").json()["tracks"]
    assert track["duration"] == 2.0 and set(track["files"]) == {"mp3", "wav", "mid", "mp4"}
    res = client.get(track["files"]["mp4"] + "?download=1")
    assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
    assert res.headers["content-disposition"].startswith("attachment; filename=") and ".mp4" in res.headers[
        "content-disposition"]  # fmt: skip
    copy = library.root.parent / "download.mp4"
    copy.write_bytes(res.content)
    src, dst = stream_summary(video), stream_summary(copy)
    v_out, a_out = dst["streams"]
    assert (v_out["type"], a_out["type"]) == ("video", "audio")
    assert v_out["sizes"] == src["streams"][0]["sizes"]  # the video's packets, copied
    assert abs(dst["duration"] - reading.duration) < 0.5 / FPS and abs(a_out["end"] - reading.duration) < 0.5 / FPS
    stem = library.track(track["id"])["stem"]
    assert sorted(p.name for p in library.audio_dir.iterdir()) == [f"{stem}.{k}" for k in ("mid", "mp3", "mp4", "wav")]


def test_deleting_results_keeps_an_upload_while_a_row_names_it(studio, media):
    client, library, worker = studio
    _, video = media
    brief = _upload(client, ("spot.mp4", video.read_bytes())).json()
    client.post("/api/jobs", json={"text": "a spot", "brief": brief["id"], "variants": 2, "seed": 1})
    worker.run_once()
    first, second = client.get("/api/tracks").json()["tracks"]
    assert client.delete(f"/api/tracks/{first['id']}").status_code == 200
    assert client.get(first["files"]["mp4"]).status_code == 404
    assert library.prune_briefs(min_age_s=0) == []  # the other track still names it
    assert len(_brief_files(library)) == 2 and client.get(second["files"]["mp4"]).status_code == 200
    client.delete(f"/api/tracks/{second['id']}")
    assert list(library.audio_dir.iterdir()) == []
    assert len(_brief_files(library)) == 2  # unused, but young: the page may be about to use it
    assert library.prune_briefs(min_age_s=0) == [brief["id"]]
    assert _brief_files(library) == [] and client.get(f"/api/briefs/{brief['id']}").status_code == 404
    res = client.post("/api/jobs", json={"text": "a spot", "brief": brief["id"]})
    assert res.status_code == 422 and "upload the picture or video again" in res.json()["errors"]["brief"]


def test_a_brief_survives_a_restart_and_the_sweep(tmp_path, generator, media):
    picture, _ = media
    root = tmp_path / "lib"
    library = Library(root)
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker, start_worker=False)) as client:
        digest = _upload(client, ("poster.png", picture.read_bytes())).json()["id"]
        client.post("/api/jobs", json={"text": "a poster", "brief": digest, "duration": 2, "variants": 1})
    (library.briefs_dir / f".upload-{'0' * 16}.part").write_bytes(b"half")  # an upload cut off by a stop
    (library.briefs_dir / f"{'ab' * 32}.png").write_bytes(b"no row")
    library = Library(root)  # the next start: the queued job still has its brief
    removed = library.sweep()
    assert sorted(removed) == sorted([f".upload-{'0' * 16}.part", f"{'ab' * 32}.png"])
    assert library.prune_briefs(min_age_s=0) == []  # the queued job names it
    (job,) = library.jobs()
    assert job["request"]["brief"]["id"] == digest
    worker = Worker(library, generator=generator)
    assert worker.run_once() and library.job(job["id"])["state"] == "done"
    assert library.tracks()[0][0]["request"]["brief"]["name"] == "poster.png"


def _api_message(read, name: str, data: bytes, tmp_path) -> str:
    """What the API's reader says about ``data`` saved as ``name``, naming the file as the user called it."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError) as err:
        read(path)
    return str(err.value).replace(str(path), name)


def test_bad_uploads_get_the_api_message_and_queue_nothing(studio, media, tmp_path):
    client, library, _ = studio
    picture, video = media
    junk = b"not a video" * 10
    both = "image and video were both given; give image= (a picture) or video= (a video), not both"
    pic, vid = picture.read_bytes(), video.read_bytes()
    cases = [
        ((("notes.txt", b"hello"),), 422, "notes.txt: unsupported file type '.txt'; allowed: one picture (.jpg"),
        ((("photo.png", b"not a picture"),), 422, _api_message(read_image, "photo.png", b"not a picture", tmp_path)),
        ((("clip.mp4", junk),), 422, _api_message(read_video, "clip.mp4", junk, tmp_path)),
        ((("huge.png", b"\0" * 300_000),), 413, "the upload: 0.3 MB is too large; a brief may be at most 0.2 MB"),
        ((("poster.png", pic), ("spot.mp4", vid)), 422, f"poster.png, spot.mp4: {both}"),
        ((("a.png", pic), ("b.png", pic)), 422, "2 files were sent (a.png, b.png)"),
        ((("empty.png", b""),), 422, "empty.png: the file is empty"),
    ]  # fmt: skip
    for files, status, message in cases:
        res = _upload(client, *files)
        assert res.status_code == status, (files[0][0], res.text)
        assert res.json()["errors"]["brief"].startswith(message), res.json()
        assert str(library.root) not in res.text  # messages never name the library's own paths
    assert client.post("/api/briefs", content=b"x", headers={"content-type": "text/plain"}).status_code == 422
    for ident in ("0" * 64, "../studio.sqlite3", {"id": "../../x"}, 7):
        res = client.post("/api/jobs", json={"text": "x", "brief": ident})
        assert res.status_code == 422 and "upload the picture or video again" in res.json()["errors"]["brief"]
    assert library.jobs() == [] and _brief_files(library) == []  # nothing queued, nothing half-written kept


def test_a_streamed_upload_is_cut_off_at_the_limit(studio):
    client, library, _ = studio
    body = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\r\n" + b"\0" * 250_000
            + b"\r\n--B--\r\n")  # fmt: skip

    def chunks():  # no Content-Length: only the count of streamed bytes can stop it
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    res = client.post("/api/briefs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=B"})
    assert res.status_code == 413
    assert res.json()["errors"]["brief"].startswith("big.mp4: more than 0.2 MB is too large")
    assert _brief_files(library) == []


@pytest.mark.parametrize(
    "name", ["../../../evil.png", "..\\..\\evil.png", "/etc/evil.png", "sub/dir/evil.png", "..evil.png"]
)
def test_names_with_paths_are_display_text_only(studio, media, name, tmp_path):
    client, library, _ = studio
    picture, _ = media
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = _upload(client, (name, picture.read_bytes()))
    assert res.status_code == 201, res.text
    brief = res.json()
    assert brief["name"] == "evil.png"
    assert _brief_files(library) == [f"{brief['id']}.png", f"{brief['id']}.thumb.jpg"]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert sorted(set(after) - set(before)) == sorted(p.relative_to(tmp_path) for p in library.briefs_dir.iterdir())
    for url in ("/api/briefs/..%2f..%2fstudio.sqlite3", "/api/briefs/..%2fstudio.sqlite3/thumb",
                f"/api/briefs/{brief['id'][:-1]}/thumb", "/api/briefs/%2e%2e/thumb"):  # fmt: skip
        res = client.get(url)
        assert res.status_code == 404 and b"SQLite format" not in res.content, url
