"""The originality check: how close the nearest training item comes to a track, on four readings, and a verdict.

=========  ==========================================================================  ==========================
reading    value                                                                       read from
=========  ==========================================================================  ==========================
melody     the most consecutive melody notes shared with one training item (interval  the plan (exact) or the
           and rhythm both equal; transposition and tempo do not matter)              audio (the extractor)
chords     the most consecutive chord changes shared (root motion, quality, duration   the same
           ratio)
tokens     the longest stretch (seconds) of coarse codec tokens shared with one        the LM's tokens, or the
           training item at one alignment (winnowed fingerprints: every shared run     audio encoded by the codec
           of at least ``(w + k - 1) / 50`` s is found, its length read at most
           ``2 (w - 1) / 50`` s short; shorter runs may be missed; k-grams of fewer
           than 3 distinct tokens, a held tone or silence, match nothing)
sound      style-vector cosine to the nearest training item (the mean over the        the audio
           track's 4 s windows of each window's best match in that item)
=========  ==========================================================================  ==========================

A reading is flagged when it reaches the index's threshold for it; the track is flagged when any reading is. The
thresholds are calibrated on the corpus itself (``audiogen originality calibrate``): above what unrelated real music
reaches, below what altered copies of training tracks reach (``index.json`` records both distributions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from audiogen.originality import features
from audiogen.originality.index import OriginalityIndex, token_hash32

LEVELS = ("melody", "chords", "tokens", "sound")
UNITS = {"melody": "notes", "chords": "chord changes", "tokens": "s", "sound": "cosine"}
QUERY_HOP_S = 2.0  # the checked audio's style windows overlap by half


@dataclass(frozen=True)
class Reading:
    """One level's result. ``value`` None: not read (nothing to read it from, e.g. tokens of a plan). ``item``: the
    nearest training item (``id``, ``title``, ``source``, ``licence``). ``span``: seconds of the checked track that
    the match covers (None for ``sound``)."""

    level: str
    value: float | None
    threshold: float | None = None
    item: dict | None = None
    span: tuple[float, float] | None = None

    @property
    def flagged(self) -> bool:
        return self.value is not None and self.threshold is not None and self.value >= self.threshold

    def describe(self) -> str:
        """``"melody 5 notes (flag at 12)"``."""
        if self.value is None:
            return f"{self.level} not read"
        v = f"{self.value:.2f}" if self.level == "sound" else f"{self.value:g}"
        unit = "" if self.level == "sound" else (" s" if self.level == "tokens" else f" {UNITS[self.level]}")
        limit = "" if self.threshold is None else f" (flag at {self.threshold:g})"
        return f"{self.level} {v}{unit}{limit}"


@dataclass(frozen=True)
class Originality:
    """The check's result: one :class:`Reading` per level and the index it was read against (``index``: a short
    description). ``flagged``: any reading reached its threshold."""

    readings: tuple[Reading, ...]
    index: str = ""

    @property
    def flagged(self) -> bool:
        return any(r.flagged for r in self.readings)

    def reading(self, level: str) -> Reading:
        return next(r for r in self.readings if r.level == level)

    def summary(self) -> str:
        """One line: the verdict, then each reading; a flagged reading names its training item and where."""
        parts = []
        for r in self.readings:
            text = r.describe()
            if r.flagged and r.item:
                where = f" at {r.span[0]:.1f}-{r.span[1]:.1f} s" if r.span else ""
                text += f': like "{r.item.get("title", r.item.get("id"))}" ({r.item.get("source", "")}){where}'
            parts.append(text)
        verdict = "FLAGGED, close to a training item" if self.flagged else "original"
        return f"{verdict}: " + "; ".join(parts)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"flagged", "index", "readings": [...]}``."""
        return {"flagged": self.flagged, "index": self.index, "readings": [asdict(r) for r in self.readings]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> Originality:
        rows = []
        for r in data.get("readings", []):
            span = tuple(r["span"]) if r.get("span") else None
            rows.append(Reading(r["level"], r.get("value"), r.get("threshold"), r.get("item"), span))
        return cls(tuple(rows), data.get("index", ""))


def _item(index: OriginalityIndex, i: int) -> dict:
    it = index.items[int(i)]
    return {k: it.get(k, "") for k in ("id", "title", "source", "licence")}


def read_symbols(index: OriginalityIndex, level: str, symbols: np.ndarray, frames: np.ndarray) -> Reading:
    """The melody or chord reading of a query's ``symbols`` ``[N]`` (with their onset ``frames`` ``[N]``)."""
    if level == "melody":
        corpus, owner = index.melody, index.melody_item
    else:
        corpus, owner = index.chords_to_read(), index.chord_item
    length, q_end, c_end = features.longest_shared_run(symbols, corpus)
    if length == 0:
        return Reading(level, 0.0, index.thresholds.get(level))
    fr = index.frame_rate
    span = (round(float(frames[q_end - length]) / fr, 2), round(float(frames[q_end - 1]) / fr, 2))
    return Reading(level, float(length), index.thresholds.get(level), _item(index, owner[c_end - 1]), span)


def read_tokens(index: OriginalityIndex, tokens: np.ndarray) -> Reading:
    """The tokens reading of coarse codec tokens ``[T]`` (the index's codec, codebook 0)."""
    k, w, fr = index.k, index.w, index.frame_rate
    tokens = np.asarray(tokens, dtype=np.int64)
    hashes = token_hash32(features.kgram_hashes(tokens, k))
    lo = np.searchsorted(index.fp_hash, hashes, side="left")
    hi = np.searchsorted(index.fp_hash, hashes, side="right")
    counts = np.where(features.informative(tokens, k), hi - lo, 0)  # a held tone matches nothing
    if not counts.any():
        return Reading("tokens", 0.0, index.thresholds.get("tokens"))
    q = np.repeat(np.arange(len(hashes)), counts)
    rows = np.concatenate([np.arange(a, a + n) for a, n in zip(lo[counts > 0], counts[counts > 0], strict=True)])
    item, offset = index.fp_item[rows], index.fp_frame[rows] - q
    order = np.lexsort((q, offset, item))
    q, item, offset = q[order], item[order], offset[order]
    # a new run where the (item, alignment) changes or the query skips more than one window's worth of frames
    new = np.ones(len(q), dtype=bool)
    new[1:] = (item[1:] != item[:-1]) | (offset[1:] != offset[:-1]) | (np.diff(q) > w + k)
    starts = np.flatnonzero(new)
    ends = np.concatenate([starts[1:], [len(q)]]) - 1
    spans = q[ends] - q[starts] + k
    best = int(np.argmax(spans))
    a, b = int(q[starts[best]]), int(q[ends[best]]) + k
    seconds = round(float(spans[best]) / fr, 2)
    return Reading("tokens", seconds, index.thresholds.get("tokens"), _item(index, item[starts[best]]),
                   (round(a / fr, 2), round(b / fr, 2)))  # fmt: skip


def read_sound(index: OriginalityIndex, vectors: np.ndarray) -> Reading:
    """The sound reading of a query's window style vectors ``[Q, E]`` (unit rows)."""
    if len(index.sound) == 0 or len(vectors) == 0:
        return Reading("sound", None, index.thresholds.get("sound"))
    sims = np.asarray(vectors, dtype=np.float32) @ (index.sound.astype(np.float32) / 127.0).T  # [Q, S]
    starts = np.flatnonzero(np.concatenate([[True], index.sound_item[1:] != index.sound_item[:-1]]))
    per_item = np.maximum.reduceat(sims, starts, axis=1).mean(axis=0)  # [items with windows]
    best = int(np.argmax(per_item))
    return Reading("sound", round(float(per_item[best]), 4), index.thresholds.get("sound"),
                   _item(index, index.sound_item[starts[best]]))  # fmt: skip


def check(
    index: OriginalityIndex,
    *,
    controls: np.ndarray | None = None,
    tokens: np.ndarray | None = None,
    vectors: np.ndarray | None = None,
    name: str = "",
) -> Originality:
    """Read everything given against ``index``: dense ``controls`` ``[T, F]`` (melody and chords), coarse ``tokens``
    ``[T]`` (of the index's codec), window style ``vectors`` ``[Q, E]``; a level without its input is "not read"."""
    readings = []
    for level, fn in (("melody", features.melody_symbols), ("chords", features.chord_symbols)):
        if controls is None:
            readings.append(Reading(level, None, index.thresholds.get(level)))
        else:
            readings.append(read_symbols(index, level, *fn(controls)))
    readings.append(
        read_tokens(index, tokens) if tokens is not None else Reading("tokens", None, index.thresholds.get("tokens"))
    )
    readings.append(
        read_sound(index, vectors) if vectors is not None else Reading("sound", None, index.thresholds.get("sound"))
    )
    return Originality(tuple(readings), name or f"{len(index.items)} training items")


MODES = ("check", "strict", "off")
MAX_TRIES = 10


def check_originality_mode(mode: str, tries: int, has_index: bool) -> None:
    """Refuse an unknown ``originality`` mode, ``tries`` outside 1..:data:`MAX_TRIES`, and ``"strict"`` for a model
    without an originality index (nothing could be checked)."""
    if mode not in MODES:
        raise ValueError(f"originality must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= MAX_TRIES:
        raise ValueError(f"originality_tries must be a whole number in [1, {MAX_TRIES}], got {tries!r}")
    if mode == "strict" and not has_index:
        raise ValueError(
            "originality='strict' needs a model with an originality index (MODEL/originality/); this "
            "model has none: build one with `audiogen originality build`, or use 'check' or 'off'"
        )
