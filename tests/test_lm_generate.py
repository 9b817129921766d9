import pytest
import torch

from audiogen.conditioning.base import Attributes, Conditions
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import generate, plan_segments
from audiogen.lm.model import MusicLM
from audiogen.lm.pattern import build_delayed, revert_delayed
from audiogen.lm.sampling import GenerationParams, combine_guidance, guidance_attributes, sample_next

DIM = 32


class StubProvider:
    """Deterministic conditions from the attributes: emotion, text and timing each move the states."""

    def __init__(self):
        g = torch.Generator().manual_seed(5)
        self.base = torch.randn(4, DIM, generator=g)
        self.calls: list[list[Attributes]] = []

    def __call__(self, attrs: list[Attributes]) -> Conditions:
        self.calls.append(attrs)
        rows = []
        for a in attrs:
            feats = torch.tensor(
                [float(a.emotion is not None), float(a.text is not None), a.position or 0.0, (a.arousal or 0.0)]
            )
            rows.append(feats @ self.base)
        states = torch.stack(rows)[:, None, :].repeat(1, 2, 1)  # (B, 2, D)
        mask = torch.ones(len(attrs), 2, dtype=torch.bool)
        return Conditions(states, mask, states * 0.5, mask.clone())


def debug_model(**overrides) -> MusicLM:
    torch.manual_seed(0)
    return MusicLM(LMConfig.preset("debug", **overrides)).eval()


ATTRS = [Attributes(text="calm piano", emotion="calm", arousal=-0.5), Attributes(text="rock", emotion="angry")]


def test_params_validation():
    bad_settings = [
        dict(temperature=0),
        dict(top_k=-1),
        dict(top_p=0.0),
        dict(top_p=1.5),
        dict(cfg_scale=-1),
        dict(emotion_scale=-0.1),
        dict(window=1),
        dict(extend_stride=0),
        dict(codebook_temperature=()),
        dict(codebook_temperature=(1.0, 0.0)),
        dict(codebook_temperature=(1.0, float("nan"))),
    ]
    for bad in bad_settings:
        with pytest.raises(ValueError, match="must"):
            GenerationParams(**bad)
    with pytest.raises(AttributeError):
        GenerationParams().temperature = 2.0  # frozen


def test_guidance_rows_and_attributes():
    assert GenerationParams(cfg_scale=1.0).guidance_rows == 1
    assert GenerationParams(cfg_scale=3.0).guidance_rows == 2
    assert GenerationParams(emotion_scale=2.0).guidance_rows == 3
    rows = guidance_attributes(ATTRS, 3)
    assert len(rows) == 6
    assert rows[0] == ATTRS[0] and rows[2].emotion is None and rows[2].arousal is None and rows[2].text == "calm piano"
    assert rows[4] == Attributes() and rows[5] == Attributes()


def test_sampling_filters():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 50, generator=g)
    top = logits.argmax(-1)
    assert torch.equal(sample_next(logits, GenerationParams(greedy=True), g), top)
    assert torch.equal(sample_next(logits, GenerationParams(top_k=1), g), top)
    assert torch.equal(sample_next(logits, GenerationParams(top_k=0, top_p=1e-6), g), top)
    top2 = logits.topk(2, dim=-1).indices
    for _ in range(20):
        s = sample_next(logits, GenerationParams(top_k=2), g)
        assert ((s[..., None] == top2).any(-1)).all()
    peaked = torch.zeros(1, 1, 3)
    peaked[..., 0] = 0.8  # probabilities ~ 0.53, 0.23, 0.23: top_p 0.6 keeps two tokens
    drawn = {int(sample_next(peaked, GenerationParams(top_k=0, top_p=0.6), g)) for _ in range(60)}
    assert 0 in drawn and len(drawn) == 2


