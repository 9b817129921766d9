"""Dense controls in the LM: the beat group (the beat clock), beat tracking of cache items, the model's control
input (zero-init, KV cache, an older clock model's weights), training and generation."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.conditioning.base import Attributes
from audiogen.controls import layout as L
from audiogen.controls.beats import LATENCY_S
from audiogen.controls.layout import CONTROL_FEATURES, beat_phase, grid_beats
from audiogen.data.beats import BEATS_NAME, add_beats, read_beats, smooth_beats, track_beats
from audiogen.data.manifest import Record, write_manifest
from audiogen.data.token_cache import TokenCache, TokenCacheWriter, TokenWindowDataset, collate_windows
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


def beat_controls(beats, n: int, downbeats=None) -> np.ndarray:
    out = L.empty(n)
    L.write_beats(out, beats, downbeats)
    return out


def test_grid_and_beat_group():
    beats = grid_beats(120.0, 2.0)
    assert np.allclose(beats[:5], [0, 0.5, 1.0, 1.5, 2.0]) and beats[-1] >= 2.0
    f = beat_controls(beats, 26, beats[::4])[:, L.GROUPS["beat"]]  # 50 frames/s: a beat every 25 frames
    clock = f[:, 2:]
    assert f.shape == (26, 7) and np.all(clock[:, 0] == 1)
    assert np.allclose(clock[0, 1:], [0.0, 1.0, 0.0, 1.0], atol=1e-6)
    assert np.allclose(clock[25], clock[0], atol=1e-5)  # the next beat
    assert np.isclose(clock[13, 2], np.cos(2 * np.pi * 13 / 25), atol=1e-5)
    assert f[0, 0] == pytest.approx(0.9) and f[25, 0] == pytest.approx(0.9) and f[12, 0] == 0  # the beat pulse
    assert f[0, 1] == pytest.approx(0.9) and f[25, 1] == 0  # the downbeat pulse: beat 0 only
    assert np.array_equal(beat_controls(None, 7), L.empty(7))  # fewer than two beats: absent


def test_bad_beats_and_tempo_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        beat_phase(np.array([1.0, 1.0, 2.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="tempo must be > 0"):
        grid_beats(0.0, 10.0)
    with pytest.raises(ValueError, match="n_frames must be >= 0"):
        L.empty(-1)
    with pytest.raises(ValueError, match="unknown control group"):
        L.drop(L.empty(2), ["rhythm"])


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
    clicks = np.arange(0.25, 11.5, 0.6)
    phase = beat_phase(beats, clicks)
    assert np.all(np.minimum(phase, 1 - phase) < 0.1)
    # calibrated for music (75 ms), the tracker reads clicks, which it sees 20 ms late, 55 ms early
    offset = np.median([beats[np.argmin(np.abs(beats - c))] - c for c in clicks[2:-2]])
    assert -0.075 < offset < -0.035


def test_tracker_beats_land_on_the_notes_of_composed_music():
    """The latency calibration: on renders of composed plans the beats read back sit on the planned beats."""
    import mir_eval

    from audiogen.compose.planner import compose_plan
    from audiogen.data.render import render_midi

    offsets, scores = [], []
    for emotion, seed in (("happy", 0), ("tense", 3), ("energetic", 4)):
        plan = compose_plan("a track", emotion=emotion, duration=10.0, seed=seed)
        _, beats = track_beats(render_midi(plan.to_midi(), plan.duration), 32000, tempo_hint=plan.tempo)
        ref = mir_eval.beat.trim_beats(np.asarray(plan.beats), 2.0)
        est = mir_eval.beat.trim_beats(beats, 2.0)
        offsets.append(np.median([est[np.argmin(np.abs(est - b))] - b for b in ref]))
        scores.append(mir_eval.beat.f_measure(ref, est))
    assert np.all(np.abs(offsets) < 0.025), offsets  # uncalibrated: +62..+79 ms
    assert np.mean(scores) > 0.8, scores  # uncalibrated: 0.31..0.62


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
    ds = TokenWindowDataset(TokenCache(tmp_path / "tokens"), 50, n_q=4, control_features=CONTROL_FEATURES)
    codes, _, ctl = collate_windows([ds[0], ds[1]])
    assert codes.shape == (2, 4, 50) and ctl.shape == (2, 53, CONTROL_FEATURES)
    assert torch.all(ctl[:, :, L.CLOCK.start] == 1) and torch.all(ctl[:, :, L.CHORD_ON] == 0)  # beats only
    with pytest.raises(ValueError, match="control_features must be 0"):
        TokenWindowDataset(TokenCache(tmp_path / "tokens"), 50, n_q=4, control_features=3)


# -- the model --------------------------------------------------------------------------------------------------


def control_model(**kw) -> MusicLM:
    torch.manual_seed(0)
    return MusicLM(LMConfig.preset("debug", control_features=CONTROL_FEATURES, **kw)).eval()


def random_controls(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, n, CONTROL_FEATURES, generator=g) > 0.7).float()


def test_zero_initialised_controls_change_nothing_until_trained():
    torch.manual_seed(0)
    plain = MusicLM(LMConfig.preset("debug")).eval()
    model = control_model(control_layers=(1,))
    seq = torch.randint(0, 64, (2, 4, 10))
    ctl = random_controls(2, 10)
    ctl[1] = 0
    assert torch.allclose(model(seq, controls=ctl), plain(seq), atol=1e-6)
    for lin in (model.controls.input, *model.controls.again):
        torch.nn.init.normal_(lin.weight)
    out = model(seq, controls=ctl)
    assert not torch.allclose(out[0], plain(seq)[0], atol=1e-3)  # the row with controls hears them
    assert torch.allclose(out[1], plain(seq)[1], atol=1e-6)  # all-absent controls are no controls


def test_re_added_controls_reach_the_later_blocks():
    model = control_model(control_layers=(1,))
    torch.nn.init.normal_(model.controls.again[0].weight)  # only the re-injection before block 1
    seq = torch.randint(0, 64, (1, 4, 8))
    ctl = random_controls(1, 8)
    assert not torch.allclose(model(seq, controls=ctl), model(seq, controls=torch.zeros_like(ctl)), atol=1e-4)


def test_controls_with_kv_cache_give_the_uncached_logits():
    model = control_model(control_layers=(1,))
    for lin in (model.controls.input, *model.controls.again):
        torch.nn.init.normal_(lin.weight)
    seq = torch.randint(0, 64, (2, 4, 9))
    ctl = random_controls(2, 9, seed=3)
    full = model(seq, controls=ctl)
    cache = model.new_cache(2, 9)
    parts = [model(seq[..., :4], None, cache, ctl[:, :4])]
    parts += [model(seq[..., i : i + 1], None, cache, ctl[:, i : i + 1]) for i in range(4, 9)]
    assert torch.allclose(torch.cat(parts, dim=2), full, atol=1e-5)


def test_an_older_clock_model_loads_with_its_clock_in_the_clock_columns(tmp_path):
    """A saved model of the beat-clock era (``clock_features: 5``, ``clock.weight``) computes exactly what it did."""
    from safetensors.torch import save_file

    model = control_model()
    torch.nn.init.normal_(model.controls.input.weight)
    with torch.no_grad():
        keep = torch.zeros(CONTROL_FEATURES, dtype=torch.bool)
        keep[L.CLOCK] = True
        model.controls.input.weight[:, ~keep] = 0
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("controls.")}
    state["clock.weight"] = model.controls.input.weight[:, L.CLOCK].clone()
    cfg = model.config.to_dict()
    del cfg["control_features"], cfg["control_layers"], cfg["beat_lag_s"]  # fields of a later release
    cfg["clock_features"] = 5
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    old = MusicLM.from_pretrained(tmp_path)
    assert old.config.beat_lag_s == LATENCY_S  # trained on beats read before the tracker's calibration
    assert model.config.beat_lag_s == 0.0
    seq = torch.randint(0, 64, (1, 4, 12))
    ctl = torch.from_numpy(beat_controls(grid_beats(100, 1), 12))[None]
    assert torch.allclose(old(seq, controls=ctl), model(seq, controls=ctl), atol=1e-6)


def test_controls_shape_and_presence_are_checked():
    seq = torch.randint(0, 64, (1, 4, 6))
    with pytest.raises(ValueError, match="controls must be"):
        control_model()(seq, controls=torch.zeros(1, 5, CONTROL_FEATURES))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="no control input"):
        MusicLM(LMConfig.preset("debug"))(seq, controls=torch.zeros(1, 6, CONTROL_FEATURES))
    with pytest.raises(ValueError, match="control_features must be 0"):
        LMConfig.preset("debug", control_features=5)
    with pytest.raises(ValueError, match="control_layers must be"):
        LMConfig.preset("debug", control_features=CONTROL_FEATURES, control_layers=(0,))


# -- generation -------------------------------------------------------------------------------------------------

ATTRS = [Attributes(tempo=96.0), Attributes(tempo=None)]


def test_generation_with_controls_is_cached_equal_reproducible_and_follows_the_tempo():
    model = control_model(max_frames=30, control_layers=(1,))
    for lin in (model.controls.input, *model.controls.again):
        torch.nn.init.normal_(lin.weight, std=0.5)
    params = GenerationParams(seed=4, cfg_scale=1.0, extend_stride=12, precision="float32")
    a = generate(model, None, ATTRS, 70, params)
    assert torch.equal(a, generate(model, None, ATTRS, 70, params, use_cache=False))
    assert torch.equal(a, generate(model, None, ATTRS, 70, params))
    other = generate(model, None, [Attributes(tempo=150.0), Attributes(tempo=None)], 70, params)
    assert not torch.equal(a[0], other[0]) and torch.equal(a[1], other[1])  # only the row with a tempo moves
    explicit = generate(model, None, ATTRS, 70, params, beats=[grid_beats(96.0, 3.0), None])
    assert torch.equal(a, explicit)
    plan_like = [random_controls(1, 80, seed=5)[0].numpy(), None]  # a row with full controls (a plan's)
    b = generate(model, None, ATTRS, 70, params, controls=plan_like)
    assert torch.equal(b, generate(model, None, ATTRS, 70, params, controls=plan_like, use_cache=False))
    assert not torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="controls of row 0 must be"):
        generate(model, None, ATTRS, 70, params, controls=[np.zeros((10, CONTROL_FEATURES)), None])
    torch.manual_seed(0)
    plain = MusicLM(LMConfig.preset("debug"))
    with pytest.raises(ValueError, match="cannot follow a plan"):
        generate(plain, None, ATTRS, 10, params, controls=plan_like)


def test_control_guidance_drops_the_controls_from_the_unconditional_rows():
    model = control_model()
    torch.nn.init.normal_(model.controls.input.weight, std=0.5)
    provider = model.provider  # None: a debug model without conditioning; guidance needs a provider
    assert provider is None

    def stub(attrs):
        from audiogen.conditioning.base import Conditions

        prefix = torch.stack([torch.full((1, 32), 0.1 * (a.tempo is not None)) for a in attrs])
        mask = torch.ones(len(attrs), 1, dtype=torch.bool)
        return Conditions(prefix, mask, torch.zeros(len(attrs), 0, 32), torch.zeros(len(attrs), 0, dtype=torch.bool))

    on = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0))
    off = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0, control_guidance=False))
    assert not torch.equal(on, off)
    own = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0, control_scale=3.0))
    assert torch.equal(on, own)  # control_scale == cfg_scale: the extra row adds nothing
    more = generate(model, stub, ATTRS[:1], 20, GenerationParams(seed=1, cfg_scale=3.0, control_scale=6.0))
    assert not torch.equal(on, more)


def test_bad_beats_argument_is_refused():
    model = control_model()
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


def test_training_from_a_run_without_controls_learns_the_beat(tmp_path):
    cache = tiny_cache(tmp_path)
    base = dict(cache=str(cache), batch_size=4, warmup_steps=2, log_every=10, ckpt_every=10, valid_batches=0)
    LMTrainer(LMTrainConfig(run_dir=str(tmp_path / "plain"), model=dict(MODEL), lr=3e-3, max_steps=10, **base)).fit()
    cfg = LMTrainConfig(
        run_dir=str(tmp_path / "controls"),
        model=dict(MODEL, control_features=CONTROL_FEATURES, control_layers=[1]),
        init_from=str(tmp_path / "plain" / "last.pt"),
        lr=1e-2,
        max_steps=60,
        control_dropout=0.0,
        control_dropout_all=0.0,
        **base,
    )
    trainer = LMTrainer(cfg)
    assert torch.count_nonzero(trainer.model.controls.input.weight) == 0  # new input, the rest from the first run
    trainer.fit()
    model = trainer.model.eval()
    ds = TokenWindowDataset(TokenCache(cache), 32, n_q=4, control_features=CONTROL_FEATURES)
    codes, attrs, ctl = collate_windows([ds[i] for i in range(4)])
    with torch.no_grad():
        with_beat = model.loss(codes, model.condition(attrs), ctl)[0]
        without = model.loss(codes, model.condition(attrs))[0]
    assert with_beat < without - 0.05  # the beat group tells where the beat tokens fall
    bad = LMTrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "bad"), "init_from": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="init_from"):
        LMTrainer(bad)


def _source_run(tmp_path, steps: int = 4) -> tuple[dict, dict]:
    """A few steps of a tiny LM in ``tmp_path / "a"``: the recipe fields shared with runs started from it, and its
    weights."""
    base = dict(cache=str(tiny_cache(tmp_path)), model=dict(MODEL), batch_size=4, warmup_steps=2, log_every=10,
                ckpt_every=10, valid_batches=0)  # fmt: skip
    LMTrainer(LMTrainConfig(run_dir=str(tmp_path / "a"), lr=3e-3, max_steps=steps, **base)).fit()
    return base, torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]


def test_a_warm_body_with_fresh_token_embeddings_and_heads(tmp_path):
    """init_fresh: a new codec's token space keeps the source's body but learns its embeddings and heads anew."""
    base, source = _source_run(tmp_path)
    torch.manual_seed(5)
    cfg = LMTrainConfig(run_dir=str(tmp_path / "b"), init_from=str(tmp_path / "a" / "last.pt"),
                        init_fresh=["emb.", "heads."], max_steps=1, **base)  # fmt: skip
    state = LMTrainer(cfg).model.state_dict()
    body = [k for k in source if not k.startswith(("emb.", "heads."))]
    assert body and all(torch.equal(state[k], source[k]) for k in body)
    assert not torch.equal(state["emb.0.weight"], source["emb.0.weight"])
    assert not torch.equal(state["heads.0.weight"], source["heads.0.weight"])
    with pytest.raises(ValueError, match="init_fresh"):
        LMTrainer(LMTrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "c"), "init_fresh": ["nothing."]}))


def test_count_pairs_and_mapped_rows():
    from audiogen.train.token_map import count_pairs, map_rows

    src = np.array([[0, 0, 1, 2, 2, 2]])
    tgt = np.array([[3, 3, 3, 0, 0, 1]])
    counts = count_pairs(src, tgt, source_card=3, target_card=4)
    assert counts.shape == (1, 4, 3) and counts[0, 3].tolist() == [2, 1, 0] and counts[0, 0].tolist() == [0, 0, 2]
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0], [9.0, 9.0]])  # 3 codes + one special row
    fresh = torch.full((5, 2), -7.0)
    out = map_rows(rows, counts[0], fresh, keep_norm=False)
    torch.testing.assert_close(out[3], torch.tensor([2 / 3, 1 / 3]))  # code 3 = 2/3 of code 0 + 1/3 of code 1
    torch.testing.assert_close(out[0], rows[2])
    torch.testing.assert_close(out[2], fresh[2])  # never seen: stays fresh
    torch.testing.assert_close(out[4], rows[3])  # the special token is copied
    normed = map_rows(rows, counts[0], fresh, keep_norm=True)
    assert abs(float(normed[3].norm()) - 1.0) < 1e-6  # the mean norm of its source rows (both 1)
    with pytest.raises(ValueError, match="do not fit"):
        map_rows(rows, counts[0], fresh[:3], keep_norm=False)


def test_a_token_map_starts_the_embeddings_and_heads_from_the_source_rows(tmp_path):
    """init_token_map: each new code starts at the count-weighted mean of the source's rows it co-occurs with."""
    base, source = _source_run(tmp_path)
    card, n_q = MODEL["card"], LMConfig(**MODEL).n_q
    counts = np.zeros((n_q, card, card), dtype=np.int64)
    perm = np.random.default_rng(0).permutation(card)
    counts[:, np.arange(card), perm] = 5  # a pure relabelling: new code c is old code perm[c]
    counts[:, 7] = 0  # one code never seen
    np.savez(tmp_path / "map.npz", counts=counts)
    cfg = LMTrainConfig(run_dir=str(tmp_path / "b"), init_from=str(tmp_path / "a" / "last.pt"),
                        init_fresh=["emb.", "heads."], init_token_map=str(tmp_path / "map.npz"), max_steps=1,
                        **base)  # fmt: skip
    state = LMTrainer(cfg).model.state_dict()
    seen = [c for c in range(card) if c != 7]
    for k in range(n_q):
        torch.testing.assert_close(state[f"heads.{k}.weight"][seen], source[f"heads.{k}.weight"][perm[seen]])
        torch.testing.assert_close(state[f"emb.{k}.weight"][seen], source[f"emb.{k}.weight"][perm[seen]])
        torch.testing.assert_close(state[f"emb.{k}.weight"][card], source[f"emb.{k}.weight"][card])
        assert not torch.equal(state[f"heads.{k}.weight"][7], source[f"heads.{k}.weight"][perm[7]])
    np.savez(tmp_path / "bad.npz", counts=counts[:, :10])
    with pytest.raises(ValueError, match="do not fit the model"):
        LMTrainer(LMTrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "c"),
                                   "init_token_map": str(tmp_path / "bad.npz")}))  # fmt: skip
    with pytest.raises(ValueError, match="needs init_from"):
        LMTrainConfig(**{**cfg.__dict__, "init_from": ""})


