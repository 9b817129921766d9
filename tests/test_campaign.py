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
    assert cmd[:3] == [sys.executable, "-m", "audiogen.train.codec"]
    assert f"run_dir={tmp_path / 'runs' / stage.name}" in cmd
    debian, symbolic = (tmp_path / "data" / name / "manifest.jsonl" for name in ("debian", "symbolic"))
    assert f"manifests=[{debian},{symbolic}]" in cmd
    inits = [c for c in cmd if c.startswith("init_from=")]
    shipped = [p for p in stage.init_from if (campaign.REPO / p / "config.json").is_file()]
    assert inits == [f"init_from={campaign.REPO / shipped[0]}"]  # the first committed folder that exists
    missing = campaign.Stage("x", (("{py}", "-m", "m"),), ("no/such/folder",))
    assert not [c for c in missing.command(tmp_path) if c.startswith("init_from=")]


def test_last_step_reads_past_a_line_cut_short_by_a_kill(tmp_path):
    assert campaign.last_step(tmp_path) == (0, None)
    (tmp_path / "log.jsonl").write_text(json.dumps({"step": 400, "logmag": 0.8}) + "\n" + '{"step": 45')
    step, line = campaign.last_step(tmp_path)
    assert step == 400 and line["logmag"] == 0.8


def test_start_leaves_a_running_stage_alone_and_only_a_live_trainer_counts(tmp_path, monkeypatch, capsys):
    stage = campaign.Stage("s", (("{py}", "-m", "audiogen.train.codec"),))
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


class FakeTrainer:
    """The stages' processes: a preparing command succeeds; a trainer (a command with ``run_dir=``), when waited
    for, reaches its stage's ``max_steps`` (or not, with ``finish=False``) and exits with ``rc``."""

    def __init__(self, seen: list, work, finish: bool = True, rc: int = 0):
        self.seen, self.work, self.finish, self.rc = seen, work, finish, rc

    def __call__(self, cmd, **kw):
        self.cmd = cmd
        self.trainer = any(a.startswith("run_dir=") for a in cmd)
        self.seen.append(("train" if self.trainer else "prepare", cmd))
        return self

    def wait(self) -> int:
        if not self.trainer:
            return 0
        run = next(a.split("=", 1)[1] for a in self.cmd if a.startswith("run_dir="))
        campaign.Path(run).mkdir(parents=True, exist_ok=True)
        (campaign.Path(run) / "config.json").write_text(json.dumps({"max_steps": 10}))
        (campaign.Path(run) / "log.jsonl").write_text(json.dumps({"step": 10 if self.finish else 3}) + "\n")
        return self.rc

    def send_signal(self, sig) -> None:
        self.seen.append(("signal", sig))


