import base64
import io
import json

import numpy as np
import pytest
import soundfile as sf

from audiogen import __version__
from audiogen.audio import load_audio
from audiogen.id3 import read_id3
from audiogen.master import MasteringSpec, master, true_peak_db
from audiogen.track import Track

SR = 32000


@pytest.fixture
def track(tone):
    return Track(
        tone,
        prompt="a hopeful corporate track, piano & <strings>",
        emotion="happy",
        valence=0.8,
        arousal=0.4,
        style="piano, strings",
        tempo=112.0,
        key="C major",
        seed=1234,
        model_version="audiogen-small-v1",
        params={"temperature": 1.0, "top_k": 250, "cfg": 3.0},
    )


def test_mp3_tags_read_back(tmp_path, track):
    path = track.save(tmp_path / "song.mp3")
    tags = read_id3(path)
    assert tags["title"] == "Happy — a hopeful corporate track, piano & <strings>"
    assert tags["prompt"] == track.prompt
    assert tags["emotion"] == "happy" and tags["seed"] == "1234"
    assert tags["model_version"] == "audiogen-small-v1"
    assert "AI-generated" in tags["comment"] and f"audiogen {__version__}" in tags["comment"]
    assert float(tags["valence"]) == 0.8 and float(tags["tempo"]) == 112.0 and tags["key"] == "C major"
    assert json.loads(tags["params"]) == track.params
    assert load_audio(path).size == track.audio.size  # gapless


def test_load_restores_metadata(tmp_path, track):
    back = Track.load(track.save(tmp_path / "song.mp3"))
    for name in ("prompt", "emotion", "valence", "arousal", "style", "tempo", "key", "seed", "model_version", "params"):
        assert getattr(back, name) == getattr(track, name), name
    assert back.audio.size == track.audio.size and back.duration == pytest.approx(1.0)


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_lossless_formats(tmp_path, track, ext):
    path = track.save(tmp_path / f"song{ext}")
    np.testing.assert_allclose(load_audio(path), track.audio, atol=1e-4)
    assert not list(tmp_path.glob(".*part*"))


def test_mastered_track_through_mp3_keeps_length_level_and_peak(tmp_path):
    t = np.arange(int(2.5 * SR)) / SR
    raw = (0.6 * np.sign(np.sin(2 * np.pi * 97 * t)) + 0.3 * np.sin(2 * np.pi * 3001 * t)).astype(np.float32)
    out, report = master(raw, MasteringSpec(loudness="streaming", duration=3.0))
    track = Track(out, prompt="square", params={"mastering": report.to_dict()})
    decoded = load_audio(track.save(tmp_path / "x.mp3", true_peak_ceiling_db=-1.0))
    assert decoded.size == 3 * SR
    assert true_peak_db(decoded, SR) <= -1.0


def test_peak_guard_rewrites_a_hot_mp3(tmp_path):
    rng = np.random.default_rng(0)
    hot = np.clip(rng.standard_normal(SR) * 0.5, -0.99, 0.99).astype(np.float32)  # peaks near 0 dBFS
    plain = load_audio(Track(hot).save(tmp_path / "plain.mp3", true_peak_ceiling_db=None))
    assert true_peak_db(plain, SR) > -1.0
    guarded = load_audio(Track(hot).save(tmp_path / "guarded.mp3", true_peak_ceiling_db=-1.0))
    assert true_peak_db(guarded, SR) <= -1.0 and guarded.size == hot.size


def test_repr_html_embeds_a_playable_wav(track):
    page = track._repr_html_()
    assert "<audio controls" in page and "data:audio/wav;base64," in page
    assert "<strings>" not in page and "&lt;strings&gt;" in page  # the caption is escaped
    payload = page.split("base64,", 1)[1].split('"', 1)[0]
    audio, rate = sf.read(io.BytesIO(base64.b64decode(payload)), dtype="float32")
    assert rate == SR and audio.shape == track.audio.shape
    np.testing.assert_allclose(audio, track.audio, atol=1e-4)
    assert track.to_wav_bytes()[:4] == b"RIFF"


def test_metadata_and_defaults(tone):
    bare = Track(tone.reshape(1, -1))
    assert bare.audio.shape == (SR,) and bare.audio.dtype == np.float32
    assert bare.display_title == "Untitled (audiogen)" and bare.duration == 1.0
    assert bare.metadata() == {"title": "Untitled (audiogen)", "duration": 1.0, "sample_rate": SR}
    long = Track(tone, prompt="x" * 200, emotion="sad")
    assert long.display_title.startswith("Sad — xxx") and long.display_title.endswith("…")
    assert len(long.display_title) < 80
    assert Track(tone, title="Mine").tags()["title"] == "Mine"
    assert "1.00 s" in repr(bare)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audio": np.zeros((2, 100), np.float32)}, "mono"),
        ({"audio": np.zeros(0, np.float32)}, "non-empty"),
        ({"audio": np.array([0.0, np.inf], np.float32)}, "finite"),
        ({"valence": 1.5}, r"valence.*\[-1, 1\]"),
        ({"tempo": -10.0}, "tempo"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"params": ["a"]}, "params"),
    ],
)
def test_invalid_tracks_are_rejected(tone, kwargs, message):
    kwargs = {"audio": tone, **kwargs}
    with pytest.raises(ValueError, match=message):
        Track(**kwargs)


def test_a_huge_prompt_does_not_become_a_huge_tag(tmp_path, tone):
    t = Track(tone, prompt="x" * 100_000, params={"notes": "y" * 50_000})
    path = t.save(tmp_path / "big.mp3")
    tags = read_id3(path)
    assert len(tags["prompt"]) == 1000 and tags["prompt"].endswith("…") and len(tags["params"]) == 4000
    assert path.stat().st_size < 60_000  # 1 s of 192 kbps audio plus bounded tags
