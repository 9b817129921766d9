"""Picture briefs: features on synthetic pictures, the documented mapping, bad files, the CLI and the facade."""

import json

import numpy as np
import pytest

from audiogen.brief import image as I
from audiogen.brief.synth import contrast_pair, save_rgb


def flat(rgb, size=32):
    out = np.empty((size, size, 3), dtype=np.float32)
    out[:] = rgb
    return out


def test_brightness_and_saturation_features():
    white, black, grey = flat((1, 1, 1)), flat((0, 0, 0)), flat((0.5, 0.5, 0.5))
    red = flat((1, 0, 0))
    f = {name: I.image_features(x) for name, x in dict(white=white, black=black, grey=grey, red=red).items()}
    assert f["white"]["brightness"] == pytest.approx(1.0, abs=1e-3)
    assert f["black"]["brightness"] == pytest.approx(0.0, abs=1e-3)
    assert 0.4 < f["grey"]["brightness"] < 0.6  # L* of sRGB 0.5 is 53
    assert f["grey"]["saturation"] == 0 and f["red"]["saturation"] == pytest.approx(1.0)
    assert f["red"]["warmth"] == pytest.approx(1.0) and I.image_features(flat((0, 0, 1)))["warmth"] == -1.0
    assert f["grey"]["warmth"] == 0.0 and f["grey"]["contrast"] == 0 and f["grey"]["edge_density"] == 0


def test_contrast_and_edges_rise_with_texture():
    halves = flat((0, 0, 0), 64)
    halves[:, 32:] = 1.0
    checker = ((np.indices((64, 64)).sum(axis=0) // 2) % 2).astype(np.float32)[..., None].repeat(3, axis=-1)
    fh, fc = I.image_features(halves), I.image_features(checker)
    assert fh["contrast"] == pytest.approx(1.0, abs=0.01)
    assert 0 < fh["edge_density"] < 0.1 < fc["edge_density"]
    assert fc["energy"] > fh["energy"] > I.image_features(flat((0.5, 0.5, 0.5)))["energy"]


def test_mapping_follows_valdez_mehrabian():
    base = {"brightness": 0.5, "saturation": 0.5, "warmth": 0.0, "contrast": 0.3, "edge_density": 0.3, "energy": 0.3}
    v0, a0, terms = I.emotion_point(base)
    assert (v0, a0) == (0.0, 0.0)  # the centre: mid-grey half saturated, average texture
    brighter = I.emotion_point({**base, "brightness": 0.9})
    saturated = I.emotion_point({**base, "saturation": 0.9})
    assert brighter[0] > 0 > brighter[1]  # brightness: more pleasant, a little calmer
    assert saturated[1] > saturated[0] > 0  # saturation: mostly more arousing
    assert brighter[0] == pytest.approx(0.69 * 0.4 / 0.455, abs=1e-3)
    assert saturated[1] == pytest.approx(0.60 * 0.4 / 0.455, abs=1e-3)
    v, a, terms = I.emotion_point({**base, "brightness": 0.8, "saturation": 0.7, "warmth": 0.5, "energy": 0.6})
    assert v == pytest.approx(sum(terms["valence"].values()), abs=1e-3)
    assert a == pytest.approx(sum(terms["arousal"].values()), abs=1e-3)
    corner = I.emotion_point({**base, "brightness": 1.0, "saturation": 1.0, "warmth": 1.0, "energy": 1.0})
    assert -1 <= corner[0] <= 1 and -1 <= corner[1] <= 1


def test_bright_pictures_read_happier_than_dark_ones():
    for i in range(6):
        bright, dark = contrast_pair(i, size=48)
        rb, rd = I.read_rgb(bright), I.read_rgb(dark)
        assert rb.features["brightness"] > rd.features["brightness"] + 0.15  # saturated blues have a low L*
        assert rb.features["saturation"] > rd.features["saturation"] + 0.4
        assert rb.valence > rd.valence + 0.4 and rd.valence < -0.3
        assert rb.arousal > rd.arousal


def test_style_hints_come_with_reasons():
    tags, reasons = I.style_hints({"brightness": 0.2, "saturation": 0.1, "warmth": -0.6, "contrast": 0.0,
                                   "edge_density": 0.0, "energy": 0.0}, -0.6, -0.3)  # fmt: skip
    assert {"cinematic", "pad", "sparse", "atmospheric"} <= set(tags) and set(reasons) == set(tags)
    from audiogen.conditioning.styles import check_tag

    assert all(check_tag(t) == t for t in tags)  # every hint is a vocabulary tag


def test_read_image_file_downscales(tmp_path):
    big = np.zeros((600, 900, 3), dtype=np.float32)
    big[..., 0] = 1.0
    path = save_rgb(big, tmp_path / "red.jpg")
    rgb = I.load_image(path)
    assert max(rgb.shape[:2]) <= I.ANALYSIS_SIDE and rgb.shape[2] == 3
    assert I.read_image(path).features["warmth"] > 0.9


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.png", None, "no such file"),
        ("poster.txt", b"hello", "unsupported file type '.txt'"),
        ("broken.png", b"\x89PNG not really", "cannot be read as a picture"),
        ("empty.jpg", b"", "cannot be read as a picture"),
    ],
)
def test_bad_pictures_are_refused_with_what_is_allowed(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="allowed: a picture file") as err:
        I.read_image(path)
    assert expected in str(err.value)