def test_run_builds_the_corpus_prepares_trains_and_goes_on_to_the_next_stages(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(campaign, "ensure_corpus", lambda w: seen.append(("corpus", w)))
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeTrainer(seen, tmp_path))
    assert campaign.run_stage(tmp_path, campaign.STAGES[0]) == 0
    kinds = [s[0] for s in seen]
    # the codec; the bass decoder (its export, its trainer), its fine-tune with context and the v4 pilot (the same);
    # the LM (export, cache, controls, token map, trainer); the LM on v4's tokens (two exports, cache, controls, token
    # map, trainer); the second v4 pilot (from the shipped codec, nothing to prepare); a decoder for its tokens (its
    # export, the trainer); the LM on its tokens (export, cache, controls, token map, trainer); that LM trained on
    # (cache, controls, trainer)
    assert kinds == (
        ["corpus", "train"]
        + ["prepare", "train"] * 3
        + ["prepare"] * 4
        + ["train"]
        + ["prepare"] * 5
        + ["train", "train"]
        + ["prepare", "train"]
        + ["prepare"] * 4
        + ["train"]
        + ["prepare"] * 2
        + ["train"]
    )
    assert seen[2][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v3"]
    assert f"init_from={tmp_path}/codec-v3-frozen" in seen[3][1]
    assert seen[4][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v3-bass"]
    assert f"init_from={tmp_path}/codec-v3-bass" in seen[5][1]
    assert seen[8][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v3"]
    assert f"init_from={tmp_path}/codec-v3-bass" in seen[7][1] and "codec-v4-pilot.yaml" in seen[7][1][3]
    assert seen[12][1][2] == "audiogen.train.lm" and f"cache={tmp_path}/tokens-v3" in seen[12][1]
    assert seen[13][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v4-pilot"]
    assert seen[14][1][2:5] == ["audiogen.train.lm", "export", f"{tmp_path}/runs/lm-v3"]
    assert "--reuse" in seen[16][1] and f"{tmp_path}/tokens-v3" in seen[16][1]
    assert f"init_from={tmp_path}/lm-v3" in seen[18][1] and f"cache={tmp_path}/tokens-v4" in seen[18][1]
    assert f"init_token_map={tmp_path}/tokens-v4/token_map.npz" in seen[18][1]
    assert "bass_pitch_lr=0.003" in seen[19][1] and "codec-v4-pilot.yaml" in seen[19][1][3]
    assert f"init_from={campaign.REPO}/audiogen/pretrained/default/codec" in seen[19][1]  # v4 as shipped
    assert seen[20][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v4-pilot2"]
    assert "codec-v5-decoder.yaml" in seen[21][1][3] and f"init_from={tmp_path}/codec-v5" in seen[21][1]
    assert seen[22][1][2:5] == ["audiogen.train.codec", "export", f"{tmp_path}/runs/codec-v4-pilot2"]
    assert "--reuse" not in seen[24][1]  # a new machine has no other codec's cache: the controls are read again
    token_map = seen[25][1]
    assert token_map[token_map.index("--source") + 1] == f"{campaign.REPO}/audiogen/pretrained/default/codec"
    assert "lm-v5.yaml" in seen[26][1][3]
    assert f"init_token_map={tmp_path}/tokens-v5/token_map.npz" in seen[26][1]
    # the performer trained on: the cache coded (or found complete) by the shipped codec, from the shipped LM
    shipped = f"{campaign.REPO}/audiogen/pretrained/default"
    assert seen[27][1][3:5] == ["codec", "cache"] and seen[27][1][-4:] == ["--codec", f"{shipped}/codec", "--out",
                                                                          f"{tmp_path}/tokens-v5"]
    assert seen[28][1][3:5] == ["codec", "controls"]
    assert "lm-v5-long.yaml" in seen[29][1][3] and f"init_from={shipped}/lm" in seen[29][1]
    assert not any(a.startswith("init_token_map=") for a in seen[29][1])
    for stage in campaign.STAGES[1:]:  # a stage taken on by the running process names it, for status and stop
        assert (stage.run_dir(tmp_path) / "pid").read_text().strip() == str(os.getpid())


def test_run_stops_where_a_trainer_stops_short_or_fails(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(campaign, "ensure_corpus", lambda w: None)
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeTrainer(seen, tmp_path, finish=False))
    assert campaign.run_stage(tmp_path, campaign.STAGES[0]) == 0  # stopped (SIGTERM) before its last step
    assert [s[0] for s in seen] == ["train"]
    seen.clear()
    monkeypatch.setattr(campaign.subprocess, "Popen", FakeTrainer(seen, tmp_path, rc=3))
    assert campaign.run_stage(tmp_path, campaign.STAGES[1]) == 3
    assert [s[0] for s in seen] == ["prepare", "train"]


def test_the_current_stage_moves_on_when_one_is_finished(tmp_path, monkeypatch, capsys):
    first, second = campaign.STAGES[0], campaign.STAGES[1]
    run = first.run_dir(tmp_path)
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"max_steps": 100}))
    (run / "log.jsonl").write_text(json.dumps({"step": 99}) + "\n")  # the chain started from its first stage
    assert campaign.current_stage(tmp_path) == first
    (run / "log.jsonl").write_text(json.dumps({"step": 100}) + "\n")
    assert campaign.current_stage(tmp_path) == second
    (run / "log.jsonl").write_text(json.dumps({"step": 5}) + "\n")
    monkeypatch.setattr(campaign, "_alive", lambda p: None)
    campaign.finish(tmp_path, first)  # its goals met early
    assert campaign.current_stage(tmp_path) == second and "marked finished at step 5" in capsys.readouterr().out


def test_every_stage_names_a_recipe_that_loads():
    from audiogen.train.codec import CodecTrainConfig
    from audiogen.train.config import load_recipe
    from audiogen.train.lm import LMTrainConfig

    kinds = {"audiogen.train.codec": CodecTrainConfig, "audiogen.train.lm": LMTrainConfig}
    for stage in campaign.STAGES:
        trainer = stage.commands[-1]
        recipe = trainer[3].format(repo=campaign.REPO)
        cfg = load_recipe(kinds[trainer[2]], recipe)
        assert cfg.max_steps > 0 and cfg.num_threads == 1, stage.name


@pytest.mark.parametrize("where", ["trainer", "prepare"])
def test_sigterm_to_the_runner_reaches_its_child_and_nothing_starts_after_it(tmp_path, where):
    """``campaign stop`` signals the runner's pid; the child it runs (the trainer, or a preparing step such as the
    token cache) must get the signal and end (a real trainer then writes its checkpoint), and the runner must end
    with it: no next preparing step, no trainer."""
    import signal
    import subprocess
    import time

    code = f"""
import sys, time
from pathlib import Path
from audiogen.train import campaign
campaign.ensure_corpus = lambda w: None
def waits(name):
    return ("{{py}}", "-c", "import signal, sys, time, pathlib; "
            "signal.signal(signal.SIGTERM, "
            "lambda *a: (pathlib.Path(r'{tmp_path}/got').write_text('term'), sys.exit(0))); "
            "pathlib.Path(r'{tmp_path}/up').write_text('" + name + "'); time.sleep(60)")
after = ("{{py}}", "-c", "import pathlib; pathlib.Path(r'{tmp_path}/after').write_text('ran')")
stage = (campaign.Stage("only", (waits("prepare"), after, (*waits("trainer"), "run_dir={{run}}")))
         if "{where}" == "prepare" else campaign.Stage("only", ((*waits("trainer"), "run_dir={{run}}"),)))
campaign.STAGES = (stage,)
sys.exit(campaign.run_stage(Path(r"{tmp_path}"), stage))
"""
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=campaign.REPO)
    deadline = time.time() + 30
    while not (tmp_path / "up").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "up").read_text() == where
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=20) == 0
    assert (tmp_path / "got").read_text() == "term"
    assert (tmp_path / "up").read_text() == where and not (tmp_path / "after").exists()


