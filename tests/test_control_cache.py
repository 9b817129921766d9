"""Dense controls stored with the token cache: from audio for recordings, exact for the composer's pieces."""

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.compose.composer import compose, sample_params
from audiogen.compose.planner import plan_from_params
from audiogen.controls import layout as L
from audiogen.controls.from_plan import plan_controls
from audiogen.data.control_cache import CONTROLS_NAME, add_controls, read_control_index
from audiogen.data.manifest import Record, write_manifest
from audiogen.data.render import render_midi
from audiogen.data.token_cache import TokenCache, TokenCacheWriter, TokenWindowDataset, collate_windows


def test_controls_are_resumable_exact_for_composer_pieces_and_feed_the_dataset(tmp_path):
    sr = 32000
    p = sample_params(np.random.default_rng(3), "pop", "happy", duration=8.0)
    sf.write(tmp_path / "piece.wav", render_midi(compose(p), p.duration), sr)
    t = np.arange(8 * sr) / sr
    clicks = np.where((t % 0.5) < 0.02, 0.5 * np.sin(2 * np.pi * 880 * t), 0.0).astype(np.float32)
    sf.write(tmp_path / "rec.wav", clicks, sr)
    records = [
        Record(path="piece.wav", duration=8.0, sample_rate=sr, source="composer", licence="CC0", split="train",
               track="piece", label_method="composer-parameters", descriptors=p.to_dict()),
        Record(path="rec.wav", duration=8.0, sample_rate=sr, source="t", licence="CC0", split="train", track="rec",
               tempo=120.0),
    ]  # fmt: skip
    write_manifest(tmp_path / "m.jsonl", records)
    with TokenCacheWriter(tmp_path / "tokens", "codec-test", 50, 4, 64) as w:
        for r in records:
            w.add(f"{r.track}@0", np.zeros((4, 400), dtype=np.int16), r)
    assert add_controls(tmp_path / "tokens", [str(tmp_path / "m.jsonl")]) == 2
    assert add_controls(tmp_path / "tokens", [str(tmp_path / "m.jsonl")]) == 0  # resumed: nothing left
    with open(tmp_path / "tokens" / CONTROLS_NAME, "ab") as f:
        f.write(b'{"id": "torn')  # a killed run's last line
    index = read_control_index(tmp_path / "tokens")
    assert {e["method"] for e in index.values()} == {"plan", "audio"}
    cache = TokenCache(tmp_path / "tokens")
    exact = plan_controls(plan_from_params(p), 400)
    assert np.allclose(np.asarray(cache.controls(0), np.float32), exact, atol=2e-3)  # float16 storage
    heard = np.asarray(cache.controls(1), np.float32)
    assert abs(index["rec@0"]["tempo"] - 120) < 3 and heard[:, L.CLOCK.start].all()
    ds = TokenWindowDataset(cache, 50, n_q=4, control_features=L.CONTROL_FEATURES)
    _, _, ctl = collate_windows([ds[0], ds[1]])
    assert ctl.shape == (2, 53, L.CONTROL_FEATURES) and torch.isfinite(ctl).all()


def test_shards_split_the_items_between_workers(tmp_path):
    from audiogen.codec.cli import run_sharded
    from audiogen.data.token_cache import in_shard

    ids = [f"track-{i}@0" for i in range(200)]
    owners = [[i for i in range(3) if in_shard(x, (i, 3))] for x in ids]
    assert all(len(o) == 1 for o in owners) and len({o[0] for o in owners}) == 3  # each item: exactly one worker
    assert all(in_shard(x) for x in ids)
    with pytest.raises(ValueError, match="shard must be"):
        in_shard("x", (3, 3))
    assert run_sharded(lambda a, shard: a + shard[1], (41,), 1) == 42
    with pytest.raises(ValueError, match="--jobs must be"):
        run_sharded(lambda shard: 0, (), 0)


def test_a_cache_of_another_codec_lends_its_controls_where_the_frames_match(tmp_path, monkeypatch):
    import audiogen.data.control_cache as cc

    sr = 32000
    sf.write(tmp_path / "a.wav", np.zeros(4 * sr, np.float32), sr)
    records = [Record(path="a.wav", duration=4.0, sample_rate=sr, source="t", licence="CC0", split="train",
                      track=name) for name in ("same", "longer", "new")]  # fmt: skip
    write_manifest(tmp_path / "m.jsonl", records)
    frames = {"same": 200, "longer": 200, "new": 200}
    with TokenCacheWriter(tmp_path / "old", "codec-a", 50, 4, 64) as w:
        for name, n in (("same", 200), ("longer", 150)):
            w.add(f"{name}@0", np.zeros((4, n), dtype=np.int16), records[0])
    old_ctl = {"same": np.full((200, L.CONTROL_FEATURES), 0.25, np.float16),
               "longer": np.full((150, L.CONTROL_FEATURES), 0.5, np.float16)}  # fmt: skip
    (tmp_path / "old" / "controls").mkdir()
    with open(tmp_path / "old" / CONTROLS_NAME, "w") as f:
        for name, ctl in old_ctl.items():
            np.save(tmp_path / "old" / "controls" / f"{name}.npy", ctl)
            f.write(f'{{"id": "{name}@0", "controls": "controls/{name}.npy", "frames": {len(ctl)}, '
                    f'"method": "audio", "tempo": 99.0}}\n')  # fmt: skip
    with TokenCacheWriter(tmp_path / "new", "codec-b", 50, 4, 64) as w:
        for r in records:
            w.add(f"{r.track}@0", np.zeros((4, frames[r.track]), dtype=np.int16), r)
    read = []

    def fake(record, root, n, frame_rate, max_seconds):
        read.append(record.track)
        return np.ones((n, L.CONTROL_FEATURES), np.float32), {"method": "audio", "tempo": 120.0}

    monkeypatch.setattr(cc, "item_controls", fake)
    assert add_controls(tmp_path / "new", [str(tmp_path / "m.jsonl")], reuse=tmp_path / "old") == 3
    assert read == ["longer", "new"]  # another length of codes: read again
    index = read_control_index(tmp_path / "new")
    assert index["same@0"]["tempo"] == 99.0 and index["new@0"]["tempo"] == 120.0
    cache = TokenCache(tmp_path / "new")
    by_id = {item.id: i for i, item in enumerate(cache.items)}
    assert np.all(np.asarray(cache.controls(by_id["same@0"])) == np.float16(0.25))
    with TokenCacheWriter(tmp_path / "fast", "codec-c", 75, 4, 64) as w:
        w.add("same@0", np.zeros((4, 300), dtype=np.int16), records[0])
    with pytest.raises(ValueError, match="frame rate"):
        add_controls(tmp_path / "fast", [str(tmp_path / "m.jsonl")], reuse=tmp_path / "old")
