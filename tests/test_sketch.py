"""Sampling that leans on a plan's sketch: off at strength 0, a copy at a large strength, the same with and without
the KV cache; the sketch itself (the plan through the soundfont, through the codec); the facade's use of it."""

import numpy as np
import pytest
import torch

from audiogen.compose.planner import compose_plan
from audiogen.compose.sketch import render_sketch, sketch_codes
from audiogen.conditioning.base import Attributes
from audiogen.generator import MusicGenerator
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams

ATTRS = [Attributes(), Attributes()]
FRAMES = 40


def model() -> MusicLM:
    torch.manual_seed(0)
    return MusicLM(LMConfig.preset("debug")).eval()


def a_sketch(lm: MusicLM, frames: int = FRAMES) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, lm.config.card, (len(ATTRS), lm.config.n_q, frames), generator=g)


def run(lm, sketch, use_cache=True, **params):
    return generate(
        lm,
        None,
        ATTRS,
        FRAMES,
        GenerationParams(seed=11, precision="float32", **params),
        sketch=sketch,
        use_cache=use_cache,
    )


def test_strength_zero_is_the_plain_performance():
    lm = model()
    sketch = a_sketch(lm)
    assert torch.equal(run(lm, sketch, sketch_strength=0.0), run(lm, None))


def test_a_large_strength_copies_the_sketch_and_a_small_one_leans_on_it():
    lm = model()
    sketch = a_sketch(lm)
    assert torch.equal(run(lm, sketch, sketch_strength=1e4), sketch)
    plain = (run(lm, None) == sketch).float().mean()
    leaning = (run(lm, sketch, sketch_strength=4.0) == sketch).float().mean()
    assert plain < 0.05 < leaning < 1.0  # random codes: the plain LM almost never hits one; leaning, often not always


def test_sketch_codebooks_limits_the_bonus_to_the_first_ones():
    lm = model()
    sketch = a_sketch(lm)
    out = run(lm, sketch, sketch_strength=1e4, sketch_codebooks=1)
    assert torch.equal(out[:, 0], sketch[:, 0])
    assert (out[:, 1:] == sketch[:, 1:]).float().mean() < 0.1


def test_leaning_with_the_kv_cache_matches_the_reference_and_a_sliding_window():
    lm = model()
    sketch = a_sketch(lm)
    kw = dict(sketch_strength=3.0, window=24, extend_stride=10)
    assert torch.equal(run(lm, sketch, True, **kw), run(lm, sketch, False, **kw))
    assert torch.equal(run(lm, sketch, True, sketch_strength=1e4, window=24, extend_stride=10), sketch)


def test_bad_sketches_and_settings_say_what_is_allowed():
    lm = model()
    with pytest.raises(ValueError, match="sketch must be"):
        run(lm, a_sketch(lm)[:1], sketch_strength=2.0)
    with pytest.raises(ValueError, match="sketch must be"):
        run(lm, a_sketch(lm, FRAMES - 1), sketch_strength=2.0)
    with pytest.raises(ValueError, match=r"sketch codes must lie in \[0, "):
        run(lm, a_sketch(lm) + lm.config.card, sketch_strength=2.0)
    for bad in (dict(sketch_strength=-1.0), dict(sketch_strength=float("inf")), dict(sketch_codebooks=0)):
        with pytest.raises(ValueError, match="sketch_"):
            GenerationParams(**bad)


def test_the_sketch_plays_the_plan():
    plan = compose_plan("calm piano", emotion="calm", duration=4.0, seed=2)
    audio = render_sketch(plan, 5.0, 32000)
    assert audio.shape == (5 * 32000,) and audio.dtype == np.float32
    assert np.abs(audio[: 3 * 32000]).max() > 0.05 and np.abs(audio).max() <= 0.9  # sounding, levelled, no clipping
    g = MusicGenerator.debug()
    codes = sketch_codes(g.codec, [plan, None], 60, 2)
    assert codes.shape == (2, 2, 60) and codes.dtype == torch.long
    assert sketch_codes(g.codec, [None], 60, 2) is None
    again = sketch_codes(g.codec, [plan], 60, 2)
    assert torch.equal(again[0], codes[0])  # deterministic


def test_the_facade_performs_the_sketch_when_asked(lm_calls):
    g = MusicGenerator.debug()
    plain = g.generate("calm piano", emotion="calm", duration=2.0, seed=4, progress=False)
    assert lm_calls[-1]["sketch"] is None  # strength 0: nothing rendered
    params = GenerationParams(sketch_strength=1e4)
    track = g.generate("calm piano", emotion="calm", duration=2.0, seed=4, progress=False, params=params)
    sketch = lm_calls[-1]["sketch"]
    assert sketch.shape == (1, g.lm.config.n_q, 100)
    assert torch.equal(sketch, sketch_codes(g.codec, [track.plan], 100, g.lm.config.n_q))
    assert len(track.audio) == 2 * 32000 and not np.array_equal(track.audio, plain.audio)
    assert track.params["generation"]["sketch_strength"] == 1e4


def test_a_model_folder_carries_its_default_strength(tmp_path):
    g = MusicGenerator.debug()
    g.sketch_strength = 2.5
    loaded = MusicGenerator.from_pretrained(g.save_pretrained(tmp_path / "m"))
    assert loaded.sketch_strength == 2.5
    track = loaded.generate("calm piano", duration=1.0, seed=1, progress=False)
    assert track.params["generation"]["sketch_strength"] == 2.5  # None in the call: the folder's default
    off = loaded.generate("calm piano", duration=1.0, seed=1, progress=False,
                          params=GenerationParams(sketch_strength=0.0))  # fmt: skip
    assert off.params["generation"]["sketch_strength"] == 0.0
    assert MusicGenerator.debug().sketch_strength == 0.0


def test_the_cli_takes_a_sketch_strength(tmp_path, capsys):
    from audiogen.cli import main

    out = tmp_path / "t.wav"
    assert main(["generate", "calm", "--model", "debug", "--duration", "1", "--seed", "2", "--sketch-strength", "3",
                 "-o", str(out), "--no-progress"]) == 0  # fmt: skip
    assert out.is_file()
    capsys.readouterr()
    assert main(["generate", "calm", "--model", "debug", "--sketch-strength", "-1", "-o", str(out)]) == 2
    assert "sketch_strength must be a finite number >= 0" in capsys.readouterr().err
