"""Checks for every request attribute: allowed ranges, accepted spellings, and clear errors.

The conditioners call these on each item, and :func:`normalize_attributes` applies them all at once so a command
line or the generator facade can reject a bad request before any model is loaded.

Ranges (also the normalisation ranges of the number embeddings):

=============  ======================  ==============================================
attribute      allowed                 notes
=============  ======================  ==============================================
tempo          40–220 BPM
key            12 tonics               "C", "c#", "Db", "F# minor", "Am", "Bb major"
mode           "major" / "minor"       also "maj" / "min"
duration       1–600 s                 total length of the requested track
position       0–600 s                 start of the current window; ≤ duration
valence        [-1, 1]                 with arousal; see :mod:`emotions`
arousal        [-1, 1]
=============  ======================  ==============================================
"""

from __future__ import annotations

import re
from dataclasses import replace

import torch

from audiogen import music
from audiogen.conditioning.base import Attributes
from audiogen.conditioning.emotions import resolve
from audiogen.conditioning.styles import check_tags

TEMPO_RANGE, DURATION_RANGE = music.TEMPO_RANGE, music.DURATION_RANGE
POSITION_RANGE = (0.0, 600.0)
TONICS, MODES = music.SHARPS, music.MODES

_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
_MODE_WORDS = {"major": "major", "maj": "major", "minor": "minor", "min": "minor"}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*(.*?)\s*$")
_KEY_HELP = "a tonic C, C#/Db, D, D#/Eb, E, F, F#/Gb, G, G#/Ab, A, A#/Bb or B, optionally followed by major/minor"


def check_tempo(bpm: float) -> float:
    """Tempo in BPM, which must lie in :data:`TEMPO_RANGE`."""
    return music.check_number("tempo", bpm, *TEMPO_RANGE, "BPM")


def check_mode(mode: str) -> str:
    """``"major"`` or ``"minor"`` (case-insensitive; ``"maj"``/``"min"`` accepted)."""
    word = _MODE_WORDS.get(str(mode).strip().lower())
    if word is None:
        raise ValueError(f"unknown mode {mode!r}; allowed: 'major' or 'minor'")
    return word


def parse_key(key: str) -> tuple[str, str | None]:
    """Split a key name into ``(tonic, mode)``: ``"Db"`` -> ``("C#", None)``, ``"F# minor"`` -> ``("F#", "minor")``.

    The tonic is returned in its sharp spelling (one of :data:`TONICS`). ``"Am"`` means A minor.
    """
    m = _KEY_RE.match(str(key))
    rest = m.group(3) if m else ""
    mode: str | None = None
    if m and rest:
        if rest == "m":
            mode = "minor"
        elif rest == "M":
            mode = "major"
        else:
            mode = _MODE_WORDS.get(rest.lower())
    if m is None or (rest and mode is None):
        raise ValueError(f"unknown key {key!r}; allowed: {_KEY_HELP}")
    pitch = (_LETTER[m.group(1).upper()] + _ACCIDENTAL[m.group(2)]) % 12
    return TONICS[pitch], mode


def check_key_mode(key: str | None, mode: str | None) -> tuple[str | None, str | None]:
    """Canonical ``(tonic, mode)`` from a key and a mode, either may be None; a key's own mode must agree."""
    tonic, key_mode = parse_key(key) if key is not None else (None, None)
    mode = check_mode(mode) if mode is not None else None
    if key_mode is not None and mode is not None and key_mode != mode:
        raise ValueError(f"key {key!r} says {key_mode} but mode is {mode!r}; give one or make them agree")
    return tonic, mode or key_mode


def check_timing(duration: float | None, position: float | None) -> tuple[float | None, float | None]:
    """Check the track ``duration`` and window ``position`` (seconds) against their ranges and each other."""
    if duration is not None:
        duration = music.check_number("duration", duration, *DURATION_RANGE, "seconds")
    if position is not None:
        position = music.check_number("position", position, *POSITION_RANGE, "seconds")
    if duration is not None and position is not None and position > duration:
        raise ValueError(f"position ({position:g} s) must not exceed duration ({duration:g} s)")
    return duration, position


def check_style_embedding(vec: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """A finite 1-D style vector ``(E,)`` (``E == dim`` when ``dim`` is given), as float32."""
    if not isinstance(vec, torch.Tensor) or vec.ndim != 1:
        shape = tuple(vec.shape) if isinstance(vec, torch.Tensor) else type(vec).__name__
        raise ValueError(f"style_embedding must be a 1-D tensor (E,), got {shape}")
    if dim is not None and vec.shape[0] != dim:
        raise ValueError(f"style_embedding must have {dim} values (the style encoder's width), got {vec.shape[0]}")
    if not torch.isfinite(vec).all():
        raise ValueError("style_embedding contains NaN or infinite values")
    return vec.detach().float().cpu()


def normalize_attributes(a: Attributes) -> Attributes:
    """A canonical copy of ``a`` (emotion label, tags, key and mode spelled one way); raises ValueError if invalid.

    Emotion errors are :class:`~audiogen.conditioning.emotions.EmotionError`, tag errors
    :class:`~audiogen.conditioning.styles.StyleError`; both are ValueErrors.
    """
    if a.text is not None and not isinstance(a.text, str):
        raise ValueError(f"text must be a string, got {type(a.text).__name__}")
    emo = resolve(a.emotion, a.valence, a.arousal)
    tags = check_tags(a.style_tags) if a.style_tags is not None else None
    emb = check_style_embedding(a.style_embedding) if a.style_embedding is not None else None
    tempo = check_tempo(a.tempo) if a.tempo is not None else None
    key, mode = check_key_mode(a.key, a.mode)
    duration, position = check_timing(a.duration, a.position)
    return replace(
        a,
        emotion=emo.label if emo else None,
        valence=a.valence if a.valence is None else emo.valence,
        arousal=a.arousal if a.arousal is None else emo.arousal,
        style_tags=tags or None,
        style_embedding=emb,
        tempo=tempo,
        key=key,
        mode=mode,
        duration=duration,
        position=position,
    )
