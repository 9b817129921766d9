"""A plan whose sections change on a video's cuts: one composition per shot, joined on the cuts.

How the cuts become the form (:func:`aligned_plan`):

1. Shots shorter than :data:`MIN_SHOT` seconds join the shot before them (the first joins the next), and a last
   shot shorter than :data:`MIN_LAST` joins the one before it (a cadence needs room): those cuts are not section
   changes, and the plan's ``request["shots"]`` says which cuts were kept.
2. The track's tempo: the given one, or, searched within ±:data:`TEMPO_SEARCH` of the tempo the mood asks for, the
   one that lets most shots last a whole number of bars at a local tempo within ±:data:`BAR_TOLERANCE` of it.
3. Each shot but the last gets a **local tempo** so that it lasts exactly a whole number of bars (``grid="bar"``:
   the cut falls on a bar line) when that is within ±:data:`BAR_TOLERANCE` of the track's tempo, else a whole number
   of beats (``grid="beat"``: the shot's last bar is shortened, and the cut falls on a beat). Every shot starts on a
   downbeat, so each cut is also a downbeat of the shot it starts.
4. Each shot is composed on its own from the shot's valence/arousal (mode, register, density, dynamics, tension
   follow its mood; explicit emotion and mode win), with the genre, key, meter and instruments of the whole track,
   as a bar-aligned loop cut at its end; the last shot ends on a cadence whose release rings out to the last frame.
5. The compositions are joined: beats, chords, notes, sections (named ``shot<i>-<section>``) and dynamics shifted to
   their shot's start.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from audiogen.compose import composer
from audiogen.compose.plan import ChordSpan, Part, Plan, Section
from audiogen.compose.planner import PlanRequest, piece_params, plan_from_params

MIN_SHOT = 1.0  # seconds
MIN_LAST = 2.0
BAR_TOLERANCE = 0.06
BEAT_TOLERANCE = 0.15
TEMPO_SEARCH = 0.12
EPS = 1e-6


def merge_short(shots: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Shots ``(start, end, valence, arousal)`` with the too-short ones joined to a neighbour (step 1)."""

    def join(a, b):
        da, db = a[1] - a[0], b[1] - b[0]
        w = da + db
        return (a[0], b[1], (a[2] * da + b[2] * db) / w, (a[3] * da + b[3] * db) / w)

    out: list = []
    for s in shots:
        if out and (out[-1][1] - out[-1][0] < MIN_SHOT):
            out[-1] = join(out[-1], s)  # a short first shot joins the next
        elif out and s[1] - s[0] < MIN_SHOT:
            out[-1] = join(out[-1], s)
        else:
            out.append(tuple(s))
    while len(out) > 1 and out[-1][1] - out[-1][0] < MIN_LAST:
        out[-2:] = [join(out[-2], out[-1])]
    return out


def shot_grid(duration: float, tempo: float, meter: int) -> tuple[str, float, int]:
    """``(grid, local tempo, beats)`` of a shot of ``duration`` seconds in a track at ``tempo`` (step 3)."""
    bars = round(duration * tempo / (60.0 * meter))
    if bars >= 1:
        local = bars * meter * 60.0 / duration
        if abs(local / tempo - 1) <= BAR_TOLERANCE and 40 <= local <= 220:
            return "bar", local, bars * meter
    beats = max(1, round(duration * tempo / 60.0))
    local = float(np.clip(beats * 60.0 / duration, 40.0, 220.0))
    return "beat", local, beats


def choose_tempo(durations: list[float], tempo: float, meter: int, fixed: bool) -> float:
    """The track's tempo (step 2): ``tempo`` when ``fixed``, else the best within ±TEMPO_SEARCH of it."""
    if fixed or not durations:
        return float(tempo)
    best, best_key = float(tempo), None
    for t in np.arange(tempo * (1 - TEMPO_SEARCH), tempo * (1 + TEMPO_SEARCH) + EPS, 0.25):
        if not 40 <= t <= 220:
            continue
        grids = [shot_grid(d, t, meter) for d in durations]
        aligned = sum(g[0] == "bar" for g in grids)
        spread = sum(abs(g[1] / t - 1) for g in grids)
        key = (-aligned, round(spread, 6), abs(t - tempo))
        if best_key is None or key < best_key:
            best, best_key = float(t), key
    return round(best, 3)


