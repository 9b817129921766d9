"""The style encoder: shapes, level invariance, checkpoints, the contrastive loss, training, export, retrieval, the
benchmark script, and style tags voted for a reference clip."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiogen.audio import save_audio
from audiogen.conditioning.style_encoder import StyleEncoder, StyleEncoderConfig, StyleIndex, reference_style_tags
from audiogen.conditioning.train_style_encoder import build_cache, main, nt_xent, parse_args, retrieval, train
from audiogen.data.manifest import Record, write_manifest
from audiogen.eval import bench_style

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
    common += ["--dim", "16", "--log-every", "1", "--eval-every", "2"]
    metrics = train(parse_args([*common, "--steps", "2"]))
    assert (out / "model.safetensors").is_file() and (out / "train_state.pt").is_file()
    assert (out / "cache" / "logmel.safetensors").is_file()
    assert metrics["clips"] == 4 and 0.0 <= metrics["same_track@1"] <= 1.0
    capsys.readouterr()
    train(parse_args([*common, "--steps", "3"]))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == [3]  # resumed after step 2
    assert StyleEncoder.from_pretrained(out).config.dim == 16


def _tone(freq: float, seconds: float = 2.0, sr: int = 32000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(32000 * seconds))).astype(np.float32)


def tiny_index(m: StyleEncoder) -> StyleIndex:
    """Three tone tracks tagged piano, three noise tracks tagged drums, one noise track tagged drums and game."""
    clips = [_tone(f) for f in (220, 330, 440)] + [_noise(seed=s) for s in range(4)]
    tags = [["piano"]] * 3 + [["drums"]] * 3 + [["drums", "game"]]
    tracks = [{"name": f"t{i}", "tags": t} for i, t in enumerate(tags)]
    return StyleIndex.build(torch.stack([m.embed_audio(c) for c in clips]), tracks, k=3)


def test_index_votes_and_round_trips(tmp_path):
    m = model()
    index = tiny_index(m)
    assert index.tags == ("game", "piano", "drums")  # vocabulary order: genres, then instruments
    assert index.vote(m.embed_audio(_tone(275))) == ("piano",)
    assert reference_style_tags(_noise(seed=9), m, index) == ("drums",)  # "game" has 1 of 3 votes at most
    assert index.vote(m.embed_audio(_noise(seed=9)), k=7, min_share=0.1) == ("drums", "piano", "game")
    index.save(tmp_path)
    back = StyleIndex.load(tmp_path)
    assert back.tags == index.tags and back.names == index.names and back.k == 3
    assert torch.equal(back.vectors, index.vectors) and torch.equal(back.labels, index.labels)
    with pytest.raises(FileNotFoundError, match="no style index"):
        StyleIndex.load(tmp_path / "nothing")
    with pytest.raises(ValueError, match="disagree"):
        StyleIndex(index.vectors, index.labels[:, :2], index.tags, index.names)


def test_float16_checkpoint_matches(tmp_path):
    m = model()
    m.save_pretrained(tmp_path, dtype=torch.float16)
    back = StyleEncoder.from_pretrained(tmp_path)
    assert next(back.parameters()).dtype == torch.float32
    x = torch.randn(2, 16000)
    assert torch.allclose(m(x), back(x), atol=2e-2)


def test_retrieval_counts_perfect_and_shuffled_vectors(tmp_path):
    manifest = _corpus(tmp_path)
    cache = build_cache([str(manifest)], tmp_path / "cache", TINY)
    assert cache.logmel.shape[0] == 8 and cache.split("valid") == [2, 3]  # 2 windows of 1 s per 2-s track
    perfect = F.one_hot(cache.track.long(), 4).float()  # a track's windows share one vector
    got = retrieval(perfect, cache, ks=(1,))
    assert got["same_track@1"] == 1.0 and got["clips"] == 4 and "same_source@1" in got
    only_first = retrieval(perfect, cache, ks=(1,), queries=[2])
    assert only_first["clips"] == 2 and only_first["tracks"] == 1


def test_training_then_export_and_benchmark(tmp_path):
    manifest = _corpus(tmp_path)
    out, ship = tmp_path / "run", tmp_path / "ship"
    common = ["--manifest", str(manifest), "--out", str(out)]
    train(parse_args([*common, "--batch", "2", "--crop-seconds", "0.5", "--dim", "16", "--steps", "1"]))
    main(["export", *common, "--to", str(ship)])
    assert {p.name for p in ship.iterdir()} == {
        "config.json", "model.safetensors", "index.json", "index.safetensors", "checksums.json"
    }
    index = StyleIndex.load(ship)
    assert index.vectors.shape == (2, 16) and index.names[0].startswith("synth0")
    bench = tmp_path / "BENCH.md"
    bench_args = ["--manifest", str(manifest), "--cache", str(out / "cache"), "--style", str(ship)]
    bench_style.main([*bench_args, "--out", str(bench)])
    text = bench.read_text()
    assert "## Style encoder" in text and "| all valid (2 tracks) | chance |" in text and str(tmp_path) not in text


def test_reference_clip_contributes_voted_style_tags(tmp_path, monkeypatch):
    from audiogen import request
    from audiogen.generator import MusicGenerator, reference_attributes

    m = model()
    m.save_pretrained(tmp_path / "style")
    tiny_index(m).save(tmp_path / "style")
    ref = save_audio(tmp_path / "ref.wav", _tone(300, seconds=3.0))
    assert reference_attributes(ref, style_dir=tmp_path / "style")["style_tags"] == ("piano",)

    # a model folder with its own style/ uses it for reference clips, and save_pretrained carries it along
    gen = MusicGenerator.debug()
    gen.style_dir = tmp_path / "style"
    gen.save_pretrained(tmp_path / "model")
    loaded = MusicGenerator.from_pretrained(tmp_path / "model")
    assert loaded.style_dir == tmp_path / "model" / "style"
    (req,) = loaded.make_requests("like this", reference=str(ref))
    assert req.attributes.style_tags == ("piano",) and req.attributes.text == "like this"

    seen = []
    monkeypatch.setattr(
        request, "reference_style_tags", lambda path, style_dir=None: seen.append(style_dir) or ("jazz",)
    )
    (req,) = MusicGenerator.debug().make_requests("like this", reference=str(ref))
    assert req.attributes.style_tags == ("jazz",) and seen == [None]  # None: the shipped style model
    (req,) = loaded.make_requests("like this", reference=str(ref), style="rock, drums")
    assert req.attributes.style_tags == ("rock", "drums")  # tags the request names win over the clip's
