import json

import pytest
import torch

from audiogen.conditioning.base import Conditions
from audiogen.lm.config import LMConfig
from audiogen.lm.model import MusicLM
from audiogen.lm.pattern import build_delayed


def debug_model(seed: int = 0, **overrides) -> MusicLM:
    torch.manual_seed(seed)
    return MusicLM(LMConfig.preset("debug", **overrides)).eval()


def conditions(batch: int, dim: int = 32, prefix: int = 3, cross: int = 5, seed: int = 1) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    pm = torch.ones(batch, prefix, dtype=torch.bool)
    cm = torch.ones(batch, cross, dtype=torch.bool)
    if batch > 1:
        pm[1, 0] = False  # a masked prefix position
        cm[1] = False  # a row with no cross state at all
    return Conditions(torch.randn(batch, prefix, dim, generator=g), pm, torch.randn(batch, cross, dim, generator=g), cm)


def random_seq(model: MusicLM, batch: int, frames: int, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, model.config.card, (batch, model.config.n_q, frames), generator=g)
    return build_delayed(codes, model.config.special_token)


def test_config_validation_names_the_range():
    with pytest.raises(ValueError, match="divide dim"):
        LMConfig(dim=30, n_heads=4)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        LMConfig(dropout=1.0)
    with pytest.raises(ValueError, match="card must lie"):
        LMConfig(card=40000)
    with pytest.raises(ValueError, match="unknown LM preset"):
        LMConfig.preset("huge")
    with pytest.raises(ValueError, match="unknown LMConfig field"):
        LMConfig.from_dict({"dim": 32, "width": 3})


def test_forward_shapes_and_causality():
    model = debug_model()
    seq = random_seq(model, 2, 12)
    cond = conditions(2)
    logits = model(seq, cond)
    assert logits.shape == (2, 4, seq.shape[-1], model.config.card)
    assert torch.isfinite(logits).all()
    changed = seq.clone()
    changed[..., 9:] = (changed[..., 9:] + 1) % model.config.card
    later = model(changed, cond)
    assert torch.allclose(logits[..., :9, :], later[..., :9, :], atol=1e-6)
    assert not torch.allclose(logits[..., 9:, :], later[..., 9:, :])


def test_masked_prefix_and_cross_are_ignored():
    model = debug_model()
    seq = random_seq(model, 2, 6)
    cond = conditions(2)
    other = Conditions(cond.prefix.clone(), cond.prefix_mask, cond.cross.clone(), cond.cross_mask)
    other.prefix[1, 0] += 5.0  # masked position of row 1
    other.cross[1] += 5.0  # row 1 has no valid cross state
    assert torch.allclose(model(seq, cond), model(seq, other), atol=1e-6)
    other.prefix[0, 0] += 5.0  # a valid position of row 0 does matter
    assert not torch.allclose(model(seq, cond)[0], model(seq, other)[0])


@pytest.mark.parametrize("kind", ["masked", "all_valid", "none"])
def test_kv_cache_gives_the_uncached_logits(kind):
    model = debug_model()
    seq = random_seq(model, 2, 14)
    cond = {"masked": conditions(2), "all_valid": conditions(1).cat(conditions(1, seed=3)), "none": None}[kind]
    full = model(seq, cond)
    cache = model.new_cache(2, 3 + seq.shape[-1])
    steps = [model(seq[..., :5], cond, cache)]  # prefill, then one step at a time, then a chunk of 3
    steps += [model(seq[..., i : i + 1], None, cache) for i in range(5, 10)]
    steps.append(model(seq[..., 10:13], None, cache))
    steps.append(model(seq[..., 13:], None, cache))
    assert torch.allclose(torch.cat(steps, dim=2), full, atol=1e-5)


def test_cache_capacity_is_checked():
    model = debug_model()
    seq = random_seq(model, 1, 4)
    with pytest.raises(ValueError, match="KV cache holds"):
        model(seq, None, model.new_cache(1, 3))


def test_loss_per_codebook_and_padding_not_scored():
    model = debug_model()
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 64, (2, 4, 10), generator=g)
    loss, per_k = model.loss(codes)
    assert per_k.shape == (4,)
    assert torch.isclose(loss, per_k.mean())
    assert abs(loss.item() - torch.log(torch.tensor(64.0)).item()) < 0.5  # near uniform at init
    padded = torch.cat([codes, torch.full((2, 4, 5), 64)], dim=-1)
    changed = padded.clone()
    changed[..., 10:] = 64
    assert torch.allclose(model.loss(padded)[0], model.loss(changed)[0])
    with pytest.raises(ValueError, match="codes must lie"):
        model.loss(codes + 100)


def test_loss_backward_reaches_conditions():
    model = debug_model().train()
    cond = conditions(2)
    cond.cross.requires_grad_(True)
    cond.prefix.requires_grad_(True)
    loss, _ = model.loss(torch.randint(0, 64, (2, 4, 8)), cond)
    loss.backward()
    assert cond.cross.grad.abs().sum() > 0 and cond.prefix.grad.abs().sum() > 0


def test_no_cross_attention_model_rejects_cross_states():
    model = debug_model(cross_attention=False)
    with pytest.raises(ValueError, match="no cross-attention"):
        model(random_seq(model, 1, 3), conditions(1))
    empty_cross = conditions(1, cross=0)
    assert model(random_seq(model, 1, 3), empty_cross).shape[-2] == 7


def test_save_and_load_roundtrip(tmp_path):
    model = debug_model()
    seq, cond = random_seq(model, 2, 5), conditions(2)
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["dim"] == 32
    loaded = MusicLM.from_pretrained(tmp_path / "m")
    assert torch.equal(model(seq, cond), loaded(seq, cond))
    model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    half = MusicLM.from_pretrained(tmp_path / "half")
    sizes = [(tmp_path / d / "model.safetensors").stat().st_size for d in ("half", "m")]
    assert sizes[0] < 0.6 * sizes[1]
    assert torch.allclose(model(seq, cond), half(seq, cond), atol=2e-2)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        MusicLM.from_pretrained(tmp_path / "missing")


def test_owned_condition_provider_is_saved_with_the_model(tmp_path):
    from audiogen.conditioning.base import Attributes
    from audiogen.conditioning.config import ConditionConfig

    cond_cfg = ConditionConfig(text_backend="hash", hash_dim=16, style_dim=8, number_freqs=4, number_hidden=16)
    torch.manual_seed(0)
    model = MusicLM(LMConfig.preset("debug", conditioning=cond_cfg)).eval()
    attrs = [Attributes(text="slow piano", emotion="sad", duration=10.0, position=0.0), Attributes()]
    seq = random_seq(model, 2, 4)
    logits = model(seq, model.condition(attrs))
    assert not torch.allclose(logits[0], logits[1])
    model.save_pretrained(tmp_path / "m")
    loaded = MusicLM.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and loaded.provider is not None
    assert torch.equal(loaded(seq, loaded.condition(attrs)), logits)
