"""A request for music: its checks, and what a reference clip fills in.

:func:`make_requests` turns the arguments of :meth:`~audiogen.generator.MusicGenerator.generate` (possibly a
batch) into one validated :class:`Request` per prompt before any work starts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

from audiogen.audio import load_audio
from audiogen.conditioning.base import Attributes
from audiogen.conditioning.validate import normalize_attributes
from audiogen.music import DURATION_RANGE, to_names

MAX_DURATION = DURATION_RANGE[1]
REFERENCE_SECONDS = 60.0  # how much of a reference clip is analysed


@dataclass(frozen=True)
class Request:
    """One validated request: the LM's attributes plus what the facade needs to finish the track."""

    attributes: Attributes
    duration: float
    reference: str | None = None


def listify(value, n: int, name: str) -> list:
    """Broadcast a per-call value to ``n`` items (a list must have exactly ``n``)."""
    if isinstance(value, (list, tuple)) and name != "style":
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} values for a batch of {n} prompts")
        return list(value)
    if name == "style" and isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        if len(value) != n:
            raise ValueError(f"style has {len(value)} tag lists for a batch of {n} prompts")
        return list(value)
    return [value] * n


def style_tags(style) -> tuple[str, ...] | None:
    """Style tags from a list or a comma- or semicolon-separated string (None when there are none)."""
    if style is None:
        return None
    if isinstance(style, str):
        style = [t for t in style.replace(";", ",").split(",")]
    return tuple(t.strip() for t in style if t.strip()) or None


def check_duration(duration: float) -> float:
    """Seconds of music to generate: a number in [1, 600]."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValueError(f"duration must be a number of seconds in [{DURATION_RANGE[0]:g}, {MAX_DURATION:g}]")
    if not DURATION_RANGE[0] <= duration <= MAX_DURATION:
        raise ValueError(f"duration must lie in [{DURATION_RANGE[0]:g}, {MAX_DURATION:g}] seconds, got {duration:g}")
    return float(duration)


def reference_attributes(path: str | Path, style_dir: str | Path | None = None) -> dict:
    """What a reference clip says about the music it asks for: tempo, key, mode, valence, arousal (our analysis),
    and ``style_tags`` (see :func:`reference_style_tags`; ``None`` when no tag wins a majority)."""
    from audiogen.analysis import ANALYSIS_SR, analyze_audio

    y = load_audio(path, ANALYSIS_SR, duration=REFERENCE_SECONDS)
    lab = analyze_audio(y, ANALYSIS_SR, title="")
    found = {k: lab[k] for k in ("tempo", "key", "mode", "valence", "arousal")}
    found["style_tags"] = reference_style_tags(path, style_dir) or None
    return found


def reference_style_tags(path: str | Path, style_dir: str | Path | None = None) -> tuple[str, ...]:
    """Style tags for a reference clip by retrieval: the style encoder embeds the clip's first ``REFERENCE_SECONDS``
    (mean of up to 8 crops of 4 s) and returns the vocabulary tags carried by at least half of its 5 nearest training
    tracks (the index's ``k`` and ``min_share``; :func:`audiogen.conditioning.style_encoder.reference_style_tags`).
    ``style_dir`` holds the encoder and its index (default: the shipped ``pretrained/default/style``, or ``()`` when
    this build ships none). The language model never sees the style vector itself, only these tags."""
    from audiogen.conditioning.style_encoder import reference_style_tags as vote

    loaded = _style_model(str(style_dir) if style_dir is not None else None)
    if loaded is None:
        return ()
    encoder, index = loaded
    return vote(load_audio(path, encoder.config.sample_rate, duration=REFERENCE_SECONDS), encoder, index)


@functools.lru_cache(maxsize=4)
def _style_model(style_dir: str | None):
    from audiogen.conditioning.style_encoder import StyleEncoder, StyleIndex
    from audiogen.pretrained import DEFAULT_DIR

    path = Path(style_dir) if style_dir is not None else DEFAULT_DIR / "style"
    if style_dir is None and not (path / "index.json").is_file():
        return None
    return StyleEncoder.from_pretrained(path), StyleIndex.load(path)


def make_requests(
    text=None,
    *,
    emotion=None,
    valence=None,
    arousal=None,
    style=None,
    reference=None,
    tempo=None,
    key=None,
    mode=None,
    duration: float = 30.0,
    style_dir: str | Path | None = None,
) -> list[Request]:
    """Validate a (possibly batched) request; raises ``ValueError``/``AudioError`` before any work starts.

    Arguments as in :meth:`MusicGenerator.generate`; ``style_dir`` is the style encoder + index that votes a reference
    clip's style tags (None: the shipped one). Returns one :class:`Request` per prompt."""
    n = len(text) if isinstance(text, (list, tuple)) else 1
    cols = {
        k: listify(v, n, k)
        for k, v in dict(
            text=text,
            emotion=emotion,
            valence=valence,
            arousal=arousal,
            style=style,
            reference=reference,
            tempo=tempo,
            key=key,
            mode=mode,
            duration=duration,
        ).items()
    }
    requests = []
    for i in range(n):
        row = {k: v[i] for k, v in cols.items()}
        dur = check_duration(row["duration"])
        attrs = Attributes(
            text=row["text"],
            emotion=row["emotion"],
            valence=row["valence"],
            arousal=row["arousal"],
            style_tags=style_tags(row["style"]),
            tempo=row["tempo"],
            key=row["key"],
            mode=row["mode"],
            duration=dur,
        )
        attrs = normalize_attributes(attrs)
        ref = row["reference"]
        if ref is not None:
            found = reference_attributes(ref, style_dir)  # reads the file now: an unreadable clip fails here
            if attrs.emotion is not None:  # a requested label wins over the clip's emotion
                found.pop("valence"), found.pop("arousal")
            # the request wins: the clip's style tags are used only when the request names none
            missing = {k: v for k, v in found.items() if getattr(attrs, k) is None}
            attrs = normalize_attributes(replace(attrs, **missing))
        requests.append(Request(attrs, dur, None if ref is None else str(ref)))
    return requests


def composer_key(tonic: str | None) -> str | None:
    """A request's tonic (sharps, :data:`audiogen.conditioning.validate.TONICS`) in the composer's spelling."""
    return to_names(tonic)