def test_codebook_temperature_sets_each_named_codebook_and_leaves_the_rest():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 50, generator=g)
    # a temperature per codebook equal to the global one draws exactly what the global one draws
    same = GenerationParams(temperature=0.7, codebook_temperature=[0.7, 0.7, 0.7, 0.7])
    assert same.codebook_temperature == (0.7, 0.7, 0.7, 0.7)
    a = sample_next(logits, same, torch.Generator().manual_seed(5))
    b = sample_next(logits, GenerationParams(temperature=0.7), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # a tiny temperature on the first two codebooks makes them the argmax; the others (at temperature 1) still vary
    cold = GenerationParams(top_k=0, codebook_temperature=(1e-4, 1e-4))
    draws = torch.stack([sample_next(logits, cold, g) for _ in range(40)])  # (40, B, K)
    assert (draws[:, :, :2] == logits.argmax(-1)[:, :2]).all()
    assert all(len(set(draws[:, i, j].tolist())) > 1 for i in range(2) for j in (2, 3))
    # more temperatures than codebooks: the extra ones are not used
    assert sample_next(logits[:, :1], cold, g).shape == (2, 1)


def test_the_draw_follows_the_probabilities_and_never_picks_an_impossible_index():
    from audiogen.lm.sampling import draw

    g = torch.Generator().manual_seed(1)
    probs = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.2])
    n = 20000
    got = draw(probs.expand(n, 5).contiguous(), g)
    assert got.shape == (n,) and got.dtype == torch.long
    freq = torch.bincount(got, minlength=5).double() / n
    assert freq[1] == 0 and freq[3] == 0  # probability 0: never, not even at a running sum's plateau
    assert torch.allclose(freq, probs.double(), atol=0.015)  # 4.5 standard errors at n = 20,000
    rows = torch.softmax(torch.randn(2, 4, 1024, generator=g), -1)
    assert draw(rows, g).shape == (2, 4)
    assert draw(torch.zeros(3, 7).index_fill_(1, torch.tensor([6]), 1.0), g).tolist() == [6, 6, 6]  # the last index


def test_batched_guidance_equals_separate_passes():
    model, provider = debug_model(), StubProvider()
    params = GenerationParams(cfg_scale=3.0, emotion_scale=5.0)
    seq = build_delayed(torch.randint(0, 64, (2, 4, 6)), model.config.special_token)
    conds = provider(guidance_attributes(ATTRS, 3))
    batched = combine_guidance(model(seq.repeat(3, 1, 1), conds), params)
    full = model(seq, provider(ATTRS))
    noemo = model(seq, provider([a.drop("emotion") for a in ATTRS]))
    none = model(seq, provider([a.drop("all") for a in ATTRS]))
    expected = none + 3.0 * (noemo - none) + 5.0 * (full - noemo)
    assert torch.allclose(batched, expected, atol=1e-4)
    two = combine_guidance(model(seq.repeat(2, 1, 1), provider(guidance_attributes(ATTRS, 2))), GenerationParams())
    assert torch.allclose(two, none + 3.0 * (full - none), atol=1e-4)


def slow_reference(model, provider, attrs, n_frames, params):
    """Greedy decoding with one uncached, unbatched forward per guidance row and step."""
    k, special = model.config.n_q, model.config.special_token
    conds = [provider(rows) for rows in (attrs, [a.drop("emotion") for a in attrs], [a.drop("all") for a in attrs])]
    seq = build_delayed(torch.zeros(len(attrs), k, n_frames, dtype=torch.long), special)
    for step in range(1, n_frames + k):
        full, noemo, none = (model(seq[..., :step], c)[:, :, -1] for c in conds)
        guided = none + params.cfg_scale * (noemo - none) + params.emotion_scale * (full - noemo)
        frames = torch.arange(k) + 1
        real = (step - frames >= 0) & (step - frames < n_frames)
        seq[:, real, step] = guided.argmax(-1)[:, real]
    return revert_delayed(seq)


