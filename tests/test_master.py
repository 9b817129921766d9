import itertools
import json
import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample

from audiogen.audio import load_audio, save_audio
from audiogen.master import (
    LOUDNESS_PRESETS,
    MasteringSpec,
    integrated_loudness,
    loop_samples_needed,
    master,
    sample_peak_db,
    true_peak_db,
)
from audiogen.mastering.limiter import _look_ahead, _release, limit_true_peak
from audiogen.mastering.measure import BS1770_FIR, true_peak_envelope
from audiogen.mastering.shape import crossfade_loop

SR = 32000


# ---- realistic test signals ------------------------------------------------------------------------------------


def chord_drums(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Four chords of harmonic tones with a kick on every beat and noise hats: peaky, like a mix."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 329.63)]
    bar = n // 4
    for i, chord in enumerate(chords):
        part = slice(i * bar, n if i == 3 else (i + 1) * bar)
        for f in chord:
            for h in range(1, 6):
                y[part] += 0.08 / h * np.sin(2 * np.pi * f * h * t[part] + rng.uniform(0, 2 * np.pi))
    for start in range(0, n - 6000, SR // 2):
        k = np.arange(6000) / SR
        y[start : start + 6000] += 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * k)) * k) * np.exp(-12 * k)
        hat = start + SR // 4
        if hat + 1500 < n:
            y[hat : hat + 1500] += 0.3 * rng.standard_normal(1500) * np.exp(-np.arange(1500) / 200)
    return (0.5 * y).astype(np.float32)


def loud_square(seconds: float = 3.0, freq: float = 110.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.95 * np.tanh(8 * np.sin(2 * np.pi * freq * t))).astype(np.float32)


def quiet_sine(seconds: float = 3.0, freq: float = 440.0, amp: float = 0.01) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


SIGNALS = {"chord_drums": chord_drums, "loud_square": loud_square, "quiet_sine": quiet_sine}


def independent_true_peak_db(x: np.ndarray) -> float:
    """4× oversampled peak by FFT (ideal sinc) resampling: a different method from the library's BS.1770 FIR, and
    a stricter one (it also sees content right under Nyquist)."""
    x = np.asarray(x, dtype=np.float64)
    return 20 * math.log10(np.max(np.abs(resample(x, 4 * x.size))))


def annex2_true_peak_db(x: np.ndarray) -> float:
    """Textbook reference for the library's polyphase meter: zero-stuff to 4× and filter with the 48-tap prototype."""
    x = np.asarray(x, dtype=np.float64)
    stuffed = np.zeros(4 * x.size)
    stuffed[::4] = x
    peak = np.max(np.abs(np.convolve(stuffed, BS1770_FIR)))
    return 20 * math.log10(max(peak, np.max(np.abs(x))))


def independent_lufs(x: np.ndarray) -> float:
    return pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, dtype=np.float64))


# ---- loudness and true peak ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(LOUDNESS_PRESETS))
@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_presets_hit_target_before_and_after_mp3(tmp_path, preset, signal):
    target = LOUDNESS_PRESETS[preset]
    out, report = master(SIGNALS[signal](), MasteringSpec(loudness=preset))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert abs(independent_lufs(out) - target) <= 0.5
    assert report.target_reached and abs(report.output_lufs - target) <= 0.5
    assert independent_true_peak_db(out) <= -1.0
    assert report.true_peak_db <= report.ceiling_db + 1e-3
    assert annex2_true_peak_db(out) <= report.ceiling_db + 1e-3
    back = load_audio(save_audio(tmp_path / "x.mp3", out))
    assert back.size == out.size
    assert abs(independent_lufs(back) - target) <= 1.0
    assert independent_true_peak_db(back) <= -1.0


def test_dense_loud_material_is_limited_to_the_ceiling(tmp_path):
    x = chord_drums(4.0, seed=3) * 2.0  # kicks clip well above full scale
    spec = MasteringSpec(loudness="streaming", true_peak_db=-1.0)
    out, report = master(x, spec)
    assert report.limited and report.limiter_reduction_db > 3.0
    assert annex2_true_peak_db(out) <= spec.limiter_ceiling_db + 1e-3
    assert true_peak_db(out, SR) == pytest.approx(annex2_true_peak_db(out), abs=1e-9)
    assert independent_true_peak_db(out) <= spec.true_peak_db
    assert abs(independent_lufs(out) - (-14.0)) <= 0.5
    for bitrate in (128, 192, 320):
        back = load_audio(save_audio(tmp_path / f"x{bitrate}.mp3", out, bitrate=bitrate))
        assert independent_true_peak_db(back) <= -1.0, bitrate
        assert abs(independent_lufs(back) - (-14.0)) <= 1.0, bitrate


