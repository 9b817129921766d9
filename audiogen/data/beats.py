"""Beat times of the token-cache items: the LM's beat controls for a cache without dense controls.

Every item of a token cache gets its beats from librosa's beat tracker on the same audio the codec encoded (the
record's offset, at most ``max_seconds``), with the record's tempo label, when it has one, as the tracker's prior.
They are stored in the cache folder as ``beats.jsonl``, one line per item::

    {"id": "<item id>", "tempo": 117.2, "beats": [0.512, 1.024, ...]}     (seconds from the item's first frame)

Lines are appended one write at a time, so an interrupted run resumes where it stopped (``audiogen codec beats``).
Your own music needs no labels for this: the tracker finds the beat.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audiogen.controls.beats import SAMPLE_RATE, smooth_beats, track_beats

BEATS_NAME = "beats.jsonl"

__all__ = ["BEATS_NAME", "add_beats", "read_beats", "smooth_beats", "track_beats"]


def read_beats(cache_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The beats of a cache folder: item id -> beat times ``[N]`` (seconds). Empty without ``beats.jsonl``; a
    truncated last line (a killed run) is ignored."""
    from audiogen.data.token_cache import read_jsonl_log

    entries, _ = read_jsonl_log(Path(cache_dir) / BEATS_NAME, keys=("id", "beats"))
    return {e["id"]: np.asarray(e["beats"], dtype=np.float64) for e in entries}


def add_beats(cache_dir: str | os.PathLike, manifests: list[str], max_seconds: float = 600.0) -> int:
    """Track the beats of every item of the token cache at ``cache_dir`` that has none yet; the audio is found
    through ``manifests`` (the ones the cache was built from). Returns the number of items done now."""
    from audiogen.audio import load_audio
    from audiogen.data.token_cache import fill_log

    def compute(rec, root, _item) -> dict:
        wav = load_audio(rec.resolve_path(root), SAMPLE_RATE, rec.offset, min(rec.duration, max_seconds))
        tempo, beats = track_beats(wav, SAMPLE_RATE, rec.tempo)
        return {"tempo": round(tempo, 2), "beats": [round(float(b), 4) for b in beats]}

    return fill_log(cache_dir, BEATS_NAME, ("id", "beats"), manifests, compute)
