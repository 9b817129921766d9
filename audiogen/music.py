"""The music vocabulary, spelled once: pitch names, modes, and the ranges a request's tempo and length may take.

Two spellings of the twelve pitch classes are in use: :data:`SHARPS` (how a request's key is stored and how our
analysis names keys) and :data:`NAMES` (how the composer, its plans and the chord labels spell them: the flats a
musician writes for Eb, Ab and Bb). :func:`to_names` and :func:`to_sharps` convert between them.
"""

from __future__ import annotations

import math

SHARPS: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
NAMES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES: tuple[str, ...] = ("major", "minor")

TEMPO_RANGE = (40.0, 220.0)  # BPM
DURATION_RANGE = (1.0, 600.0)  # seconds of a track
DEFAULT_DURATION = 30.0  # seconds, when a request names no length


def to_names(tonic: str | None) -> str | None:
    """A tonic in :data:`SHARPS` spelled as in :data:`NAMES` (None stays None)."""
    return None if tonic is None else NAMES[SHARPS.index(tonic)]


def to_sharps(name: str | None) -> str | None:
    """A tonic in :data:`NAMES` spelled as in :data:`SHARPS` (None stays None)."""
    return None if name is None else SHARPS[NAMES.index(name)]


def check_number(name: str, value: float, low: float, high: float, unit: str) -> float:
    """``value`` as a float when it is a finite number in ``[low, high]``; else a ``ValueError`` that names the range
    (the one wording every request surface shows: ``tempo must lie in [40, 220] BPM, got 39``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}] {unit}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}] {unit}, got {value:g}")
    return float(value)
