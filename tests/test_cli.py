import subprocess
import sys

from audiogen.cli import main


def test_cli_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert "audiogen" in capsys.readouterr().out
    assert main([]) == 1


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "audiogen.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout


def _generate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "audiogen.cli", "generate", "calm piano", "--model", "debug", "--threads", "1", *args]


def test_stream_writes_the_tracks_pcm_to_stdout_while_the_files_come_at_the_end(tmp_path):
    import numpy as np

    from audiogen.audio import SAMPLE_RATE, load_audio
    from audiogen.generator import MusicGenerator
    from audiogen.master import MasteringSpec

    out, midi = tmp_path / "calm.wav", tmp_path / "calm.mid"
    cmd = _generate_cmd("--duration", "2", "--seed", "3", "--stream", "-", "-o", str(out), "--midi", str(midi))
    res = subprocess.run(cmd, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    assert f"{out}: 2.00 s, seed 3" in res.stderr.decode()  # the summary goes to stderr: stdout is the audio
    pcm = np.frombuffer(res.stdout, dtype="<i2")
    track = load_audio(out, SAMPLE_RATE)
    assert pcm.size == track.size == 2 * SAMPLE_RATE and midi.is_file()
    gen = MusicGenerator.debug()
    spec = MasteringSpec(loudness="streaming", true_peak_db=-1.0, ending="fade")
    with gen.stream("calm piano", duration=2.0, seed=3, mastering=spec) as stream:
        streamed = np.concatenate(list(stream))
    np.testing.assert_allclose(pcm / 32767.0, streamed, atol=2e-4)  # 16-bit rounding (and thread counts)
    assert np.abs(streamed).max() > 0.05  # not silence


def test_a_closed_pipe_cancels_the_generation_and_leaves_no_file(tmp_path):
    out, midi = tmp_path / "long.mp3", tmp_path / "long.mid"
    cmd = _generate_cmd("--duration", "60", "--stream", "-", "-o", str(out), "--midi", str(midi), "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(32000)  # half a second of audio: the stream has begun
    proc.stdout.close()  # the player quits
    _, err = proc.communicate(timeout=300)
    assert len(first) == 32000
    assert proc.returncode == 141
    assert err.decode().strip().splitlines() == [
        "audiogen generate: stopped: the reader of --stream closed the pipe (the player quit); the generation was "
        "cancelled and no file was written"
    ]
    assert list(tmp_path.iterdir()) == []


def test_stream_refuses_what_it_cannot_play_in_one_line(tmp_path, capsys):
    base = ["generate", "x", "--model", "debug", "-o", str(tmp_path / "x.mp3"), "--stream"]
    assert main([*base, "out.pcm"]) == 2
    assert "the only destination is '-'" in capsys.readouterr().err
    for flag in ("--prompt-audio", "--video"):
        assert main([*base, "-", flag, str(tmp_path / "clip")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot be combined with {flag}" in err
    assert list(tmp_path.iterdir()) == []


def test_stream_refuses_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["generate", "x", "--model", "debug", "-o", str(tmp_path / "x.mp3"), "--stream", "-"]) == 2
    assert "which is a terminal here; pipe it into a player" in capsys.readouterr().err
