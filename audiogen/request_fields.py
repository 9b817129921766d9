"""The fields of a request, defined once: their names, what each means, and which surfaces take them.

``MusicGenerator.generate`` keeps explicit keyword arguments (they are the Python API); the command line
(``audiogen generate`` and ``audiogen compose``), the batch jobs of ``audiogen render``, the evaluation prompt sets
and the studio read their request fields from :data:`FIELDS`, so a field added here reaches all of them, and the
values are checked in one place (:func:`audiogen.request.make_requests` and the brief's checks).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

GENERATE, COMPOSE, JOBS, STUDIO = "generate", "compose", "jobs", "studio"


@dataclass(frozen=True)
class Field:
    """One request field. ``kind`` is ``float`` or ``str``; ``help`` is the one line every surface shows;
    ``surfaces`` the command-line commands, job files and the studio's form that take it (``text`` is positional
    on the command line and the form's own box, so it has no flag there; the studio takes a picture or a video as
    an uploaded brief, not as a path)."""

    name: str
    kind: type
    help: str
    surfaces: frozenset[str]

    @property
    def flag(self) -> str:
        """The command-line flag: ``--melody-from`` for ``melody_from``."""
        return "--" + self.name.replace("_", "-")


_ALL = frozenset({GENERATE, COMPOSE, JOBS, STUDIO})
_GENERATE_JOBS = frozenset({GENERATE, JOBS})
FIELDS: tuple[Field, ...] = (
    Field("text", str, "what the music should be, in words", frozenset({JOBS})),
    Field("emotion", str, "an emotion label, e.g. happy, sad, calm, tense, epic (see docs)", _ALL),
    Field("valence", float, "valence in [-1, 1] (negative ↔ positive); needs arousal", _ALL),
    Field("arousal", float, "arousal in [-1, 1] (calm ↔ excited); needs valence", _ALL),
    Field("style", str, "comma-separated style tags, e.g. 'cinematic, strings, piano'", _ALL),
    Field("reference", str, "an audio clip whose tempo, key and mood fill what the request leaves open",
          _GENERATE_JOBS),
    Field("image", str, "a picture whose colours set the mood and style the request leaves open", _GENERATE_JOBS),
    Field("video", str, "a video to score: its length, its cuts as section changes, its shots' moods",
          _GENERATE_JOBS),
    Field("tempo", float, "beats per minute, 40–220", _ALL),
    Field("key", str, "e.g. 'C', 'F# minor', 'Bb major', 'Am'", _ALL),
    Field("duration", float, "seconds, 1–600 (default 30; with a video: its length)", _ALL),
    Field("genre", str, "composer template: pop, rock, ambient, cinematic, jazz, electronic, lofi, folk",
          frozenset({GENERATE, COMPOSE})),
    Field("melody_from", str, "a clip whose beats, chords and melody the plan takes (re-harmonised)",
          frozenset({GENERATE, COMPOSE})),
)
BY_NAME = {f.name: f for f in FIELDS}
# what a request asks for (the rest of a job is its output and its sampling)
CONDITIONING = tuple(f.name for f in FIELDS if f.name not in ("tempo", "key", "duration", "genre", "melody_from"))


def names(surface: str) -> tuple[str, ...]:
    """The fields ``surface`` (``generate``, ``compose``, ``jobs`` or ``studio``) takes, in :data:`FIELDS` order."""
    if surface not in (GENERATE, COMPOSE, JOBS, STUDIO):
        raise ValueError(f"unknown surface {surface!r}; allowed: {GENERATE}, {COMPOSE}, {JOBS}, {STUDIO}")
    return tuple(f.name for f in FIELDS if surface in f.surfaces)


def add_arguments(group, surface: str, defaults: dict | None = None) -> None:
    """Add the flags of ``surface``'s fields to an argparse parser or group (``defaults``: per-field defaults,
    else None, which means "not asked for")."""
    defaults = defaults or {}
    for name in names(surface):
        f = BY_NAME[name]
        group.add_argument(f.flag, type=f.kind, default=defaults.get(name), help=f.help)


def request_kwargs(args: argparse.Namespace, surface: str) -> dict:
    """``{field: value}`` of the parsed flags of ``surface`` (unset ones included, as None)."""
    return {name: getattr(args, name, None) for name in names(surface)}
