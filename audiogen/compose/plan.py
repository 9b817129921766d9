"""The plan: a composition as plain data, the first stage of generation.

A :class:`Plan` holds everything the performer is asked to play: meter, tempo, key and mode, the form (sections
of bars), a chord per beat, the notes of every part (melody, accompaniment, bass, pad, arpeggio, drums), the beats and
downbeats, a dynamics curve, and how it ends (a cadence into a held final chord, or a seamless bar-aligned loop).
Times are seconds from the start of the track. It round-trips through JSON (:meth:`Plan.to_json`,
:meth:`Plan.from_json`), exports to MIDI (:meth:`Plan.to_midi`), and its dense controls at 50 frames/s
(:func:`audiogen.controls.from_plan.plan_controls`) drive the LM.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

PLAN_VERSION = 1
ENDINGS = ("cadence", "loop")
ROLES = ("melody", "chords", "bass", "pad", "arp", "drums")


@dataclass
class Section:
    """A stretch of the form: ``name`` ("intro", "A", "B", "end"), its first bar and bar count, start/end seconds."""

    name: str
    bar: int
    bars: int
    start: float
    end: float


@dataclass
class ChordSpan:
    """One chord of the plan over ``[start, end)`` seconds: its Roman numeral in the key, its root pitch class
    (0 = C), the pitch classes it sounds, and its major/minor reduction (what the controls carry)."""

    start: float
    end: float
    numeral: str
    root: int
    pcs: list[int]
    quality: str

    @property
    def label(self) -> str:
        """mir_eval-style major/minor label, e.g. ``"A:min"``."""
        from audiogen.controls.chords import label

        return label(self.root, self.quality)


@dataclass
class Part:
    """One instrument: its role (:data:`ROLES`), General MIDI program, and notes ``[start, end, pitch, velocity]``."""

    role: str
    program: int
    is_drum: bool
    notes: list[list[float]] = field(default_factory=list)


@dataclass
class Plan:
    """A composed piece (see the module docstring). ``request`` records what was asked for (the request's fields
    as given); ``params`` the composer's parameters (:class:`~audiogen.compose.composer.PieceParams` as a dict)."""

    duration: float
    tempo: float
    meter: int
    key: str
    mode: str
    genre: str
    valence: float
    arousal: float
    ending: str
    seed: int
    beats: list[float]
    downbeats: list[float]
    sections: list[Section]
    chords: list[ChordSpan]
    parts: list[Part]
    dynamics: list[list[float]]  # [time, level dB] per bar (planned, relative to the piece's own mean)
    emotion: str | None = None
    request: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    version: int = PLAN_VERSION

    def __post_init__(self) -> None:
        self.sections = _records(Section, "sections", self.sections)
        self.chords = _records(ChordSpan, "chords", self.chords)
        self.parts = _records(Part, "parts", self.parts)
        self.validate()

    # -- validation ---------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range, of the wrong type or inconsistent
        (:func:`audiogen.compose.plan_check.check_plan`: the same check ``generate`` applies to a plan before any
        generation)."""
        from audiogen.compose.plan_check import check_plan

        check_plan(self)

    # -- plain data ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The plan as JSON-ready plain data."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        """Build (and validate) a plan from :meth:`to_dict` output; unknown or missing keys are an error naming
        them."""
        if not isinstance(d, dict):
            raise ValueError(f"a plan must be a JSON object, got {type(d).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown plan field(s) {_excerpt(unknown)}; allowed: {sorted(known)}")
        missing = [n for n, f in known.items() if n not in d and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ValueError(f"plan field(s) {', '.join(missing)} missing")
        try:
            return cls(**d)
        except TypeError as err:  # a check above missed a type: still one line, still a ValueError
            raise ValueError(f"bad plan: {str(err)[:200]}") from None

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The plan as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        if path is not None:
            from audiogen.fileio import atomic_write

            atomic_write(Path(path), lambda p: Path(p).write_text(text, encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> Plan:
        """Read a plan from a JSON file path (or JSON text starting with ``{``); a UTF-8 byte-order mark is
        accepted."""
        text = str(source)
        if not text.lstrip("\ufeff \t\r\n").startswith("{"):
            from audiogen.fileio import path_problem

            path = Path(source)
            problem = path_problem(path)
            if problem is not None:
                raise FileNotFoundError(f"plan file {path}: {problem}")
            if path.stat().st_size > 50_000_000:
                raise ValueError(f"plan file {path} is larger than 50 MB; not a plan")
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as err:
                raise ValueError(f"plan file {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
        try:
            data = json.loads(text.lstrip("\ufeff"))
        except (json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"plan is not valid JSON: {str(err)[:200]}") from None
        return cls.from_dict(data)

    # -- views --------------------------------------------------------------------------------------------------
    def part(self, role: str) -> Part | None:
        """The part playing ``role`` (None if the plan has none)."""
        return next((p for p in self.parts if p.role == role), None)

    def chord_labels_at(self, times) -> list[str]:
        """The planned chord (mir_eval major/minor label, "N" where none) at each of ``times`` (seconds)."""
        import bisect

        starts = [c.start for c in self.chords]
        out = []
        for t in times:
            i = bisect.bisect_right(starts, float(t)) - 1
            out.append(self.chords[i].label if i >= 0 and t < self.chords[i].end else "N")
        return out

    @property
    def key_name(self) -> str:
        return f"{self.key} {self.mode}"

    def summary(self) -> str:
        """One line: key, tempo, meter, form, bars and ending."""
        form = " ".join(s.name for s in self.sections)
        bars = sum(s.bars for s in self.sections)
        return (
            f"{self.key_name}, {self.tempo:.1f} BPM, {self.meter}/4, {self.genre}, {bars} bars ({form}), "
            f"ending: {self.ending}"
        )

    def to_midi(self, path: str | os.PathLike | None = None):
        """The plan as a ``pretty_midi.PrettyMIDI`` (tempo, time and key signatures, section markers, chord names as
        lyrics on the chords track); written atomically to ``path`` when given."""
        import pretty_midi

        from audiogen.compose.composer import KEYS

        pm = pretty_midi.PrettyMIDI(initial_tempo=float(self.tempo))
        pm.time_signature_changes.append(pretty_midi.TimeSignature(self.meter, 4, 0.0))
        tonic = KEYS.index(self.key)
        pm.key_signature_changes.append(pretty_midi.KeySignature(tonic + (12 if self.mode == "minor" else 0), 0.0))
        for part in self.parts:
            program = 0 if part.is_drum else int(part.program)
            inst = pretty_midi.Instrument(program, is_drum=part.is_drum, name=part.role)
            inst.notes = [pretty_midi.Note(int(v), int(p), float(s), float(e)) for s, e, p, v in part.notes]
            pm.instruments.append(inst)
        pm.lyrics = [pretty_midi.Lyric(c.label, float(c.start)) for c in _chord_changes(self.chords)]
        pm.text_events = [pretty_midi.Text(s.name, float(s.start)) for s in self.sections]
        if path is not None:
            from audiogen.fileio import atomic_write

            atomic_write(Path(path), lambda p: pm.write(str(p)))
        return pm


def _chord_changes(chords: list[ChordSpan]) -> list[ChordSpan]:
    out: list[ChordSpan] = []
    for c in chords:
        if not out or out[-1].label != c.label:
            out.append(c)
    return out


def _records(kind: type, name: str, items) -> list:
    """``items`` as a list of ``kind`` (dataclass) records, JSON objects converted; ``ValueError`` naming the first
    that is neither."""
    if not isinstance(items, list):
        raise ValueError(f"plan {name} must be a list, got {_excerpt(items)}")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, kind):
            out.append(item)
            continue
        allowed = [f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING]
        names = {f.name for f in fields(kind)}
        if not isinstance(item, dict) or not set(allowed) <= set(item) <= names:
            raise ValueError(f"plan {name}[{i}] must be an object with the fields {', '.join(allowed)}; "
                             f"got {_excerpt(item)}")  # fmt: skip
        out.append(kind(**item))
    return out


def _excerpt(v, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
