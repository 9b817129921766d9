"""The facade's output, pinned: for fixed seeds the tiny debug models give exactly these tokens and this audio.

A change that means to keep behaviour (a refactor) must keep these pins. Each case is one request through
``MusicGenerator.generate``: words with an emotion and a tempo; a given plan; a picture brief; a video brief; a
continuation of a prompt; and, on a model that reads the plan's controls and leans on its sketch, a composed plan and a
video brief performed shot by shot. The tokens the codec decodes are pinned exactly (SHA-256 of the integers); the audio
is pinned by its loudness in 16 equal parts and its power's share in eight octave bands, to 0.2 %, since the float
kernels of two CPUs (AVX2 against AVX-512, say) differ in their last bits and a hash of float samples or of the MP3 made
from them would pin the CPU; and the MP3 of one audio is the same bytes every time it is written.
"""

import hashlib
import itertools

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

# case: (SHA-256 of the decoded tokens, first 24 hex digits; the audio's RMS in 16 equal parts and its octave shares)
EXPECTED = {
    "text": (
        "1bcc9249d02bae7a36c12124",
        [
            0.146168,
            0.148019,
            0.148108,
            0.148866,
            0.148662,
            0.152292,
            0.145644,
            0.144013,
            0.148717,
            0.150338,
            0.14816,
            0.152161,
            0.115383,
            0.059409,
            0.023007,
            0.00403,
            0.009236,
            0.00659,
            0.012832,
            0.021,
            0.077306,
            0.09994,
            0.258845,
            0.514252,
        ],
    ),
    "plan": (
        "d67299476da8c63afee2d70a",
        [
            0.145626,
            0.14829,
            0.146835,
            0.14901,
            0.14832,
            0.152134,
            0.145606,
            0.145339,
            0.14869,
            0.150301,
            0.148555,
            0.152362,
            0.114858,
            0.060088,
            0.023066,
            0.004071,
            0.008939,
            0.006707,
            0.012111,
            0.021001,
            0.078148,
            0.100424,
            0.25976,
            0.512909,
        ],
    ),
    "image": (
        "ec8c584a357cb255f8824e30",
        [
            0.146162,
            0.150595,
            0.152603,
            0.151759,
            0.15388,
            0.151819,
            0.149533,
            0.156018,
            0.149959,
            0.147006,
            0.148532,
            0.152574,
            0.118161,
            0.062115,
            0.023471,
            0.004382,
            0.007986,
            0.007043,
            0.012716,
            0.02109,
            0.078847,
            0.100943,
            0.262181,
            0.509195,
        ],
    ),
    "video": (
        "9fdcc1ea43fc43d6e62d6231",
        [
            0.142298,
            0.149356,
            0.147806,
            0.148592,
            0.148388,
            0.152472,
            0.145524,
            0.144714,
            0.149246,
            0.150062,
            0.147887,
            0.151881,
            0.115132,
            0.059904,
            0.023056,
            0.004069,
            0.006716,
            0.006428,
            0.012567,
            0.021048,
            0.078962,
            0.100684,
            0.260243,
            0.513352,
        ],
    ),
    "prompt": (
        "3ac0fd077cde44c924908800",
        [
            0.141161,
            0.151329,
            0.148317,
            0.147825,
            0.14776,
            0.148535,
            0.149444,
            0.148711,
            0.150376,
            0.146307,
            0.150251,
            0.152442,
            0.119264,
            0.060833,
            0.023344,
            0.00424,
            0.003611,
            0.004477,
            0.012677,
            0.017302,
            0.067694,
            0.091743,
            0.235559,
            0.566937,
        ],
    ),
    "controls_text": (
        "8adcf0fc6a03423ebc69fe5d",
        [
            0.146624,
            0.148625,
            0.147704,
            0.148332,
            0.147413,
            0.14809,
            0.147812,
            0.147575,
            0.14723,
            0.147292,
            0.147165,
            0.147497,
            0.115004,
            0.060223,
            0.024111,
            0.004463,
            0.003208,
            0.003068,
            0.006284,
            0.024789,
            0.076343,
            0.087314,
            0.288434,
            0.510562,
        ],
    ),
    "controls_video": (
        "2f836de1cdf0f6d56cb1d756",
        [
            0.147262,
            0.1485,
            0.150433,
            0.14887,
            0.14958,
            0.148986,
            0.149632,
            0.149508,
            0.148475,
            0.149359,
            0.148736,
            0.149587,
            0.11659,
            0.06068,
            0.023204,
            0.004263,
            0.009868,
            0.003866,
            0.009398,
            0.01814,
            0.089785,
            0.110123,
            0.325373,
            0.433445,
        ],
    ),
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


def envelope(audio: np.ndarray, parts: int = 16) -> list[float]:
    """RMS of ``audio`` ``(T,)`` in ``parts`` equal parts, then the share of its power in each octave band from
    62.5 Hz to 16 kHz (below 125 Hz, 125-250, ..., 8-16 kHz): loudness over time and the spectrum's shape."""
    rms = [float(np.sqrt(np.mean(np.square(p, dtype=np.float64)))) for p in np.array_split(audio, parts)]
    power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(audio), 1 / 32000)
    edges = [0.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16001.0]
    bands = [power[(hz >= lo) & (hz < hi)].sum() for lo, hi in itertools.pairwise(edges)]
    return rms + [float(b / sum(bands)) for b in bands]


@pytest.mark.parametrize("case", list(EXPECTED))
def test_same_tokens_audio_and_mp3_bytes(case, media, tmp_path, monkeypatch):
    from audiogen.perform import Performer

    decoded = []
    decode = Performer.decode

    def recording(self, codes, plans=None):
        decoded.append(codes.to(torch.int64).numpy().copy())
        return decode(self, codes, plans)

    monkeypatch.setattr(Performer, "decode", recording)
    track = run_case(case, media)
    assert decoded, "the codec decoded nothing"
    tokens = hashlib.sha256(b"".join(c.tobytes() for c in decoded)).hexdigest()[:24]
    got = envelope(track.audio)
    assert tokens == EXPECTED[case][0], "the tokens changed"
    np.testing.assert_allclose(got, EXPECTED[case][1], rtol=2e-3, atol=1e-6, err_msg="the audio changed")
    first = track.save(tmp_path / "a.mp3").read_bytes()
    assert track.save(tmp_path / "b.mp3").read_bytes() == first, "the same audio gave other MP3 bytes"