def _shot_params(
    base: composer.PieceParams, req: PlanRequest, tempo: float, duration: float, loop: bool
) -> composer.PieceParams:
    """The composer's parameters of one shot: its mood's, with the track's genre, key, meter and instruments."""
    shot_req = replace(req, tempo=tempo, key=base.key, genre=base.genre, duration=duration,
                       ending="loop" if loop else "cadence")  # fmt: skip
    p, _ = piece_params(shot_req, use_minilm=False)
    return replace(p, instruments=dict(base.instruments), drums=base.drums, meter=base.meter, tempo=tempo,
                   duration=float(duration), loop=loop)  # fmt: skip


def window(plan: Plan, start: float, end: float, offset: float = 0.0, keep_end: bool = False) -> dict:
    """The plan's content in ``[start, end)`` moved by ``offset - start`` seconds, as the field lists of a plan
    (``beats``, ``downbeats``, ``chords``, ``sections``, ``parts`` by role, ``dynamics``; plain lists, not a Plan).
    ``keep_end``: keep what starts at or after ``end`` too (the last shot's ring-out)."""
    limit = math.inf if keep_end else end - EPS
    move = offset - start

    def t(x: float) -> float:
        return round(x + move, 4)

    def inside(x: float) -> bool:
        return start - EPS <= x < limit

    cut = math.inf if keep_end else end
    chords = [ChordSpan(t(max(c.start, start)), t(min(c.end, cut)), c.numeral, c.root, list(c.pcs), c.quality)
              for c in plan.chords if c.end > start + EPS and c.start < limit]  # fmt: skip
    sections = [Section(s.name, s.bar, s.bars, t(max(s.start, start)), t(min(s.end, cut)))
                for s in plan.sections if s.end > start + EPS and s.start < limit]  # fmt: skip
    parts = {}
    for p in plan.parts:
        notes = [[t(max(n[0], start)), t(min(n[1], cut)), n[2], n[3]] for n in p.notes
                 if inside(n[0]) and min(n[1], cut) > n[0]]  # fmt: skip
        parts[p.role] = Part(p.role, p.program, p.is_drum, [n for n in notes if n[1] > n[0]])
    return {
        "beats": [t(b) for b in plan.beats if inside(b)],
        "downbeats": [t(b) for b in plan.downbeats if inside(b)],
        "chords": [c for c in chords if c.end > c.start],
        "sections": [s for s in sections if s.end > s.start],
        "parts": parts,
        "dynamics": [[t(d[0]), d[1]] for d in plan.dynamics if inside(d[0])],
    }


