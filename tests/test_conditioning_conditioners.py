"""Shapes, masks, null embeddings and determinism of each conditioner (hash text backend; tiny widths)."""

import pytest
import torch

from audiogen.conditioning.attribute_conditioners import (
    EmotionConditioner,
    MusicConditioner,
    StyleConditioner,
    TimingConditioner,
)
from audiogen.conditioning.base import Attributes
from audiogen.conditioning.conditioner import NumberEmbedding
from audiogen.conditioning.config import ConditionConfig
from audiogen.conditioning.emotions import EmotionError
from audiogen.conditioning.styles import StyleError
from audiogen.conditioning.text import TextConditioner

D = 16
CFG = ConditionConfig(text_backend="hash", hash_dim=32, style_dim=8, number_freqs=4, number_hidden=16)


def build(cls, seed=0):
    torch.manual_seed(seed)
    return cls(CFG, D).eval()


def test_number_embedding_shape_and_clamp():
    torch.manual_seed(0)
    emb = NumberEmbedding(D, n_inputs=2, n_freqs=4, hidden=16)
    x = torch.tensor([[0.0, 1.0], [0.5, 0.25], [-3.0, 7.0]])
    y = emb(x)
    assert y.shape == (3, D)
    assert torch.allclose(y[2], y[0])  # clamped to [0, 1]
    assert not torch.allclose(y[0], y[1])
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        emb(torch.zeros(3))


def test_emotion_point_label_and_null():
    cond = build(EmotionConditioner)
    attrs = [
        Attributes(emotion="sad"),
        Attributes(valence=-0.75, arousal=-0.45),  # sad's point, no label
        Attributes(emotion="sad", valence=-0.75, arousal=-0.45),
        Attributes(),
    ]
    emb, mask = cond.condition(attrs)
    assert emb.shape == (4, 1, D) and mask.shape == (4, 1) and mask.all()
    assert torch.allclose(emb[0], emb[2])  # a label alone sits at its vocabulary point
    assert not torch.allclose(emb[0], emb[1])  # the label embedding adds information
    assert torch.equal(emb[3, 0], cond.null[0])
    near = cond.condition([Attributes(valence=-0.74, arousal=-0.45)])[0]
    far = cond.condition([Attributes(valence=0.8, arousal=0.4)])[0]
    assert (near - emb[1]).norm() < (far - emb[1]).norm()


def test_emotion_bad_inputs():
    cond = build(EmotionConditioner)
    with pytest.raises(EmotionError, match="Did you mean 'melancholic'"):
        cond.prepare([Attributes(emotion="melancolic")])
    with pytest.raises(EmotionError, match="arousal must be a number in"):
        cond.prepare([Attributes(valence=0.0, arousal=-2.0)])


def test_style_tags_reference_and_null():
    cond = build(StyleConditioner)
    ref = torch.randn(CFG.style_dim)
    attrs = [
        Attributes(style_tags=("piano", "strings")),
        Attributes(style_tags=("Strings", "piano", "violin")),  # same set after aliases and de-duplication
        Attributes(style_embedding=ref),
        Attributes(),
    ]
    emb, mask = cond.condition(attrs)
    assert emb.shape == (4, 2, D) and mask.all()
    assert torch.allclose(emb[0, 0], emb[1, 0])
    assert torch.allclose(emb[0, 0], cond.tags.weight[[STYLE_IDX["piano"], STYLE_IDX["strings"]]].mean(0))
    assert torch.equal(emb[0, 1], cond.null[1]) and torch.equal(emb[2, 0], cond.null[0])
    assert not torch.equal(emb[2, 1], cond.null[1])
    assert torch.equal(emb[3], cond.null)


STYLE_IDX = {t: i for i, t in enumerate(CFG.style_vocab)}


def test_style_bad_inputs():
    cond = build(StyleConditioner)
    with pytest.raises(StyleError, match=r"unknown style tag 'jaz'.*Did you mean 'jazz'"):
        cond.prepare([Attributes(style_tags=("jaz",))])
    with pytest.raises(ValueError, match="must have 8 values"):
        cond.prepare([Attributes(style_embedding=torch.zeros(5))])


def test_music_slots_and_key_forms():
    cond = build(MusicConditioner)
    attrs = [
        Attributes(tempo=120, key="Db", mode="minor"),
        Attributes(tempo=120, key="C# minor"),
        Attributes(key="G"),
        Attributes(),
    ]
    emb, mask = cond.condition(attrs)
    assert emb.shape == (4, 3, D) and mask.all()
    assert torch.allclose(emb[0], emb[1])
    assert torch.equal(emb[2, 0], cond.null[0]) and torch.equal(emb[2, 2], cond.null[2])
    assert torch.equal(emb[3], cond.null)
    with pytest.raises(ValueError, match=r"tempo must lie in \[40, 220\] BPM, got 300"):
        cond.prepare([Attributes(tempo=300)])
    with pytest.raises(ValueError, match="unknown key 'Z'"):
        cond.prepare([Attributes(key="Z")])


def test_timing_slots():
    cond = build(TimingConditioner)
    emb, mask = cond.condition([Attributes(duration=30.0, position=0.0), Attributes(duration=30.0), Attributes()])
    assert emb.shape == (3, 2, D) and mask.all()
    assert torch.allclose(emb[0, 0], emb[1, 0]) and torch.equal(emb[1, 1], cond.null[1])
    assert torch.equal(emb[2], cond.null)
    with pytest.raises(ValueError, match="must not exceed duration"):
        cond.prepare([Attributes(duration=10.0, position=11.0)])


def test_text_tokens_mask_and_null():
    cond = build(TextConditioner)
    attrs = [Attributes(text="calm piano with soft strings"), Attributes(text="Epic"), Attributes(text="  ")]
    emb, mask = cond.condition(attrs)
    assert emb.shape == (3, 5, D)
    assert mask.tolist() == [[True] * 5, [True] + [False] * 4, [True] + [False] * 4]
    assert torch.equal(emb[2, 0], cond.null[0])  # blank text counts as absent
    assert (emb[~mask] == 0).all()
    alone = cond.condition([Attributes(text="Epic")])[0]
    assert torch.allclose(alone[0, 0], emb[1, 0])  # padding does not change a row


def test_conditioners_are_deterministic_for_a_seed():
    attrs = [Attributes(text="dark ambient", emotion="dark", style_tags=("ambient",), tempo=70, duration=60.0)]
    for cls in (TextConditioner, EmotionConditioner, StyleConditioner, MusicConditioner, TimingConditioner):
        a, b = build(cls, seed=3), build(cls, seed=3)
        assert torch.equal(a.condition(attrs)[0], b.condition(attrs)[0])
