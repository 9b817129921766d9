"""Where a codec's chroma goes: the band swap, the band levels and the two-band head's swaps."""

import numpy as np
import torch

from audiogen.codec.model import Codec, CodecConfig
from audiogen.eval.codec_bench import codec_roundtrip
from audiogen.eval.codec_diagnostics import mean_chroma
from eval.chroma_bands import band_levels, band_swap, head_swaps
from tests.test_codec_v3 import TINY_BASS, TINY_V3

SR = 32000


def _tone(f: float, seconds: float = 2.0) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * f * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def test_a_band_swap_takes_each_band_from_the_signal_it_names_and_levels_read_in_db():
    original = (_tone(100.0) + _tone(1000.0))[None]
    decoded = (_tone(110.0) + _tone(1000.0))[None]  # the bass note a whole tone off
    low, high = band_swap(original, decoded, 300.0)
    mid = slice(SR // 2, -SR // 2)  # away from the STFT's edges
    assert np.abs(low[0, mid] - original[0, mid]).max() < 1e-3  # the original's bass, the shared treble
    assert np.abs(high[0, mid] - decoded[0, mid]).max() < 1e-3
    rows = dict((band, (db, share)) for band, db, share in band_levels(original, 0.5 * original))
    assert abs(rows[(90, 130)][0] + 6.02) < 0.05 and abs(rows[(600, 4000)][0] + 6.02) < 0.05
    assert rows[(90, 130)][1] > 0.4 and rows[(20, 40)][1] < 1e-3


def test_head_swaps_put_the_originals_bands_into_a_two_band_decoders_output():
    torch.manual_seed(0)
    clips = (_tone(98.0, 1.0) + _tone(523.0, 1.0))[None]
    two = Codec(CodecConfig(**TINY_BASS)).eval()
    out = head_swaps(two, clips, n_q=2)
    assert set(out) == {"original bass band", "original main band", "original both bands"}
    assert out["original both bands"] > 0.9  # the synth's own ceiling on two steady tones
    # an untrained bass branch starts silent: the original's bass band (G2 here) brings its pitch class back
    decoded = mean_chroma(clips, codec_roundtrip(two, clips, 2))
    assert out["original bass band"] > decoded + 0.2
    assert head_swaps(Codec(CodecConfig(**TINY_V3)).eval(), clips, n_q=2) is None
