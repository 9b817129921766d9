"""The fast decoding step against the model's own forward: logits, tokens, and the bfloat16 option."""

import sys

import numpy as np
import pytest
import torch

from audiogen.conditioning.base import Attributes, Conditions
from audiogen.controls.layout import CONTROL_FEATURES
from audiogen.lm.config import LMConfig
from audiogen.lm.fast import StepWeights, bfloat16_native, decode_step
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams


def model_with_everything(**overrides) -> MusicLM:
    """A debug LM with cross-attention, controls added at the input and before block 1, weights moved off zero."""
    torch.manual_seed(0)
    cfg = LMConfig.preset("debug", control_features=CONTROL_FEATURES, control_layers=(1,), **overrides)
    model = MusicLM(cfg).eval()
    for lin in (model.controls.input, *model.controls.again):
        torch.nn.init.normal_(lin.weight, std=0.5)
    return model


def conditions(batch: int, dim: int, masked: bool) -> Conditions:
    """A prefix of 3 positions and 2 cross states per row; ``masked``: row 0 loses a prefix position and row 1 has
    no cross state at all (the paths of a guidance batch's unconditional rows)."""
    g = torch.Generator().manual_seed(3)
    prefix, cross = torch.randn(batch, 3, dim, generator=g), torch.randn(batch, 2, dim, generator=g)
    pmask, cmask = torch.ones(batch, 3, dtype=torch.bool), torch.ones(batch, 2, dtype=torch.bool)
    if masked:
        pmask[0, 1] = False
        cmask[1] = False
    return Conditions(prefix, pmask, cross, cmask)


