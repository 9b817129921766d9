"""``audiogen analyze`` and ``audiogen.analyze`` (with a tiny model trained here; the model itself and the shipped
one are tested in test_emotion_model.py)."""

import json

import numpy as np
import pytest

import audiogen
from audiogen.audio import save_audio
from audiogen.cli import main
from audiogen.conditioning.emotion_features import N_FEATURES
from audiogen.conditioning.emotion_model import EmotionModelConfig
from audiogen.conditioning.emotion_train import Dataset, TrainOptions, train_model
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.track import Track

TAGS = ("piano", "drums")


def _synthetic(n: int, seed: int) -> Dataset:
    """Features whose first two columns determine valence/arousal and the third the 'drums' tag (the rest: noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32) * 0.01 + 10
    x[:, :3] = rng.normal(size=(n, 3)) * 3 + 10
    va = np.tanh((x[:, :2] - 10) / 3).astype(np.float32)
    tags = np.stack([np.zeros(n), (x[:, 2] > 10)], axis=1).astype(np.float32)
    return Dataset(x=x, va=va, tags=tags, tag_mask=np.ones_like(tags), weight=np.ones(n, np.float32))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 16-unit model trained briefly on synthetic features, saved (fp16)."""
    config = EmotionModelConfig(hidden=16, layers=1, dropout=0.0, tags=TAGS)
    model = train_model(_synthetic(256, 0), config, TrainOptions(epochs=5, batch_size=64, lr=1e-2))
    return model.save_pretrained(tmp_path_factory.mktemp("emotion") / "model")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The same 2 s chord-like clip as wav, ogg and mp3."""
    folder = tmp_path_factory.mktemp("clips")
    t = np.arange(64000) / 32000
    y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.2 * (1 + np.sign(np.sin(2 * np.pi * 4 * t)))
    y = y.astype(np.float32) / 2
    return [save_audio(folder / f"clip.{ext}", y, 32000) for ext in ("wav", "ogg", "mp3")]


def test_cli_text_and_json(clips, tiny_model_dir, capsys):
    assert main(["analyze", *map(str, clips), "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    for clip in clips:
        assert str(clip) in out
    assert out.count("LUFS") == 3 and "BPM" in out and "emotion model" in out

    assert main(["analyze", str(clips[2]), "--json", "--model", str(tiny_model_dir)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["file"] == str(clips[2])
    assert -1 <= result["valence"] <= 1 and -1 <= result["arousal"] <= 1
    assert result["emotion"] in EMOTIONS and result["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    assert set(result["tag_scores"]) == set(TAGS) and set(result["tags"]) <= set(TAGS)
    assert result["mode"] in ("major", "minor") and 30 < result["tempo"] < 300
    assert -40 < result["loudness_lufs"] < 0
    assert abs(result["duration"] - 2.0) < 0.1


def test_cli_reports_corrupt_file_and_goes_on(clips, tiny_model_dir, tmp_path, capsys):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00not audio at all" * 10)
    assert main(["analyze", str(bad), str(clips[0]), "--json", "--model", str(tiny_model_dir)]) == 2
    captured = capsys.readouterr()
    assert "broken.mp3" in captured.err and "error" in captured.err
    assert [r["file"] for r in json.loads(captured.out)] == [str(clips[0])]


def test_analyze_track_with_model_and_rule_fallback(tiny_model_dir, monkeypatch):
    t = np.arange(48000) / 48000
    track = Track((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 48000)
    result = audiogen.analyze(track, model=tiny_model_dir)
    assert result["file"] is None and result["method"].startswith("emotion model")
    assert -1 <= result["valence"] <= 1 and -1 <= result["arousal"] <= 1
    assert -1 <= result["descriptors"]["rule_valence"] <= 1

    import audiogen.analyze_cli as cli

    monkeypatch.setattr(cli, "_default_model", lambda: None)
    fallback = audiogen.analyze(track)
    assert "rule-based" in fallback["method"] and fallback["tag_scores"] == {}
    assert fallback["valence"] == fallback["descriptors"]["rule_valence"]


def test_silence_and_noise_are_not_given_a_key_and_a_mood(tmp_path, capsys):
    sr = 32000
    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(5 * sr, dtype=np.float32), sr)
    noise = np.random.default_rng(0).standard_normal(5 * sr).astype(np.float32) * 0.1
    sf.write(tmp_path / "noise.wav", noise, sr)
    assert main(["analyze", str(tmp_path / "silence.wav"), str(tmp_path / "noise.wav")]) == 2
    err = capsys.readouterr().err
    assert "nothing to analyse: the audio is silent" in err and "the audio is noise, not music" in err
    with pytest.raises(ValueError, match="silent"):
        audiogen.analyze(Track(np.zeros(sr, dtype=np.float32) + 1e-6, sr))