def aligned_plan(
    text: str | None, shots: list[tuple[float, float, float, float]], duration: float, **fields
) -> Plan:
    """A plan for a video of ``duration`` seconds whose ``shots`` are ``(start, end, valence, arousal)`` (see the
    module docstring). ``fields`` are those of :class:`~audiogen.compose.planner.PlanRequest` (``duration`` and
    ``ending`` excepted); a given ``emotion``, ``valence``/``arousal`` or ``mode`` holds for every shot. The plan's
    ``request["shots"]`` lists each kept shot: ``start``, ``end``, ``valence``, ``arousal``, ``tempo``, ``grid``."""
    fields = {k: v for k, v in fields.items() if k not in ("duration", "ending")}
    explicit_mood = fields.get("emotion") is not None or fields.get("valence") is not None
    kept = merge_short(shots)
    weights = np.array([s[1] - s[0] for s in kept])
    overall = {} if explicit_mood else {
        "valence": round(float(np.average([s[2] for s in kept], weights=weights)), 3),
        "arousal": round(float(np.average([s[3] for s in kept], weights=weights)), 3),
    }  # fmt: skip
    req = PlanRequest.of(text, **{**fields, **overall}, duration=duration)
    base, why = piece_params(req)
    tempo = choose_tempo([e - s for s, e, *_ in kept[:-1]], base.tempo, base.meter, fields.get("tempo") is not None)
    base = replace(base, tempo=tempo)
    pieces, records = [], []
    for i, (start, end, v, a) in enumerate(kept):
        last = i == len(kept) - 1
        shot_req = req if explicit_mood else replace(req, valence=v, arousal=a, emotion=None)
        length = end - start
        if last:
            grid, local = "end", tempo
            p = _shot_params(base, shot_req, tempo, max(length, 2.0), loop=False)
        else:
            grid, local, beats = shot_grid(length, tempo, base.meter)
            bars = math.ceil(beats / base.meter)
            while bars * base.meter * 60.0 / local < 2.0:
                bars += 1
            p = _shot_params(base, shot_req, local, bars * base.meter * 60.0 / local, loop=True)
        pieces.append((start, end, p, plan_from_params(p, duration=length if last else p.duration)))
        records.append({"start": round(start, 4), "end": round(end, 4), "valence": round(p.valence, 3),
                        "arousal": round(p.arousal, 3), "tempo": round(local, 3), "grid": grid,
                        "mode": p.mode})  # fmt: skip
    cuts = [round(s[0], 4) for s in shots[1:]]
    request = {**req.to_dict(), "why": why, "cuts": cuts, "shots": records, "shot_moods": not explicit_mood}
    return _join(pieces, base, duration, request)


def _join(pieces: list, base: composer.PieceParams, duration: float, request: dict) -> Plan:
    """One plan from the shots' plans ``(start, end, params, plan)`` (step 5)."""
    beats, downbeats, chords, sections, dynamics = [], [], [], [], []
    parts: dict[str, Part] = {}
    bar = 0
    for i, (start, end, p, sp) in enumerate(pieces):
        last = i == len(pieces) - 1
        w = window(sp, 0.0, end - start, offset=start, keep_end=last)
        beats += w["beats"]
        downbeats += w["downbeats"]
        chords += w["chords"]
        for s in w["sections"]:
            sections.append(Section(f"shot{i + 1}-{s.name}", bar + s.bar, s.bars, s.start, s.end))
        if not w["sections"] or w["sections"][0].start > start + EPS:  # a shot too short for a whole bar
            first = w["sections"][0].start if w["sections"] else end
            sections.append(Section(f"shot{i + 1}-end" if last else f"shot{i + 1}", bar, 1, round(start, 4),
                                    round(first, 4)))  # fmt: skip
            sections.sort(key=lambda s: s.start)
        bar += len(w["downbeats"])
        for role, part in w["parts"].items():
            parts.setdefault(role, Part(role, part.program, part.is_drum, []))
            parts[role].notes += part.notes
        level = 40 * math.log10(p.dynamics / 127)  # the shot's loudness, so shots differ as their moods do
        dynamics += [[d[0], d[1] + level] for d in w["dynamics"]]
    mean = float(np.mean([d[1] for d in dynamics])) if dynamics else 0.0
    dynamics = [[d[0], round(d[1] - mean, 2)] for d in dynamics]
    if sections:
        sections[-1].end = min(sections[-1].end, round(duration, 4))
    return Plan(
        duration=float(duration), tempo=float(base.tempo), meter=base.meter, key=base.key, mode=base.mode,
        genre=base.genre, valence=base.valence, arousal=base.arousal, ending="cadence", seed=base.seed,
        beats=[b for b in beats if b <= duration], downbeats=[b for b in downbeats if b <= duration],
        sections=sections, chords=[c for c in chords if c.start < duration], parts=list(parts.values()),
        dynamics=dynamics, emotion=base.emotion, request=request, params=base.to_dict(),
    )  # fmt: skip


def shot_bounds(plan: Plan) -> list[tuple[float, float, float, float]]:
    """The shots a plan was aligned to, ``(start, end, valence, arousal)`` (empty for a plan made otherwise)."""
    return [(s["start"], s["end"], s["valence"], s["arousal"]) for s in plan.request.get("shots", [])]
