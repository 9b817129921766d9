import numpy as np
import pretty_midi
import pytest

from audiogen.audio import SAMPLE_RATE, load_audio, save_audio
from audiogen.compose.composer import compose, sample_params
from audiogen.data.render import (
    check_soundfont,
    default_soundfont,
    loudness_target,
    midi_bytes,
    normalise,
    render_midi,
    soundfont_licence,
)


@pytest.fixture(scope="module")
def piece():
    p = sample_params(np.random.default_rng(2), genre="pop", emotion="happy", duration=4.0)
    return p, compose(p)


def test_render_is_non_silent_32k_of_the_exact_length(piece):
    p, pm = piece
    audio = render_midi(pm, p.duration)
    assert audio.dtype == np.float32 and audio.shape == (int(p.duration * SAMPLE_RATE),)
    assert np.isfinite(audio).all()
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 1e-3 and np.max(np.abs(audio)) < 1.0
    assert np.max(np.abs(audio[-10:])) < 1e-3  # faded out at the cut
    longer = render_midi(pm, p.duration + 1.0)  # padded with the release tail and silence, not stretched
    assert longer.shape == (int((p.duration + 1.0) * SAMPLE_RATE),)
    np.testing.assert_allclose(longer[: SAMPLE_RATE * 3], audio[: SAMPLE_RATE * 3], atol=1e-6)


def test_render_is_deterministic(piece):
    _, pm = piece
    np.testing.assert_array_equal(render_midi(pm, 2.0), render_midi(pm, 2.0))


def test_normalise_reaches_the_target_and_respects_the_ceiling(piece, tmp_path):
    p, pm = piece
    audio, info = normalise(render_midi(pm, p.duration), -20.0)
    assert info["lufs"] == pytest.approx(-20.0, abs=0.5) or info["peak"] == pytest.approx(0.89, abs=1e-3)
    assert np.max(np.abs(audio)) <= 0.89 + 1e-4
    out = save_audio(tmp_path / "x.flac", audio)
    back = load_audio(out)
    assert back.shape == audio.shape
    np.testing.assert_allclose(back, audio, atol=1e-3)  # 16-bit FLAC
    with pytest.raises(ValueError, match="silent"):
        normalise(np.zeros(SAMPLE_RATE, np.float32), -20.0)


def test_loudness_target_rises_with_dynamics():
    assert loudness_target(30) == -25.0 and loudness_target(110) == -15.0
    assert loudness_target(50) < loudness_target(90)


def test_midi_bytes_leaves_the_midi_alone(piece):
    _, pm = piece
    before = [len(i.control_changes) for i in pm.instruments]
    data = midi_bytes(pm, 9.0)
    assert data[:4] == b"MThd"
    assert [len(i.control_changes) for i in pm.instruments] == before
    with pytest.raises(ValueError, match="no instruments"):
        midi_bytes(pretty_midi.PrettyMIDI(), 1.0)


def test_soundfont_checks(tmp_path):
    assert default_soundfont().is_file()
    assert "GPL-2.0" in soundfont_licence(default_soundfont())
    assert "MIT" in soundfont_licence("/x/FluidR3_GM.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont")
    with pytest.raises(ValueError, match="SF2"):
        check_soundfont(bad)
    with pytest.raises(FileNotFoundError):
        check_soundfont(tmp_path / "missing.sf2")
    with pytest.raises(ValueError, match="duration"):
        render_midi(b"", 0.0)
