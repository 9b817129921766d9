"""The chord vocabulary shared by plans, controls and their evaluation: 12 roots x {major, minor} triads + no chord.

A plan's richer chords (sevenths, sus, diminished) are reduced to the nearest of these for the controls, because
that is all the audio extractor can tell apart reliably, and a control must mean the same from a plan and from audio.
"""

from __future__ import annotations

import numpy as np

from audiogen.music import NAMES

PITCH_NAMES = NAMES
QUALITIES = ("maj", "min")
NO_CHORD = "N"


def triad(root: int, quality: str) -> tuple[int, int, int]:
    """Pitch classes of the ``quality`` ("maj"/"min") triad on ``root`` (0 = C)."""
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    third = 4 if quality == "maj" else 3
    return (root % 12, (root + third) % 12, (root + 7) % 12)


def reduce_chord(root: int, intervals) -> tuple[int, str]:
    """``(root, "maj" | "min")`` of a chord given as a root pitch class and intervals above it (a minor or diminished
    third reads as minor; major, augmented and suspended chords as major)."""
    iv = {int(i) % 12 for i in intervals}
    return root % 12, "min" if 3 in iv and 4 not in iv else "maj"


def label(root: int | None, quality: str | None) -> str:
    """A chord's name in mir_eval's syntax: ``"C:maj"``, ``"A:min"``, or ``"N"``."""
    if root is None or quality is None:
        return NO_CHORD
    return f"{PITCH_NAMES[root % 12]}:{quality}"


def templates() -> np.ndarray:
    """``[24, 12]`` unit-norm binary triad templates, majors (C..B) then minors (C..B)."""
    out = np.zeros((24, 12), dtype=np.float32)
    for q, quality in enumerate(QUALITIES):
        for root in range(12):
            out[q * 12 + root, list(triad(root, quality))] = 1.0
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def template_index(i: int) -> tuple[int, str]:
    """``(root, quality)`` of row ``i`` of :func:`templates`."""
    return i % 12, QUALITIES[i // 12]


def majmin_accuracy(reference: list[str], estimate: list[str]) -> float:
    """Share of positions whose chords agree in root and major/minor quality, over the positions where the reference
    has a chord (both lists of :func:`label` strings, one per beat or frame)."""
    if len(reference) != len(estimate):
        raise ValueError(f"need as many estimates as references, got {len(estimate)} and {len(reference)}")
    scored = [(r, e) for r, e in zip(reference, estimate, strict=True) if r != NO_CHORD]
    return float(np.mean([r == e for r, e in scored])) if scored else float("nan")
