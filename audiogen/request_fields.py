"""The fields of a request, defined once: name, kind, default, allowed range, help text, and the surfaces that show
each one. :mod:`audiogen.request` re-exports this table.

=============  ======  ========  ===========================================  =============================
field          kind    default   allowed                                      surfaces
=============  ======  ========  ===========================================  =============================
text           str     –         what the music should be, in words           all (positional on the CLI)
emotion        str     –         a label of the emotion vocabulary            all
valence        float   –         [-1, 1], with arousal                        all
arousal        float   –         [-1, 1], with valence                        all
style          str     –         style tags (a list, or comma-separated)      all
reference      path    –         an audio clip                                API, CLI generate, jobs
image          path    –         a picture                                    API, CLI generate, jobs
video          path    –         a video to score                             API, CLI generate, jobs
tempo          float   –         40–220 BPM                                   all
key            str     –         a tonic, optionally with its mode            all
mode           str     –         major / minor                                API, plan
duration       float   30        1–600 s                                      all
genre          str     –         a composer template                          API, CLI, plan
melody_from    path    –         an audio clip                                API, CLI
seed           int     random    a whole number, 0 ≤ seed < 2**32             API, CLI, jobs, studio, plan
=============  ======  ========  ===========================================  =============================

The surfaces are :meth:`MusicGenerator.generate <audiogen.generator.MusicGenerator.generate>` and
:func:`~audiogen.request.make_requests` (``api``), ``audiogen generate`` and ``audiogen compose`` (``generate``,
``compose``), the batch jobs of ``audiogen render`` (``jobs``), the evaluation prompt sets (``prompts``), the
studio's form (``studio``) and :class:`~audiogen.compose.planner.PlanRequest` (``plan``). Each takes its ranges,
defaults and help texts from :data:`FIELDS`, and refuses a value with the message of :meth:`Field.check`;
:func:`check_request` checks a whole request and reports every problem at once.

``seed`` is a sampling field (:attr:`Field.part`): the surfaces show it beside their sampling settings, and
:func:`names` lists the request's own fields only unless asked for it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audiogen.music import DEFAULT_DURATION, DURATION_RANGE, TEMPO_RANGE, check_number

API, GENERATE, COMPOSE, JOBS, PROMPTS, STUDIO, PLAN = "api", "generate", "compose", "jobs", "prompts", "studio", "plan"
SURFACES = (API, GENERATE, COMPOSE, JOBS, PROMPTS, STUDIO, PLAN)
SEED_RANGE = (0, 2**32 - 1)  # inclusive: 0 ≤ seed < 2**32
UNIT_RANGE = (-1.0, 1.0)  # valence and arousal


class RequestError(ValueError):
    """A request with problems: ``problems`` lists each one's message (what was given, and what is allowed)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            super().__init__(f"{len(self.problems)} problems: " + "; ".join(self.problems))