def test_limiter_keeps_quiet_parts_untouched():
    x = quiet_sine(2.0, amp=0.1).astype(np.float64)
    x[32000:32100] += 0.9  # one loud burst in the middle
    y, reduction = limit_true_peak(x, SR, ceiling_db=-3.0)
    assert reduction > 0
    assert annex2_true_peak_db(y) <= -3.0 + 1e-3
    np.testing.assert_allclose(y[:30000], x[:30000], atol=1e-9)  # before look-ahead + ramp: unchanged
    np.testing.assert_allclose(y[-8000:], x[-8000:], atol=1e-4)  # release has recovered (~100 ms time constant)


def test_vectorised_gain_envelope_matches_a_loop():
    rng = np.random.default_rng(0)
    att = np.where(rng.random(400) < 0.05, rng.uniform(0, 6, 400), 0.0)
    r = math.exp(-1 / 7.0)
    slow, prev = np.zeros_like(att), 0.0
    for i, a in enumerate(att):
        prev = max(a, prev * r)
        slow[i] = prev
    np.testing.assert_allclose(_release(att, 7.0), slow, atol=1e-9)
    length = 5
    ahead = np.array([att[i : i + length].max() for i in range(att.size)])
    padded = np.concatenate([np.full(length - 1, ahead[0]), ahead])
    smooth = np.array([padded[i : i + length].mean() for i in range(att.size)])
    np.testing.assert_allclose(_look_ahead(att, length), smooth, atol=1e-9)
    assert np.all(_look_ahead(att, length) >= att - 1e-12)  # the ramps never let a peak through