def test_analyze_image_cli(tmp_path, capsys):
    from audiogen.cli import main

    bright, dark = contrast_pair(3, size=48)
    a, b = save_rgb(bright, tmp_path / "a.png"), save_rgb(dark, tmp_path / "b.png")
    assert main(["analyze-image", str(a), str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in out] == [str(a), str(b)]
    assert out[0]["valence"] > out[1]["valence"]
    assert {"brightness", "saturation", "warmth", "contrast", "edge_density"} <= set(out[0]["features"])
    assert out[0]["choices"]["mode"] == "major" and out[1]["choices"]["mode"] == "minor"
    assert main(["analyze-image", str(a)]) == 0
    text = capsys.readouterr().out
    assert "valence" in text and "(brightness)" in text and "choices:" in text
    assert main(["analyze-image", str(tmp_path / "nope.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_generate_with_an_image_fills_what_is_left_open(tmp_path):
    from audiogen import MusicGenerator

    bright, dark = contrast_pair(3, size=48)
    pb, pd = save_rgb(bright, tmp_path / "b.png"), save_rgb(dark, tmp_path / "d.png")
    gen = MusicGenerator.debug()
    reading = I.read_image(pb)
    t = gen.generate("poster", image=pb, duration=1, seed=1, progress=False)
    assert (t.valence, t.arousal) == (reading.valence, reading.arousal)
    assert t.plan.mode == "major" and t.style == ", ".join(reading.style_tags)
    explicit = gen.generate("poster", image=pd, emotion="happy", style=["piano"], duration=1, seed=1, progress=False)
    assert explicit.emotion == "happy" and explicit.style == "piano" and explicit.plan.mode == "major"
    both = gen.generate(["a", "b"], image=[pb, pd], duration=1, seed=1, progress=False)
    assert both[0].valence > both[1].valence and both[1].plan.mode == "minor"


def test_bad_image_fails_before_any_generation(tmp_path, monkeypatch):
    from audiogen import MusicGenerator

    gen = MusicGenerator.debug()
    monkeypatch.setattr(gen.performer, "sample", lambda *a, **k: pytest.fail("generation started"))
    with pytest.raises(ValueError, match="no such file"):
        gen.generate("x", image=tmp_path / "none.png", duration=1, progress=False)
    with pytest.raises(ValueError, match="not both"):
        gen.generate("x", image=tmp_path / "a.png", video=tmp_path / "a.mp4", progress=False)
    with pytest.raises(ValueError, match="image has 1 files for a batch of 2"):
        gen.generate(["a", "b"], image=[tmp_path / "a.png"], duration=1, progress=False)
