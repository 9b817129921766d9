"""The on-disk token cache the LM trains on: codec codes of every track, with the track's manifest record.

Layout of a cache folder::

    cache.json     {"codec": "<model id>", "frame_rate": 50, "n_q": K, "card": C, "version": 1}
    index.jsonl    one line per item: {"id", "codes": "codes/<file>.npy", "frames": T, "record": {manifest Record}}
    codes/*.npy    int16 codes [K, T] of one track (or segment)
    beats.jsonl    optional: beat times of the items (:mod:`audiogen.data.beats`)
    controls.jsonl optional: dense controls of the items, ``controls/*.npy`` float16 [T, F]
                   (:mod:`audiogen.data.control_cache`)

:class:`TokenCacheWriter` is resumable: every codes file is written atomically and its index line is appended (one
``O_APPEND`` write) and flushed to disk only afterwards, so a killed encoder loses at most the item in progress and
``has(id)`` tells what is already done. :class:`TokenCache` reads a cache; :class:`TokenWindowDataset` serves random
fixed-length windows of it for training.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from bisect import bisect_right
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiogen.conditioning.base import Attributes
from audiogen.controls import layout
from audiogen.fileio import atomic_write, atomic_write_text

VERSION = 1
META_NAME, INDEX_NAME, CODES_DIR = "cache.json", "index.jsonl", "codes"


def item_filename(item_id: str) -> str:
    """A safe, collision-free file name for an item id (readable part + hash)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._")[:80] or "item"
    return f"{readable}-{hashlib.sha1(item_id.encode()).hexdigest()[:10]}.npy"


_item_filename = item_filename  # the earlier name


