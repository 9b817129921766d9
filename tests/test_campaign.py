"""The training campaign: one work folder outside the tree, one command that resumes the current stage."""

import json
import os
import sys

import pytest

from audiogen.train import campaign


def test_the_work_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOGEN_WORK", str(tmp_path / "w"))
    assert campaign.work_dir() == tmp_path / "w"
    monkeypatch.delenv("AUDIOGEN_WORK")
    assert campaign.work_dir() == campaign.Path.home() / "audiogen-work"


def test_a_new_stage_starts_from_the_last_committed_weights(tmp_path):
    stage = campaign.STAGES[0]
    cmd = stage.command(tmp_path)
    assert cmd[:3] == [sys.executable, "-m", stage.module]
    assert f"run_dir={tmp_path / 'runs' / stage.name}" in cmd
    debian, symbolic = (tmp_path / "data" / name / "manifest.jsonl" for name in ("debian", "symbolic"))
    assert f"manifests=[{debian},{symbolic}]" in cmd
    inits = [c for c in cmd if c.startswith("init_from=")]
    shipped = [p for p in stage.init_from if (campaign.REPO / p / "config.json").is_file()]
    assert inits == [f"init_from={campaign.REPO / shipped[0]}"]  # the first committed folder that exists
    missing = campaign.Stage("x", "m", "r.yaml", ("no/such/folder",))
    assert not [c for c in missing.command(tmp_path) if c.startswith("init_from=")]


def test_last_step_reads_past_a_line_cut_short_by_a_kill(tmp_path):
    assert campaign.last_step(tmp_path) == (0, None)
    (tmp_path / "log.jsonl").write_text(json.dumps({"step": 400, "logmag": 0.8}) + "\n" + '{"step": 45')
    step, line = campaign.last_step(tmp_path)
    assert step == 400 and line["logmag"] == 0.8


def test_start_leaves_a_running_stage_alone_and_only_a_live_trainer_counts(tmp_path, monkeypatch, capsys):
    stage = campaign.Stage("s", "audiogen.train.codec", "r.yaml", ())
    run = stage.run_dir(tmp_path)
    run.mkdir(parents=True)
    (run / "pid").write_text(f"{os.getpid()}\n")  # this test process: alive, but not a trainer
    assert campaign._alive(run / "pid") is None
    (run / "pid").write_text("not a pid")
    assert campaign._alive(run / "pid") is None
    monkeypatch.setattr(campaign, "_alive", lambda p: 12345)
    monkeypatch.setattr(campaign, "ensure_corpus", lambda w: pytest.fail("must not touch the corpus"))
    assert campaign.start(tmp_path, stage) == 0
    assert "already running (pid 12345)" in capsys.readouterr().out


def test_run_builds_the_corpus_then_becomes_the_trainer(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(campaign, "ensure_corpus", lambda w: seen.append(("corpus", w)))
    monkeypatch.setattr(campaign.os, "execv", lambda exe, argv: seen.append(("exec", argv)))
    stage = campaign.STAGES[0]
    campaign.run_stage(tmp_path, stage)
    assert seen[0] == ("corpus", tmp_path)
    assert seen[1] == ("exec", stage.command(tmp_path))
