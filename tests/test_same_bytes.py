"""The facade's output, pinned: for fixed seeds the tiny debug models give exactly these MP3 files.

A change that means to keep behaviour (a refactor) must keep these digests. Each case is one request through
``MusicGenerator.generate``: words with an emotion and a tempo; a given plan; a picture brief; a video brief; a
continuation of a prompt; and, on a model that reads the plan's controls and leans on its sketch, a composed plan and
a video brief performed shot by shot. The SHA-256 of the float audio is checked as well as that of the MP3 bytes, so
a failure says whether the music or only its file changed.
"""

import hashlib

import numpy as np
import pytest
import torch

from audiogen.brief.synth import colour_field_video, contrast_pair, save_rgb
from audiogen.codec.model import Codec
from audiogen.compose.planner import compose_plan
from audiogen.controls.layout import CONTROL_FEATURES
from audiogen.generator import MusicGenerator
from audiogen.lm import GenerationParams
from audiogen.lm.config import LMConfig
from audiogen.lm.model import MusicLM

# case: (SHA-256 of the float32 audio, of the MP3 bytes), their first 24 hex digits
EXPECTED = {
    "text": ("fa8ab151006b77736582366a", "f76ca7dc9ad3474dfd42111f"),
    "plan": ("d15eb20df2b40b86270276d3", "059f0c7fe0e0ae45482bd05b"),
    "image": ("6c3238d6ae8db2657c4b13a7", "1317c5b58617527b3c24fc26"),
    "video": ("09405c9201e84b4b8b512cba", "06bf637d32a560d9a6499eb3"),
    "prompt": ("b8e7d39b27008a8f3a9bd601", "da7e88ca46c18e2c81070432"),
    "controls_text": ("f312046b3313e720a8feafc7", "14204c81ab94a44d0f6759cb"),
    "controls_video": ("02526fbb4eb8ce5b43b3cbb5", "052f5d888da9fafa1cfe755e"),
}


def controlled() -> MusicGenerator:
    """The debug codec with a decoder that reads the plan's chords and melody, and an LM with the controls."""
    from audiogen.conditioning.config import ConditionConfig

    g = MusicGenerator.debug()
    torch.manual_seed(1)
    codec = Codec(type(g.codec.cfg)(**{**g.codec.cfg.__dict__, "decoder_controls": 26})).eval()
    codec.load_state_dict(g.codec.state_dict(), strict=False)
    torch.nn.init.normal_(codec.decoder.ctrl.weight, std=0.5)
    cond = ConditionConfig(text_backend="hash", number_hidden=32, number_freqs=4).to_dict()
    torch.manual_seed(0)
    lm = MusicLM(LMConfig.preset("debug", conditioning=cond, control_features=CONTROL_FEATURES, control_layers=(1,)))
    for lin in (lm.controls.input, *lm.controls.again):
        torch.nn.init.normal_(lin.weight, std=0.3)
    out = MusicGenerator(codec, lm, name="audiogen-debug", version="debug")
    out.sketch_strength = 2.0
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    bright, _ = contrast_pair(3, size=64)
    picture = save_rgb(bright, root / "bright.png")
    video = root / "spot.mp4"
    colour_field_video(video, [1.0], 2.0, colours=[(250, 220, 60), (20, 20, 40)])
    return {"image": picture, "video": video}


def run_case(case: str, media):
    p32 = GenerationParams(precision="float32")
    if case.startswith("controls_"):
        gen = controlled()
        if case == "controls_text":
            kw = dict(text="bright pop", emotion="happy", tempo=110, key="F major", duration=2.0)
        else:
            kw = dict(text="a short spot", video=media["video"])
    else:
        gen = MusicGenerator.debug()
        kw = {
            "text": dict(text="calm piano at night", emotion="calm", tempo=90, duration=2.0),
            "plan": dict(text="x", plan=compose_plan("a march", valence=0.4, arousal=0.6, genre="rock", tempo=128,
                                                      key="D", duration=2.0, seed=2, use_minilm=False)),
            "image": dict(text="poster", image=media["image"], duration=1.5),
            "video": dict(text="a short spot", video=media["video"]),
            "prompt": dict(text="go on", prompt=np.sin(np.arange(16000) * 0.05).astype(np.float32), tempo=100,
                           duration=1.0),
        }[case]  # fmt: skip
    return gen.generate(**kw, seed=11, params=p32, progress=False)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_same_audio_and_mp3_bytes(case, media, tmp_path):
    track = run_case(case, media)
    path = track.save(tmp_path / "t.mp3")
    got = (
        hashlib.sha256(np.ascontiguousarray(track.audio, dtype=np.float32).tobytes()).hexdigest()[:24],
        hashlib.sha256(path.read_bytes()).hexdigest()[:24],
    )
    assert got[0] == EXPECTED[case][0], "the audio changed"
    assert got[1] == EXPECTED[case][1], "the MP3 bytes changed (the audio did not)"
