"""The plan of a request: one given (checked against the rest of the request), transferred from a clip, or composed;
and the request with what its plan decided filled in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from audiogen.compose.plan import Plan
from audiogen.compose.planner import compose_plan
from audiogen.conditioning.validate import check_key_mode
from audiogen.music import TEMPO_RANGE, to_sharps
from audiogen.request import SEED_RANGE, Request, composer_key


def given_plan(plan, *, duration=None, tempo=None, key=None, mode=None, genre=None, ending=None):
    """A plan to perform as it is (a :class:`~audiogen.compose.plan.Plan` or a plan JSON file), checked whole
    (:meth:`~audiogen.compose.plan.Plan.validate`: it may have been edited since it was built) and against the rest
    of the request: a duration, tempo, key or mode that differs from the plan's, a genre (the plan is composed
    already), or an ending that contradicts the plan's (a loop's ending with a cadence's plan, or the other way) is a
    ``ValueError`` saying so, rather than being ignored or written into the tags while the plan plays its own."""
    plan = plan if isinstance(plan, Plan) else Plan.from_json(plan)
    plan.validate()
    redo = "; compose a new plan (audiogen compose) or edit the plan's JSON instead"
    if duration is not None and (not isinstance(duration, (int, float)) or abs(duration - plan.duration) > 1e-3):
        raise ValueError(f"duration {duration!r} differs from the plan's {plan.duration:g} s: a plan is performed for "
                         f"its own length{redo}")  # fmt: skip
    if tempo is not None and (not isinstance(tempo, (int, float)) or abs(tempo - plan.tempo) > 0.05):
        raise ValueError(f"tempo {tempo!r} differs from the plan's {plan.tempo:.1f} BPM: a plan is performed at its "
                         f"own tempo{redo}")  # fmt: skip
    if key is not None or mode is not None:
        tonic, asked_mode = check_key_mode(key, mode)
        own = check_key_mode(plan.key, plan.mode)
        if (tonic is not None and tonic != own[0]) or (asked_mode is not None and asked_mode != own[1]):
            asked = " ".join(x for x in (key, mode) if x)
            raise ValueError(f"key {asked!r} differs from the plan's {plan.key_name}: a plan is performed in its own "
                             f"key{redo}")  # fmt: skip
    if genre is not None:
        raise ValueError(f"genre {genre!r} chooses how a plan is composed; the plan is composed already ({plan.genre})")
    if ending is not None and (ending == "loop") != (plan.ending == "loop"):
        raise ValueError(f"ending {ending!r} contradicts the plan's ending ({plan.ending}): a loop's plan is performed "
                         f"with the loop ending and a cadence's with 'fade' or 'none'{redo}")  # fmt: skip
    return plan


def plans_for(requests, seed: int, *, ending: str = "cadence", plan=None, melody_from=None, genre=None) -> list:
    """The plan of every request: the given one, one transferred from ``melody_from`` (a clip), or one composed for
    it (request ``i`` of a batch is composed with seed ``seed + i`` modulo 2**32, so variants differ). ``ending``:
    ``"cadence"`` or ``"loop"``."""
    out = []
    for i, r in enumerate(requests):
        if plan is not None:
            out.append(plan)
            continue
        a = r.attributes
        kwargs = dict(
            valence=a.valence, arousal=a.arousal, emotion=a.emotion, style_tags=a.style_tags or (),
            tempo=a.tempo, key=composer_key(a.key), mode=a.mode, genre=genre, duration=r.duration,
            ending=ending, seed=(seed + i) % (SEED_RANGE[1] + 1),
        )  # fmt: skip
        if melody_from is not None:
            from audiogen.compose.transfer import plan_from_clip

            out.append(plan_from_clip(melody_from, text=a.text, **kwargs))
        else:
            out.append(compose_plan(a.text, **kwargs))
    return out


def with_plan(req: Request, plan) -> Request:
    """The request with what its plan decided filled in where it left them open (tempo, key, mode, emotion point),
    so the LM's conditions agree with the controls."""
    a = req.attributes
    filled = {}
    if a.tempo is None:
        filled["tempo"] = float(np.clip(plan.tempo, *TEMPO_RANGE))
    if a.key is None:
        filled["key"] = to_sharps(plan.key)
    if a.mode is None:
        filled["mode"] = plan.mode
    if a.valence is None and a.emotion is None:
        filled["valence"], filled["arousal"] = plan.valence, plan.arousal
    return replace(req, attributes=replace(a, **filled)) if filled else req


def has_shots(plan) -> bool:
    """Whether ``plan`` is aligned to a video's cuts (performed shot by shot)."""
    if plan is None:
        return False
    from audiogen.brief.align import shot_bounds

    return bool(shot_bounds(plan))


def fill_from_plan(asked: dict, plan) -> None:
    """Set in ``asked`` (a request's fields as given) a given plan's length, and its tempo, key and emotion point
    where the request left them open."""
    asked["duration"] = plan.duration
    if asked["emotion"] is None and asked["valence"] is None:
        asked["valence"], asked["arousal"] = plan.valence, plan.arousal
    asked["tempo"] = plan.tempo if asked["tempo"] is None else asked["tempo"]
    if asked["key"] is None and asked["mode"] is None:
        asked["key"] = f"{plan.key} {plan.mode}"
