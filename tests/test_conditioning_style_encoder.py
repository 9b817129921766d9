"""The style encoder: shapes, level invariance, checkpoints, the contrastive loss, and a two-step training run."""

import json

import numpy as np
import pytest
import torch
from audiogen.conditioning.style_encoder import StyleEncoder, StyleEncoderConfig
from audiogen.conditioning.train_style_encoder import nt_xent, parse_args, train

from audiogen.audio import save_audio
from audiogen.data.manifest import Record, write_manifest

TINY = StyleEncoderConfig(n_mels=32, channels=(4, 8), dim=16, crop_seconds=0.5)


def model(seed=0) -> StyleEncoder:
    torch.manual_seed(seed)
    return StyleEncoder(TINY).eval()


def test_shapes_unit_norm_and_level_invariance():
    m = model()
    x = torch.randn(3, 16000) * 0.1
    z = m(x)
    assert z.shape == (3, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(m(4 * x), z, atol=1e-3)  # the clip's mean log-mel is removed
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        m(torch.zeros(16000))


def test_embed_audio_averages_crops():
    m = model()
    clip = np.random.default_rng(0).standard_normal(32000 * 3).astype(np.float32) * 0.1
    v = m.embed_audio(clip, max_crops=4)
    assert v.shape == (16,) and abs(float(v.norm()) - 1) < 1e-5
    assert m.embed_audio(clip[:8000]).shape == (16,)  # shorter than a crop: used whole


def test_save_load_round_trip(tmp_path):
    m = model()
    m.save_pretrained(tmp_path / "enc")
    back = StyleEncoder.from_pretrained(tmp_path / "enc")
    x = torch.randn(2, 16000)
    assert torch.equal(m(x), back(x))
    assert json.loads((tmp_path / "enc" / "config.json").read_text())["channels"] == [4, 8]
    with pytest.raises(FileNotFoundError, match="not a style encoder checkpoint"):
        StyleEncoder.from_pretrained(tmp_path)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible by 2"):
        StyleEncoderConfig(n_mels=30, channels=(4, 8))
    with pytest.raises(ValueError, match="crop_seconds"):
        StyleEncoderConfig(crop_seconds=60)


def test_nt_xent_rewards_matching_pairs():
    g = torch.Generator().manual_seed(0)
    za = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    others = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    track = torch.arange(8)
    assert nt_xent(za, za, track) < 0.1 < nt_xent(za, others, track)
    dup = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])  # track 0 drawn twice: not a negative of itself
    assert torch.isfinite(nt_xent(za, za, dup))
    assert nt_xent(za, za, dup) < nt_xent(za, za, track)


def _corpus(tmp_path):
    recs = []
    for i, (freq, split) in enumerate([(220, "train"), (440, "train"), (330, "valid"), (660, "valid")]):
        t = np.arange(32000 * 2) / 32000
        tone = (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * (i + 1) * t))).astype(np.float32)
        save_audio(tmp_path / f"t{i}.wav", tone)
        recs.append(Record(f"t{i}.wav", 2.0, 32000, source=f"synth{i % 2}", licence="CC0", split=split))
    write_manifest(tmp_path / "manifest.jsonl", recs)
    return tmp_path / "manifest.jsonl"


def test_training_runs_checkpoints_and_resumes(tmp_path, capsys):
    manifest = _corpus(tmp_path)
    out = tmp_path / "run"
    common = ["--manifest", str(manifest), "--out", str(out), "--batch", "2", "--crop-seconds", "0.5"]
    common += ["--dim", "16", "--workers", "0", "--log-every", "1", "--eval-every", "2"]
    metrics = train(parse_args([*common, "--steps", "2"]))
    assert (out / "model.safetensors").is_file() and (out / "train_state.pt").is_file()
    assert metrics["crops"] == 4 and 0.0 <= metrics["same_track@1"] <= 1.0
    capsys.readouterr()
    train(parse_args([*common, "--steps", "3"]))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == [3]  # resumed after step 2
    assert StyleEncoder.from_pretrained(out).config.dim == 16
