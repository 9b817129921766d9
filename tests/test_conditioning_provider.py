"""The condition provider: fused shapes, config validation, CFG dropout statistics, and what is saved."""

import json
from dataclasses import replace

import pytest
import torch

from audiogen.conditioning.base import GROUPS, Attributes, Conditions
from audiogen.conditioning.config import ConditionConfig
from audiogen.conditioning.provider import ConditionProvider, condition_dropout

D = 16
SMALL = {"text_backend": "hash", "hash_dim": 32, "style_dim": 8, "number_freqs": 4, "number_hidden": 16}

FULL = Attributes(
    text="a hopeful corporate track, piano and strings",
    emotion="happy",
    valence=0.7,
    arousal=0.3,
    style_tags=("piano", "strings"),
    style_embedding=torch.ones(8),
    tempo=110.0,
    key="D",
    mode="major",
    duration=30.0,
    position=0.0,
)


def provider(**overrides) -> ConditionProvider:
    torch.manual_seed(0)
    return ConditionProvider(ConditionConfig(**{**SMALL, **overrides}), D)


def test_provider_shapes_and_masks():
    p = provider()
    c = p([FULL, Attributes(), Attributes(text="drums")])
    assert isinstance(c, Conditions) and c.batch_size == 3
    assert p.prefix_length == 8
    assert c.prefix.shape == (3, 8, D) and c.prefix_mask.shape == (3, 8) and c.prefix_mask.all()
    n_words = 7
    assert c.cross.shape == (3, n_words, D)
    assert c.cross_mask.sum(1).tolist() == [n_words, 1, 1]
    both = c.cat(p([FULL, FULL, FULL]))  # CFG passes batch together when lengths match
    assert both.batch_size == 6


def test_unconditional_is_all_null_and_independent_of_inputs():
    p = provider()
    a = p([FULL.drop("all")])
    b = p([Attributes(text="anything", tempo=60).drop("all")])
    assert torch.equal(a.prefix, b.prefix) and torch.equal(a.cross, b.cross)
    assert not torch.allclose(p([FULL]).prefix, a.prefix)


def test_dropping_one_group_changes_only_its_tokens():
    p = provider()
    full, no_music = p([FULL]), p([FULL.drop("music")])
    same = (full.prefix == no_music.prefix).all(-1)[0].tolist()
    assert same == [True, True, True, False, False, False, True, True]  # emotion | style x2 | music x3 | timing x2
    assert torch.equal(full.cross, no_music.cross)


def test_fuser_placement_and_groups_are_configurable():
    p = provider(groups=("text", "emotion"), cross_groups=("text", "emotion"))
    c = p([FULL])
    assert c.prefix.shape == (1, 0, D) and p.prefix_length == 0
    assert c.cross.shape == (1, 7 + 1, D)
    only_prefix = provider(groups=("emotion", "timing"), cross_groups=())
    c = only_prefix([FULL])
    assert c.prefix.shape == (1, 3, D) and c.cross.shape == (1, 0, D)


def test_gradients_reach_every_learned_part():
    p = provider()
    c = p([FULL, Attributes()])
    (c.prefix.sum() + c.cross.sum()).backward()
    no_grad = [n for n, w in p.named_parameters() if w.grad is None]
    assert no_grad == []


def test_state_dict_has_no_frozen_encoder():
    p = provider()
    keys = list(p.state_dict())
    assert "conditioners.text.proj.weight" in keys
    assert not any("encoder" in k or "word_embeddings" in k for k in keys)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("text_backend", "t5", "text_backend must be one of"),
        ("groups", ("text", "mood"), "unknown group"),
        ("dropout", {"text": 1.5}, r"dropout\[text\] must be a probability"),
        ("dropout_all", -0.1, "dropout_all must be a probability"),
        ("hash_dim", 12, "multiple of 8"),
        ("style_vocab", ("a", "a"), "without repeats"),
    ],
)
def test_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        ConditionConfig(**{**SMALL, field: value})


def test_config_json_round_trip():
    cfg = ConditionConfig(**SMALL, dropout={"timing": 0.0})
    back = ConditionConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.dropout["timing"] == 0.0 and back.dropout["text"] == 0.1
    with pytest.raises(ValueError, match="unknown ConditionConfig field"):
        ConditionConfig.from_dict({"text_model": "x"})


def test_dropout_statistics_with_fixed_generator():
    cfg = ConditionConfig(**SMALL, dropout={"text": 0.5, "emotion": 0.2, "style": 0.0}, dropout_all=0.25)
    attrs = [FULL] * 64
    n_batches, all_dropped = 400, 0
    counts = dict.fromkeys(GROUPS, 0)
    labels_hidden = emotions_kept = 0
    g = torch.Generator().manual_seed(1234)
    for _ in range(n_batches):
        out = condition_dropout(attrs, cfg, g)
        if all(a == FULL.drop("all") for a in out):
            all_dropped += 1
            continue
        counts["text"] += sum(a.text is None for a in out)
        counts["emotion"] += sum(a.valence is None for a in out)
        counts["style"] += sum(a.style_tags is None for a in out)
        kept = [a for a in out if a.valence is not None]
        emotions_kept += len(kept)
        labels_hidden += sum(a.emotion is None for a in kept)
    kept_items = (n_batches - all_dropped) * len(attrs)
    assert abs(all_dropped / n_batches - 0.25) < 0.07
    assert abs(counts["text"] / kept_items - 0.5) < 0.02
    assert abs(counts["emotion"] / kept_items - 0.2) < 0.02
    assert counts["style"] == 0
    assert abs(labels_hidden / emotions_kept - cfg.emotion_label_dropout) < 0.02
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert condition_dropout(attrs, cfg, g1) == condition_dropout(attrs, cfg, g2)


def test_dropout_keeps_inputs_and_provider_uses_its_config():
    p = provider(dropout=dict.fromkeys(GROUPS, 1.0), dropout_all=0.0)
    out = p.dropout([FULL], torch.Generator().manual_seed(0))
    assert out == [FULL.drop("all")] and FULL.text is not None
    never = provider(dropout=dict.fromkeys(GROUPS, 0.0), dropout_all=0.0, emotion_label_dropout=0.0)
    assert never.dropout([FULL], torch.Generator().manual_seed(0)) == [FULL]


def test_bad_attributes_raise_before_any_embedding():
    p = provider()
    with pytest.raises(ValueError, match="Did you mean 'happy'"):
        p([replace(FULL, emotion="hapy")])
    with pytest.raises(ValueError, match="need at least one"):
        p([])
