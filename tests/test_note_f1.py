"""The codec's note measure: basic-pitch's notes of decoded audio against those of the original."""

import numpy as np
import pytest

from audiogen.eval.note_f1 import basic_pitch_available, note_f1, transcribe

pytestmark = pytest.mark.skipif(basic_pitch_available() is not None, reason=str(basic_pitch_available()))
SR = 32000


def melody(notes, seconds_each: float = 0.5) -> np.ndarray:
    """Plucked-ish harmonic tones, one MIDI note after another."""
    t = np.arange(int(seconds_each * SR)) / SR
    out = []
    for n in notes:
        f = 440.0 * 2 ** ((n - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 5)) * np.exp(-3 * t)
        out.append(tone)
    return (0.3 * np.concatenate(out) / np.abs(np.concatenate(out)).max()).astype(np.float32)


def test_a_melody_is_transcribed_at_its_pitches():
    notes = [60, 64, 67, 72, 67, 64]
    intervals, pitches = transcribe(melody(notes))
    midi = np.round(69 + 12 * np.log2(pitches / 440.0)).astype(int)
    assert set(notes) <= set(midi.tolist())
    assert np.all(np.diff(intervals, axis=1) > 0)


def test_f1_is_one_for_the_same_audio_and_low_for_other_notes():
    ref = melody([60, 64, 67, 72, 67, 64])
    assert note_f1(ref, ref)["f1"] == pytest.approx(1.0)
    other = note_f1(ref, melody([61, 66, 70, 73, 70, 66]))
    assert other["f1"] < 0.2
    silent = note_f1(ref, np.zeros_like(ref))
    assert silent["f1"] == 0.0 and silent["ref_notes"] >= 6
