"""Beat guidance: the counted phase classifier, its file, and how generation applies it."""

import json

import numpy as np
import pytest
import torch

from audiogen.conditioning.base import Attributes
from audiogen.data.beats import BEATS_NAME
from audiogen.data.manifest import Record
from audiogen.data.token_cache import TokenCache, TokenCacheWriter
from audiogen.lm.beat_prior import PRIOR_NAME, BeatPrior, beat_tempo, phase_bins
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import _step_bins, generate
from audiogen.lm.model import MusicLM
from audiogen.lm.pattern import build_delayed
from audiogen.lm.sampling import GenerationParams
from audiogen.train.lm import main as train_main

BEAT_TOKEN = 7  # the token the test corpus plays on every beat


def beat_cache(root, tempos=(120.0, 60.0, 160.0)):
    """One track per tempo whose codebooks play ``BEAT_TOKEN`` on the frame of each beat, random tokens elsewhere."""
    rng = np.random.default_rng(0)
    lines = []
    with TokenCacheWriter(root / "tokens", "codec-test", 50, 4, 64) as w:
        for i, tempo in enumerate(tempos):
            frames = 600
            codes = rng.integers(8, 64, size=(4, frames)).astype(np.int16)
            beats = 0.1 + (60.0 / tempo) * np.arange(int(frames / 50 * tempo / 60))
            codes[:, np.round(beats * 50).astype(int)] = BEAT_TOKEN
            rec = Record(path=f"{i}.wav", duration=12.0, sample_rate=32000, source="t", licence="CC0", split="train")
            w.add(f"t{i}", codes, rec)
            lines.append({"id": f"t{i}", "tempo": tempo, "beats": beats.tolist()})
    (root / "tokens" / BEATS_NAME).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return TokenCache(root / "tokens")


def test_pmi_is_bayes_log_ratio_of_the_phase_given_the_token():
    counts = np.random.default_rng(1).integers(0, 20, size=(2, 3, 4, 16)).astype(float)
    prior = BeatPrior.from_counts(counts, edges=(100.0,), alpha=0.5)
    s = counts + 0.5
    p_b_given_v = s / s.sum(axis=2, keepdims=True)
    p_b = s.sum(axis=3, keepdims=True) / s.sum(axis=(2, 3), keepdims=True)
    assert prior.pmi.shape == (2, 3, 4, 16)
    assert np.allclose(prior.pmi.numpy(), np.log(p_b_given_v) - np.log(p_b), atol=1e-5)
    assert prior.frames == (int(counts[0, 0].sum()), int(counts[1, 0].sum()))


def test_counted_prior_favours_the_beat_token_on_the_beat_and_bands_by_tempo(tmp_path):
    cache = beat_cache(tmp_path)
    prior = BeatPrior.from_cache(cache, n_q=2, bins=12, edges=(85.0, 135.0))
    assert prior.pmi.shape == (3, 2, 12, 64) and all(f > 0 for f in prior.frames)
    for band in range(3):
        on, off = prior.pmi[band, :, 0, BEAT_TOKEN], prior.pmi[band, :, 6, BEAT_TOKEN]
        assert torch.all(on > 1.0) and torch.all(off < -1.0)
    assert [prior.band(t) for t in (60, 85, 120, 135, 176)] == [0, 1, 1, 2, 2]
    assert beat_tempo(np.array([0.0, 0.5, 1.0, 1.6])) == pytest.approx(120.0)
    assert phase_bins(np.array([0.0, 0.49, 0.99, np.nan]), 4).tolist() == [0, 1, 3, -1]
    with pytest.raises(ValueError, match="tempo band"):  # nothing above 300 BPM in this corpus
        BeatPrior.from_cache(cache, edges=(85.0, 300.0))
    with pytest.raises(ValueError, match="n_q must lie"):
        BeatPrior.from_cache(cache, n_q=9)


def test_file_round_trip_and_refusals(tmp_path):
    counts = np.random.default_rng(2).integers(0, 9, size=(2, 4, 3, 16))
    prior = BeatPrior.from_counts(counts, edges=(110.0,), default_scale=4.0)
    prior.save(tmp_path)
    back = BeatPrior.load(tmp_path)
    assert back.edges == (110.0,) and back.default_scale == 4.0 and back.frames == prior.frames
    assert torch.allclose(back.pmi, prior.pmi, atol=5e-3)  # stored as float16
    assert BeatPrior.load(tmp_path / "none") is None
    with pytest.raises(ValueError, match="edges must be"):
        BeatPrior(prior.pmi, edges=(120.0, 90.0))
    with pytest.raises(ValueError, match="default_scale"):
        BeatPrior(prior.pmi, edges=(110.0,), default_scale=-1.0)
    with pytest.raises(ValueError, match="beat_scale must be"):
        GenerationParams(beat_scale=-0.5)
    with pytest.raises(ValueError, match="beat_scale must be"):
        GenerationParams(beat_scale=float("nan"))


def test_step_bins_follow_the_delay_pattern():
    frames, k = 9, 4
    frame_bins = torch.arange(frames)[None].repeat(2, 1)  # a frame's "bin" is its index
    delayed = build_delayed(frame_bins[:, None].repeat(1, k, 1), -1)  # (2, K, frames + K): -1 = special
    for step in range(frames + k):
        assert torch.equal(_step_bins(frame_bins, step, k), delayed[..., step])


def guided_model(prior=None):
    torch.manual_seed(0)
    model = MusicLM(LMConfig.preset("debug", card=64)).eval()
    model.beat_prior = prior
    return model


