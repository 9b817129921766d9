"""Video briefs: length, cut detection on synthetic colour-field videos with known cuts, shot moods, bad videos."""

import struct

import numpy as np
import pytest

from audiogen.brief import video as V
from audiogen.brief.synth import colour_field_video

BRIGHT, DARK, RED, BLUE = (250, 220, 60), (20, 20, 40), (200, 40, 40), (60, 90, 200)


@pytest.fixture(scope="module")
def spot(tmp_path_factory):
    """A 7 s, 25 fps colour-field video with cuts at 1.6, 3.2 and 4.4 s."""
    path = tmp_path_factory.mktemp("video") / "spot.mp4"
    cuts = colour_field_video(path, [1.6, 3.2, 4.4], 7.0, colours=[BRIGHT, DARK, RED, BLUE])
    return path, cuts


def test_length_and_cuts_are_read_exactly(spot):
    path, cuts = spot
    r = V.read_video(path)
    assert r.duration == pytest.approx(7.0, abs=1e-6) and r.frames == 175 and r.fps == 25
    assert r.cuts == pytest.approx(cuts, abs=1e-6) and cuts == [1.6, 3.2, 4.4]
    assert [x for s in r.shots for x in (s.start, s.end)] == pytest.approx([0, 1.6, 1.6, 3.2, 3.2, 4.4, 4.4, 7.0])
    assert r.shots[0].valence > 0.3 > -0.3 > r.shots[1].valence  # a bright shot, then a dark one
    assert r.shots[0].features["brightness"] > 0.8 > 0.1 > r.shots[1].features["brightness"]
    weights = np.array([s.duration for s in r.shots])
    assert r.valence == pytest.approx(np.average([s.valence for s in r.shots], weights=weights), abs=1e-3)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cut_detection_on_random_colour_fields(tmp_path, seed):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.choice(np.arange(10, 190), size=6, replace=False)) / 25  # frame-exact, in 0.4–7.6 s
    times = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] >= 0.4]
    colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(len(times) + 1)]
    for k in range(1, len(colours)):  # neighbouring shots clearly differ
        colours[k] = tuple((c + 128) % 256 for c in colours[k - 1]) if np.ptp(
            np.subtract(colours[k], colours[k - 1])) < 60 else colours[k]  # fmt: skip
    path = tmp_path / "v.mp4"
    written = colour_field_video(path, times, 8.0, colours=colours, seed=seed)
    assert V.read_video(path).cuts == pytest.approx(written, abs=1e-6)


def test_steady_video_has_no_cuts(tmp_path):
    path = tmp_path / "one.mkv"
    colour_field_video(path, [], 2.0, colours=[RED], noise=20)
    r = V.read_video(path)
    assert r.cuts == () and len(r.shots) == 1 and r.duration == pytest.approx(2.0)


def test_detect_cuts_ignores_steady_churn():
    times = np.arange(50) / 25
    rng = np.random.default_rng(0)
    hists = rng.dirichlet(np.ones(48), size=50).astype(np.float32)  # every frame differs a lot: churn, no cut
    cuts, dist = V.detect_cuts(times, hists)
    assert cuts == [] and dist.shape == (50,) and dist[0] == 0


def _truncate_mdat(src, dst):
    data = bytearray(src.read_bytes())
    i = data.find(b"mdat")
    size = struct.unpack(">I", data[i - 4 : i])[0]
    data[i + 4 : i - 4 + size] = bytes(size - 8)  # every frame's data zeroed
    dst.write_bytes(bytes(data))


def test_bad_videos_are_refused_with_what_is_allowed(tmp_path, spot):
    import av

    cases = {}
    cases["no such file"] = tmp_path / "missing.mp4"
    (tmp_path / "clip.txt").write_text("not a video")
    cases["unsupported file type '.txt'"] = tmp_path / "clip.txt"
    (tmp_path / "junk.mp4").write_bytes(b"\x00junk" * 200)
    cases["cannot be read as a video"] = tmp_path / "junk.mp4"
    with av.open(str(tmp_path / "sound.mp4"), "w") as c:  # an audio stream only
        s = c.add_stream("aac", rate=32000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 32000, 0
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    cases["holds no video stream"] = tmp_path / "sound.mp4"
    _truncate_mdat(spot[0], tmp_path / "blank.mp4")
    cases["has no frames"] = tmp_path / "blank.mp4"
    colour_field_video(tmp_path / "short.mp4", [], 0.8, fps=10, size=(16, 16))
    cases["lasts 0.80 s"] = tmp_path / "short.mp4"
    colour_field_video(tmp_path / "long.mp4", [], 601, fps=1, size=(16, 16))
    cases["longer than a track may last"] = tmp_path / "long.mp4"
    for expected, path in cases.items():
        with pytest.raises(ValueError, match="allowed: a video file") as err:
            V.read_video(path)
        assert expected in str(err.value), (path, str(err.value))


def test_the_video_limits_are_the_tracks():
    from audiogen.conditioning.validate import DURATION_RANGE
    from audiogen.generator import MAX_DURATION

    assert (DURATION_RANGE[0], MAX_DURATION) == (V.MIN_SECONDS, V.MAX_SECONDS)


def test_analyze_video_cli(spot, capsys):
    import json

    from audiogen.cli import main

    assert main(["analyze-video", str(spot[0]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cuts"] == pytest.approx([1.6, 3.2, 4.4]) and out["duration"] == pytest.approx(7.0)
    assert [s["start"] for s in out["plan_shots"]] == pytest.approx([0, 1.6, 3.2, 4.4])
    assert main(["analyze-video", str(spot[0])]) == 0
    text = capsys.readouterr().out
    assert "cuts (3): 1.600, 3.200, 4.400" in text and "section 4" in text
