"""Dense controls of the token-cache items, stored beside their codes (:mod:`audiogen.controls.layout`).

Every item gets a float16 array ``[frames, CONTROL_FEATURES]`` aligned with its codes, in ``controls/``, and one line
in ``controls.jsonl``::

    {"id": "<item id>", "controls": "controls/<file>.npy", "frames": T, "method": "audio" | "plan", "tempo": 117.2}

Recorded music is read with the audio extractor (:func:`audiogen.controls.extract.read_controls`, the record's tempo
label as the beat tracker's prior); pieces of our own composer (records whose descriptors hold the composer's
parameters) get the exact controls of their recomposed plan. Each file is written atomically and its line appended
afterwards in one write, so an interrupted run resumes where it stopped (``audiogen codec controls``).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

CONTROLS_NAME = "controls.jsonl"
CONTROLS_DIR = "controls"


def read_control_index(cache_dir: str | os.PathLike) -> dict[str, dict]:
    """Item id -> its ``controls.jsonl`` entry (empty without the file; a torn last line is ignored)."""
    from audiogen.data.token_cache import read_jsonl_log

    entries, _ = read_jsonl_log(Path(cache_dir) / CONTROLS_NAME, keys=("id", "controls", "frames"))
    return {e["id"]: e for e in entries}


def composer_params(record) -> object | None:
    """The :class:`~audiogen.compose.composer.PieceParams` a composer record was rendered from, or None."""
    from audiogen.compose.composer import PieceParams

    desc = getattr(record, "descriptors", None) or {}
    if getattr(record, "label_method", "") != "composer-parameters" or "instruments" not in desc:
        return None
    names = {f.name for f in fields(PieceParams)}
    try:
        return PieceParams(**{k: v for k, v in desc.items() if k in names})
    except (TypeError, ValueError):
        return None


def item_controls(record, root: Path, frames: int, frame_rate: float, max_seconds: float) -> tuple[np.ndarray, dict]:
    """``(controls [frames, F] float32, facts)`` of one cache item from its manifest ``record``."""
    from audiogen.audio import load_audio
    from audiogen.compose.planner import plan_from_params
    from audiogen.controls.extract import read_controls
    from audiogen.controls.from_plan import plan_controls

    params = composer_params(record)
    if params is not None and not record.offset:
        plan = plan_from_params(params)
        return plan_controls(plan, frames, frame_rate), {"method": "plan", "tempo": round(plan.tempo, 3)}
    sr = 32000
    seconds = min(record.duration, max_seconds, frames / frame_rate)
    wav = load_audio(record.resolve_path(root), sr, record.offset, seconds, allow_silent=True)
    reading = read_controls(wav, sr, n_frames=frames, tempo_hint=record.tempo)
    return reading.controls, {"method": "audio", "tempo": round(reading.tempo, 3)}


def add_controls(
    cache_dir: str | os.PathLike,
    manifests: list[str],
    max_seconds: float = 600.0,
    shard: tuple[int, int] = (0, 1),
    reuse: str | os.PathLike | None = None,
) -> int:
    """Compute the controls of every item of the token cache at ``cache_dir`` that has none yet; the audio is found
    through ``manifests`` (the ones the cache was built from). Returns the number of items done now.

    ``reuse``: another token cache of the same corpus (another codec at the same frame rate). The controls are read
    from the audio, not the codes, so an item it holds with the same id and the same number of frames takes its
    controls from there instead of reading the audio again."""
    from audiogen.data.token_cache import atomic_save_npy, fill_log, item_filename

    (Path(cache_dir) / CONTROLS_DIR).mkdir(exist_ok=True)
    frame_rate = json.loads((Path(cache_dir) / "cache.json").read_text())["frame_rate"]
    known: dict[str, dict] = {}
    if reuse is not None:
        other_rate = json.loads((Path(reuse) / "cache.json").read_text())["frame_rate"]
        if other_rate != frame_rate:
            raise ValueError(f"reuse={reuse}: its frame rate {other_rate} is not this cache's {frame_rate}")
        known = read_control_index(reuse)

    def compute(rec, root, item) -> dict:
        old = known.get(item.id)
        if old is not None and int(old["frames"]) == item.frames:
            ctl = np.load(Path(reuse) / old["controls"])
            if ctl.shape[0] == item.frames:
                rel = f"{CONTROLS_DIR}/{item_filename(item.id)}"
                atomic_save_npy(Path(cache_dir) / rel, ctl)
                return {"controls": rel, **{k: v for k, v in old.items() if k not in ("id", "controls")}}
        ctl, facts = item_controls(rec, root, item.frames, frame_rate, max_seconds)
        rel = f"{CONTROLS_DIR}/{item_filename(item.id)}"
        atomic_save_npy(Path(cache_dir) / rel, ctl.astype(np.float16))
        return {"controls": rel, "frames": int(len(ctl)), **facts}

    return fill_log(cache_dir, CONTROLS_NAME, ("id", "controls", "frames"), manifests, compute, shard)
