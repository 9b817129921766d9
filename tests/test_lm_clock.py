"""The beat clock: features, beat tracking of cache items, the model's clock input, training and generation."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.conditioning.base import Attributes
from audiogen.data.beats import BEATS_NAME, add_beats, read_beats, smooth_beats, track_beats
from audiogen.data.manifest import Record, write_manifest
from audiogen.data.token_cache import TokenCache, TokenCacheWriter, TokenWindowDataset, collate_windows
from audiogen.lm.clock import CLOCK_FEATURES, batch_clock, beat_phase, clock_features, grid_beats
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams
from audiogen.train.lm import LMTrainConfig, LMTrainer

CONDITIONING = dict(text_backend="hash", hash_dim=16, style_dim=8, number_freqs=4, number_hidden=16)
MODEL = dict(dim=32, n_layers=2, n_heads=2, card=64, max_frames=32, conditioning=CONDITIONING)


# -- features ---------------------------------------------------------------------------------------------------


def test_phase_is_zero_on_beats_half_between_and_runs_on_outside():
    beats = np.array([1.0, 1.5, 2.0, 3.0])  # a tempo change: the last interval is 1 s
    t = np.array([1.0, 1.25, 1.5, 2.5, 0.75, 0.5, 3.25, 4.0])
    assert np.allclose(beat_phase(beats, t), [0, 0.5, 0, 0.5, 0.5, 0, 0.25, 0])


def test_grid_and_features():
    beats = grid_beats(120.0, 2.0)
    assert np.allclose(beats[:5], [0, 0.5, 1.0, 1.5, 2.0]) and beats[-1] >= 2.0
    f = clock_features(beats, 0, 26, 50.0)  # 50 frames/s: a beat every 25 frames
    assert f.shape == (26, CLOCK_FEATURES) and torch.all(f[:, 0] == 1)
    assert torch.allclose(f[0, 1:], torch.tensor([0.0, 1.0, 0.0, 1.0]), atol=1e-6)
    assert torch.allclose(f[25], f[0], atol=1e-5)  # the next beat
    assert torch.allclose(f[13, 2], torch.tensor(np.cos(2 * np.pi * 13 / 25)).float(), atol=1e-5)
    shifted = clock_features(beats, 10, 5, 50.0)
    assert torch.allclose(shifted, f[10:15], atol=1e-6)  # start is an absolute frame index
    assert torch.equal(clock_features(None, 0, 7, 50.0), torch.zeros(7, CLOCK_FEATURES))
    assert batch_clock([beats, None], 0, 4, 50.0).shape == (2, 4, CLOCK_FEATURES)


def test_bad_beats_and_tempo_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        beat_phase(np.array([1.0, 1.0, 2.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="tempo must be > 0"):
        grid_beats(0.0, 10.0)
    with pytest.raises(ValueError, match="length must be >= 0"):
        clock_features(None, 0, -1, 50.0)


# -- beat tracking ----------------------------------------------------------------------------------------------


def click_track(tempo: float, seconds: float, sr: int = 22050, start: float = 0.25) -> np.ndarray:
    """Decaying noise bursts on every beat, a little louder on the first of four."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    burst = rng.standard_normal(int(0.03 * sr)).astype(np.float32) * np.exp(-np.linspace(0, 6, int(0.03 * sr)))
    for i, t in enumerate(np.arange(start, seconds - 0.05, 60.0 / tempo)):
        s = int(t * sr)
        y[s : s + len(burst)] += burst * (0.6 if i % 4 == 0 else 0.4)
    return y


def test_tracker_finds_the_beat_of_a_click_track():
    tempo, beats = track_beats(click_track(100.0, 12.0), 22050, tempo_hint=100.0)
    assert abs(tempo - 100.0) < 3 and len(beats) >= 15
    assert np.allclose(np.diff(beats), 0.6, atol=0.01)  # smoothed onto the steady grid
    phase = beat_phase(beats, np.arange(0.25, 11.5, 0.6))  # the clicks
    assert np.all(np.minimum(phase, 1 - phase) < 0.08)


def test_smoothing_removes_jitter_and_keeps_a_tempo_change():
    rng = np.random.default_rng(1)
    steady = np.concatenate([np.arange(20) * 0.5, 10 + np.arange(1, 21) * 0.4])
    jittered = steady + rng.uniform(-0.012, 0.012, len(steady))
    smooth = smooth_beats(jittered)
    inner = np.r_[2:16, 24:38]  # away from the tempo change
    assert np.abs(smooth - steady)[inner].max() < np.abs(jittered - steady)[inner].max()
    assert np.all(np.diff(smooth) > 0)


