"""Video briefs through the facade, the CLI (--video, --mux) and render jobs; every bad input fails before work."""

import numpy as np
import pytest

from audiogen import MusicGenerator
from audiogen.brief import mux as M
from audiogen.brief.synth import colour_field_video, contrast_pair, save_rgb

COLOURS = [(250, 220, 60), (20, 20, 40), (200, 40, 40), (60, 90, 200)]


@pytest.fixture(scope="module")
def spot(tmp_path_factory):
    """A 6 s, 25 fps video with cuts at 1.2, 2.4 and 3.6 s."""
    path = tmp_path_factory.mktemp("spot") / "spot.mp4"
    colour_field_video(path, [1.2, 2.4, 3.6], 6.0, colours=COLOURS)
    return path


@pytest.fixture(scope="module")
def gen():
    return MusicGenerator.debug()


def test_a_video_brief_lasts_the_video_and_changes_on_its_cuts(gen, spot, monkeypatch):
    seen = []
    real = gen.performer.sample

    def spy(attributes, n_frames, *args, **kwargs):
        seen.append((attributes[0], n_frames))
        return real(attributes, n_frames, *args, **kwargs)

    monkeypatch.setattr(gen.performer, "sample", spy)
    track = gen.generate("a short spot", video=spot, seed=4, progress=False)
    assert track.audio.shape == (round(6.0 * 32000),)
    assert [s["start"] for s in track.plan.request["shots"]] == [0.0, 1.2, 2.4, 3.6]
    assert len(seen) == 4  # one performance per shot
    valences = [a.valence for a, _ in seen]
    assert valences[0] > 0 > valences[1]  # the bright shot, then the dark one
    assert [n for _, n in seen] == [62, 62, 62, 120]
    assert track.plan.request["video"]["frames"] == 150


def test_cli_generate_with_video_and_mux(tmp_path, spot, capsys):
    from audiogen.cli import main

    out, copy = tmp_path / "spot.wav", tmp_path / "scored.mp4"
    assert main(["generate", "a short spot", "--video", str(spot), "--model", "debug", "--seed", "1",
                 "-o", str(out), "--mux", str(copy), "--no-progress"]) == 0  # fmt: skip
    assert "video stream copied" in capsys.readouterr().out
    src, dst = M.stream_summary(spot), M.stream_summary(copy)
    (v_in,) = src["streams"]
    v_out, a_out = dst["streams"]
    assert (v_out["type"], a_out["type"], a_out["codec"]) == ("video", "audio", "aac")
    assert v_out["codec"] == v_in["codec"] and v_out["sizes"] == v_in["sizes"]  # packets copied, not re-encoded
    frame = 1 / 25
    assert v_out["end"] == pytest.approx(v_in["end"], abs=1e-6)
    assert abs(a_out["end"] - v_in["end"]) < frame / 2  # the sound ends with the last frame
    assert abs(dst["duration"] - src["duration"]) < frame / 2
    import av

    with av.open(str(copy)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert 0 <= samples - round(6.0 * 32000) < M.FRAME_SAMPLES  # a decoder may play out the last AAC frame's padding
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_mux_failure_leaves_nothing(tmp_path, spot, monkeypatch):
    import av

    def boom(*args):
        raise av.FFmpegError(1, "boom")

    monkeypatch.setattr(M, "_write", boom)
    with pytest.raises(ValueError, match="cannot be copied"):
        M.mux(spot, np.zeros(32000, np.float32), 32000, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"image": "IMG"}, "not both"),
        ({"duration": 9}, "differs from the video's length"),
        ({"duration": 0}, "duration must lie in"),
        ({"mastering": "loop"}, "allowed endings with video=: fade, none"),
        ({"plan": "PLAN"}, "cannot be combined with plan="),
        ({"prompt": "PROMPT"}, "cannot be combined"),
        ({"text": ["a", "b"]}, "give one text prompt"),
        ({"video": "MISSING"}, "no such file"),
        ({"video": "TEXT"}, "unsupported file type"),
    ],
)
def test_bad_video_requests_fail_before_any_generation(gen, spot, tmp_path, monkeypatch, kwargs, expected):
    from audiogen.compose.planner import compose_plan
    from audiogen.master import MasteringSpec

    monkeypatch.setattr(gen.performer, "sample", lambda *a, **k: pytest.fail("generation started"))
    (tmp_path / "notes.txt").write_text("x")
    subs = {"IMG": save_rgb(contrast_pair(0, 16)[0], tmp_path / "a.png"), "MISSING": tmp_path / "none.mp4",
            "TEXT": tmp_path / "notes.txt", "PROMPT": np.zeros(32000, np.float32),
            "PLAN": compose_plan(None, duration=2, use_minilm=False)}  # fmt: skip
    call = {"text": "x", "video": spot, "progress": False}
    for k, v in kwargs.items():
        call[k] = MasteringSpec(ending="loop") if v == "loop" else subs.get(v, v) if isinstance(v, str) else v
    with pytest.raises(ValueError, match=expected):
        gen.generate(**call)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--mux", "X.mp4"], "it needs --video"),
        (["--video", "SPOT", "--mux", "X.avi"], "unsupported container '.avi'"),
        (["--video", "SPOT", "--mux", "NOFOLDER/X.mp4"], "does not exist"),
        (["--video", "SPOT", "--image", "IMG"], "not both"),
        (["--video", "SPOT", "--ending", "loop"], "allowed endings"),
        (["--video", "SPOT", "--duration", "3"], "differs from the video's length"),
        (["--video", "NONE.mp4"], "no such file"),
        (["--image", "NONE.png"], "no such file"),
    ],
)
def test_cli_bad_briefs_fail_before_the_model_loads(tmp_path, spot, capsys, monkeypatch, extra, expected):
    from audiogen.cli import main
    from audiogen.generator import MusicGenerator as G

    monkeypatch.setattr(G, "debug", classmethod(lambda cls, seed=0: pytest.fail("the model loaded")))
    img = save_rgb(contrast_pair(0, 16)[0], tmp_path / "a.png")
    subs = {"SPOT": str(spot), "IMG": str(img)}
    args = [subs.get(a, str(tmp_path / a) if a[0].isupper() and "." in a else a) for a in extra]
    out = tmp_path / "o.wav"
    assert main(["generate", "x", "--model", "debug", "-o", str(out), "--no-progress", *args]) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "X.mp4").exists()


