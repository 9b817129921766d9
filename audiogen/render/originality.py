"""The originality check in a batch render: what the ledger keeps of each track's check, the manifest's
``originality`` column and the summary's flagged tracks.

A track's check (:class:`audiogen.originality.Originality`, None when the model has no index or the job asked for
``originality`` ``off``) is kept in the ledger's ``originality`` column as JSON: its ``to_dict()``, plus ``tried``
(the seeds ``strict`` tried, ``[{"seed", "flagged"}, ...]``) when the track was made again.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from audiogen.originality.check import MODES  # as MusicGenerator.generate takes them

MAX_LISTED = 20  # flagged tracks the summary's lines name (summary.json lists them all)


def check_mode(value: Any) -> str:
    """``value`` as an originality mode (``check``, ``strict`` or ``off``); else a ``ValueError`` saying so. ``False``
    is ``off`` (YAML reads an unquoted ``off`` as ``False``)."""
    text = value.strip().lower() if isinstance(value, str) else "off" if value is False else None
    if text not in MODES:
        raise ValueError(f"originality {value!r} is not allowed; allowed: {', '.join(MODES)}")
    return text


def with_default(jobs: list, mode: str | None) -> list:
    """``jobs`` with ``mode`` as the originality of every job that gives none (``mode`` None: unchanged)."""
    if mode is None:
        return jobs
    mode = check_mode(mode)
    return [job if job.originality is not None else replace(job, originality=mode) for job in jobs]


def ledger_record(track: Any) -> str | None:
    """The ledger's JSON of ``track``'s check, or None when it was not checked."""
    if getattr(track, "originality", None) is None:
        return None
    record = track.originality.to_dict()
    tried = (track.params.get("originality") or {}).get("tried")
    if tried:
        record["tried"] = tried
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def tagged_record(path) -> str | None:
    """The ledger's JSON of the check written into an MP3's tags (as :func:`ledger_record` made it when the track was
    rendered), or None when the file has none: a track a crashed run had written keeps its verdict."""
    from audiogen.id3 import read_id3

    try:
        tags = read_id3(path)
        record = json.loads(tags["originality"]) if "originality" in tags else None
        params = json.loads(tags.get("params") or "{}")
    except (OSError, ValueError, UnicodeDecodeError):  # a tag cut short or not ours: no verdict, as if not checked
        return None
    if not isinstance(record, dict):
        return None
    tried = (params.get("originality") or {}).get("tried") if isinstance(params, dict) else None
    if tried:
        record["tried"] = tried
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _record(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def verdict(text: str | None) -> str | None:
    """The manifest's ``originality`` cell of a ledger record: ``"flagged"``, ``"original"`` or None (not checked)."""
    record = _record(text)
    if record is None:
        return None
    return "flagged" if record.get("flagged") else "original"


def kept_seed(text: str | None) -> int | None:
    """The seed of the track kept when ``strict`` made it again (None when it was made once)."""
    tried = (_record(text) or {}).get("tried") or []
    return tried[-1]["seed"] if len(tried) > 1 else None


def close_to(text: str | None) -> list[dict[str, Any]]:
    """The flagged readings of a ledger record: ``[{"level", "item", "title"}, ...]`` (empty when not flagged)."""
    record = _record(text) or {}
    out = []
    for r in record.get("readings", []):
        if r.get("value") is None or r.get("threshold") is None or r["value"] < r["threshold"]:
            continue
        item = r.get("item") or {}
        out.append({"level": r["level"], "item": item.get("id"), "title": item.get("title") or item.get("id")})
    return out


def flagged_entry(row: Any) -> dict[str, Any] | None:
    """The summary's entry for a done ledger row whose track was flagged, else None."""
    if row.status != "done" or verdict(row.originality) != "flagged":
        return None
    return {"job_id": row.job_id, "variant": row.variant, "file": row.file, "close_to": close_to(row.originality)}


def describe(entry: dict[str, Any]) -> str:
    """``'b v1 (b.mp3): close to "Song" (melody)'``, one line of the summary."""
    near = "; ".join(f'"{c["title"]}" ({c["level"]})' for c in entry["close_to"]) or "a training item"
    return f"{entry['job_id']} v{entry['variant']} ({entry['file']}): close to {near}"


def summary_lines(checked: int, flagged: list[dict[str, Any]]) -> list[str]:
    """The summary's originality lines: how many tracks were checked, then each flagged one (see :func:`describe`)."""
    if not checked:
        return []
    if not flagged:
        return [f"originality: none of the {checked} checked track(s) is close to a training item"]
    out = [f"originality: {len(flagged)} of {checked} checked track(s) flagged as close to a training item "
           "(listen before delivering them; 'originality' in the manifest):"]  # fmt: skip
    out += [f"flagged: {describe(entry)}" for entry in flagged[:MAX_LISTED]]
    if len(flagged) > MAX_LISTED:
        out.append(f"... and {len(flagged) - MAX_LISTED} more flagged tracks (see summary.json)")
    return out