def read_jsonl_log(path: Path, keys: tuple[str, ...] = ("id", "codes", "frames")) -> tuple[list[dict], int]:
    """Parse an append-only JSON-lines file (``index.jsonl``, ``beats.jsonl``): ``(entries, good_bytes)``; a
    truncated last line (a killed write) is ignored and ``good_bytes`` is where the intact part ends. A malformed
    line elsewhere, or one without all of ``keys``, raises ``ValueError``."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1  # bytes up to the last complete line
    entries = []
    for lineno, line in enumerate(data[:good].decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: bad token-cache line ({err})") from err
        if not isinstance(entry, dict) or not set(keys) <= set(entry):
            raise ValueError(f"{path}:{lineno}: a line of {path.name} needs the keys {', '.join(keys)}")
        entries.append(entry)
    return entries, good


def in_shard(item_id: str, shard: tuple[int, int] = (0, 1)) -> bool:
    """Whether ``item_id`` belongs to shard ``(i, n)`` (a stable hash of the id, so parallel workers split the items
    of a cache without talking to each other)."""
    import zlib

    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    return n == 1 or zlib.crc32(item_id.encode("utf-8")) % n == i


def fill_log(
    cache_dir, name: str, keys: tuple[str, ...], manifests: list[str], compute, shard: tuple[int, int] = (0, 1)
) -> int:
    """Append one line to the JSON-lines file ``name`` of a token cache for every item that has none yet.

    The items' records are found through ``manifests`` (the ones the cache was built from); ``compute(record, root,
    item)`` returns the line's fields (without ``id``) or raises ``ValueError`` to skip the item (reported on stderr).
    A killed run's torn last line is dropped first, and each line is written in one ``O_APPEND`` write, so a rerun
    resumes where the last one stopped. ``shard`` ``(i, n)``: only this worker's share of the items
    (:func:`in_shard`). Returns the number of items done now."""
    import sys

    from audiogen.data.manifest import iter_manifest

    cache = TokenCache(cache_dir)
    items = {item.id: item for item in cache.items}
    path = Path(cache_dir) / name
    entries, good = read_jsonl_log(path, keys=keys)
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
                if item_id not in items or item_id in done_ids or not in_shard(item_id, shard):
                    continue
                try:
                    fields = compute(rec, root, items[item_id])
                except ValueError as err:
                    print(f"skipped {item_id}: {err}", file=sys.stderr)
                    continue
                os.write(fd, (json.dumps({"id": item_id, **fields}) + "\n").encode("utf-8"))
                done_ids.add(item_id)
                done += 1
    finally:
        os.close(fd)
    return done


def atomic_save_npy(target: Path, array: np.ndarray) -> None:
    """``np.save`` ``array`` to ``target`` through a temporary file beside it, renamed when complete
    (:func:`audiogen.fileio.atomic_write`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a path would get ".npy" appended by np.save
            np.save(f, array)

    atomic_write(target, write)


class TokenCacheWriter:
    """Append codes to a token cache folder (created if needed; an existing one must have the same codec settings).

    Usage: ``w = TokenCacheWriter(dir, "codec-v1", 50, 8, 1024)``; ``if not w.has(id): w.add(id, codes, record)``.
    """

    def __init__(self, directory: str | os.PathLike, codec_id: str, frame_rate: float, n_q: int, card: int):
        if not 2 <= card <= 32767:
            raise ValueError(f"card must lie in [2, 32767] (codes are stored as int16), got {card}")
        if n_q < 1 or frame_rate <= 0 or not codec_id:
            raise ValueError(f"need n_q >= 1, frame_rate > 0 and a codec id, got {n_q}, {frame_rate}, {codec_id!r}")
        self.dir = Path(directory)
        (self.dir / CODES_DIR).mkdir(parents=True, exist_ok=True)
        meta = {"codec": codec_id, "frame_rate": frame_rate, "n_q": n_q, "card": card, "version": VERSION}
        meta_path = self.dir / META_NAME
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if any(old.get(k) != v for k, v in meta.items()):
                raise ValueError(f"{meta_path} holds {old}; this writer was opened with {meta} (use a new folder)")
        else:
            atomic_write_text(meta_path, json.dumps(meta, indent=2))
        self.n_q, self.card = n_q, card
        index = self.dir / INDEX_NAME
        entries, good = read_jsonl_log(index)
        if index.exists() and good < index.stat().st_size:
            os.truncate(index, good)  # drop the half-written line of a killed run
        self._ids = {e["id"] for e in entries}
        self._fd = os.open(index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def has(self, item_id: str) -> bool:
        """Whether ``item_id`` is already in the cache (to resume an interrupted encoding)."""
        return item_id in self._ids

    def add(self, item_id: str, codes, record) -> None:
        """Store ``codes`` ``[K, T]`` (K = this cache's n_q, values in ``[0, card)``; numpy or torch) for
        ``item_id`` with its manifest ``record`` (a Record or a dict)."""
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"item id must be a non-empty string, got {item_id!r}")
        if self.has(item_id):
            raise ValueError(f"item {item_id!r} is already in {self.dir}; check has(id) first")
        codes = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        if codes.ndim != 2 or codes.shape[0] != self.n_q or codes.shape[1] < 1:
            raise ValueError(f"codes must be [{self.n_q}, T >= 1], got shape {codes.shape}")
        if codes.min() < 0 or codes.max() >= self.card:
            raise ValueError(f"codes must lie in [0, {self.card - 1}], got [{codes.min()}, {codes.max()}]")
        rec = asdict(record) if is_dataclass(record) else dict(record)
        rel = f"{CODES_DIR}/{_item_filename(item_id)}"
        atomic_save_npy(self.dir / rel, codes.astype(np.int16))
        line = json.dumps({"id": item_id, "codes": rel, "frames": int(codes.shape[1]), "record": rec})
        os.write(self._fd, (line + "\n").encode("utf-8"))
        os.fsync(self._fd)
        self._ids.add(item_id)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TokenCacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class CacheItem:
    """One index line: ``codes`` is relative to the cache folder; ``record`` is the manifest record dict."""

    id: str
    codes: str
    frames: int
    record: dict


class TokenCache:
    """Read a token cache folder: its settings (``codec_id``, ``frame_rate``, ``n_q``, ``card``) and items."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        meta_path = self.dir / META_NAME
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.dir} is not a token cache (no {META_NAME})")
        meta = json.loads(meta_path.read_text())
        if meta.get("version") != VERSION:
            raise ValueError(f"{meta_path}: token cache version {meta.get('version')}, this reader knows {VERSION}")
        self.codec_id, self.frame_rate = meta["codec"], float(meta["frame_rate"])
        self.n_q, self.card = int(meta["n_q"]), int(meta["card"])
        entries, _ = read_jsonl_log(self.dir / INDEX_NAME)
        self._beats: dict[str, np.ndarray] | None = None
        self._controls: dict[str, dict] | None = None
        seen: set[str] = set()
        self.items: list[CacheItem] = []
        for e in entries:
            if e["id"] not in seen:
                seen.add(e["id"])
                self.items.append(CacheItem(e["id"], e["codes"], int(e["frames"]), e.get("record") or {}))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> CacheItem:
        return self.items[i]

    def codes(self, item: CacheItem | int, mmap: bool = True) -> np.ndarray:
        """The int16 codes ``[n_q, T]`` of an item (memory-mapped by default)."""
        item = self.items[item] if isinstance(item, int) else item
        return np.load(self.dir / item.codes, mmap_mode="r" if mmap else None)

    def beats(self, item: CacheItem | int) -> np.ndarray | None:
        """Beat times (seconds from the item's first frame) of an item, or None if the cache has none for it."""
        item = self.items[item] if isinstance(item, int) else item
        if self._beats is None:
            from audiogen.data.beats import read_beats

            self._beats = read_beats(self.dir)
        return self._beats.get(item.id)

    def controls(self, item: CacheItem | int) -> np.ndarray | None:
        """The stored controls ``[T, CONTROL_FEATURES]`` (float16, memory-mapped) of an item, or None."""
        item = self.items[item] if isinstance(item, int) else item
        if self._controls is None:
            from audiogen.data.control_cache import read_control_index

            self._controls = read_control_index(self.dir)
        entry = self._controls.get(item.id)
        return None if entry is None else np.load(self.dir / entry["controls"], mmap_mode="r")

    def window_controls(self, item: CacheItem | int, start: int, length: int) -> np.ndarray:
        """Controls ``[length, CONTROL_FEATURES]`` float32 of frames ``start ..`` of an item: the stored ones, else
        the beat group alone from its tracked beats, else all absent; frames past the item are absent."""
        item = self.items[item] if isinstance(item, int) else item
        stored = self.controls(item)
        if stored is not None:
            out = layout.empty(length)
            part = np.asarray(stored[start : start + length], dtype=np.float32)
            out[: len(part)] = part
            return out
        full = layout.empty(start + length)
        beats = self.beats(item)
        layout.write_beats(full, beats if beats is not None and len(beats) >= 2 else None, None, self.frame_rate)
        return full[start:]

    def split(self, name: str | None) -> list[int]:
        """Indices of the items whose record has ``split == name`` (all items for None)."""
        return [i for i, it in enumerate(self.items) if name is None or it.record.get("split", "train") == name]


class TokenWindowDataset(Dataset):
    """Random windows of ``window_frames`` frames from the items of one split.

    Each item contributes ``ceil(frames / window_frames)`` windows, so long tracks are seen more. Index ``i`` in
    ``[0, len)`` is epoch 0; index ``i + e * len`` is the same slot in epoch ``e``; the window's start depends only on
    ``(seed, epoch, i)``. Items shorter than the window are padded with the special token ``card`` (not scored by the
    LM loss; it learns where tracks end). A sample is a dict: ``codes`` ``[n_q, window_frames]`` long, ``frames``
    (valid frames), ``id``, ``position`` (window start in the track, seconds), ``duration`` (track length, seconds:
    the record's offset + the item's length, so cache whole tracks for exact timing) and the record's fields.
    With ``control_features`` > 0 a sample also holds ``controls`` ``[window_frames + n_q - 1, control_features]``:
    the dense controls (:mod:`audiogen.controls.layout`) of the window's frames and the delay pattern's extra steps
    (:meth:`TokenCache.window_controls`).
    """

    def __init__(
        self,
        cache: TokenCache,
        window_frames: int,
        split: str | None = "train",
        n_q: int = 4,
        seed: int = 0,
        min_frames: int = 1,
        control_features: int = 0,
    ):
        if window_frames < 1:
            raise ValueError(f"window_frames must be >= 1, got {window_frames}")
        if not 1 <= n_q <= cache.n_q:
            raise ValueError(f"n_q must lie in [1, {cache.n_q}] (the cache's codebooks), got {n_q}")
        self.cache, self.window, self.n_q, self.seed = cache, window_frames, n_q, seed
        if control_features not in (0, layout.CONTROL_FEATURES):
            raise ValueError(
                f"control_features must be 0 (none) or {layout.CONTROL_FEATURES} (the controls), got {control_features}"
            )
        self.control_features = control_features
        self.indices = [i for i in cache.split(split) if cache[i].frames >= max(1, min_frames)]
        if not self.indices:
            raise ValueError(f"no items of split {split!r} with >= {min_frames} frames in {cache.dir}")
        counts = [math.ceil(cache[i].frames / window_frames) for i in self.indices]
        self.starts = np.cumsum([0, *counts]).tolist()

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            raise IndexError(f"index must be >= 0, got {index}")
        epoch, slot = divmod(index, len(self))
        item = self.cache[self.indices[bisect_right(self.starts, slot) - 1]]
        rng = np.random.default_rng([self.seed, epoch, slot])
        start = int(rng.integers(0, max(item.frames - self.window, 0) + 1))
        window = np.asarray(self.cache.codes(item)[: self.n_q, start : start + self.window], dtype=np.int64)
        codes = torch.full((self.n_q, self.window), self.cache.card, dtype=torch.long)
        codes[:, : window.shape[1]] = torch.from_numpy(window)
        rec = item.record
        offset = float(rec.get("offset") or 0.0)
        extra = {}
        if self.control_features:
            steps = self.window + self.n_q - 1
            extra["controls"] = torch.from_numpy(self.cache.window_controls(item, start, steps))
        return {
            **rec,
            **extra,
            "codes": codes,
            "frames": window.shape[1],
            "id": item.id,
            "position": offset + start / self.cache.frame_rate,
            "duration": offset + item.frames / self.cache.frame_rate,
        }


def window_attributes(sample: dict) -> Attributes:
    """The conditioning :class:`Attributes` of a :class:`TokenWindowDataset` sample.

    Records are data, not requests: unknown tags and labels are dropped and tempos folded into range
    (:func:`~audiogen.conditioning.records.attributes_from_record`); timing comes from the window's position.
    """
    from audiogen.conditioning.records import attributes_from_record

    return attributes_from_record(sample, crop_start=sample["position"])


def collate_windows(samples: list[dict]) -> tuple[torch.Tensor, list[Attributes], torch.Tensor | None]:
    """Batch samples: ``(codes [B, n_q, window] long, attributes list[B], controls [B, steps, F] or None)``."""
    ctl = torch.stack([s["controls"] for s in samples]) if samples and "controls" in samples[0] else None
    return torch.stack([s["codes"] for s in samples]), [window_attributes(s) for s in samples], ctl