def test_render_jobs_take_image_and_video_columns(tmp_path, spot):
    import shutil

    from audiogen.render.jobs import load_jobs
    from audiogen.render.readers import JobsFileError

    shutil.copy(spot, tmp_path / "spot.mp4")
    save_rgb(contrast_pair(2, 16)[0], tmp_path / "poster.png")
    (tmp_path / "ok.csv").write_text("id,text,image,video,duration\nposter,,poster.png,,3\nspot,a spot,,spot.mp4,\n")
    poster, video = load_jobs(tmp_path / "ok.csv")
    assert poster.image == tmp_path / "poster.png" and poster.duration == 3
    assert video.video == tmp_path / "spot.mp4" and video.duration == pytest.approx(6.0)
    kw = video.items()[0].generate_kwargs()
    assert kw["video"] == str(tmp_path / "spot.mp4") and kw["duration"] == pytest.approx(6.0)
    assert "video_sha256" in video.items()[0].params("m")
    (tmp_path / "bad.csv").write_text(
        "id,image,video,duration,ending\n"
        "a,poster.png,spot.mp4,,\n"
        "b,,spot.mp4,9,\n"
        "c,,spot.mp4,,loop\n"
        "d,,nothing.mp4,,\n"
        "e,nothing.png,,3,\n"
        "f,,,,\n"
    )
    with pytest.raises(JobsFileError) as err:
        load_jobs(tmp_path / "bad.csv")
    text = str(err.value)
    for expected in ("not both", "differs from the video's length", "ends on the video's last frame",
                     "nothing.mp4: no such file", "nothing.png: no such file", "every job needs id and duration"):
        assert expected in text, expected  # fmt: skip


def test_render_a_video_job(tmp_path, spot):
    import shutil

    from audiogen.render.batch import render_item
    from audiogen.render.jobs import expand, load_jobs

    shutil.copy(spot, tmp_path / "spot.mp4")
    (tmp_path / "jobs.csv").write_text("id,text,video\nspot,a spot,spot.mp4\n")
    (item,) = expand(load_jobs(tmp_path / "jobs.csv"))
    (tmp_path / "out").mkdir()
    info = render_item(MusicGenerator.debug(), item, tmp_path / "out")
    assert (tmp_path / "out" / "spot.mp3").is_file() and info["duration_s"] == pytest.approx(6.0, abs=0.05)
