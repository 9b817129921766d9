import json

import numpy as np
import pytest

from audiogen.audio import load_audio, save_audio
from audiogen.cli import main
from audiogen.generator import MusicGenerator, make_requests
from audiogen.id3 import read_id3
from audiogen.lm.sampling import GenerationParams
from audiogen.mastering.spec import MasteringSpec


@pytest.fixture(scope="module")
def gen():
    return MusicGenerator.debug()


def test_generate_exact_duration_mastered_and_reproducible(gen):
    a = gen.generate("calm piano at night", emotion="calm", duration=2.5, seed=7, progress=False)
    b = gen.generate("calm piano at night", emotion="calm", duration=2.5, seed=7, progress=False)
    c = gen.generate("calm piano at night", emotion="calm", duration=2.5, seed=8, progress=False)
    assert a.audio.shape == (80000,) and a.sample_rate == 32000
    assert np.array_equal(a.audio, b.audio)  # same seed, bit for bit
    assert not np.array_equal(a.audio, c.audio)
    assert a.seed == 7 and a.emotion == "calm"
    assert abs(a.params["mastering"]["output_lufs"] - (-14.0)) < 0.5


def test_progress_callback_sees_every_sampling_step_and_changes_nothing(gen):
    seen = []
    a = gen.generate("calm piano", emotion="calm", duration=1.0, seed=3, progress=lambda s, t: seen.append((s, t)))
    b = gen.generate("calm piano", emotion="calm", duration=1.0, seed=3, progress=False)
    assert np.array_equal(a.audio, b.audio)
    steps, totals = zip(*seen, strict=True)
    assert len(set(totals)) == 1 and list(steps) == sorted(steps) and steps[-1] == totals[0] >= 50  # 50 frames/s


def test_batch_with_mixed_durations_and_broadcast(gen):
    tracks = gen.generate(["a", "b", "c"], emotion=["happy", "sad", None], duration=[2, 3, 2], seed=1, progress=False)
    assert [t.audio.shape[0] for t in tracks] == [64000, 96000, 64000]
    assert [t.emotion for t in tracks] == ["happy", "sad", None]
    with pytest.raises(ValueError, match="2 values for a batch of 3"):
        gen.generate(["a", "b", "c"], emotion=["happy", "sad"], progress=False)


def test_save_load_round_trip(tmp_path, gen):
    gen.save_pretrained(tmp_path / "m")
    back = MusicGenerator.from_pretrained(tmp_path / "m")
    x = gen.generate("x", duration=1.5, seed=3, progress=False)
    y = back.generate("x", duration=1.5, seed=3, progress=False)
    np.testing.assert_allclose(x.audio, y.audio, atol=1e-3)
    with pytest.raises(FileNotFoundError, match="not an audiogen model folder"):
        MusicGenerator.from_pretrained(tmp_path)


def test_loop_and_loudness_presets(gen):
    t = gen.generate(
        "loop", duration=2, seed=2, mastering=MasteringSpec(loudness="ebu-r128", ending="loop"), progress=False
    )
    assert t.audio.shape == (64000,)
    assert abs(t.params["mastering"]["output_lufs"] + 23) < 0.5


def test_continuation_from_audio_prompt(gen, tone):
    t = gen.generate("more", duration=2, seed=1, prompt=np.tile(tone, 1)[:16000], progress=False)
    assert t.audio.shape == (64000,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(duration=0), "duration must lie in"),
        (dict(duration=601), "duration must lie in"),
        (dict(emotion="hapy"), "Did you mean 'happy'"),
        (dict(tempo=400), "tempo must lie in"),
        (dict(key="H minor"), "unknown key"),
        (dict(valence=2.0, arousal=0.0), "valence"),
        (dict(style=["not-a-style-tag"]), "not-a-style-tag"),
        (dict(reference="missing.wav"), "no such file"),
    ],
)
def test_bad_requests_fail_before_any_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_requests("x", **kwargs)


def test_reference_clip_fills_tempo_key(tmp_path):
    sr = 32000
    t = np.arange(sr * 6) / sr
    beat = (np.sin(2 * np.pi * 440 * t) * np.exp(-((t % 0.5) * 30))).astype(np.float32) * 0.5  # 120 BPM clicks
    ref = save_audio(tmp_path / "ref.wav", beat)
    (req,) = make_requests("like this", reference=str(ref), tempo=None)
    assert req.attributes.tempo is not None and abs(req.attributes.tempo - 120) / 120 < 0.05
    (req,) = make_requests("like this", reference=str(ref), tempo=90, emotion="sad")
    assert req.attributes.tempo == 90 and req.attributes.emotion == "sad" and req.attributes.valence is None
    secret = save_audio(tmp_path / "client-acme-rough-cut.wav", beat)
    track = MusicGenerator.debug().generate("like this", reference=str(secret), duration=1.0, seed=0, progress=False)
    assert "acme" not in json.dumps(track.tags()) and "reference clip" in track.tags()["style"]


def test_cli_generate_writes_tagged_mp3(tmp_path):
    out = tmp_path / "night.mp3"
    rc = main(
        [
            "generate",
            "calm piano at night",
            "--emotion",
            "calm",
            "--duration",
            "2",
            "--seed",
            "7",
            "--model",
            "debug",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert len(load_audio(out)) == 64000  # exact duration survives MP3
    tags = read_id3(out)
    assert tags["seed"] == "7" and tags["emotion"] == "calm" and "AI-generated" in tags["comment"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--duration", "-1"], "duration"),
        (["--emotion", "grumpy"], "unknown emotion"),
        (["--tempo", "10"], "tempo"),
        (["--reference", "nope.ogg"], "nope.ogg"),
        (["-o", "x.aiff"], "unsupported extension"),
        (["--loudness", "loud"], "loudness"),
        (["--beat-guidance", "-1"], "beat_scale must be"),
        (["--tempo", "100", "--beat-guidance", "3"], "needs a model with a beat prior"),
    ],
)
def test_cli_bad_requests(tmp_path, capsys, argv, message):
    rc = main(["generate", "x", "--model", "debug", "--no-progress", "-o", str(tmp_path / "o.mp3"), *argv])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.mp3").exists()


def test_generation_params_validation():
    with pytest.raises(ValueError, match="temperature"):
        GenerationParams(temperature=0)
