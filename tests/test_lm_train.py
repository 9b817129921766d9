import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiogen.conditioning.base import Attributes
from audiogen.data.manifest import Record
from audiogen.data.token_cache import TokenCacheWriter
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams
from audiogen.train.config import load_recipe
from audiogen.train.lm import LMTrainConfig, LMTrainer, StepBatches, export, main

CONDITIONING = dict(text_backend="hash", hash_dim=16, style_dim=8, number_freqs=4, number_hidden=16)
MODEL = dict(dim=32, n_layers=2, n_heads=2, card=64, max_frames=32, dropout=0.1, conditioning=CONDITIONING)


@pytest.fixture
def cache(tmp_path) -> Path:
    """Tracks that repeat a 4-token motif from an 8-token vocabulary: easy to learn."""
    rng = np.random.default_rng(0)
    with TokenCacheWriter(tmp_path / "tokens", "codec-test", 50, 4, 64) as w:
        for i in range(6):
            motif = rng.integers(0, 8, (4, 4))
            rec = Record(
                path=f"{i}.ogg",
                duration=2.0,
                sample_rate=32000,
                source="test",
                licence="CC0",
                split="valid" if i == 5 else "train",
                emotion="happy" if i % 2 else "sad",
                caption=f"track {i}",
            )
            w.add(f"t{i}", np.tile(motif, (1, 25)), rec)
    return tmp_path / "tokens"


def config(run_dir, cache, **kw) -> LMTrainConfig:
    base = dict(
        run_dir=str(run_dir),
        cache=str(cache),
        model=dict(MODEL),
        batch_size=4,
        lr=3e-3,
        warmup_steps=2,
        max_steps=20,
        log_every=5,
        ckpt_every=10,
        valid_every=10,
        valid_batches=1,
    )
    return LMTrainConfig(**{**base, **kw})


def read_log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_exports(tmp_path, cache):
    LMTrainer(config(tmp_path / "run", cache)).fit()
    log = read_log(tmp_path / "run")
    train = [r for r in log if "loss" in r]
    valid = [r for r in log if "valid_loss" in r]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    assert train[-1]["loss"] < train[0]["loss"] - 0.5 and len(train[-1]["ce"]) == 4
    assert [r["step"] for r in valid] == [10, 20] and valid[-1]["valid_loss"] < valid[0]["valid_loss"]
    out = export(tmp_path / "run", tmp_path / "release")
    model = MusicLM.from_pretrained(out)
    assert model.provider is not None and model.config.dim == 32
    codes = generate(model, model.provider, [Attributes(emotion="happy")], 60, GenerationParams(seed=0))
    assert codes.shape == (1, 4, 60)


def test_resume_continues_exactly(tmp_path, cache):
    LMTrainer(config(tmp_path / "straight", cache, max_steps=10)).fit()
    LMTrainer(config(tmp_path / "split", cache, max_steps=10)).fit(until=5)
    resumed = LMTrainer(config(tmp_path / "split", cache, max_steps=10))
    assert resumed.step == 5
    resumed.fit()
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 10
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    losses = [r["loss"] for r in read_log(tmp_path / "straight") if "loss" in r]
    assert losses == [r["loss"] for r in read_log(tmp_path / "split") if "loss" in r]


def test_cli_with_recipe_and_overrides(tmp_path, cache):
    recipe = tmp_path / "lm.yaml"
    recipe.write_text("batch_size: 2\nmax_steps: 3\nlog_every: 1\nwarmup_steps: 1\nmodel:\n  dim: 32\n  n_heads: 2\n")
    args = [
        f"run_dir={tmp_path / 'cli'}",
        f"cache={cache}",
        "model.n_layers=1",
        "model.card=64",
        "model.max_frames=16",
        "lr=0.001",
    ]
    assert main([str(recipe), *args]) == 0
    assert [r["step"] for r in read_log(tmp_path / "cli") if "loss" in r] == [1, 2, 3]
    saved = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert saved["model"]["n_layers"] == 1 and saved["batch_size"] == 2 and saved["lr"] == 0.001
    assert main(["export", str(tmp_path / "cli"), str(tmp_path / "rel")]) == 0
    assert MusicLM.from_pretrained(tmp_path / "rel").config.conditioning is None


def test_shipped_recipes_parse():
    root = Path(__file__).resolve().parents[1] / "recipes"
    for name in ("cpu-small", "gpu"):
        cfg = load_recipe(LMTrainConfig, root / name / "lm.yaml", ["cache=tokens"])
        assert cfg.model.n_q == 4 and cfg.window <= cfg.model.max_frames


def test_step_batches_are_stateless_and_split_across_processes():
    first = iter(StepBatches(100, 3, seed=1, start_step=0))
    steps = [next(first) for _ in range(4)]
    assert next(iter(StepBatches(100, 3, seed=1, start_step=2))) == steps[2]
    ranks = [next(iter(StepBatches(100, 3, seed=1, start_step=0, rank=r, world=2))) for r in range(2)]
    assert ranks[0] != ranks[1] and all(0 <= i < 100 for i in steps[0])
    assert all(100 <= i < 200 for i in steps[1])  # step 1 reads "epoch" 1 windows


def test_bad_settings_are_reported(tmp_path, cache):
    with pytest.raises(ValueError, match="cache="):
        LMTrainer(LMTrainConfig(run_dir=str(tmp_path / "x"), model=dict(MODEL)))
    with pytest.raises(ValueError, match="does not fit the model"):
        LMTrainer(config(tmp_path / "y", cache, model={**MODEL, "card": 128}))
    with pytest.raises(ValueError, match="mixed_precision"):
        config(tmp_path / "z", cache, mixed_precision="fp8")


def test_float_overrides_in_exponent_notation():
    from audiogen.train.config import load_recipe

    cfg = load_recipe(LMTrainConfig, None, ["cache=x", "lr=1e-4", "weight_decay=1.0e-2"])
    assert cfg.lr == 1e-4 and cfg.weight_decay == 0.01
