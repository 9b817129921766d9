"""The one check of a plan: every field a person may edit in a plan's JSON, before any generation.

:meth:`Plan.validate <audiogen.compose.plan.Plan.validate>` runs it when a plan is built or read, and
``MusicGenerator.generate`` runs it again on the plan it is given (a plan is plain data and may have been changed
since), so an edited plan is either refused at once with one ``ValueError`` naming the field, or it performs, writes
its MIDI and builds its controls without error. The ranges are the request's own (tempo, duration: those of
:mod:`audiogen.conditioning.validate`), so a plan never passes here and fails in ``generate``.

What is checked:

- numbers are finite numbers (not strings, booleans, NaN or infinities) inside their ranges; whole numbers (meter,
  chord roots and pitch classes, bars, MIDI programs, pitches, velocities, the seed) are whole;
- ``beats`` and ``downbeats`` increase and lie inside the piece;
- sections and chords are in time order, do not overlap, and lie inside the piece;
- notes are ``[start, end, pitch, velocity]`` with ``0 <= start < end <= duration``;
- ``request`` and ``params`` are JSON objects (a record of what was asked for; a video's ``shots`` are checked too).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

EPS = 1e-3  # times are written rounded to 0.1 ms; an end this close past the piece's end is inside it
MAX_BARS = 100_000
MAX_TEXT = 200  # characters of a section name, a numeral, an emotion


def check_plan(plan) -> None:
    """Raise ``ValueError`` naming the first field of ``plan`` (a :class:`~audiogen.compose.plan.Plan`) that is out
    of range, of the wrong type or inconsistent (see the module docstring); return None for a plan that can be
    performed."""
    from audiogen.compose.composer import KEYS, MODES
    from audiogen.compose.genres import GENRE_TEMPLATES
    from audiogen.compose.plan import ENDINGS, PLAN_VERSION
    from audiogen.conditioning.validate import DURATION_RANGE, TEMPO_RANGE

    if plan.version != PLAN_VERSION or isinstance(plan.version, bool):
        raise ValueError(f"plan version {_excerpt(plan.version)} is not supported (this build reads {PLAN_VERSION})")
    duration = number("duration", plan.duration, *DURATION_RANGE)
    number("tempo", plan.tempo, *TEMPO_RANGE)
    number("valence", plan.valence, -1.0, 1.0)
    number("arousal", plan.arousal, -1.0, 1.0)
    if not _whole(plan.meter) or plan.meter not in (2, 3, 4, 6):
        raise ValueError(f"plan meter must be 2, 3, 4 or 6 beats per bar, got {_excerpt(plan.meter)}")
    choices = (("key", plan.key, KEYS), ("mode", plan.mode, MODES), ("genre", plan.genre, GENRE_TEMPLATES),
               ("ending", plan.ending, tuple(ENDINGS)))  # fmt: skip
    for name, value, allowed in choices:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"plan {name} must be one of {', '.join(allowed)}; got {_excerpt(value)}")
    if not _whole(plan.seed) or not 0 <= plan.seed < 2**63:
        raise ValueError(f"plan seed must be a whole number in [0, 2^63), got {_excerpt(plan.seed)}")
    if plan.emotion is not None and (not isinstance(plan.emotion, str) or len(plan.emotion) > MAX_TEXT):
        raise ValueError(f"plan emotion must be a label (text) or null, got {_excerpt(plan.emotion)}")
    for name in ("request", "params"):
        if not isinstance(getattr(plan, name), dict):
            raise ValueError(f"plan {name} must be a JSON object, got {_excerpt(getattr(plan, name))}")
    for name in ("beats", "downbeats"):
        times = _list(name, getattr(plan, name))
        for i, t in enumerate(times):
            _time(f"{name}[{i}]", t, duration)
            if i and t <= times[i - 1]:
                raise ValueError(f"plan {name} must increase: {name}[{i}] = {t!r} follows {times[i - 1]!r}")
    _check_sections(plan.sections, duration)
    _check_chords(plan.chords, duration)
    _check_parts(plan.parts, duration)
    for i, point in enumerate(_list("dynamics", plan.dynamics)):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise ValueError(f"plan dynamics[{i}] must be [time, level dB], got {_excerpt(point)}")
        _time(f"dynamics[{i}] time", point[0], duration)
        number(f"dynamics[{i}] level", point[1], -120.0, 120.0)
    _check_shots(plan.request.get("shots"), duration)


def number(name: str, value: Any, lo: float, hi: float) -> float:
    """``value`` as a float if it is a finite number in ``[lo, hi]``, else ``ValueError`` naming ``plan name``."""
    if not _finite(value) or not lo <= value <= hi:
        raise ValueError(f"plan {name} must be a number in [{lo:g}, {hi:g}], got {_excerpt(value)}")
    return float(value)


def _time(name: str, value: Any, duration: float) -> float:
    """A time in seconds inside the piece: ``[0, duration]`` (up to :data:`EPS` past its end)."""
    if not _finite(value) or not 0 <= value <= duration + EPS:
        raise ValueError(f"plan {name} must be a time in seconds inside the piece, [0, {duration:g}]; got "
                         f"{_excerpt(value)}")  # fmt: skip
    return float(value)


def _whole_in(name: str, value: Any, lo: int, hi: int) -> int:
    if not _finite(value) or value != int(value) or not lo <= value <= hi:
        raise ValueError(f"plan {name} must be a whole number in [{lo}, {hi}], got {_excerpt(value)}")
    return int(value)


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"plan {name} must be text of at most {MAX_TEXT} characters, got {_excerpt(value)}")


def _span(name: str, start: Any, end: Any, duration: float) -> tuple[float, float]:
    """A ``[start, end)`` span inside the piece, start before end."""
    start, end = _time(f"{name} start", start, duration), _time(f"{name} end", end, duration)
    if not start < end:
        raise ValueError(f"plan {name} must start before it ends, got [{start!r}, {end!r}]")
    return start, end


def _check_sections(sections: list, duration: float) -> None:
    prev = None
    for i, s in enumerate(_list("sections", sections)):
        _text(f"sections[{i}] name", s.name)
        if not _whole(s.bar) or not 0 <= s.bar <= MAX_BARS or not _whole(s.bars) or not 1 <= s.bars <= MAX_BARS:
            raise ValueError(f"plan sections[{i}] bar must be a whole number >= 0 and bars one >= 1, got "
                             f"{_excerpt(s.bar)} and {_excerpt(s.bars)}")  # fmt: skip
        start, end = _span(f"sections[{i}]", s.start, s.end, duration)
        if prev is not None and (start < prev[1] - EPS or s.bar < prev[2]):
            raise ValueError(f"plan sections must be in order without overlap: sections[{i}] starts at bar {s.bar}, "
                             f"{start:g} s, before the previous one ends ({prev[1]:g} s)")  # fmt: skip
        prev = (start, end, s.bar)


def _check_chords(chords: list, duration: float) -> None:
    prev_end = 0.0
    for i, c in enumerate(_list("chords", chords)):
        start, end = _span(f"chords[{i}]", c.start, c.end, duration)
        if start < prev_end - EPS:
            raise ValueError(f"plan chords must be in time order without overlap: chords[{i}] starts at {start:g} s, "
                             f"before the previous chord ends ({prev_end:g} s)")  # fmt: skip
        prev_end = end
        _whole_in(f"chords[{i}] root (a pitch class, 0 = C)", c.root, 0, 11)
        if c.quality not in ("maj", "min") or not isinstance(c.quality, str):
            raise ValueError(f"plan chords[{i}] quality must be 'maj' or 'min', got {_excerpt(c.quality)}")
        _text(f"chords[{i}] numeral", c.numeral)
        pcs = _list(f"chords[{i}] pcs", c.pcs)
        if len(pcs) > 12:
            raise ValueError(f"plan chords[{i}] pcs must list at most 12 pitch classes, got {len(pcs)}")
        for pc in pcs:
            _whole_in(f"chords[{i}] pcs", pc, 0, 11)


def _check_parts(parts: list, duration: float) -> None:
    from audiogen.compose.plan import ROLES

    for i, p in enumerate(_list("parts", parts)):
        if not isinstance(p.role, str) or p.role not in ROLES:
            raise ValueError(f"plan parts[{i}] role must be one of {', '.join(ROLES)}; got {_excerpt(p.role)}")
        _whole_in(f"{p.role} program", p.program, 0, 127)
        if not isinstance(p.is_drum, bool):
            raise ValueError(f"plan {p.role} is_drum must be true or false, got {_excerpt(p.is_drum)}")
        for j, n in enumerate(_list(f"{p.role} notes", p.notes)):
            if not isinstance(n, (list, tuple)) or len(n) != 4:
                raise ValueError(f"plan {p.role} note {j} must be [start, end, pitch, velocity], got {_excerpt(n)}")
            _span(f"{p.role} note {j}", n[0], n[1], duration)
            _whole_in(f"{p.role} note {j} pitch", n[2], 0, 127)
            _whole_in(f"{p.role} note {j} velocity", n[3], 1, 127)


def _check_shots(shots: Any, duration: float) -> None:
    """A video plan's ``request["shots"]``: each ``{start, end, valence, arousal[, tempo]}`` inside the piece."""
    if shots is None:
        return
    from audiogen.conditioning.validate import TEMPO_RANGE

    prev_end = 0.0
    for i, s in enumerate(_list("request shots", shots)):
        if not isinstance(s, dict):
            raise ValueError(f"plan request shots[{i}] must be a JSON object, got {_excerpt(s)}")
        start, end = _span(f"request shots[{i}]", s.get("start"), s.get("end"), duration)
        if start < prev_end - EPS:
            raise ValueError(f"plan request shots must be in time order without overlap: shots[{i}] starts at "
                             f"{start:g} s, before the previous shot ends ({prev_end:g} s)")  # fmt: skip
        prev_end = end
        number(f"request shots[{i}] valence", s.get("valence"), -1.0, 1.0)
        number(f"request shots[{i}] arousal", s.get("arousal"), -1.0, 1.0)
        if s.get("tempo") is not None:
            number(f"request shots[{i}] tempo", s["tempo"], *TEMPO_RANGE)


def _list(name: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ValueError(f"plan {name} must be a list, got {_excerpt(value)}")
    return value


def _finite(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def _whole(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


def _excerpt(v: Any, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
