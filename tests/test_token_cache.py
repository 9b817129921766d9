import json
import os

import numpy as np
import pytest
import torch

from audiogen.data.manifest import Record
from audiogen.data.token_cache import (
    TokenCache,
    TokenCacheWriter,
    TokenWindowDataset,
    collate_windows,
    window_attributes,
)


def record(name: str, split: str = "train", **kw) -> Record:
    return Record(path=f"{name}.ogg", duration=3.0, sample_rate=32000, source="test", licence="CC0", split=split, **kw)


def make_cache(root, lengths=(120, 30, 75), n_q=6, card=64):
    rng = np.random.default_rng(0)
    with TokenCacheWriter(root, "codec-test", 50, n_q, card) as w:
        for i, t in enumerate(lengths):
            split = "valid" if i == len(lengths) - 1 else "train"
            w.add(
                f"src/track {i}",
                rng.integers(0, card, (n_q, t)),
                record(f"t{i}", split, emotion="happy", tags=["piano"]),
            )
    return TokenCache(root)


def test_write_read_roundtrip(tmp_path):
    codes = np.arange(12).reshape(2, 6) % 7
    with TokenCacheWriter(tmp_path, "codec-a", 50, 2, 8) as w:
        assert not w.has("a/b:1")
        w.add("a/b:1", torch.from_numpy(codes), record("x", valence=0.5))
        assert w.has("a/b:1")
        with pytest.raises(ValueError, match="already"):
            w.add("a/b:1", codes, record("x"))
        with pytest.raises(ValueError, match=r"codes must lie in \[0, 7\]"):
            w.add("c", codes + 5, record("x"))
        with pytest.raises(ValueError, match=r"codes must be \[2, T >= 1\]"):
            w.add("d", codes[:1], record("x"))
    meta = json.loads((tmp_path / "cache.json").read_text())
    assert meta == {"codec": "codec-a", "frame_rate": 50, "n_q": 2, "card": 8, "version": 1}
    cache = TokenCache(tmp_path)
    assert len(cache) == 1 and cache[0].frames == 6 and cache[0].record["valence"] == 0.5
    stored = cache.codes(0)
    assert stored.dtype == np.int16 and np.array_equal(stored, codes)
    assert "/" not in cache[0].codes[len("codes/") :]
    with pytest.raises(ValueError, match="use a new folder"):
        TokenCacheWriter(tmp_path, "codec-b", 50, 2, 8)


def test_writer_resumes_after_a_killed_index_write(tmp_path):
    with TokenCacheWriter(tmp_path, "c", 50, 1, 8) as w:
        w.add("one", np.zeros((1, 4)), record("one"))
    with open(tmp_path / "index.jsonl", "a") as f:
        f.write('{"id": "two", "codes": "codes/tw')  # a write cut short by a kill
    assert [it.id for it in TokenCache(tmp_path).items] == ["one"]
    with TokenCacheWriter(tmp_path, "c", 50, 1, 8) as w:
        assert w.has("one") and not w.has("two")
        w.add("two", np.ones((1, 3)), record("two"))
    cache = TokenCache(tmp_path)
    assert [it.id for it in cache.items] == ["one", "two"]
    assert np.array_equal(cache.codes(1), np.ones((1, 3)))
    assert not [p for p in os.listdir(tmp_path / "codes") if p.startswith(".")]  # no temporary files left


def test_bad_index_line_names_file_and_line(tmp_path):
    make_cache(tmp_path, lengths=(5,))
    with open(tmp_path / "index.jsonl", "a") as f:
        f.write("not json\n")
    with pytest.raises(ValueError, match=r"index\.jsonl:2"):
        TokenCache(tmp_path)


def test_window_dataset_is_deterministic_and_padded(tmp_path):
    cache = make_cache(tmp_path)
    ds = TokenWindowDataset(cache, 50, split="train", n_q=4, seed=3)
    assert len(ds) == 3 + 1  # ceil(120 / 50) + ceil(30 / 50)
    a, b = ds[0], ds[0]
    assert torch.equal(a["codes"], b["codes"]) and a["codes"].shape == (4, 50) and a["codes"].dtype == torch.long
    starts = {ds[i + e * len(ds)]["position"] for i in range(3) for e in range(5)}
    assert len(starts) > 3  # epochs move the windows
    full = cache.codes(0)
    for e in range(3):
        s = ds[e * len(ds)]
        start = round(s["position"] * 50)
        assert torch.equal(s["codes"], torch.from_numpy(full[:4, start : start + 50].astype(np.int64)))
        assert s["duration"] == 120 / 50 and s["id"] == "src/track 0"
    short = ds[3]
    assert short["frames"] == 30 and (short["codes"][:, 30:] == 64).all() and short["position"] == 0.0
    with pytest.raises(ValueError, match="n_q must lie"):
        TokenWindowDataset(cache, 50, n_q=7)
    with pytest.raises(ValueError, match="no items of split 'test'"):
        TokenWindowDataset(cache, 50, split="test")


def test_collate_gives_codes_and_attributes(tmp_path):
    ds = TokenWindowDataset(make_cache(tmp_path), 20, split="valid", n_q=4)
    codes, attrs, clock = collate_windows([ds[0], ds[1]])
    assert clock is None
    assert codes.shape == (2, 4, 20)
    assert attrs[0].emotion == "happy" and attrs[0].style_tags == ("piano",) and attrs[0].duration == 1.5
    assert window_attributes(ds[0]).text is None  # an empty caption is "not given"


def test_window_attributes_are_lenient_with_record_labels():
    from audiogen.data.token_cache import window_attributes

    sample = {
        "caption": "a waltz",
        "tags": ["nylon guitar", "piano"],
        "tempo": 300.0,
        "emotion": "wistful",
        "valence": 0.2,
        "arousal": -0.1,
        "key": "C",
        "mode": "major",
        "duration": 30.0,
        "position": 4.0,
    }
    a = window_attributes(sample)
    assert a.style_tags == ("piano",)  # the unknown tag is dropped, not an error
    assert a.tempo == 150.0  # folded into the allowed range
    assert a.emotion is None and a.valence == 0.2
    assert a.position == 4.0 and a.duration == 30.0