def test_stop_without_a_stage_name_stops_the_stage_that_runs_even_when_it_is_not_the_current_one(
    tmp_path, monkeypatch, capsys
):
    last = campaign.STAGES[-1]  # running, while an earlier stage (added later, say) is not finished
    monkeypatch.setenv("AUDIOGEN_WORK", str(tmp_path))
    alive = {last.name, campaign.STAGES[1].name}  # a runner that went on from stage 1 left its pid there too
    monkeypatch.setattr(campaign, "_alive", lambda p: 4242 if p.parent.name in alive else None)
    killed = []
    monkeypatch.setattr(campaign.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    run = campaign.STAGES[0].run_dir(tmp_path)  # the chain started from its first stage, which is not finished
    run.mkdir(parents=True)
    (run / "log.jsonl").write_text(json.dumps({"step": 1}) + "\n")
    assert campaign.current_stage(tmp_path) != last
    assert campaign.main(["stop"]) == 0
    assert killed == [(4242, 15)] and f"stopped {last.name}" in capsys.readouterr().out
    monkeypatch.setattr(campaign, "_alive", lambda p: None)
    assert campaign.running_stage(tmp_path) is None


def test_notes_are_cached_once_for_the_whole_corpus(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(campaign.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    manifests = campaign.corpus_manifests(tmp_path)
    notes = campaign.ensure_notes(tmp_path, manifests)
    assert notes == tmp_path / "notes" and (notes / "done").is_file()
    assert len(calls) == 1 and calls[0][1:3] == ["-m", "audiogen.data.note_cache"]
    assert calls[0][3:5] == [str(m) for m in manifests] and calls[0][-2:] == ["--out", str(notes)]
    campaign.ensure_notes(tmp_path, manifests)  # built: the next start does not run it again
    assert len(calls) == 1


def test_a_new_machine_goes_on_from_the_first_stage_not_shipped(tmp_path):
    first_open = next(s for s in campaign.STAGES if not s.superseded)
    assert all(s.done(tmp_path) for s in campaign.STAGES if s.superseded)  # no run of theirs anywhere
    assert campaign.current_stage(tmp_path) is first_open
    log = campaign.STAGES[0].run_dir(tmp_path) / "log.jsonl"  # one of them started by name: they run in order
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"step": 10}) + "\n")
    assert campaign.current_stage(tmp_path) is campaign.STAGES[0]
    assert not campaign.STAGES[1].done(tmp_path)