def test_add_beats_is_resumable_and_feeds_the_dataset(tmp_path):
    sr = 32000
    records = []
    for i, tempo in enumerate((90.0, 140.0)):
        sf.write(tmp_path / f"{i}.wav", click_track(tempo, 8.0, sr), sr)
        records.append(
            Record(path=f"{i}.wav", duration=8.0, sample_rate=sr, source="t", licence="CC0", tempo=tempo, split="train")
        )
    write_manifest(tmp_path / "manifest.jsonl", records)
    with TokenCacheWriter(tmp_path / "tokens", "codec-test", 50, 4, 64) as w:
        for r in records:
            w.add(f"{r.track}@0", np.zeros((4, 400), dtype=np.int16), r)
    assert add_beats(tmp_path / "tokens", [str(tmp_path / "manifest.jsonl")]) == 2
    assert add_beats(tmp_path / "tokens", [str(tmp_path / "manifest.jsonl")]) == 0  # resumed: nothing left
    with open(tmp_path / "tokens" / BEATS_NAME, "ab") as f:
        f.write(b'{"id": "half-writ')  # a killed run
    beats = read_beats(tmp_path / "tokens")
    assert len(beats) == 2
    for r, tempo in zip(records, (90.0, 140.0), strict=True):
        assert abs(np.median(np.diff(beats[f"{r.track}@0"])) - 60 / tempo) < 0.01
    ds = TokenWindowDataset(TokenCache(tmp_path / "tokens"), 50, n_q=4, clock_features=CLOCK_FEATURES)
    codes, _, clock = collate_windows([ds[0], ds[1]])
    assert codes.shape == (2, 4, 50) and clock.shape == (2, 53, CLOCK_FEATURES) and torch.all(clock[:, :, 0] == 1)
    with pytest.raises(ValueError, match="clock_features must be 0"):
        TokenWindowDataset(TokenCache(tmp_path / "tokens"), 50, n_q=4, clock_features=3)


# -- the model --------------------------------------------------------------------------------------------------


def clock_model(**kw) -> MusicLM:
    torch.manual_seed(0)
    return MusicLM(LMConfig.preset("debug", clock_features=CLOCK_FEATURES, **kw)).eval()


def test_zero_initialised_clock_changes_nothing_until_trained():
    torch.manual_seed(0)
    plain = MusicLM(LMConfig.preset("debug")).eval()
    model = clock_model()
    seq = torch.randint(0, 64, (2, 4, 10))
    clock = batch_clock([grid_beats(120, 1), None], 0, 10, 50.0)
    assert torch.allclose(model(seq, clock=clock), plain(seq), atol=1e-6)
    torch.nn.init.normal_(model.clock.weight)
    out = model(seq, clock=clock)
    assert not torch.allclose(out[0], plain(seq)[0], atol=1e-3)  # the row with a clock hears it
    assert torch.allclose(out[1], plain(seq)[1], atol=1e-6)  # an all-zero clock is no clock


def test_clock_with_kv_cache_gives_the_uncached_logits():
    model = clock_model()
    torch.nn.init.normal_(model.clock.weight)
    seq = torch.randint(0, 64, (2, 4, 9))
    clock = batch_clock([grid_beats(100, 1), grid_beats(150, 1)], 0, 9, 50.0)
    full = model(seq, clock=clock)
    cache = model.new_cache(2, 9)
    parts = [model(seq[..., :4], None, cache, clock[:, :4])]
    parts += [model(seq[..., i : i + 1], None, cache, clock[:, i : i + 1]) for i in range(4, 9)]
    assert torch.allclose(torch.cat(parts, dim=2), full, atol=1e-5)


def test_clock_shape_and_presence_are_checked():
    seq = torch.randint(0, 64, (1, 4, 6))
    with pytest.raises(ValueError, match="clock must be"):
        clock_model()(seq, clock=torch.zeros(1, 5, CLOCK_FEATURES))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="no beat clock input"):
        MusicLM(LMConfig.preset("debug"))(seq, clock=torch.zeros(1, 6, CLOCK_FEATURES))
    with pytest.raises(ValueError, match="clock_features must lie"):
        LMConfig.preset("debug", clock_features=-1)


# -- generation -------------------------------------------------------------------------------------------------

ATTRS = [Attributes(tempo=96.0), Attributes(tempo=None)]


def test_generation_with_a_clock_is_cached_equal_reproducible_and_follows_the_tempo():
    model = clock_model(max_frames=30)
    torch.nn.init.normal_(model.clock.weight, std=0.5)
    params = GenerationParams(seed=4, cfg_scale=1.0, extend_stride=12)
    a = generate(model, None, ATTRS, 70, params)
    assert torch.equal(a, generate(model, None, ATTRS, 70, params, use_cache=False))
    assert torch.equal(a, generate(model, None, ATTRS, 70, params))
    other = generate(model, None, [Attributes(tempo=150.0), Attributes(tempo=None)], 70, params)
    assert not torch.equal(a[0], other[0]) and torch.equal(a[1], other[1])  # only the row with a tempo moves
    explicit = generate(model, None, ATTRS, 70, params, beats=[grid_beats(96.0, 3.0), None])
    assert torch.equal(a, explicit)


