"""The evaluation prompt sets: versioned JSON-lines files of generation requests.

One request per line::

    {"id": "v1-pair-v01-a", "text": "a piano piece", "emotion": "happy", "style": ["piano"], "duration": 10,
     "pair": "v01", "contrast": "valence"}

Fields: ``id`` (unique), ``text``, ``emotion`` (a label of :data:`audiogen.conditioning.emotions.EMOTIONS`) or
``valence``/``arousal`` (numbers in [-1, 1]), ``style`` (style tags), ``tempo`` (BPM), ``key`` (``"A minor"``),
``duration`` (seconds); all but ``id`` and ``duration`` may be absent, and they are checked as every other surface
checks a request (their ranges and messages: :mod:`audiogen.request_fields`). Requests that share a ``pair`` differ
only in their emotion; ``contrast`` says which axis the pair contrasts: ``"valence"`` (e.g. happy vs sad) or
``"arousal"`` (e.g. calm vs energetic). A published set is never edited: a changed set gets a new version file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from audiogen.request_fields import FIELDS, PROMPTS, names

PROMPTS_V1 = Path(__file__).with_name("prompts_v1.jsonl")
CONTRASTS = ("valence", "arousal")


@dataclass(frozen=True)
class Request:
    """One generation request of a prompt set (see the module docstring for the fields)."""

    id: str
    duration: float
    text: str | None = None
    emotion: str | None = None
    valence: float | None = None
    arousal: float | None = None
    style: tuple[str, ...] = ()
    tempo: float | None = None
    key: str | None = None
    pair: str | None = None
    contrast: str | None = None

    def __post_init__(self) -> None:
        from audiogen.request_fields import RequestError, check_request

        if not self.id:
            raise ValueError("a request needs a non-empty id")
        asked = {name: getattr(self, name) for name in names(PROMPTS)}
        try:  # the request's own ranges and messages (audiogen/request_fields.py), every problem at once
            check_request(asked)
        except RequestError as err:
            raise ValueError(f"{self.id}: {err}") from None
        if self.key is not None:
            from audiogen.eval.metrics import parse_key

            parse_key(self.key)
        if (self.pair is None) != (self.contrast is None) or (self.contrast and self.contrast not in CONTRASTS):
            raise ValueError(f"{self.id}: pair and contrast go together; contrast must be one of {CONTRASTS}")
        object.__setattr__(self, "style", tuple(self.style))

    @property
    def emotion_point(self) -> tuple[float, float] | None:
        """The requested (valence, arousal), from the label or the numbers; None when no emotion was asked for."""
        from audiogen.conditioning.emotions import EMOTIONS, check_label

        if self.emotion is not None:
            return EMOTIONS[check_label(self.emotion)]
        if self.valence is not None:
            return float(self.valence), float(self.arousal)
        return None

    def generate_kwargs(self, seed: int, duration: float | None = None) -> dict:
        """Keyword arguments for ``MusicGenerator.generate`` (only the fields that are set)."""
        kwargs = {"duration": float(duration or self.duration), "seed": int(seed), "progress": False}
        mine = {f.name for f in fields(self)}
        for name in (f.name for f in FIELDS if f.name in mine and f.name not in ("duration", "style")):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        if self.style:
            kwargs["style"] = list(self.style)
        return kwargs


def load_prompts(path: str | os.PathLike = PROMPTS_V1) -> list[Request]:
    """Read and check a prompt set: ids unique, every pair has exactly two members with the same request apart
    from the emotion."""
    path = Path(path)
    known = {f.name for f in fields(Request)}
    requests = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not JSON ({err})") from None
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}:{n}: unknown fields {sorted(unknown)}; allowed: {sorted(known)}")
        requests.append(Request(**raw))
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate request ids")
    for members in pairs(requests).values():
        _check_pair(path, members)
    return requests


def pairs(requests: list[Request]) -> dict[str, list[Request]]:
    """Requests grouped by ``pair`` id (unpaired requests left out)."""
    out: dict[str, list[Request]] = {}
    for r in requests:
        if r.pair is not None:
            out.setdefault(r.pair, []).append(r)
    return out


def balanced_subset(requests: list[Request], limit: int | None) -> list[Request]:
    """The requests in a balanced order, cut to ``limit`` (all when None): a valence pair, an unpaired request, an
    arousal pair, an unpaired request, and again (pairs kept whole), so that any prefix exercises every metric."""
    units: dict[str, list[list[Request]]] = {"valence": [], "arousal": [], "single": []}
    seen: set[str] = set()
    groups = pairs(requests)
    for r in requests:
        if r.pair is None:
            units["single"].append([r])
        elif r.pair not in seen:
            seen.add(r.pair)
            units[r.contrast].append(groups[r.pair])
    out: list[Request] = []
    taken = dict.fromkeys(units, 0)
    while any(taken[k] < len(units[k]) for k in units):
        for kind in ("valence", "single", "arousal", "single"):
            if taken[kind] < len(units[kind]):
                out += units[kind][taken[kind]]
                taken[kind] += 1
    return out if limit is None else out[: max(limit, 0)]


def _check_pair(path: Path, members: list[Request]) -> None:
    if len(members) != 2:
        raise ValueError(f"{path}: pair {members[0].pair} has {len(members)} members; a pair has two")
    a, b = members
    same = ("text", "style", "tempo", "key", "duration", "contrast")
    if any(getattr(a, f) != getattr(b, f) for f in same) or a.emotion_point == b.emotion_point:
        raise ValueError(f"{path}: pair {a.pair} must differ in the emotion and in nothing else")
