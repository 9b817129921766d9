"""One definition of a request's fields (audiogen/request_fields.py), read by every surface."""

import inspect

import pytest

from audiogen import request_fields as rf
from audiogen.cli import build_parser
from audiogen.generator import MusicGenerator
from audiogen.render.jobs import CHECKS, FIELDS, Item, Job


def _flags(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_every_field_reaches_the_api_the_cli_and_the_jobs():
    api = inspect.signature(MusicGenerator.generate).parameters
    for f in rf.FIELDS:
        assert f.name in api, f"{f.name}: not a generate() argument"
    for command in (rf.GENERATE, rf.COMPOSE):
        assert {rf.BY_NAME[n].flag for n in rf.names(command)} <= _flags(command)
    job_attrs = set(inspect.signature(Job).parameters)
    for name in rf.names(rf.JOBS):
        assert name in FIELDS and name in CHECKS and name in job_attrs
    assert set(FIELDS) == set(CHECKS)  # every column of a jobs file is checked
    assert rf.names(rf.STUDIO) == ("emotion", "valence", "arousal", "style", "tempo", "key", "duration")


def test_a_job_passes_its_request_fields_and_keeps_its_ledger_identity(tmp_path):
    plain = Item(Job(id="a", duration=10.0, text="calm piano", tempo=90.0), 1, 7, "a.mp3").generate_kwargs()
    legacy = {"text", "emotion", "valence", "arousal", "style", "reference", "tempo", "key", "duration"}
    assert set(plain) == legacy | {"seed", "mastering", "progress"}  # unset new fields are not passed
    assert plain["text"] == "calm piano" and plain["tempo"] == 90.0 and plain["emotion"] is None
    picture = Item(Job(id="b", duration=10.0, image=tmp_path / "p.png"), 1, 7, "b.mp3").generate_kwargs()
    assert picture["image"] == str(tmp_path / "p.png") and "video" not in picture


def test_surface_names_are_checked():
    assert rf.names(rf.COMPOSE)[0] == "emotion" and "reference" not in rf.names(rf.COMPOSE)
    with pytest.raises(ValueError, match="unknown surface"):
        rf.names("web")
    assert rf.BY_NAME["melody_from"].flag == "--melody-from"
