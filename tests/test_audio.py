import numpy as np
import pytest
import soundfile as sf

from audiogen.audio import AudioError, audio_info, load_audio, resample, save_audio
from audiogen.id3 import read_id3


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
def test_round_trip_every_format(tmp_path, tone, ext):
    path = save_audio(tmp_path / f"x{ext}", tone)
    back = load_audio(path)
    # lossy codecs add delay/padding; the length stays within 60 ms and the pitch survives
    assert abs(len(back) - len(tone)) < 0.06 * 32000
    spectrum = np.abs(np.fft.rfft(back[:32000] if len(back) >= 32000 else np.pad(back, (0, 32000 - len(back)))))
    assert abs(np.argmax(spectrum) - 440) <= 2
    if ext in (".wav", ".flac"):
        np.testing.assert_allclose(back, tone, atol=1e-4)
    assert not list(tmp_path.glob(".*part*")), "temporary files left behind"


def test_load_converts_rate_and_channels(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 220 * t)], axis=1) * 0.3
    sf.write(tmp_path / "s.wav", stereo, 44100)
    y = load_audio(tmp_path / "s.wav")
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 32000
    assert audio_info(tmp_path / "s.wav")[1:] == (44100, 2)


def test_offset_and_duration(tmp_path, tone):
    save_audio(tmp_path / "t.wav", np.concatenate([tone, tone]))
    y = load_audio(tmp_path / "t.wav", offset=0.5, duration=1.0)
    assert len(y) == 32000


def test_resample_length():
    assert resample(np.zeros(48000, np.float32), 48000, 32000).shape == (32000,)


def test_corrupt_empty_silent_nonfinite_files_name_the_file(tmp_path):
    bad = tmp_path / "corrupt.ogg"
    bad.write_bytes(b"OggS this is not really an ogg file")
    with pytest.raises(AudioError, match=r"corrupt\.ogg"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 32000)
    with pytest.raises(AudioError, match=r"empty\.wav.*no audio"):
        load_audio(empty)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1000, np.float32), 32000)
    with pytest.raises(AudioError, match=r"silent\.wav.*silent"):
        load_audio(silent)
    assert load_audio(silent, allow_silent=True).shape == (1000,)
    nan = tmp_path / "nan.wav"
    x = np.zeros(1000, np.float32)
    x[10] = np.nan
    sf.write(nan, x, 32000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*NaN"):
        load_audio(nan)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_failed_write_leaves_nothing(tmp_path, tone):
    bad = tone.copy()
    bad[5] = np.inf
    with pytest.raises(AudioError):
        save_audio(tmp_path / "x.mp3", bad)
    with pytest.raises(AudioError, match="bitrate"):
        save_audio(tmp_path / "x.mp3", tone, bitrate=100)
    with pytest.raises(AudioError, match="allowed"):
        save_audio(tmp_path / "x.aiff", tone)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_mp3_write_leaves_no_file(tmp_path, tone, monkeypatch):
    import audiogen.audio as audio_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(audio_mod, "_encode_mp3", boom)
    with pytest.raises(KeyboardInterrupt):
        save_audio(tmp_path / "x.mp3", tone)
    assert list(tmp_path.iterdir()) == []


def test_mp3_bitrate_and_id3_tags(tmp_path, tone):
    tags = {"title": "Night piano", "comment": "AI-generated with audiogen", "seed": "7", "emotion": "calm"}
    p = save_audio(tmp_path / "x.mp3", np.tile(tone, 4), bitrate=64, tags=tags)
    assert read_id3(p) == tags
    size_64 = p.stat().st_size
    p2 = save_audio(tmp_path / "y.mp3", np.tile(tone, 4), bitrate=192)
    assert p2.stat().st_size > 2 * size_64
    assert len(load_audio(p)) == 4 * 32000  # gapless: exact length survives MP3


def test_atomic_write_leaves_nothing_on_failure_and_public_mode(tmp_path):
    import os
    from pathlib import Path

    from audiogen.fileio import atomic_write, public_mode

    target = tmp_path / "out.txt"
    atomic_write(target, lambda p: Path(p).write_text("done"))
    assert target.read_text() == "done" and (target.stat().st_mode & 0o777) == public_mode()

    def broken(p):
        Path(p).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "done" and sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_an_unreadable_file_is_reported_as_unreadable_not_missing(tmp_path, monkeypatch):
    import os

    path = tmp_path / "locked.wav"
    save_audio(path, np.full(3200, 0.1, dtype=np.float32))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path) else real(p, mode))
    for read in (load_audio, audio_info):
        with pytest.raises(AudioError, match="permission denied"):
            read(path)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="not a file"):
        load_audio(tmp_path)
