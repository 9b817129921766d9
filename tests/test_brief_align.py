"""Plans aligned to a video's cuts: section changes and downbeats on the cuts, bar lines where the tempo allows."""

import pytest

from audiogen.brief import align as A
from audiogen.compose.plan import Plan

SHOTS = [(0.0, 4.0, 0.8, 0.4), (4.0, 6.5, -0.7, -0.4), (6.5, 9.3, 0.5, 0.6), (9.3, 12.0, -0.2, 0.0)]


def starts(plan):
    return [s["start"] for s in plan.request["shots"]]


@pytest.fixture(scope="module")
def plan():
    return A.aligned_plan("a short film", SHOTS, 12.0, seed=3)


def test_every_cut_starts_a_section_on_a_downbeat(plan):
    assert plan.duration == 12.0 and starts(plan) == [0.0, 4.0, 6.5, 9.3]
    section_starts = [s.start for s in plan.sections]
    for cut in (4.0, 6.5, 9.3):
        assert cut in section_starts and cut in plan.downbeats and cut in plan.beats
    names = [s.name for s in plan.sections]
    assert names[0].startswith("shot1-") and names[-1].startswith("shot4-")
    assert plan.sections[-1].end <= plan.duration
    assert all(b.end > b.start for b in plan.sections)


def test_shots_keep_their_grid_and_tempo(plan):
    meter = plan.meter
    for s in plan.request["shots"][:-1]:
        beats = (s["end"] - s["start"]) * s["tempo"] / 60
        assert beats == pytest.approx(round(beats), abs=1e-3)  # a whole number of beats at the local tempo
        if s["grid"] == "bar":
            assert beats / meter == pytest.approx(round(beats / meter), abs=1e-3)
            assert abs(s["tempo"] / plan.tempo - 1) <= A.BAR_TOLERANCE + 1e-9
    assert plan.request["shots"][-1]["grid"] == "end"
    inside = [b for b in plan.beats if 4.0 <= b < 6.5]
    local = plan.request["shots"][1]["tempo"]
    assert inside[1] - inside[0] == pytest.approx(60 / local, abs=2e-3)


def test_each_shot_has_its_mood(plan):
    modes = [s["mode"] for s in plan.request["shots"]]
    assert modes[:3] == ["major", "minor", "major"]
    assert [s["valence"] for s in plan.request["shots"]][:3] == pytest.approx([0.8, -0.7, 0.5])
    chords = {c.numeral for c in plan.chords if 4.0 <= c.start < 6.5}
    assert any(n[0].islower() or n.startswith("b") for n in chords)  # the dark shot is harmonised in minor


def test_explicit_mood_and_tempo_win():
    p = A.aligned_plan(None, SHOTS, 12.0, emotion="calm", tempo=100, seed=1)
    assert {s["valence"] for s in p.request["shots"]} == {0.4} and p.request["shot_moods"] is False
    assert p.tempo == 100
    assert all(abs(s["tempo"] / 100 - 1) <= A.BEAT_TOLERANCE + 0.05 for s in p.request["shots"])


def test_the_tempo_is_searched_for_bar_lines():
    shots = [(0.0, 2.0, 0.5, 0.5), (2.0, 4.0, 0.5, 0.5), (4.0, 6.0, 0.5, 0.5), (6.0, 9.0, 0.5, 0.5)]
    p = A.aligned_plan(None, shots, 9.0, genre="pop", seed=2)
    assert [s["grid"] for s in p.request["shots"]] == ["bar", "bar", "bar", "end"]


def test_short_shots_join_a_neighbour():
    shots = [(0.0, 0.5, 0.1, 0.1), (0.5, 3.0, 0.1, 0.1), (3.0, 3.4, 0.1, 0.1), (3.4, 6.0, 0.1, 0.1),
             (6.0, 7.0, 0.1, 0.1)]  # fmt: skip
    kept = A.merge_short(shots)
    assert [(s[0], s[1]) for s in kept] == [(0.0, 3.4), (3.4, 7.0)]
    p = A.aligned_plan(None, shots, 7.0, seed=0)
    assert starts(p) == [0.0, 3.4] and p.request["cuts"] == [0.5, 3.0, 3.4, 6.0]


def test_an_aligned_plan_round_trips(tmp_path, plan):
    path = tmp_path / "plan.json"
    plan.to_json(path)
    again = Plan.from_json(path)
    assert again.to_dict() == plan.to_dict() and A.shot_bounds(again) == A.shot_bounds(plan)
    assert A.shot_bounds(again)[1] == (4.0, 6.5, plan.request["shots"][1]["valence"],
                                       plan.request["shots"][1]["arousal"])  # fmt: skip


def test_a_single_shot_is_one_cadence():
    p = A.aligned_plan(None, [(0.0, 1.5, 0.5, 0.0)], 1.5, seed=0)
    assert p.duration == 1.5 and len(p.request["shots"]) == 1 and p.sections[0].start == 0.0


@pytest.mark.parametrize("tempo", [None, 220.0])
def test_a_ten_minute_video_composes(tempo):
    shots = [(0.0, 5.0, 0.2, 0.1), (5.0, 420.0, -0.5, 0.6), (420.0, 600.0, 0.6, -0.3)]  # a long loop, a long cadence
    p = A.aligned_plan(None, shots, 600.0, genre="pop", tempo=tempo, seed=4)
    assert p.duration == 600.0 and starts(p) == [0.0, 5.0, 420.0]
    assert 420.0 in p.downbeats and p.sections[-1].name == "shot3-end"
    assert len(p.downbeats) > 148  # past the bars the form once ran out at
    assert len([s for s in p.sections if s.name.startswith("shot2-")]) > 36
    p.to_midi()
    single = A.aligned_plan(None, [(0.0, 600.0, 0.5, 0.3)], 600.0, genre="pop", tempo=tempo, seed=4)
    assert single.duration == 600.0 and single.sections[-1].end <= 600.0
