"""A fast stand-in for the generation facade, for the batch-rendering tests, and checks that it behaves like one.

:class:`FakeGenerator` has the facade's ``generate(...) -> Track`` signature and returns deterministic synthetic music
per seed (a chord progression on a pad with harmonics, a bass line, kick and hi-hat), mastered with the real
mastering chain. ``fake_factory`` is a picklable factory for worker processes.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np
import pytest

from audiogen.audio import SAMPLE_RATE
from audiogen.master import MasteringSpec, loop_samples_needed, master
from audiogen.mastering.measure import integrated_loudness, true_peak_db
from audiogen.track import Track

_PROGRESSION = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))  # I V vi IV, semitones above the tonic


def synth_music(seconds: float, seed: int, tempo: float | None = None, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Deterministic synthetic music ``(T,)`` float32 around −20 dBFS RMS: pad chords, bass, kick, hi-hat."""
    rng = np.random.default_rng(seed)
    tempo = tempo or float(rng.uniform(80, 140))
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    beat = 60.0 / tempo
    chord_index = (t // (4 * beat)).astype(int) % len(_PROGRESSION)
    out = np.zeros(n)
    for voice in range(3):
        semis = np.array([c[voice] for c in _PROGRESSION])[chord_index]
        freq = 2 * root * 2 ** (semis / 12)
        phase = 2 * np.pi * np.cumsum(freq) / sr
        out += sum(0.08 / h * np.sin(h * phase) for h in (1, 2, 3))
    bass_freq = root * 2 ** (np.array([c[0] for c in _PROGRESSION])[chord_index] / 12) / 2
    out += 0.15 * np.sign(np.sin(2 * np.pi * np.cumsum(bass_freq) / sr)) * 0.5
    since_beat = t % beat
    out += 0.3 * np.sin(2 * np.pi * 55 * since_beat) * np.exp(-since_beat * 18)  # kick on every beat
    since_off = (t + beat / 2) % beat
    out += 0.05 * rng.standard_normal(n) * np.exp(-since_off * 60)  # hi-hat on the off-beats
    return (out * 0.5).astype(np.float32)


@dataclass
class FakeGenerator:
    """The facade's interface with synthetic audio; ``fail_on``: text that makes ``generate`` raise; ``delay``:
    seconds to sleep per call (to widen the window of a crash test)."""

    fail_on: str | None = None
    delay: float = 0.0

    def generate(
        self,
        *,
        text=None,
        emotion=None,
        valence=None,
        arousal=None,
        style=None,
        reference=None,
        tempo=None,
        key=None,
        duration=10.0,
        seed=0,
        mastering=None,
        progress=False,
    ) -> Track:
        if self.fail_on and text and self.fail_on in text:
            raise RuntimeError(f"the model cannot render {text!r}")
        if self.delay:
            time.sleep(self.delay)
        spec = mastering or MasteringSpec(duration=duration)
        samples = loop_samples_needed(spec) or round(duration * SAMPLE_RATE)
        audio, _ = master(synth_music(samples / SAMPLE_RATE, seed, tempo), spec)
        return Track(audio, prompt=text, emotion=emotion, tempo=tempo, key=key, seed=seed, model_version="fake")


def fake_factory(fail_on: str | None = None, delay: float = 0.0) -> FakeGenerator:
    """Picklable generator factory (use with functools.partial for options)."""
    return FakeGenerator(fail_on=fail_on, delay=delay)


def test_fake_generator_is_deterministic_per_seed():
    gen = FakeGenerator()
    a = gen.generate(text="x", duration=2.0, seed=3).audio
    assert np.array_equal(a, gen.generate(text="x", duration=2.0, seed=3).audio)
    assert not np.allclose(a, gen.generate(text="x", duration=2.0, seed=4).audio)


def test_fake_generator_is_mastered_to_spec():
    spec = MasteringSpec(loudness="ebu-r128", duration=2.5, ending="loop")
    track = FakeGenerator().generate(text="x", duration=2.5, seed=1, mastering=spec)
    assert track.audio.size == round(2.5 * SAMPLE_RATE)
    assert abs(integrated_loudness(track.audio, SAMPLE_RATE) + 23.0) < 0.5
    assert true_peak_db(track.audio, SAMPLE_RATE) <= -1.0


def test_fake_generator_takes_exactly_the_facade_arguments():
    params = set(inspect.signature(FakeGenerator.generate).parameters) - {"self"}
    expected = {"text", "emotion", "valence", "arousal", "style", "reference", "tempo", "key", "duration", "seed"}
    assert params == expected | {"mastering", "progress"}
    with pytest.raises(RuntimeError, match="cannot render"):
        FakeGenerator(fail_on="boom").generate(text="a boom track", duration=1.0)
