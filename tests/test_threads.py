"""The thread policy: an explicit number wins, then AUDIOGEN_THREADS, else the cores not busy elsewhere."""

import pytest

from audiogen import threads
from audiogen.cli import main


def test_policy_order_and_bad_values(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 3)
    assert threads.pick_threads() == 5  # 8 cores, 3 busy with other work
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 20)
    assert threads.pick_threads() == 1  # never fewer than one
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.pick_threads() == 3 and threads.pick_threads(2) == 2
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ValueError, match="AUDIOGEN_THREADS"):
        threads.pick_threads()
    with pytest.raises(ValueError, match="--threads must be"):
        threads.pick_threads(0)


def test_the_counters_read_this_machine():
    assert threads.usable_cores() >= 1 and threads.busy_elsewhere() >= 0


def test_cli_refuses_a_bad_thread_count_before_loading(tmp_path, capsys):
    assert main(["generate", "x", "--model", "debug", "--threads", "0", "-o", str(tmp_path / "t.mp3")]) == 2
    assert "--threads must be" in capsys.readouterr().err


def test_more_threads_than_cores_are_lowered_to_the_cores_with_a_warning(monkeypatch, capsys):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert threads.pick_threads(1000) == 2
    assert "--threads 1000 is more than the 2 core(s) this process may use; using 2" in capsys.readouterr().err
    monkeypatch.setenv(threads.ENV, "64")
    assert threads.pick_threads() == 2 and "AUDIOGEN_THREADS 64" in capsys.readouterr().err
    assert threads.pick_threads(2) == 2 and capsys.readouterr().err == ""


def test_cli_runs_with_at_most_the_cores(tmp_path, monkeypatch, capsys):
    import torch

    import audiogen.generator as gen

    seen = []

    def generate(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise ValueError("stop here")

    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(gen.MusicGenerator, "generate", generate)
    assert main(["generate", "x", "--model", "debug", "--threads", "1000", "-o", str(tmp_path / "t.mp3")]) == 2
    assert seen == [2] and "using 2" in capsys.readouterr().err
