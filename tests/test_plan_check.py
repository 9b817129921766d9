"""An edited plan is checked whole before any generation: refused in one line, or performed without error."""

import copy
import json
import math
import random

import numpy as np
import pytest

from audiogen.compose.composer import loop_tempo
from audiogen.compose.plan import Plan
from audiogen.compose.planner import compose_plan
from audiogen.controls.from_plan import plan_controls
from audiogen.generator import MusicGenerator, Request, given_plan, make_requests
from audiogen.plans import with_plan


def composed(**kw) -> Plan:
    return compose_plan("a hopeful track", **{"valence": 0.6, "arousal": 0.4, "duration": 8.0, "seed": 3,
                                              "use_minilm": False, **kw})  # fmt: skip


@pytest.fixture(scope="module")
def plans() -> list[dict]:
    return [composed().to_dict(), composed(ending="loop", genre="jazz", seed=5).to_dict(),
            composed(genre="folk", mode="minor", duration=5.0, seed=9).to_dict()]  # fmt: skip


def one_line_refusal(text: str) -> str:
    """The message with which ``Plan.from_json(text)`` refuses a plan (the test fails for any other outcome)."""
    with pytest.raises(ValueError) as err:
        Plan.from_json(text)
    message = str(err.value)
    assert "\n" not in message and 0 < len(message) < 600, message
    return message


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["parts"][0]["notes"][0].__setitem__(1, 1e308), "note 0 end must be a time in seconds inside"),
        (lambda d: d["chords"][2].__setitem__("root", 4.5), "chords[2] root (a pitch class, 0 = C) must be a whole"),
        (lambda d: d["sections"][0].__setitem__("start", math.nan), "sections[0] start must be a time"),
        (lambda d: d.__setitem__("tempo", 35), "plan tempo must be a number in [40, 220]"),
        (lambda d: d["parts"][1]["notes"][0].__setitem__(2, 60.5), "pitch must be a whole number in [0, 127]"),
        (lambda d: d["chords"].reverse(), "chords must be in time order"),
        (lambda d: d["sections"].append(dict(d["sections"][0])), "sections must be in order"),
        (lambda d: d["beats"].__setitem__(1, "0.5"), "beats[1] must be a time"),
        (lambda d: d.__setitem__("meter", 4.0), "meter must be 2, 3, 4 or 6"),
        (lambda d: d.pop("chords"), "plan field(s) chords missing"),
        (lambda d: d["parts"].__setitem__(0, [1, 2]), "parts[0] must be an object with the fields"),
        (lambda d: d.__setitem__("genre", "polka"), "plan genre must be one of"),
    ],
)
def test_edits_that_failed_after_generation_are_refused_at_once(plans, edit, message):
    d = copy.deepcopy(plans[0])
    edit(d)
    assert message in one_line_refusal(json.dumps(d))


def test_generate_checks_the_plan_it_is_given_before_any_work(monkeypatch):
    import audiogen.perform as perform

    monkeypatch.setattr(perform, "lm_generate", lambda *a, **k: pytest.fail("generation started"))
    p = composed()
    p.parts[0].notes[0][1] = 1e308  # edited after it was built: the object skipped from_json's check
    with pytest.raises(ValueError, match="note 0 end must be a time"):
        MusicGenerator.debug().generate("x", plan=p, progress=False)
    with pytest.raises(ValueError, match="tempo 90 differs from the plan's"):
        given_plan(composed(), tempo=90)


def test_the_composer_writes_only_plans_the_check_accepts():
    assert composed(duration=1.0).duration == 1.0  # shorter than a bar: cut at its end
    assert composed(duration=1.0, ending="loop").sections[-1].end == 1.0
    assert composed(duration=600.0, tempo=220.0).tempo == 220.0  # not 220.00000000000003
    assert 40 <= loop_tempo(40, 4, 15.0) <= 220  # 2.5 bars: three at 48 BPM, not two at 32
    assert composed(duration=15.0, tempo=40.0, ending="loop").tempo == 48.0


# -- the fuzz test ------------------------------------------------------------------------------------------------

STRANGE = [math.nan, math.inf, -math.inf, 1e308, -1e308, -1, 0, 10**30, 2**63, "7", "", None, True, [], {}, 0.5]


def _paths(node, path=()):
    """Every position in a JSON tree, as a key path."""
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _mutate(d, rng: random.Random) -> None:
    """One edit of the kinds people make by hand, or get wrong: a strange value, a fractional, negative or shifted
    number, a dropped, added or duplicated entry, a reordered list."""
    path = rng.choice([p for p in _paths(d) if p])
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    key, value = path[-1], parent[path[-1]]
    kind = rng.randrange(8)
    if kind == 0:
        parent[key] = rng.choice(STRANGE)
    elif kind == 1 and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = rng.choice([value + 0.5, -value, value * 1000, value + rng.uniform(-5, 5), value - 1e-9])
    elif kind == 2:
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif kind == 3 and isinstance(value, list) and value:
        rng.shuffle(value) if rng.random() < 0.5 else value.reverse()
    elif kind == 4 and isinstance(value, list) and value:
        value.insert(rng.randrange(len(value) + 1), copy.deepcopy(rng.choice(value)))
    elif kind == 5 and isinstance(parent, dict):
        parent[rng.choice(["extra", "tempoo", "Notes", key.upper() if isinstance(key, str) else "k"])] = 1
    elif kind == 6 and isinstance(value, str):
        parent[key] = rng.choice([value.upper(), value + " ", "", 4, "x" * 500])
    else:
        parent[key] = rng.choice([value, [value], {"v": value}, str(value)])


def _performs(plan: Plan, tmp_path, gen: MusicGenerator) -> None:
    """What follows the check, short of sampling audio: the MIDI file, the controls the LM and the decoder read, the
    beats, the request's conditions, the summary."""
    plan.to_midi(tmp_path / "p.mid")
    n = math.ceil(plan.duration * 50) + 3
    for p in (plan, given_plan(plan)):
        controls = plan_controls(p, n, 50.0, beat_lag=0.06)
        assert controls.shape[0] == n and np.isfinite(controls).all()
    plan.summary(), plan.chord_labels_at(np.linspace(0, plan.duration, 17))
    (req,) = make_requests("x", tempo=plan.tempo, key=plan.key_name, valence=plan.valence, arousal=plan.arousal,
                           duration=plan.duration)  # fmt: skip
    with_plan(Request(req.attributes, req.duration), plan)
    gen.performer.plan_beats([plan], n)


def test_fuzzed_plans_are_refused_in_one_line_or_perform(plans, tmp_path):
    rng = random.Random(1234)
    gen = MusicGenerator.debug()
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(360):
        d = copy.deepcopy(plans[i % len(plans)])
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            _mutate(d, rng)
        text = json.dumps(d, allow_nan=True)
        try:
            plan = Plan.from_json(text)
        except ValueError as err:
            message = str(err)
            assert "\n" not in message and 0 < len(message) < 600, (i, message)
            outcomes["refused"] += 1
            continue
        try:
            _performs(plan, tmp_path, gen)
        except Exception as err:  # an accepted plan must perform
            pytest.fail(f"mutant {i} was accepted but failed: {type(err).__name__}: {err}\n{text[:2000]}")
        outcomes["accepted"] += 1
    assert outcomes["accepted"] > 40 and outcomes["refused"] > 100, outcomes  # both sides were exercised