def check_whole(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number in ``[low, high]`` (``7.0`` counts); else a ``ValueError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value != int(value) or not low <= value <= high:
        shown = int(value) if ok and value == int(value) else value
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {shown!r}")
    return int(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"text must be a string, got {type(value).__name__}")
    return value


def _tempo(value: Any) -> float:
    return check_number("tempo", value, *TEMPO_RANGE, "BPM")


def _duration(value: Any) -> float:
    return check_number("duration", value, *DURATION_RANGE, "seconds")


def _seed(value: Any) -> int:
    return check_whole("seed", value, *SEED_RANGE)


def _emotion(value: Any) -> str:
    from audiogen.conditioning.emotions import check_label

    return check_label(value)


def _unit(name: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not UNIT_RANGE[0] <= value <= UNIT_RANGE[1]:
            raise ValueError(f"{name} must be a number in [-1, 1], got {value!r}")
        return float(value)

    return check


def _style(value: Any) -> tuple[str, ...]:
    from audiogen.conditioning.styles import check_tags

    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    if isinstance(value, (list, tuple)):
        value = [t for t in value if not isinstance(t, str) or t.strip()]
    return check_tags(value)


def _key(value: Any) -> str:
    from audiogen.conditioning.validate import parse_key

    tonic, mode = parse_key(value)
    return f"{tonic} {mode}" if mode else tonic


def _mode(value: Any) -> str:
    from audiogen.conditioning.validate import check_mode

    return check_mode(value)


def _genre(value: Any) -> str:
    from audiogen.compose.genres import GENRE_TEMPLATES

    if value not in GENRE_TEMPLATES:
        raise ValueError(f"genre must be one of {', '.join(GENRE_TEMPLATES)}; got {value!r}")
    return value


@dataclass(frozen=True)
class Field:
    """One request field. ``kind`` is ``float``, ``int`` or ``str`` (what a command line or a form parses);
    ``help`` is the one line every surface shows; ``surfaces`` those that take it (``text`` is positional on the
    command line and the studio form's own box, so it has no flag there; the studio takes a picture or a video as an
    uploaded brief, not as a path); ``default`` the value when none is given (None: not asked for); ``allowed``
    what a number must be, for messages about a value that is not one; ``check`` turns a given value into its
    canonical form or raises ``ValueError`` saying what is allowed (None: checked where the value is read, e.g. a
    file); ``part`` is ``"request"`` or ``"sampling"``."""

    name: str
    kind: type
    help: str
    surfaces: frozenset[str]
    default: Any = None
    allowed: str = ""
    check: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    part: str = "request"

    @property
    def flag(self) -> str:
        """The command-line flag: ``--melody-from`` for ``melody_from``."""
        return "--" + self.name.replace("_", "-")

    def checked(self, value: Any) -> Any:
        """``value`` in its canonical form (None stays None); a ``ValueError`` with what is allowed otherwise."""
        return value if value is None or self.check is None else self.check(value)


_ALL = frozenset(SURFACES)
_FILES = frozenset({API, GENERATE, JOBS})
_TEMPO = f"{TEMPO_RANGE[0]:g}–{TEMPO_RANGE[1]:g}"
_SECONDS = f"{DURATION_RANGE[0]:g}–{DURATION_RANGE[1]:g}"
FIELDS: tuple[Field, ...] = (
    Field("text", str, "what the music should be, in words", frozenset({API, JOBS, PROMPTS, PLAN}), check=_text),
    Field("emotion", str, "an emotion label, e.g. happy, sad, calm, tense, epic (see docs)", _ALL, check=_emotion),
    Field("valence", float, "valence in [-1, 1] (negative ↔ positive); needs arousal", _ALL, check=_unit("valence")),
    Field("arousal", float, "arousal in [-1, 1] (calm ↔ excited); needs valence", _ALL, check=_unit("arousal")),
    Field("style", str, "comma-separated style tags, e.g. 'cinematic, strings, piano'", _ALL, check=_style),
    Field("reference", str, "an audio clip whose tempo, key and mood fill what the request leaves open", _FILES),
    Field("image", str, "a picture whose colours set the mood and style the request leaves open", _FILES),
    Field("video", str, "a video to score: its length, its cuts as section changes, its shots' moods", _FILES),
    Field("tempo", float, f"beats per minute, {_TEMPO}", _ALL,
          allowed=f"beats per minute in [{TEMPO_RANGE[0]:g}, {TEMPO_RANGE[1]:g}]", check=_tempo),
    Field("key", str, "e.g. 'C', 'F# minor', 'Bb major', 'Am'", _ALL, check=_key),
    Field("mode", str, "major or minor (a key may say it too)", frozenset({API, PLAN}), check=_mode),
    Field("duration", float, f"seconds, {_SECONDS} (default {DEFAULT_DURATION:g}; with a video: its length)", _ALL,
          default=DEFAULT_DURATION, allowed=f"seconds in [{DURATION_RANGE[0]:g}, {DURATION_RANGE[1]:g}]",
          check=_duration),
    Field("genre", str, "composer template: pop, rock, ambient, cinematic, jazz, electronic, lofi, folk",
          frozenset({API, GENERATE, COMPOSE, PLAN}), check=_genre),
    Field("melody_from", str, "a clip whose beats, chords and melody the plan takes (re-harmonised)",
          frozenset({API, GENERATE, COMPOSE})),
    Field("seed", int, f"makes the result reproducible: a whole number in [{SEED_RANGE[0]}, {SEED_RANGE[1]}] "
          "(default: random)", frozenset({API, GENERATE, COMPOSE, JOBS, STUDIO, PLAN}),
          allowed=f"a whole number in [{SEED_RANGE[0]}, {SEED_RANGE[1]}]",
          check=_seed, part="sampling"),
)  # fmt: skip
BY_NAME = {f.name: f for f in FIELDS}
# what a request asks for (the rest of a job is its output and its sampling)
CONDITIONING = tuple(
    f.name for f in FIELDS if f.part == "request" and f.name not in ("tempo", "key", "mode", "duration", "genre",
                                                                     "melody_from")
)  # fmt: skip


def names(surface: str, part: str | None = "request") -> tuple[str, ...]:
    """The fields ``surface`` (one of :data:`SURFACES`) takes, in :data:`FIELDS` order: those of ``part``
    (``"request"`` or ``"sampling"``), or all when ``part`` is None."""
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; allowed: {', '.join(SURFACES)}")
    return tuple(f.name for f in FIELDS if surface in f.surfaces and (part is None or f.part == part))


def check_field(name: str, value: Any) -> Any:
    """One field's value in its canonical form (see :meth:`Field.checked`)."""
    return BY_NAME[name].checked(value)


def check_request(values: dict[str, Any]) -> dict[str, Any]:
    """Every field of ``values`` checked (the unknown named too), and valence with arousal: the canonical values,
    or one :class:`RequestError` that lists every problem at once, each with what is allowed."""
    problems, out = [], {}
    for name, value in values.items():
        if name not in BY_NAME:
            problems.append(f"unknown request field {name!r}; allowed: {', '.join(BY_NAME)}")
            continue
        try:
            out[name] = check_field(name, value)
        except ValueError as err:
            problems.append(str(err))
    if (values.get("valence") is None) != (values.get("arousal") is None):
        problems.append("give both valence and arousal, or neither")
    if problems:
        raise RequestError(problems)
    return out


def add_arguments(group, surface: str, defaults: dict | None = None, part: str | None = "request") -> None:
    """Add the flags of ``surface``'s fields (of ``part``, see :func:`names`) to an argparse parser or group, typed
    and explained by the table (``defaults``: per-field defaults, else None, which means "not asked for")."""
    defaults = defaults or {}
    for name in names(surface, part):
        f = BY_NAME[name]
        group.add_argument(f.flag, type=f.kind, default=defaults.get(name), help=f.help)


def request_kwargs(args: argparse.Namespace, surface: str) -> dict:
    """``{field: value}`` of the parsed flags of ``surface`` (unset ones included, as None)."""
    return {name: getattr(args, name, None) for name in names(surface)}
