"""The plan: a composition as plain data, the first stage of generation.

A :class:`Plan` holds everything the performer is asked to play: meter, tempo, key and mode, the form (sections
of bars), a chord per beat, the notes of every part (melody, accompaniment, bass, pad, arpeggio, drums), the beats and
downbeats, a dynamics curve, and how it ends (a cadence into a held final chord, or a seamless bar-aligned loop).
Times are seconds from the start of the track. It round-trips through JSON (:meth:`Plan.to_json`,
:meth:`Plan.from_json`), exports to MIDI (:meth:`Plan.to_midi`), and its dense controls at 50 frames/s
(:func:`audiogen.controls.from_plan.plan_controls`) drive the LM.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
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
        self.sections = [s if isinstance(s, Section) else Section(**s) for s in self.sections]
        self.chords = [c if isinstance(c, ChordSpan) else ChordSpan(**c) for c in self.chords]
        self.parts = [p if isinstance(p, Part) else Part(**p) for p in self.parts]
        self.validate()

    # -- validation ---------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of range or inconsistent."""
        from audiogen.compose.composer import KEYS, MODES

        if self.version != PLAN_VERSION:
            raise ValueError(f"plan version {self.version!r} is not supported (this build reads {PLAN_VERSION})")
        _number("duration", self.duration, 1.0, 600.0)
        _number("tempo", self.tempo, 30.0, 240.0)
        _number("valence", self.valence, -1.0, 1.0)
        _number("arousal", self.arousal, -1.0, 1.0)
        if self.meter not in (2, 3, 4, 6):
            raise ValueError(f"plan meter must be 2, 3, 4 or 6 beats per bar, got {self.meter!r}")
        if self.key not in KEYS or self.mode not in MODES:
            raise ValueError(f"plan key/mode must be one of {KEYS} / {MODES}, got {self.key!r} {self.mode!r}")
        if self.ending not in ENDINGS:
            raise ValueError(f"plan ending must be one of {ENDINGS}, got {self.ending!r}")
        for name in ("beats", "downbeats"):
            t = getattr(self, name)
            if any(not _finite(x) or x < 0 or x > self.duration + 1 for x in t) or any(
                b <= a for a, b in itertools.pairwise(t)
            ):
                raise ValueError(f"plan {name} must be increasing times in [0, duration], got {_excerpt(t)}")
        for c in self.chords:
            if not (_finite(c.start) and _finite(c.end) and 0 <= c.start < c.end <= self.duration + 1):
                raise ValueError(f"chord span [{c.start}, {c.end}) lies outside the plan's {self.duration} s")
            if not 0 <= c.root < 12 or c.quality not in ("maj", "min"):
                raise ValueError(f"chord root must be 0..11 and quality 'maj'/'min', got {c.root!r} {c.quality!r}")
        for p in self.parts:
            if p.role not in ROLES or not 0 <= int(p.program) <= 127:
                raise ValueError(f"part role must be one of {ROLES} and program 0..127, got {p.role!r} {p.program!r}")
            for n in p.notes:
                if len(n) != 4 or not all(_finite(x) for x in n) or not (0 <= n[0] < n[1]) or not 0 <= n[2] <= 127:
                    raise ValueError(f"{p.role} note must be [start < end, pitch 0..127, velocity], got {_excerpt(n)}")
                if not 1 <= n[3] <= 127:
                    raise ValueError(f"{p.role} note velocity must lie in 1..127, got {n[3]!r}")

    # -- plain data ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The plan as JSON-ready plain data."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        """Build (and validate) a plan from :meth:`to_dict` output; unknown keys are an error naming the allowed."""
        if not isinstance(d, dict):
            raise ValueError(f"a plan must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown plan field(s) {_excerpt(unknown)}; allowed: {sorted(known)}")
        try:
            return cls(**d)
        except TypeError as err:
            raise ValueError(f"bad plan: {err}") from None

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The plan as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        if path is not None:
            from audiogen.fileio import atomic_write

            atomic_write(Path(path), lambda p: Path(p).write_text(text, encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> Plan:
        """Read a plan from a JSON file path (or JSON text starting with ``{``)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"plan file {path} does not exist")
            if path.stat().st_size > 50_000_000:
                raise ValueError(f"plan file {path} is larger than 50 MB; not a plan")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
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


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _number(name: str, v, lo: float, hi: float) -> None:
    if not _finite(v) or not lo <= v <= hi:
        raise ValueError(f"plan {name} must be a number in [{lo:g}, {hi:g}], got {_excerpt(v)}")


def _excerpt(v, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