@pytest.mark.parametrize("masked", [False, True])
def test_decode_step_gives_the_forward_logits(masked):
    model = model_with_everything()
    cfg = model.config
    g = torch.Generator().manual_seed(1)
    batch, context, steps = 2, 5, 12
    seq = torch.randint(0, cfg.card + 1, (batch, cfg.n_q, context + steps), generator=g)
    ctl = torch.rand(batch, context + steps, CONTROL_FEATURES, generator=g)
    cond = conditions(batch, cfg.dim, masked)
    with torch.inference_mode():
        ref_cache, fast_cache = model.new_cache(batch, 40), model.new_cache(batch, 40)
        for cache in (ref_cache, fast_cache):
            model(seq[..., :context], cond, cache, ctl[:, :context])
        weights = StepWeights(model, 8)  # rotary tables grow past their first capacity
        for t in range(context, context + steps):
            ref = model(seq[..., t : t + 1], None, ref_cache, ctl[:, t : t + 1])[:, :, -1]
            fast = decode_step(weights, seq[..., t], fast_cache, ctl[:, t])
            assert fast.shape == (batch, cfg.n_q, cfg.card)
            torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
        assert fast_cache.length == ref_cache.length
        assert fast_cache.pairs_side_by_side  # the fast step keeps each key's rotary pairs side by side
        halves = weights.side_by_side.argsort()  # back to the model's order: the two halves of each head
        keys = [k[..., halves] for k in fast_cache.k]
        for a, b in zip(keys + fast_cache.v, ref_cache.k + ref_cache.v, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_decode_step_refuses_a_full_cache():
    model = model_with_everything()
    with torch.inference_mode():
        cache = model.new_cache(1, 4)
        model(torch.zeros(1, model.config.n_q, 4, dtype=torch.long), None, cache)
        with pytest.raises(ValueError, match="KV cache holds 4 positions, 5 needed"):
            decode_step(StepWeights(model, 4), torch.zeros(1, model.config.n_q, dtype=torch.long), cache)


@pytest.mark.parametrize("n_q", [None, 6])
def test_fast_generation_gives_the_eager_tokens(n_q):
    """CFG with emotion guidance, controls on one row, a sketch and three windows: the same tokens either way (with
    the preset's codebooks, and with six, the performer's from release 0.5 on)."""
    model = model_with_everything(max_frames=30, **({"n_q": n_q} if n_q else {}))
    attrs = [Attributes(tempo=96.0, emotion="calm"), Attributes(tempo=None, emotion="happy")]
    rng = np.random.default_rng(2)
    controls = [rng.random((80, CONTROL_FEATURES)).astype(np.float32), None]
    sketch = torch.randint(0, model.config.card, (2, model.config.n_q, 70), generator=torch.Generator().manual_seed(4))
    provider = lambda a: conditions(len(a), model.config.dim, masked=True)  # noqa: E731
    for params in (
        GenerationParams(seed=4, extend_stride=12, emotion_scale=2.0, sketch_strength=3.0, precision="float32"),
        GenerationParams(seed=5, extend_stride=20, cfg_scale=1.0, top_p=0.9, precision="float32"),
    ):
        fast = generate(model, provider, attrs, 70, params, controls=controls, sketch=sketch)
        eager = generate(model, provider, attrs, 70, params, controls=controls, sketch=sketch, step="eager")
        assert torch.equal(fast, eager)
    with pytest.raises(ValueError, match="step must be 'fast' or 'eager'"):
        generate(model, None, attrs, 10, GenerationParams(seed=0), step="jit")


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision must be 'auto', 'float32', 'bfloat16' or 'int8', got 'int4'"):
        GenerationParams(precision="int4")
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, int8 or auto"):
        StepWeights(model_with_everything(), 8, "float16")


@pytest.mark.skipif(not bfloat16_native(), reason="this CPU has no native bfloat16 matrix multiply")
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_low_precision_step_stays_near_float32(precision):
    """bfloat16 activations (and bfloat16 or int8 weights) move the logits by a few hundredths of their spread."""
    model = model_with_everything()
    cfg = model.config
    g = torch.Generator().manual_seed(6)
    seq = torch.randint(0, cfg.card, (2, cfg.n_q, 20), generator=g)
    with torch.inference_mode():
        caches = [model.new_cache(2, 40) for _ in range(2)]
        for c in caches:
            model(seq[..., :4], conditions(2, cfg.dim, False), c)
        w32, w16 = StepWeights(model, 40), StepWeights(model, 40, precision)
        for t in range(4, 20):
            a = decode_step(w32, seq[..., t], caches[0])
            b = decode_step(w16, seq[..., t], caches[1])
            assert b.dtype == torch.float32
            assert float((a - b).abs().max()) < 0.05 * float(a.std())


@pytest.mark.skipif(not bfloat16_native(), reason="this CPU has no native bfloat16 matrix multiply")
def test_the_bfloat16_prefill_stays_near_float32_and_leaves_a_float32_cache():
    """The int8 path reads each window's prefix and context in bfloat16: its logits stay within a few hundredths of
    their spread of float32's, the cache the steps then read (cross-attention states included) is float32, and the
    whole int8 generation runs over three windows."""
    from audiogen.lm.generate import _prefill_precision

    model = model_with_everything(max_frames=30)
    cfg = model.config
    g = torch.Generator().manual_seed(7)
    seq = torch.randint(0, cfg.card, (2, cfg.n_q, 12), generator=g)
    ctl = torch.rand(2, 12, CONTROL_FEATURES, generator=g)
    cond = conditions(2, cfg.dim, masked=True)
    with torch.inference_mode():
        ref = model(seq, cond, model.new_cache(2, 40), ctl)[:, :, -1]
        weights, cache = StepWeights(model, 40, "int8"), model.new_cache(2, 40)
        with _prefill_precision(weights, cache):
            low = model(seq, cond, cache, ctl)[:, :, -1].float()
        assert float((low - ref).abs().max()) < 0.05 * float(ref.std())
        assert all(t.dtype == torch.float32 for kv in cache.cross_kv for t in kv) and cache.k[0].dtype == torch.float32
        assert decode_step(weights, seq[..., -1], cache).dtype == torch.float32
    attrs = [Attributes(tempo=96.0, emotion="calm"), Attributes(tempo=None, emotion="happy")]
    provider = lambda a: conditions(len(a), cfg.dim, masked=True)  # noqa: E731
    codes = generate(model, provider, attrs, 70, GenerationParams(seed=1, precision="int8"))
    assert codes.shape == (2, cfg.n_q, 70) and int(codes.max()) < cfg.card


def _counting_passes(monkeypatch) -> list[int]:
    """Record the columns of every pass of :func:`decode_block` that the sampling loop makes."""
    lm_generate = sys.modules["audiogen.lm.generate"]  # the package's name `generate` is the function
    passes, real = [], lm_generate.decode_block

    def counted(w, tokens, cache, controls=None):
        passes.append(tokens.shape[-1])
        return real(w, tokens, cache, controls)

    monkeypatch.setattr(lm_generate, "decode_block", counted)
    return passes


@pytest.mark.parametrize("n_q", [None, 6])
def test_guessing_the_sketchs_columns_gives_the_same_tokens_in_fewer_passes(monkeypatch, n_q):
    """Passes that read the sketch's next columns as guesses (draft > 1) sample the tokens of one column per pass:
    float32, CFG with emotion guidance, controls, a strong and a weak sketch, three windows, a prompt (the preset's
    codebooks, and six)."""
    model = model_with_everything(max_frames=30, **({"n_q": n_q} if n_q else {}))
    cfg = model.config
    attrs = [Attributes(tempo=96.0, emotion="calm"), Attributes(tempo=None, emotion="happy")]
    rng = np.random.default_rng(2)
    controls = [rng.random((80, CONTROL_FEATURES)).astype(np.float32), None]
    sketch = torch.randint(0, cfg.card, (2, cfg.n_q, 70), generator=torch.Generator().manual_seed(4))
    prompt = sketch[..., :5].clone()
    provider = lambda a: conditions(len(a), cfg.dim, masked=True)  # noqa: E731
    passes = _counting_passes(monkeypatch)
    for strength, top_k in ((12.0, 250), (2.0, 20)):
        params = GenerationParams(seed=3, extend_stride=12, emotion_scale=2.0, sketch_strength=strength, top_k=top_k,
                                  precision="float32")  # fmt: skip
        passes.clear()
        one = generate(model, provider, attrs, 70, params, controls=controls, sketch=sketch, prompt=prompt, draft=1)
        assert not passes  # one column per pass: decode_step only
        for draft in (2, 5, 8):
            passes.clear()
            out = generate(model, provider, attrs, 70, params, controls=controls, sketch=sketch, prompt=prompt,
                           draft=draft)  # fmt: skip
            assert torch.equal(out, one), (strength, draft)
            assert max(passes, default=1) <= draft
            # a pass of guesses needs every codebook of a column to follow the sketch: with a weak one and six
            # codebooks, this random model's columns seldom all do
            assert passes or (strength < 12.0 and cfg.n_q > 4)
        if strength == 12.0:  # the performance follows a strong sketch: most columns come from passes of guesses
            assert sum(passes) > 2 * len(passes)
    with pytest.raises(ValueError, match="draft must be an integer >= 1"):
        generate(model, provider, attrs, 10, params, draft=0)


@pytest.mark.skipif(not bfloat16_native(), reason="this CPU has no native bfloat16 matrix multiply")
def test_a_pass_of_guesses_gives_each_columns_logits_in_low_precision():
    """Teacher-forced along one sequence, a pass of several columns gives the logits of one column per pass: to
    about 1e-5 in float32; in int8 up to one bfloat16 rounding of an activation (the attention of several queries
    sums in another order, and a change in the last float32 bit can round an activation the other way)."""
    from audiogen.lm.fast import decode_block

    model = model_with_everything()
    cfg = model.config
    g = torch.Generator().manual_seed(5)
    seq = torch.randint(0, cfg.card + 1, (2, cfg.n_q, 21), generator=g)
    ctl = torch.rand(2, 21, CONTROL_FEATURES, generator=g)
    cond = conditions(2, cfg.dim, True)
    for precision, tol in (("float32", 1e-5), ("int8", 0.02)):
        w = StepWeights(model, 40, precision)
        with torch.inference_mode():
            one, block = model.new_cache(2, 40), model.new_cache(2, 40)
            for c in (one, block):
                model(seq[..., :5], cond, c, ctl[:, :5])
            ref = torch.stack([decode_step(w, seq[..., t], one, ctl[:, t]) for t in range(5, 21)], 1)
            spans = ((5, 8), (8, 16), (16, 21))
            got = torch.cat([decode_block(w, seq[..., a:b], block, ctl[:, a:b]) for a, b in spans], 1)
        assert float((got - ref).abs().max()) <= tol * float(ref.std()), precision
        assert block.length == one.length


@pytest.mark.parametrize("draft", [1, 8])
def test_frames_are_reported_in_order_as_soon_as_they_are_complete(draft):
    model = model_with_everything(max_frames=30)
    attrs = [Attributes(tempo=96.0), Attributes(tempo=None)]
    prompt = torch.randint(0, model.config.card, (2, model.config.n_q, 6), generator=torch.Generator().manual_seed(1))
    sketch = torch.cat([prompt, prompt.repeat(1, 1, 11)], -1)  # a sketch to guess from (draft 8)
    seen, steps = [], []
    params = GenerationParams(seed=2, extend_stride=12, cfg_scale=1.0, sketch_strength=10.0, precision="float32")

    def on_frames(first, codes):
        seen.append((first, codes))
        steps.append(progress[-1])

    progress = [0]
    out = generate(model, None, attrs, 70, params, prompt=prompt, on_frames=on_frames, sketch=sketch, draft=draft,
                   callback=lambda step, total: progress.append(step))  # fmt: skip
    assert [f for f, _ in seen] == list(range(6, 70))  # every new frame once, in order, none of the prompt's
    assert torch.equal(torch.cat([c for _, c in seen], -1), out[..., 6:])
    assert steps[0] == model.config.n_q  # the first frame is complete after n_q steps of the first segment
    assert progress[1:] == list(range(1, len(progress)))  # one progress call per sampled column, in order

    class Gone(Exception):
        pass

    def consumer_left(first, codes):
        if first == 20:
            raise Gone

    with pytest.raises(Gone):
        generate(model, None, attrs, 70, params, on_frames=consumer_left)


def test_the_segments_tables_equal_the_per_step_terms():
    from audiogen.lm.beat_prior import BeatPrior
    from audiogen.lm.generate import _beat_table, _lean, _lean_table, _step_bins

    g = torch.Generator().manual_seed(7)
    k, card, b, frames = 4, 16, 2, 30
    prior = BeatPrior(torch.randn(3, k, 12, card, generator=g), edges=[80.0, 120.0], default_scale=1.0,
                      frames=[10, 10, 10])  # fmt: skip
    bins = torch.randint(-1, 12, (b, frames), generator=g)
    bands = torch.tensor([0, 2])
    table = _beat_table((prior, 2.5, bins, bands), 5, frames + k, k)
    for s in range(5, frames + k):
        assert torch.equal(table[s - 5], 2.5 * prior.bias(_step_bins(bins, s, k), bands))
    sketch = torch.randint(-1, card, (b, k, frames + k), generator=g)
    logits = torch.randn(b, k, card, generator=g)
    index, value = _lean_table(sketch, 3.0, logits.dtype)
    for s in range(frames + k):
        got = logits.scatter_add(-1, index[..., s, None], value[..., s, None])
        assert torch.equal(got, _lean(logits, sketch[..., s], 3.0))