def test_clock_guidance_drops_the_clock_from_the_unconditional_rows():
    model = clock_model()
    torch.nn.init.normal_(model.clock.weight, std=0.5)
    provider = model.provider  # None: a debug model without conditioning; guidance needs a provider
    assert provider is None

    def stub(attrs):
        from audiogen.conditioning.base import Conditions

        prefix = torch.stack([torch.full((1, 32), 0.1 * (a.tempo is not None)) for a in attrs])
        mask = torch.ones(len(attrs), 1, dtype=torch.bool)
        return Conditions(prefix, mask, torch.zeros(len(attrs), 0, 32), torch.zeros(len(attrs), 0, dtype=torch.bool))

    on = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0))
    off = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0, clock_guidance=False))
    assert not torch.equal(on, off)


def test_bad_beats_argument_is_refused():
    model = clock_model()
    with pytest.raises(ValueError, match="one entry"):
        generate(model, None, ATTRS, 10, GenerationParams(seed=0), beats=[None])
    with pytest.raises(ValueError, match="strictly increasing"):
        generate(model, None, ATTRS, 10, GenerationParams(seed=0), beats=[[1.0, 0.5], None])


# -- training ---------------------------------------------------------------------------------------------------


def tiny_cache(root: Path) -> Path:
    """Tracks whose tokens follow the beat: token 1 on beat frames, 0 elsewhere (25 frames per beat)."""
    with TokenCacheWriter(root / "tokens", "codec-test", 50, 4, 64) as w:
        for i in range(5):
            offset = 3 * i
            codes = np.zeros((4, 200), dtype=np.int16)
            codes[:, offset::25] = 1
            rec = Record(
                path=f"{i}.wav", duration=4.0, sample_rate=32000, source="t", licence="CC0", split="train", tempo=120.0
            )
            w.add(f"t{i}", codes, rec)
    lines = [{"id": f"t{i}", "tempo": 120.0, "beats": list(3 * i / 50 + 0.5 * np.arange(9))} for i in range(5)]
    (root / "tokens" / BEATS_NAME).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root / "tokens"


def test_training_from_a_clockless_run_learns_the_beat(tmp_path):
    cache = tiny_cache(tmp_path)
    base = dict(cache=str(cache), batch_size=4, warmup_steps=2, log_every=10, ckpt_every=10, valid_batches=0)
    LMTrainer(LMTrainConfig(run_dir=str(tmp_path / "plain"), model=dict(MODEL), lr=3e-3, max_steps=10, **base)).fit()
    cfg = LMTrainConfig(
        run_dir=str(tmp_path / "clock"),
        model=dict(MODEL, clock_features=CLOCK_FEATURES),
        init_from=str(tmp_path / "plain" / "last.pt"),
        lr=1e-2,
        max_steps=60,
        clock_dropout=0.0,
        **base,
    )
    trainer = LMTrainer(cfg)
    assert torch.count_nonzero(trainer.model.clock.weight) == 0  # new input, the rest from the first run
    trainer.fit()
    model = trainer.model.eval()
    ds = TokenWindowDataset(TokenCache(cache), 32, n_q=4, clock_features=CLOCK_FEATURES)
    codes, attrs, clock = collate_windows([ds[i] for i in range(4)])
    with torch.no_grad():
        with_clock = model.loss(codes, model.condition(attrs), clock)[0]
        without = model.loss(codes, model.condition(attrs))[0]
    assert with_clock < without - 0.05  # the clock tells where the beat tokens fall
    bad = LMTrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "bad"), "init_from": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="init_from"):
        LMTrainer(bad)


# -- the facade -------------------------------------------------------------------------------------------------


def clock_generator():
    from audiogen.conditioning.config import ConditionConfig
    from audiogen.generator import MusicGenerator

    g = MusicGenerator.debug()
    cond = ConditionConfig(text_backend="hash", number_hidden=32, number_freqs=4).to_dict()
    torch.manual_seed(0)
    lm = MusicLM(LMConfig.preset("debug", conditioning=cond, clock_features=CLOCK_FEATURES))
    return MusicGenerator(g.codec, lm, name="audiogen-debug", version="debug")


def test_facade_clocks_the_requested_tempo_and_continues_a_prompts_beat(beats_seen):
    seen = beats_seen
    g = clock_generator()
    track = g.generate("drums", tempo=120, duration=2.0, seed=0, progress=False)
    assert abs(len(track.audio) / track.sample_rate - 2.0) < 0.05
    assert np.allclose(np.diff(seen[-1][0]), 0.5)
    prompt = click_track(100.0, 4.0, sr=32000)
    g.generate(["drums", "strings"], tempo=[None, 150], duration=6.0, prompt=prompt, seed=0, progress=False)
    keep, faster = seen[-1]
    early = keep[keep < 3.5]
    assert np.allclose(np.diff(early), 0.6, atol=0.02) and np.allclose(early, faster[: len(early)])
    assert np.allclose(np.diff(keep[keep > 4.5]), 0.6, atol=0.02)  # the prompt's tempo goes on
    assert np.allclose(np.diff(faster[faster > 4.5]), 0.4, atol=1e-6)  # the requested tempo takes over
