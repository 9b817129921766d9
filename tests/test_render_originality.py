"""``audiogen render`` with the originality check: the manifest's ``originality`` column says ``flagged``,
``original`` or nothing (not checked) per track, the summary names the flagged tracks with the training item and
the level that flagged, a job or the command sets the mode, and a ledger of an earlier version gains the column."""

import csv
import functools
import json
import sqlite3

import pytest

from audiogen.cli import main as cli_main
from audiogen.generator import MusicGenerator
from audiogen.originality.testing import plans_index
from audiogen.render import batch
from audiogen.render.batch import render_batch
from audiogen.render.jobs import JobsFileError, expand, load_jobs
from audiogen.render.ledger import Ledger

# 16 s of "calm piano" has 8 melody symbols: the planted job's whole melody is in the index, the other's is not
JOBS = (
    '{"id": "planted", "text": "calm piano", "duration": 16, "seed": 3}\n'
    '{"id": "fresh", "text": "epic battle", "duration": 16, "seed": 40, "output": "fresh-take"}\n'
)


def indexed_debug(folder):
    """The debug model with the originality index in ``folder`` (a picklable factory with functools.partial)."""
    gen = MusicGenerator.debug()
    gen.originality_dir = folder
    return gen


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """``(jobs file, index folder)``: an index whose only item is the plan the job "planted" composes."""
    root = tmp_path_factory.mktemp("originality")
    jobs = root / "jobs.jsonl"
    jobs.write_text(JOBS)
    item = next(i for i in expand(load_jobs(jobs)) if i.job.id == "planted")
    plan = MusicGenerator.debug().generate(**dict(item.generate_kwargs(), originality="off")).plan
    index = plans_index([plan])
    index.thresholds["melody"] = 6.0
    index.save(root / "index")
    return jobs, root / "index"


def manifest(out):
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return {r["job_id"]: r for r in csv.DictReader(f)}


def test_the_report_marks_the_planted_track_flagged_and_names_it(planted, tmp_path):
    jobs, index = planted
    factory = functools.partial(indexed_debug, index)
    summary = render_batch(jobs, tmp_path / "out", generator_factory=factory, progress=False)
    assert (summary.rendered, summary.failed, summary.checked) == (2, 0, 2)
    rows = manifest(tmp_path / "out")
    assert (rows["planted"]["originality"], rows["fresh"]["originality"]) == ("flagged", "original")
    near = [{"level": "melody", "item": "plan-0", "title": "Test piece 0"}]
    assert summary.flagged == [{"job_id": "planted", "variant": 1, "file": "planted.mp3", "close_to": near}]
    lines = "\n".join(summary.lines())
    assert "originality: 1 of 2 checked track(s) flagged" in lines
    assert 'flagged: planted v1 (planted.mp3): close to "Test piece 0" (melody)' in lines
    assert "fresh" not in lines
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["checked"] == 2 and data["flagged"] == summary.flagged
    tracks = json.loads((tmp_path / "out" / "manifest.json").read_text())["tracks"]
    assert [t["originality"] for t in tracks] == ["flagged", "original"]
    with Ledger(tmp_path / "out") as ledger:  # a crash between the rename and the ledger update
        ledger.conn.execute("UPDATE items SET status = 'running', originality = NULL WHERE job_id = 'planted'")
    again = render_batch(jobs, tmp_path / "out", generator_factory=factory, progress=False)
    assert (again.rendered, again.recovered) == (0, 1) and again.flagged == summary.flagged  # read from its tags


def test_a_job_or_the_command_sets_the_mode(planted, tmp_path, monkeypatch, capsys):
    _, index = planted
    monkeypatch.setattr(batch, "load_generator", lambda model=None: indexed_debug(index))
    own = tmp_path / "jobs.jsonl"
    own.write_text(JOBS.replace('"seed": 40', '"seed": 40, "originality": "off"'))
    assert cli_main(["render", str(own), "--out", str(tmp_path / "a"), "--no-progress", "--originality", "strict"]) == 0
    rows = manifest(tmp_path / "a")
    assert rows["fresh"]["originality"] == ""  # the job's own "off" wins over the command's "strict"
    assert rows["planted"]["originality"] == "original" and rows["planted"]["seed"] == "4"  # made again
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["flagged"] == [] and summary["checked"] == 1
    assert "originality: none of the 1 checked track(s) is close to a training item" in capsys.readouterr().out


def test_the_jobs_file_checks_the_mode(tmp_path):
    bad = tmp_path / "jobs.csv"
    bad.write_text("id,text,duration,originality\na,x,3,loose\nb,x,3,Strict\nc,x,3,\n")
    with pytest.raises(JobsFileError, match=r"originality 'loose' is not allowed; allowed: check, strict, off"):
        load_jobs(bad)
    bad.write_text("id,text,duration,originality\nb,x,3,Strict\nc,x,3,\nd,x,3,check\n")
    items = expand(load_jobs(bad))
    assert items[0].generate_kwargs()["originality"] == "strict"
    assert "originality" not in items[1].generate_kwargs()  # not given: the brief's ledger identity is unchanged
    assert "originality" not in items[2].generate_kwargs()  # the default (check) is not passed either
    yaml = tmp_path / "jobs.yaml"
    yaml.write_text("- {id: a, text: x, duration: 3, originality: off}\n")  # YAML reads off as false
    assert load_jobs(yaml)[0].originality == "off"


def test_a_ledger_of_an_earlier_version_gains_the_column(tmp_path):
    Ledger(tmp_path).close()
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        conn.execute("ALTER TABLE items DROP COLUMN originality")
    with Ledger(tmp_path) as ledger:
        assert "originality" in {r["name"] for r in ledger.conn.execute("PRAGMA table_info(items)")}