# -- the facade -------------------------------------------------------------------------------------------------


def control_generator():
    from audiogen.conditioning.config import ConditionConfig
    from audiogen.generator import MusicGenerator

    g = MusicGenerator.debug()
    cond = ConditionConfig(text_backend="hash", number_hidden=32, number_freqs=4).to_dict()
    torch.manual_seed(0)
    lm = MusicLM(LMConfig.preset("debug", conditioning=cond, control_features=CONTROL_FEATURES))
    return MusicGenerator(g.codec, lm, name="audiogen-debug", version="debug")


def test_facade_beats_the_requested_tempo_and_continues_a_prompts_beat(beats_seen):
    seen = beats_seen
    g = control_generator()
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


def test_more_codebooks_than_the_source_start_fresh_beside_the_mapped_ones(tmp_path):
    """An LM moved to more codebooks (the codec's first 6 instead of 4): the source's codebooks start from the token
    map, the new ones fresh, the body as the source's."""
    base, _ = _source_run(tmp_path / "src")
    small = dict(base, model=dict(MODEL, n_q=2))
    LMTrainer(LMTrainConfig(run_dir=str(tmp_path / "a"), lr=3e-3, max_steps=2, **small)).fit()
    source = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    card = MODEL["card"]
    counts = np.zeros((2, card, card), dtype=np.int64)
    counts[:, np.arange(card), np.arange(card)] = 3  # the same codes
    np.savez(tmp_path / "map.npz", counts=counts)
    cfg = LMTrainConfig(run_dir=str(tmp_path / "b"), init_from=str(tmp_path / "a" / "last.pt"),
                        init_fresh=["emb.", "heads."], init_token_map=str(tmp_path / "map.npz"), max_steps=1,
                        **dict(base, model=dict(MODEL, n_q=4)))  # fmt: skip
    state = LMTrainer(cfg).model.state_dict()
    for k in range(2):
        torch.testing.assert_close(state[f"heads.{k}.weight"][:card], source[f"heads.{k}.weight"][:card])
    assert state["heads.3.weight"].shape == state["heads.0.weight"].shape and "heads.3.weight" not in source
    body = [k for k in source if not k.startswith(("emb.", "heads."))]
    assert body and all(torch.equal(state[k], source[k]) for k in body)
    np.savez(tmp_path / "wide.npz", counts=np.zeros((5, card, card), dtype=np.int64))
    with pytest.raises(ValueError, match="at most 4 codebooks"):
        LMTrainer(LMTrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "c"),
                                   "init_token_map": str(tmp_path / "wide.npz")}))  # fmt: skip
