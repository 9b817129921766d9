"""One request, defined once: every surface refuses the same out-of-range values with the same message."""

import json

import pytest

from audiogen import request_fields as rf
from audiogen.cli import main
from audiogen.compose.planner import PlanRequest
from audiogen.conditioning.emotions import check_label
from audiogen.eval.prompts import Request as PromptRequest
from audiogen.render.jobs import load_jobs
from audiogen.render.readers import JobsFileError
from audiogen.request import make_requests
from audiogen.studio.form import FormError, clean


def _emotion_message() -> str:
    with pytest.raises(ValueError) as err:
        check_label("glum")
    return str(err.value)


BAD = [
    ("tempo", 39, "tempo must lie in [40, 220] BPM, got 39"),
    ("tempo", 221, "tempo must lie in [40, 220] BPM, got 221"),
    ("duration", 0.5, "duration must lie in [1, 600] seconds, got 0.5"),
    ("duration", 601, "duration must lie in [1, 600] seconds, got 601"),
    ("seed", -1, "seed must be a whole number in [0, 4294967295], got -1"),
    ("seed", 2**32, "seed must be a whole number in [0, 4294967295], got 4294967296"),
    ("emotion", "glum", _emotion_message()),
]


def _api(name, value):
    make_requests("calm piano", **{name: value})


def _cli(name, value, command, tmp_path, capsys):
    argv = [command, "calm piano", f"--{name}", str(value)]
    if command == "generate":
        argv += ["--model", "debug", "-o", str(tmp_path / "out.mp3")]
    else:
        argv += ["-o", str(tmp_path / "plan.json")]
    assert main(argv) == 2
    raise ValueError(capsys.readouterr().err)


def _jobs(name, value, tmp_path):
    job = {"id": "a", "text": "calm piano", "duration": 10, name: value}
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps(job) + "\n")
    with pytest.raises(JobsFileError) as err:
        load_jobs(path)
    raise ValueError(str(err.value))


def _prompts(name, value):
    PromptRequest(**{"id": "a", "duration": 10, name: value})


def _studio(name, value):
    try:
        clean({"text": "calm piano", name: value})
    except FormError as err:
        raise ValueError(err.errors[name]) from None


def _plan(name, value):
    PlanRequest(text="calm piano", **{name: value})


SURFACES = {
    "api": lambda name, value, tmp_path, capsys: _api(name, value),
    "cli generate": lambda name, value, tmp_path, capsys: _cli(name, value, "generate", tmp_path, capsys),
    "cli compose": lambda name, value, tmp_path, capsys: _cli(name, value, "compose", tmp_path, capsys),
    "jobs": lambda name, value, tmp_path, capsys: _jobs(name, value, tmp_path),
    "prompts": lambda name, value, tmp_path, capsys: _prompts(name, value),
    "studio": lambda name, value, tmp_path, capsys: _studio(name, value),
    "plan": lambda name, value, tmp_path, capsys: _plan(name, value),
}
TAKES = {"api": rf.API, "cli generate": rf.GENERATE, "cli compose": rf.COMPOSE, "jobs": rf.JOBS,
         "prompts": rf.PROMPTS, "studio": rf.STUDIO, "plan": rf.PLAN}  # fmt: skip


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_every_surface_refuses_the_same_values_with_the_same_message(surface, name, value, message, tmp_path, capsys):
    if name not in rf.names(TAKES[surface], part=None):
        pytest.skip(f"{surface} does not take {name}")
    with pytest.raises(ValueError) as err:
        SURFACES[surface](name, value, tmp_path, capsys)
    assert message in str(err.value)


def test_the_check_lists_every_problem_with_what_is_allowed():
    with pytest.raises(rf.RequestError) as err:
        rf.check_request({"tempo": 39, "duration": 601, "seed": -1, "valence": 0.5, "colour": "red"})
    found = err.value.problems
    assert "tempo must lie in [40, 220] BPM, got 39" in found
    assert "duration must lie in [1, 600] seconds, got 601" in found
    assert "seed must be a whole number in [0, 4294967295], got -1" in found
    assert "give both valence and arousal, or neither" in found
    assert any(p.startswith("unknown request field 'colour'; allowed: text,") for p in found)
    assert str(err.value).startswith("5 problems: ")
    with pytest.raises(ValueError, match=r"2 problems: tempo .* duration"):
        make_requests(["a", "b"], tempo=[120, 250], duration=[10, 700])


def test_the_table_sets_the_defaults_and_the_ranges_every_surface_uses():
    assert rf.BY_NAME["duration"].default == 30.0
    assert PlanRequest().duration == 30.0 and make_requests("x")[0].duration == 30.0
    assert rf.check_request({"tempo": 40, "duration": 1, "seed": 2**32 - 1}) == {"tempo": 40.0, "duration": 1.0,
                                                                                    "seed": 2**32 - 1}  # fmt: skip
    assert "40–220" in rf.BY_NAME["tempo"].help and "1–600" in rf.BY_NAME["duration"].help