def spike_prior(scale=0.0):
    """A prior that only says "token BEAT_TOKEN on bin 0", very loudly, in every band and codebook."""
    pmi = torch.full((2, 4, 12, 64), 0.0)
    pmi[:, :, 0, BEAT_TOKEN] = 50.0
    return BeatPrior(pmi, edges=(100.0,), default_scale=scale)


ATTRS = [Attributes(tempo=120.0), Attributes(tempo=None)]


def test_guidance_puts_the_favoured_token_on_the_beat_and_only_there():
    model = guided_model(spike_prior())
    params = GenerationParams(seed=3, cfg_scale=1.0, beat_scale=1.0, extend_stride=20, precision="float32")
    n = 120  # beyond the debug window: the sliding window keeps the global frame index
    out = generate(model, None, ATTRS, n, params)
    on_beat = np.arange(0, n, 25)  # 120 BPM at 50 frames/s; bin 0 of 12 is the beat frame and the next one
    assert torch.all(out[0][:, on_beat] == BEAT_TOKEN)
    assert torch.equal(out, generate(model, None, ATTRS, n, params, use_cache=False))  # KV cache = reference
    exact = dict(seed=3, cfg_scale=1.0, extend_stride=20, precision="float32")  # the same tokens run to run
    off = generate(guided_model(None), None, ATTRS, n, GenerationParams(**exact))
    assert torch.equal(out[1], off[1])  # the row without a tempo is not guided
    zero = generate(model, None, ATTRS, n, GenerationParams(**exact, beat_scale=0.0))
    assert torch.equal(zero, off)  # scale 0 is the unguided model, bit for bit
    assert not torch.equal(out[0], off[0])


def test_default_scale_comes_from_the_prior_and_a_scale_needs_a_prior(tmp_path):
    params = GenerationParams(seed=5, cfg_scale=1.0)
    default = generate(guided_model(spike_prior(scale=1.0)), None, ATTRS, 60, params)
    params_1 = GenerationParams(seed=5, cfg_scale=1.0, beat_scale=1.0)
    explicit = generate(guided_model(spike_prior()), None, ATTRS, 60, params_1)
    assert torch.equal(default, explicit)
    with pytest.raises(ValueError, match="needs a model with a beat prior"):
        generate(guided_model(None), None, ATTRS, 10, GenerationParams(seed=0, beat_scale=2.0))
    model = guided_model(spike_prior(scale=1.0))
    model.save_pretrained(tmp_path / "lm")
    back = MusicLM.from_pretrained(tmp_path / "lm")
    assert back.beat_prior is not None and back.beat_prior.default_scale == 1.0
    assert torch.equal(generate(back, None, ATTRS, 60, params), default)
    bad = BeatPrior(torch.zeros(1, 2, 12, 64), edges=())
    bad.save(tmp_path / "lm")
    with pytest.raises(ValueError, match="2 codebooks of 64 tokens"):
        MusicLM.from_pretrained(tmp_path / "lm")


def test_cli_counts_a_prior_into_an_lm_folder(tmp_path, capsys):
    cache = beat_cache(tmp_path)
    guided_model().save_pretrained(tmp_path / "lm")
    assert train_main(["beat-prior", str(cache.dir), str(tmp_path / "lm"), "--scale", "3", "--edges", "90,140"]) == 0
    prior = MusicLM.from_pretrained(tmp_path / "lm").beat_prior
    assert prior.n_q == 4 and prior.edges == (90.0, 140.0) and prior.default_scale == 3.0
    assert (tmp_path / "lm" / PRIOR_NAME).is_file() and "frames per band" in capsys.readouterr().out


def test_facade_guides_a_tempo_request_and_keeps_the_prior_on_save(tmp_path, beats_seen):
    from audiogen.generator import MusicGenerator

    seen = beats_seen
    g = MusicGenerator.debug()
    g.lm.beat_prior = spike_prior(scale=2.0)
    track = g.generate("drums", tempo=90, duration=1.5, seed=0, progress=False)
    assert abs(len(track.audio) / track.sample_rate - 1.5) < 0.05
    assert np.allclose(np.diff(seen[-1][0]), 60 / 90)  # no clock, but the prior gets the requested grid
    g.save_pretrained(tmp_path / "model")
    assert MusicGenerator.from_pretrained(tmp_path / "model").lm.beat_prior.default_scale == 2.0
    prompt = np.sin(np.linspace(0, 400, 32000 * 2)).astype(np.float32)
    g.generate("drums", tempo=90, duration=3.0, prompt=prompt, seed=0, progress=False)
    assert seen[-1] is not None and len(seen[-1][0]) >= 2  # a prompt's beats are tracked for the prior too


def test_bias_reweights_only_the_tokens_the_filters_keep():
    from audiogen.lm.sampling import sample_next

    logits = torch.tensor([[[4.0, 3.0, 0.0, -1.0]]]).repeat(64, 1, 1)  # (64, 1, 4)
    bias = torch.tensor([0.0, 40.0, 0.0, 80.0]).expand(64, 1, 4)
    params = GenerationParams(top_k=2)
    g = torch.Generator().manual_seed(0)
    drawn = sample_next(logits, params, g, bias)
    assert torch.all(drawn == 1)  # token 3 was filtered out; the bias moves all mass to token 1 inside the top 2
    assert set(sample_next(logits, params, g).flatten().tolist()) == {0, 1}
    assert torch.all(sample_next(logits, GenerationParams(greedy=True), g, bias) == 3)  # greedy has no filters