def test_measurement_helpers():
    t = np.arange(2 * SR) / SR
    amp = 10 ** (-20 / 20)
    sine_1k = amp * np.sin(2 * np.pi * 997 * t)
    assert integrated_loudness(sine_1k, SR) == pytest.approx(-20 - 3.01, abs=0.1)  # BS.1770 calibration
    # a quarter-rate sine sampled at +-45°: every sample is at 0.707 * amp, the waveform peaks at amp
    quarter = amp * np.sin(2 * np.pi * (SR / 4) * t + np.pi / 4)
    assert sample_peak_db(quarter) == pytest.approx(-23.01, abs=0.05)
    assert true_peak_db(quarter, SR) == pytest.approx(-20.0, abs=0.1)
    assert true_peak_db(np.zeros(100), SR) == -math.inf
    assert integrated_loudness(np.zeros(SR), SR) == -math.inf
    # clips shorter than one 400 ms gating block are measured as one block
    assert integrated_loudness(sine_1k[: SR // 10], SR) == pytest.approx(integrated_loudness(sine_1k, SR), abs=0.2)
    with pytest.raises(ValueError, match="mono"):
        integrated_loudness(np.zeros((2, 100)), SR)


def test_true_peak_envelope_matches_the_oversampled_signal():
    x = chord_drums(0.5, seed=1).astype(np.float64)
    stuffed = np.zeros(4 * x.size)
    stuffed[::4] = x
    up = np.convolve(stuffed, BS1770_FIR)[24:]  # prototype delay 23.5: up[4 n + k] lies at n + (k + 0.5) / 4
    env = true_peak_envelope(x)
    slow = np.maximum(np.abs(up[: 4 * x.size]).reshape(-1, 4).max(axis=1), np.abs(x))
    np.testing.assert_allclose(env[1:-1], slow[1:-1], atol=1e-12)
    assert env.max() == pytest.approx(np.abs(np.concatenate([up, stuffed])).max(), abs=1e-12)


# ---- length, fades, loops --------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [0.25, 1.0, 2.345, 5.0])
def test_exact_length_through_wav_and_mp3(tmp_path, duration):
    out, report = master(chord_drums(3.0), MasteringSpec(duration=duration))
    expected = round(duration * SR)
    assert out.size == report.num_samples == expected
    for ext in (".wav", ".mp3"):
        assert load_audio(save_audio(tmp_path / f"x{ext}", out), allow_silent=True).size == expected
    if duration > 3.0:
        assert np.all(out[3 * SR :] == 0) and any("padded" in note for note in report.notes)


def test_fade_out_ends_at_zero_and_is_scaled_for_short_clips():
    x = loud_square(6.0)
    out, _ = master(x, MasteringSpec(ending="fade", fade_out_s=3.0))
    assert out[-1] == 0.0 and out[0] == 0.0
    env = [np.sqrt(np.mean(out[i : i + 1600] ** 2)) for i in range(3 * SR, 6 * SR, 1600)]  # 50 ms windows
    assert all(b <= a * 1.001 for a, b in itertools.pairwise(env))  # falls monotonically
    assert np.max(np.abs(out[-320:])) < 1e-3 * np.max(np.abs(out))  # last 10 ms ~ silent
    body = np.sqrt(np.mean(out[SR : 2 * SR] ** 2))
    assert env[0] == pytest.approx(body, rel=0.05)  # the fade starts at full level, 3 s before the end
    short, _ = master(loud_square(2.0), MasteringSpec(ending="fade", fade_out_s=3.0))
    third_quarter = np.sqrt(np.mean(short[SR : SR + 8000] ** 2))
    assert third_quarter > 0.9 * np.sqrt(np.mean(short[SR // 2 : SR] ** 2))  # only the last quarter fades
    assert short[-1] == 0.0


def test_ending_none_is_a_cut_with_an_anti_click_ramp():
    out, _ = master(loud_square(2.0), MasteringSpec(ending="none", fade_in_s=0.0))
    assert out[-1] == 0.0
    assert np.max(np.abs(out[-SR // 100 : -SR // 200])) > 0.1  # still loud 10 ms before the end


def pad_and_kicks(seconds: float = 4.0) -> np.ndarray:
    """Sustained chord (non-integer frequencies, slow tremolo) with a kick every 0.5 s; no chord-change clicks."""
    t = np.arange(int(seconds * SR)) / SR
    tremolo = 1 + 0.3 * np.sin(2 * np.pi * 0.7 * t)
    y = tremolo * sum(0.1 * np.sin(2 * np.pi * f * t + f) for f in (220.7, 277.3, 330.1))
    for start in range(int(0.23 * SR), t.size - 6000, SR // 2):  # kick onsets off the loop points tested
        k = np.arange(6000) / SR
        y[start : start + 6000] += 0.5 * np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * k)) * k) * np.exp(-12 * k)
    return y.astype(np.float32)


def test_crossfade_loop_continues_the_source():
    source = np.random.default_rng(0).standard_normal(1000)
    loop = crossfade_loop(source, 800, 100)
    assert loop[0] == source[800]  # what follows loop[-1] on repeat is what followed it in the source
    np.testing.assert_array_equal(loop[100:], source[100:800])
    np.testing.assert_allclose(loop[99], source[99], atol=0.05 * np.abs(source).max())


@pytest.mark.parametrize("duration", [None, 2.0, 3.1, 5.0])
def test_loop_wrap_is_as_smooth_as_the_music(duration):
    spec = MasteringSpec(ending="loop", duration=duration, crossfade_s=0.5)
    for signal in (pad_and_kicks(4.0), quiet_sine(4.0, freq=437.3)):
        out, report = master(signal, spec)
        y = out.astype(np.float64)
        if duration is not None:
            assert y.size == round(duration * SR)
        around = np.concatenate([y[-100:], y[:100]])  # the wrap point in the middle
        steps = np.abs(np.diff(around))
        assert steps[99] <= np.delete(steps, 99).max()  # the joint step is no larger than its neighbours
        curvature = np.abs(np.diff(around, 2))  # and does not bend the waveform more than the music does
        assert curvature[98:100].max() <= 1.5 * np.delete(curvature, [98, 99]).max()
        assert independent_true_peak_db(np.concatenate([y, y])) <= -1.0  # no overshoot at the joint either
        assert abs(report.output_lufs - (-14.0)) <= 0.5
        if duration == 5.0:
            assert any("repeated" in note for note in report.notes)


def test_loop_samples_needed_avoids_repeating():
    spec = MasteringSpec(ending="loop", duration=2.0, crossfade_s=0.25)
    need = loop_samples_needed(spec)
    assert need == 2 * SR + SR // 4
    out, report = master(chord_drums(need / SR), spec)
    assert out.size == 2 * SR and report.notes == ()
    assert loop_samples_needed(MasteringSpec(duration=1.5)) == 48000
    assert loop_samples_needed(MasteringSpec()) is None


def test_dc_offset_is_removed():
    out, _ = master(quiet_sine(3.0, amp=0.1) + np.float32(0.3), MasteringSpec(fade_in_s=0.0, ending="none"))
    assert abs(float(np.mean(out[SR // 2 : -SR // 2]))) < 1e-3


# ---- edge cases and validation ---------------------------------------------------------------------------------


def test_silence_and_near_silence_are_left_alone():
    for x in (np.zeros(SR, np.float32), np.full(SR, 0.4, np.float32), 1e-5 * np.ones(SR // 20, np.float32)):
        out, report = master(x, MasteringSpec(duration=1.5))
        assert out.size == 48000 and np.isfinite(out).all() and np.max(np.abs(out)) < 1e-3
        assert not report.target_reached and report.gain_db == 0.0
        assert any("silent" in note for note in report.notes)
        json.dumps(report.to_dict())  # -inf becomes null
        assert report.to_dict()["output_lufs"] is None


def test_too_quiet_input_gets_capped_gain_and_says_so():
    _, report = master(quiet_sine(2.0, amp=1e-3), MasteringSpec(max_gain_db=20.0))
    assert report.gain_db == pytest.approx(20.0)
    assert not report.target_reached and any("capped" in note for note in report.notes)
    assert report.output_lufs == pytest.approx(report.input_lufs + 20.0, abs=0.1)


def test_very_short_audio():
    x = loud_square(0.1)
    out, report = master(x, MasteringSpec(loudness="ebu-r128"))
    assert out.size == x.size and report.target_reached
    assert abs(report.output_lufs - (-23.0)) <= 0.5
    out, _ = master(np.array([0.5, -0.5, 0.25], np.float32))
    assert out.size == 3 and np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loudness": "loud"}, r"'streaming' \(-14 LUFS\).*'ebu-r128'.*'atsc-a85'.*\[-40, -5\]"),
        ({"loudness": -60}, r"\[-40, -5\]"),
        ({"loudness": float("nan")}, "loudness"),
        ({"loudness": True}, "loudness"),
        ({"true_peak_db": 1.0}, r"true_peak_db must be a number in \[-9, 0\]"),
        ({"ending": "bounce"}, "'fade', 'none', 'loop'"),
        ({"duration": -1.0}, r"duration must be None or seconds in \(0, 3600\]"),
        ({"fade_out_s": 100.0}, r"fade_out_s.*\[0, 30\]"),
        ({"release_ms": 1.0}, r"release_ms.*\[10, 1000\]"),
    ],
)
def test_invalid_specs_name_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MasteringSpec(**kwargs)


def test_spec_loudness_forms():
    assert MasteringSpec(loudness="EBU-R128").target_lufs == -23.0
    assert MasteringSpec(loudness="atsc-a85").target_lufs == -24.0
    assert MasteringSpec(loudness="-16").target_lufs == -16.0
    assert MasteringSpec(loudness=-18).target_lufs == -18.0
    assert MasteringSpec().target_lufs == -14.0 and MasteringSpec().limiter_ceiling_db == -2.5
    _, report = master(quiet_sine(1.0, amp=0.2), MasteringSpec(loudness=None))
    assert report.target_lufs is None and report.gain_db == 0.0 and report.target_reached


def test_bad_audio_is_rejected():
    with pytest.raises(ValueError, match="mono"):
        master(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="empty"):
        master(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        master(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="float"):
        master(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="MasteringSpec"):
        master(np.zeros(100, np.float32), {"loudness": -14})
    with pytest.raises(ValueError, match="shorter than one sample"):
        master(np.zeros(100, np.float32), MasteringSpec(duration=1e-6))
    with pytest.raises(ValueError, match="sample_rate"):
        master(np.zeros(100, np.float32), sample_rate=0)


def test_the_true_peak_phases_are_the_same_on_several_threads():
    import torch

    from audiogen.mastering import measure

    x = np.random.default_rng(3).standard_normal(measure._PARALLEL_FROM + 123)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = measure.interpolated_phases(x)
        torch.set_num_threads(2)
        assert np.array_equal(measure.interpolated_phases(x), serial)
    finally:
        torch.set_num_threads(before)
