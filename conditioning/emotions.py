"""The emotion vocabulary: each label placed on Russell's circumplex (valence × arousal, both in [-1, 1]).

Valence runs from negative (−1) to positive (+1), arousal from calm (−1) to excited (+1). The four quadrants follow
EMOPIA: Q1 happy/excited (v ≥ 0, a ≥ 0), Q2 tense/angry (v < 0, a ≥ 0), Q3 sad/depressed (v < 0, a < 0),
Q4 calm/relaxed (v ≥ 0, a < 0). Coordinates are placed after the circumplex literature (Russell 1980 and later
music-emotion studies); they are coarse by nature and documented here so users can reason about them.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

# label: (valence, arousal)
EMOTIONS: dict[str, tuple[float, float]] = {
    "happy": (0.80, 0.40),
    "joyful": (0.90, 0.65),
    "triumphant": (0.70, 0.80),
    "energetic": (0.45, 0.90),
    "epic": (0.30, 0.85),
    "playful": (0.65, 0.55),
    "tense": (-0.45, 0.65),
    "angry": (-0.75, 0.80),
    "fearful": (-0.70, 0.55),
    "mysterious": (-0.25, 0.10),
    "dark": (-0.55, 0.20),
    "sad": (-0.75, -0.45),
    "melancholic": (-0.50, -0.60),
    "nostalgic": (-0.05, -0.40),
    "calm": (0.40, -0.70),
    "peaceful": (0.60, -0.65),
    "dreamy": (0.30, -0.50),
    "romantic": (0.60, -0.25),
}

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
QUADRANT_NAMES = {"Q1": "happy/excited", "Q2": "tense/angry", "Q3": "sad/depressed", "Q4": "calm/relaxed"}


class EmotionError(ValueError):
    """An emotion request that is not in the vocabulary or outside the valence/arousal square."""


@dataclass(frozen=True)
class Emotion:
    """A resolved emotion request: a label (may be None for a bare point) and its valence/arousal point."""

    label: str | None
    valence: float
    arousal: float

    @property
    def quadrant(self) -> str:
        return quadrant(self.valence, self.arousal)


def quadrant(valence: float, arousal: float) -> str:
    """EMOPIA quadrant ``"Q1".."Q4"`` of a valence/arousal point."""
    if arousal >= 0:
        return "Q1" if valence >= 0 else "Q2"
    return "Q4" if valence >= 0 else "Q3"


def check_label(label: str) -> str:
    """Normalise ``label`` (case, spaces) and check it is in :data:`EMOTIONS`; raise with suggestions if not."""
    key = str(label).strip().lower()
    if key in EMOTIONS:
        return key
    near = difflib.get_close_matches(key, EMOTIONS, n=1, cutoff=0.5)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    raise EmotionError(f"unknown emotion '{label}'.{hint} Valid emotions: {', '.join(sorted(EMOTIONS))}")


def check_point(valence: float, arousal: float) -> tuple[float, float]:
    """Check a valence/arousal point lies in [-1, 1]²."""
    for name, v in (("valence", valence), ("arousal", arousal)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or not -1.0 <= v <= 1.0:
            raise EmotionError(f"{name} must be a number in [-1, 1], got {v!r}")
    return float(valence), float(arousal)


def resolve(label: str | None = None, valence: float | None = None, arousal: float | None = None) -> Emotion | None:
    """Turn a label, a (valence, arousal) point, or both into an :class:`Emotion` (None if nothing was given).

    With both, the explicit point wins and the label is kept as a word. A point needs both coordinates.
    """
    if (valence is None) != (arousal is None):
        raise EmotionError("give both valence and arousal, or neither")
    if label is None and valence is None:
        return None
    key = check_label(label) if label is not None else None
    if valence is not None:
        v, a = check_point(valence, arousal)
    else:
        v, a = EMOTIONS[key]
    return Emotion(key, v, a)


def nearest_label(valence: float, arousal: float) -> str:
    """The vocabulary label closest (Euclidean) to a valence/arousal point."""
    return min(EMOTIONS, key=lambda k: (EMOTIONS[k][0] - valence) ** 2 + (EMOTIONS[k][1] - arousal) ** 2)
