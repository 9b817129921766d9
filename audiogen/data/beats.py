"""Beat times of the token-cache items: the LM's beat controls for a cache without dense controls.

Every item of a token cache gets its beats from librosa's beat tracker on the same audio the codec encoded (the
record's offset, at most ``max_seconds``), with the record's tempo label, when it has one, as the tracker's prior.
They are stored in the cache folder as ``beats.jsonl``, one line per item::

    {"id": "<item id>", "tempo": 117.2, "beats": [0.512, 1.024, ...]}     (seconds from the item's first frame)

Lines are appended one write at a time, so an interrupted run resumes where it stopped (``audiogen codec beats``).
Your own music needs no labels for this: the tracker finds the beat.
"""

from __future__ import annotations

import json
import os
import sys
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
    from audiogen.data.manifest import iter_manifest
    from audiogen.data.token_cache import TokenCache, read_jsonl_log

    cache = TokenCache(cache_dir)
    wanted = {item.id for item in cache.items}
    path = Path(cache_dir) / BEATS_NAME
    entries, good = read_jsonl_log(path, keys=("id", "beats"))
    done_ids = {e["id"] for e in entries}
    if path.exists() and good < path.stat().st_size:
        os.truncate(path, good)  # drop the half-written line of a killed run
    done = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for manifest in manifests:
            root = Path(manifest).parent
            for rec in iter_manifest(manifest):
                item_id = f"{rec.track}@{rec.offset:g}"
                if item_id not in wanted or item_id in done_ids:
                    continue
                try:
                    wav = load_audio(rec.resolve_path(root), SAMPLE_RATE, rec.offset, min(rec.duration, max_seconds))
                except ValueError as err:
                    print(f"skipped: {err}", file=sys.stderr)
                    continue
                tempo, beats = track_beats(wav, SAMPLE_RATE, rec.tempo)
                line = {"id": item_id, "tempo": round(tempo, 2), "beats": [round(float(b), 4) for b in beats]}
                os.write(fd, (json.dumps(line) + "\n").encode("utf-8"))
                done_ids.add(item_id)
                done += 1
    finally:
        os.close(fd)
    return done