@pytest.mark.parametrize("n_q", [None, 6])
def test_cached_batched_generation_equals_slow_reference(n_q):
    model = debug_model(**({"n_q": n_q} if n_q else {}))
    # float32: the exact path (int8 and bfloat16 steps are held near it by tests/test_lm_fast.py)
    params = GenerationParams(greedy=True, cfg_scale=2.0, emotion_scale=4.0, seed=0, precision="float32")
    attrs = [a.drop("timing") for a in ATTRS]
    fast = generate(model, lambda rows: StubProvider()([a.drop("timing") for a in rows]), attrs, 12, params)
    slow = slow_reference(model, StubProvider(), attrs, 12, params)
    assert torch.equal(fast, slow)


def test_uncached_generation_gives_the_same_tokens():
    model, provider = debug_model(), StubProvider()
    params = GenerationParams(seed=3, top_k=20, precision="float32")
    cached = generate(model, provider, ATTRS, 30, params)
    uncached = generate(model, provider, ATTRS, 30, params, use_cache=False)
    assert torch.equal(cached, uncached)


def test_seed_reproducible_beyond_the_window_with_timing():
    model, provider = debug_model(max_frames=40), StubProvider()  # the window defaults to max_frames
    params = GenerationParams(seed=11, extend_stride=16)
    seen = []
    a = generate(model, provider, ATTRS, 100, params, callback=lambda i, n: seen.append((i, n)))
    b = generate(model, StubProvider(), ATTRS, 100, params)
    c = generate(model, StubProvider(), ATTRS, 100, GenerationParams(seed=12, extend_stride=16))
    assert a.shape == (2, 4, 100) and a.dtype == torch.long
    assert (a >= 0).all() and (a < 64).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    segments = plan_segments(100, 0, 40, 16)
    assert segments == [(0, 40), (16, 56), (32, 72), (48, 88), (64, 100)]
    positions = [call[0].position for call in provider.calls]
    assert positions == [s / 50.0 for s, _ in segments]
    assert all(call[0].duration == 2.0 for call in provider.calls)  # 100 frames at 50 frames/s
    assert seen[-1] == (len(seen), len(seen)) and len(seen) == 100 + len(segments) * 3


def test_prompts_are_continued_in_a_batch():
    model, provider = debug_model(), StubProvider()
    prompt = torch.randint(0, 64, (2, 6, 15))  # more codebooks than modelled: only the first 4 are used
    params = GenerationParams(seed=1, window=32, extend_stride=10)
    out = generate(model, provider, ATTRS, 50, params, prompt=prompt)
    assert out.shape == (2, 4, 50)
    assert torch.equal(out[..., :15], prompt[:, :4])
    assert not torch.equal(out[0, :, 15:], out[1, :, 15:])
    assert plan_segments(50, 15, 32, 10)[0] == (0, 32)  # the whole prompt is context when it fits
    with pytest.raises(ValueError, match="n_frames"):
        generate(model, provider, ATTRS, 15, params, prompt=prompt)
    with pytest.raises(ValueError, match="prompt must be"):
        generate(model, provider, ATTRS, 50, params, prompt=prompt[:1])


def test_unconditional_and_bad_arguments():
    model = debug_model()
    out = generate(model, None, [Attributes()], 5, GenerationParams(seed=0))
    assert out.shape == (1, 4, 5)
    with pytest.raises(ValueError, match="extend_stride"):
        generate(model, None, [Attributes()], 5, GenerationParams(window=8, extend_stride=8))
    with pytest.raises(ValueError, match="one Attributes per output row"):
        generate(model, None, [], 5)


def test_generation_runs_without_dropout_and_restores_the_mode():
    model = debug_model(dropout=0.5).train()
    params = GenerationParams(seed=4)
    a = generate(model, StubProvider(), ATTRS, 20, params)
    assert model.training
    assert torch.equal(a, generate(model.eval(), StubProvider(), ATTRS, 20, params))
    with pytest.raises(ValueError, match="prompt codes must lie"):
        generate(model, None, [Attributes()], 20, params, prompt=torch.full((1, 4, 3), 64))
