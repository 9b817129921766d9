"""Outputs that cannot be written (a full disk, a read-only folder) end in one line and leave nothing behind; two
runs writing one name never delete each other's temporaries; Ctrl+C is one line and exit status 130; a path that is
not what it should be says what it is."""

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen import fileio
from audiogen.audio import audio_writer, save_audio
from audiogen.cli import main
from audiogen.compose.plan import Plan
from audiogen.compose.planner import compose_plan
from audiogen.fileio import OutputError, check_writable, path_problem, remove_stale_temporaries
from audiogen.track import Track


def full_disk_sf_write(*args, **kwargs):
    """What libsndfile does on a full disk: 'System error.', with the cause only in the C errno."""
    sf._ffi.errno = errno.ENOSPC
    raise sf.LibsndfileError(2)


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def a_plan() -> Plan:
    return compose_plan("x", valence=0.5, arousal=0.2, duration=3.0, seed=1, use_minilm=False)


def test_a_full_disk_at_save_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch, tone):
    monkeypatch.setattr(sf, "write", full_disk_sf_write)
    monkeypatch.setattr(sf.SoundFile, "write", full_disk_sf_write)
    for name, tags in (("t.mp3", None), ("t.wav", None), ("t.wav", {"comment": "AI-generated"})):
        with pytest.raises(OutputError) as err:
            save_audio(tmp_path / name, tone, tags=tags)
        assert err.value.errno == errno.ENOSPC
        assert str(err.value) == f"cannot write {tmp_path / name}: no space left on the device"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["plan JSON", "MIDI", "token file", "audio in pieces"])
def test_every_output_fails_alike_on_a_full_disk(tmp_path, monkeypatch, where, tone):
    import pretty_midi

    from audiogen.codec.tokenfile import TokenHeader, write_tokens

    if where == "plan JSON":
        monkeypatch.setattr(Path, "write_text", no_space)
        write, target = (lambda: a_plan().to_json(tmp_path / "p.json")), tmp_path / "p.json"
    elif where == "MIDI":
        monkeypatch.setattr(pretty_midi.PrettyMIDI, "write", no_space)
        write, target = (lambda: a_plan().to_midi(tmp_path / "p.mid")), tmp_path / "p.mid"
    elif where == "token file":
        monkeypatch.setattr(Path, "write_bytes", no_space)
        header = TokenHeader("audiogen-codec-0123456789ab", 32000, 50.0, 2, 64, 6400, 10)
        write, target = (lambda: write_tokens(tmp_path / "t.agc", np.zeros((2, 10), int), header)), tmp_path / "t.agc"
    else:
        monkeypatch.setattr(sf.SoundFile, "write", no_space)
        target = tmp_path / "long.flac"

        def write():
            with audio_writer(target) as put:
                put(tone)

    with pytest.raises(OutputError, match=f"cannot write {target}: no space left on the device"):
        write()
    assert list(tmp_path.iterdir()) == []


def fake_track(seconds: float = 1.0) -> Track:
    audio = 0.1 * np.sin(np.arange(int(32000 * seconds)) / 10).astype(np.float32)
    return Track(audio, prompt="x", seed=1, plan=a_plan())


@pytest.fixture
def fast_generate(monkeypatch):
    """``MusicGenerator.generate`` returns a finished track at once (these tests are about what follows it)."""
    import audiogen.generator as gen

    monkeypatch.setattr(gen.MusicGenerator, "generate", lambda self, *a, **k: fake_track())


def test_cli_a_full_disk_after_generation_is_one_line_and_no_partial_set(tmp_path, monkeypatch, capsys, fast_generate):
    monkeypatch.setattr(sf, "write", full_disk_sf_write)
    out, midi = tmp_path / "t.mp3", tmp_path / "t.mid"
    assert main(["generate", "x", "--model", "debug", "-o", str(out), "--midi", str(midi)]) == 2
    err = capsys.readouterr().err
    assert err == f"audiogen generate: error: cannot write {out}: no space left on the device\n"
    assert list(tmp_path.iterdir()) == []  # the MIDI written before the MP3 is taken back


def test_a_real_write_failure_is_one_line(tmp_path):
    """libsndfile meeting a real failing write (the file-size limit of the process: EFBIG) in a real decode."""
    from audiogen.codec.model import Codec, CodecConfig
    from audiogen.codec.tokenfile import TokenHeader, write_tokens

    codec = Codec(CodecConfig(enc_dim=16, enc_layers=2, latent_dim=8, dec_dim=16, dec_layers=1, up_dim=8,
                              up_layers=1, n_q=2, codebook_size=16, codebook_dim=4))  # fmt: skip
    codec.save_pretrained(tmp_path / "codec")
    write_tokens(tmp_path / "t.agc", np.zeros((2, 500), int),
                 TokenHeader(codec.model_id, 32000, 50.0, 2, 16, 320000, 500))  # fmt: skip
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))\n"
        "from audiogen.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    out = tmp_path / "out.wav"
    run = subprocess.run([sys.executable, "-c", script, "codec", "decode", str(tmp_path / "t.agc"), str(out),
                          "--codec", str(tmp_path / "codec")], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"audiogen codec: error: cannot write {out}: the file is larger than this file " \
                                 "system or process may write"  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codec", "t.agc"]


def test_ctrl_c_is_one_line_exit_130_and_leaves_nothing(tmp_path, monkeypatch, capsys, fast_generate):
    import audiogen.generator as gen

    out = tmp_path / "t.mp3"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf, "write", interrupted)  # during the save, after generation
    assert main(["generate", "x", "--model", "debug", "-o", str(out), "--midi", str(tmp_path / "t.mid")]) == 130
    assert capsys.readouterr().err == "audiogen generate: interrupted\n"
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(gen.MusicGenerator, "generate", interrupted)  # during generation
    assert main(["generate", "x", "--model", "debug", "-o", str(out)]) == 130
    assert capsys.readouterr().err == "audiogen generate: interrupted\n" and list(tmp_path.iterdir()) == []


