"""A request for music: its fields, their checks, and what a reference clip fills in.

The fields (name, kind, default, allowed range, help text, and which surfaces show each) are the table
:data:`FIELDS` of :mod:`audiogen.request_fields`, re-exported here; :func:`check_request` checks a whole request and
reports every problem at once. :func:`make_requests` turns the arguments of
:meth:`~audiogen.generator.MusicGenerator.generate` (possibly a batch) into one validated :class:`Request` per prompt
before any work starts.

The arguments of ``generate`` and :func:`make_requests`:

- ``text``: a prompt, or a list of prompts for a batch (the other arguments then broadcast, or give one per item).
- ``emotion``: a label of the emotion vocabulary; or ``valence`` and ``arousal`` in [-1, 1]; or both.
- ``style``: style tags (a list, or a comma-separated string).
- ``reference``: an audio file whose tempo, key and emotion (from our analysis) and style tags (voted by its
  nearest training tracks under the style encoder) fill whatever the request leaves open.
- ``tempo``: BPM in [40, 220]. ``key``: e.g. ``"A minor"``, ``"F#"``; ``mode``: ``"major"`` or ``"minor"``.
- ``duration``: seconds in [1, 600] (default 30; with a ``video``, the video's length, which a given duration must
  match).
- ``seed``: a whole number, 0 ≤ seed < 2**32; it makes the call reproducible bit for bit on one machine (None: a
  random one, reported on the track).

``generate`` also takes the sampling and output settings, and what is performed:

- ``params``: sampling settings (:class:`~audiogen.lm.GenerationParams`; its seed is overridden by ``seed``).
- ``mastering``: loudness, true peak and ending (:class:`~audiogen.master.MasteringSpec`; its duration is set per
  request).
- ``prompt``: audio (a file, or a ``(T,)`` array at 32 kHz) to continue from (the continuation is not composed: the
  LM follows the prompt's beat, and the track has no plan).
- ``progress``: show a progress bar (True), nothing (False), or call ``progress(step, total)`` after each sampling
  step (``total`` counts the steps of the LM batch being sampled).
- ``plan``: perform this :class:`~audiogen.compose.plan.Plan` (or a plan JSON file) as it is instead of composing
  one: it is checked whole first (:func:`audiogen.plans.given_plan`), its duration, tempo, key and ending are the
  track's (a ``duration``, ``tempo``, ``key``/``mode``, ``genre`` or loop ending that disagrees is refused, not
  ignored), and the emotion defaults to the plan's.
- ``melody_from``: an audio clip whose beats, chords and melody become the plan (re-harmonised into the requested
  mode, performed in the requested style and emotion; :mod:`audiogen.compose.transfer`).
- ``genre``: one of the composer's templates (``pop``, ``rock``, ``ambient``, ``cinematic``, ``jazz``,
  ``electronic``, ``lofi``, ``folk``); by default the text, the style tags and the emotion choose.
- ``image``: a picture (or one per prompt of a batch) whose colours and texture give the valence/arousal point and
  style tags the request leaves open (:mod:`audiogen.brief.image`).
- ``video``: a video to score (one request): the track lasts the video's length, its sections change on the video's
  cuts (on bar lines where the tempo allows, else on beats), each shot's pictures set its section's mood, and the
  ending lands on the last frame (:mod:`audiogen.brief`). Not with ``image``, ``plan``, ``melody_from``, ``prompt``
  or a loop ending.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from audiogen.audio import load_audio
from audiogen.conditioning.base import Attributes
from audiogen.conditioning.validate import normalize_attributes
from audiogen.music import DEFAULT_DURATION, DURATION_RANGE, to_names
from audiogen.request_fields import (  # noqa: F401  (the table, importable with the request)
    BY_NAME,
    FIELDS,
    SEED_RANGE,
    Field,
    RequestError,
    check_field,
    check_request,
)

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
    return check_field("duration", duration)


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
    duration: float = DEFAULT_DURATION,
    seed: int | None = None,
    style_dir: str | Path | None = None,
) -> list[Request]:
    """Validate a (possibly batched) request; raises ``ValueError``/``AudioError`` before any work starts.

    Arguments as in :meth:`MusicGenerator.generate` (see the module docstring); ``seed`` is checked only (the
    sampling takes it); ``style_dir`` is the style encoder + index that votes a reference clip's style tags (None:
    the shipped one). Every field of every prompt is checked first (:func:`check_request`: one ``ValueError`` that
    lists every problem). Returns one :class:`Request` per prompt."""
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
    rows = [{k: v[i] for k, v in cols.items()} for i in range(n)]
    problems = []
    for row in rows:
        try:
            check_request({k: v for k, v in row.items() if k != "reference"} | {"seed": seed})
        except RequestError as err:
            problems += err.problems
    if problems:
        raise RequestError(problems)
    requests = []
    for row in rows:
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


def by_duration(requests: list[Request]) -> list[list[int]]:
    """Indices of ``requests`` grouped by duration, in first-seen order (one LM batch per length)."""
    groups: dict[float, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.duration, []).append(i)
    return list(groups.values())


def seeded(params, seed: int | None):
    """``params`` (a :class:`~audiogen.lm.GenerationParams`; default settings when None) with the call's seed:
    ``seed``, else the params' own, else a random one; a given seed must lie in the request's range,
    0 ≤ seed < 2**32."""
    from audiogen.lm.sampling import GenerationParams

    params = params or GenerationParams()
    seed = check_field("seed", params.seed if seed is None else seed)
    return replace(params, seed=secrets.randbits(31) if seed is None else seed)
