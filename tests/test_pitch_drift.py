"""The pitch-drift reading: partials located to the cent, and the rebuild with given frequencies."""

import numpy as np
import torch

from audiogen.codec.phase import MagnitudeSynth, bin_frequency
from audiogen.eval.pitch_drift import harmonic_tone, partial_cents, synth_with_frequencies


def test_a_tone_reads_on_its_partials_and_a_detuned_one_off_them():
    assert all(abs(c) < 2 for c in partial_cents(harmonic_tone(48), 130.81))
    t = np.arange(4 * 32000) / 32000
    sharp = np.sin(2 * np.pi * 130.81 * 2 ** (30 / 1200) * t).astype(np.float32)
    assert abs(partial_cents(sharp, 130.81, partials=1)[0] - 30) < 3


def test_the_rebuild_with_the_frequencies_it_would_read_is_the_synth_itself():
    synth = MagnitudeSynth(2048, 320)
    logmag = synth.analyse(torch.from_numpy(harmonic_tone(52, seconds=1.0))[None])
    same = synth_with_frequencies(synth, logmag, bin_frequency(logmag))
    assert torch.allclose(same, synth(logmag), atol=1e-4)
