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
