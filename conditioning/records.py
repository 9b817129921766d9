"""Training attributes from manifest records.

Records are data, not requests, so this is lenient where a request would be strict: values that a request would
reject are repaired or left out, never raised. ``caption`` -> text; ``emotion``/``valence``/``arousal`` -> emotion
(a label outside the vocabulary is dropped, a point needs both coordinates); ``tags`` -> style tags that map to the
vocabulary (source names and other words are dropped); ``tempo`` is folded by octaves into 40–220 BPM (beat trackers
often report half or double tempo); ``key``/``mode`` are parsed, and left out if they cannot be.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass

from audiogen.conditioning.base import Attributes
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.conditioning.styles import filter_tags
from audiogen.conditioning.validate import DURATION_RANGE, POSITION_RANGE, TEMPO_RANGE, check_key_mode


def fold_tempo(bpm: float | None) -> float | None:
    """``bpm`` halved or doubled until it lies in 40–220 BPM; None for a missing or non-positive value."""
    if bpm is None or not isinstance(bpm, (int, float)) or not math.isfinite(bpm) or bpm <= 0:
        return None
    lo, hi = TEMPO_RANGE
    while bpm > hi:
        bpm /= 2
    while bpm < lo:
        bpm *= 2
    return float(bpm)


def _point(rec: dict) -> tuple[float | None, float | None]:
    v, a = rec.get("valence"), rec.get("arousal")
    if v is None or a is None:
        return None, None
    return max(-1.0, min(1.0, float(v))), max(-1.0, min(1.0, float(a)))


def _key_mode(rec: dict) -> tuple[str | None, str | None]:
    key, mode = rec.get("key"), rec.get("mode")
    try:
        return check_key_mode(key, mode)
    except ValueError:
        try:  # a key that disagrees with the mode: trust the key alone
            return check_key_mode(key, None)
        except ValueError:
            return None, None


def attributes_from_record(rec, crop_start: float | None = None) -> Attributes:
    """Conditioning attributes of a manifest record (a dict or a ``Record``).

    ``crop_start`` (seconds into the record's audio) sets the timing attributes of a training crop: ``position``
    is the crop's start and ``duration`` the record's length (both clamped to their ranges). Without it, timing is
    left absent.
    """
    if is_dataclass(rec):
        rec = asdict(rec)
    caption = str(rec.get("caption") or "").strip()
    label = str(rec.get("emotion") or "").strip().lower()
    valence, arousal = _point(rec)
    key, mode = _key_mode(rec)
    tags = filter_tags(rec.get("tags") or [])
    duration = position = None
    if crop_start is not None:
        duration = min(max(float(rec["duration"]), DURATION_RANGE[0]), DURATION_RANGE[1])
        position = min(max(float(crop_start), POSITION_RANGE[0]), duration)
    return Attributes(
        text=caption or None,
        emotion=label if label in EMOTIONS else None,
        valence=valence,
        arousal=arousal,
        style_tags=tags or None,
        tempo=fold_tempo(rec.get("tempo")),
        key=key,
        mode=mode,
        duration=duration,
        position=position,
    )