def test_a_second_run_never_deletes_the_temporary_the_first_is_writing(tmp_path, monkeypatch, tone):
    out = tmp_path / "t.wav"
    real = sf.write
    writing, go_on = threading.Event(), threading.Event()

    def slow_write(path, *args, **kwargs):
        real(path, *args, **kwargs)
        writing.set()
        assert go_on.wait(30)

    monkeypatch.setattr(sf, "write", slow_write)
    errors = []
    first = threading.Thread(target=lambda: _catch(errors, save_audio, out, tone))
    first.start()
    assert writing.wait(30)
    killed = tmp_path / ".t.wav.ab12cd34.part.wav"  # what a killed run left: nobody holds it
    killed.write_bytes(b"half")
    removed = remove_stale_temporaries(out)  # what the second run does as it starts
    go_on.set()
    first.join(30)
    assert removed == [killed] and not errors and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.wav"]


def _catch(errors: list, fn, *args) -> None:
    try:
        fn(*args)
    except BaseException as err:  # reported by the test, not lost in the thread
        errors.append(err)


def test_paths_say_what_is_wrong_with_them(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match=f"{f} is a file, not a folder"):
        check_writable(f / "out.mp3")
    with pytest.raises(ValueError, match=f"{f} is a file, not a folder"):
        check_writable(f / "deeper" / "out.mp3")
    assert path_problem(f / "p.json") == f"{f} is a file, not a folder"
    assert path_problem(tmp_path) == "is a folder, not a file"
    assert path_problem(tmp_path / "none.json") == "no such file" and path_problem(f) is None
    with pytest.raises(FileNotFoundError, match=f"plan file {f / 'p.json'}: {f} is a file, not a folder"):
        Plan.from_json(f / "p.json")


def test_cli_paths_that_are_files_or_folders_say_so(tmp_path, capsys):
    f = tmp_path / "f.txt"
    f.write_text("x")
    for argv, message in (
        (["generate", "x", "--model", "debug", "-o", str(f / "t.mp3")], f"{f} is a file, not a folder"),
        (["generate", "x", "--model", "debug", "--plan", str(tmp_path)], "is a folder, not a file"),
        (["generate", "x", "--model", "debug", "--melody-from", str(tmp_path)], "is a folder, not a file"),
        (["generate", "x", "--model", "debug", "--prompt-audio", str(f / "a.wav")], f"{f} is a file, not a folder"),
        (["compose", "x", "-o", str(f / "p.json")], f"{f} is a file, not a folder"),
    ):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err


def test_a_plan_with_a_byte_order_mark_is_read(tmp_path):
    p = a_plan()
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + p.to_json().encode("utf-8"))
    assert Plan.from_json(tmp_path / "bom.json") == p
    assert Plan.from_json("\ufeff" + p.to_json()) == p


def test_output_errors_name_the_cause_a_writer_hid(tmp_path, monkeypatch):
    err = fileio.output_error(tmp_path / "x.mp3", sf.LibsndfileError(3))  # not a system error, nothing visibly wrong
    assert isinstance(err, OutputError) and str(err).startswith(f"cannot write {tmp_path / 'x.mp3'}: ")
    monkeypatch.setattr(os, "statvfs", lambda p: os.statvfs_result((4096, 4096, 100, 0, 0, 10, 0, 0, 0, 255)))
    full = fileio.output_error(tmp_path / "x.mp3", RuntimeError("System error."))
    assert full.errno == errno.ENOSPC and "no space left" in str(full)


def test_a_full_disk_stops_a_batch_in_one_line_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    from test_render_fakes import fake_factory

    from audiogen.render.cli import main as render_main
    from audiogen.render.ledger import Ledger

    jobs = tmp_path / "jobs.csv"
    jobs.write_text("id,text,emotion,duration,variants\na,calm sea,calm,2,2\nb,storm,tense,2,1\n", encoding="utf-8")
    out = tmp_path / "out"
    real = sf.write
    monkeypatch.setattr(sf, "write", full_disk_sf_write)
    assert render_main([str(jobs), "--out", str(out), "--no-progress"], generator_factory=fake_factory) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"audiogen render: error: cannot write {out / 'a-v1.mp3'}: no space left on the device; the "
        "batch stopped (make room or fix the folder, then run the same command again: it resumes)"
    )
    assert not list(out.glob("*.mp3")) and not list(out.glob(".*.part*"))
    with Ledger(out) as ledger:
        assert {row.status for row in ledger.rows()} == {"queued"}  # nothing marked failed for the disk's fault
    monkeypatch.setattr(sf, "write", real)
    assert render_main([str(jobs), "--out", str(out), "--no-progress"], generator_factory=fake_factory) == 0
    assert sorted(p.name for p in out.glob("*.mp3")) == ["a-v1.mp3", "a-v2.mp3", "b.mp3"]
