"""Training and evaluation segments from manifests: fixed-length crops of the corpus' audio with their labels.

Two modes:

* **random** (training): each item is a crop at a random place of a random track, tracks drawn with probability
  proportional to their duration so long tracks give more crops. The crop of item ``i`` depends only on
  ``(seed, epoch, i)`` (:meth:`AudioDataset.set_epoch` moves to new crops), so runs are reproducible and any
  DataLoader worker split gives the same data. Near-silent crops are redrawn a few times.
* **fixed** (evaluation): ``crops_per_track`` evenly spaced crops of every track (one = the centre), always the
  same.

Random mode can transpose crops (``pitch_shift``): a share of them is played a whole number of semitones up or down,
drawn with the crop (uniformly, from ``-pitch_shift`` to ``pitch_shift``), by reading ``2^(k/12)`` times the crop's
length and resampling it to the crop's length (a tape-speed change: the tempo and the formants move with the pitch).
Each timbre of a small corpus is then heard on more notes and in more keys.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiogen.audio import SAMPLE_RATE, AudioError, load_audio
from audiogen.data.manifest import SPLITS, Record, iter_manifest, record_key

SILENCE_DB = -55.0  # a crop quieter than this (RMS dBFS) counts as silent and is redrawn
MAX_RETRIES = 4
NUMERIC_LABELS = ("valence", "arousal", "tempo")
TEXT_LABELS = ("emotion", "key", "mode", "caption", "source", "track", "title")


def rms_db(audio: np.ndarray) -> float:
    """RMS level of ``audio`` ``(T,)`` in dBFS (−inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def normalise_rms(audio: np.ndarray, target_db: float) -> np.ndarray:
    """Scale ``audio`` ``(T,)`` to an RMS of ``target_db`` dBFS, then down again if its peak would exceed 1."""
    level = rms_db(audio)
    if not math.isfinite(level):
        return audio
    out = audio * np.float32(10 ** ((target_db - level) / 20))
    peak = float(np.max(np.abs(out)))
    if peak > 1.0:
        out = out / np.float32(peak)
    return out.astype(np.float32, copy=False)


def _source_matches(source: str, wanted: Sequence[str]) -> bool:
    """``"debian"`` selects ``"debian/wesnoth-1.16-music"``; an exact name selects just that source."""
    return any(source == w or source.startswith(w.rstrip("/") + "/") for w in wanted)


def load_records(
    manifests: Sequence[str | os.PathLike],
    split: str | None = "train",
    sources: Sequence[str] | None = None,
    min_duration: float = 0.0,
) -> list[tuple[Record, Path]]:
    """Records of ``manifests`` passing the filters, each with its audio file's resolved path."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    out = []
    for m in manifests:
        root = Path(m).parent
        for r in iter_manifest(m):
            if split is not None and r.split != split:
                continue
            if sources is not None and not _source_matches(r.source, sources):
                continue
            if r.duration < min_duration:
                continue
            out.append((r, r.resolve_path(root)))
    return out


def shift_ratio(semitones: int) -> tuple[int, int]:
    """``(up, down)``: the speed ``2^(semitones / 12)`` as a ratio of small integers (within 0.1 cent), so a crop
    transposes by polyphase resampling."""
    if not semitones:
        return 1, 1
    ratio = Fraction(2 ** (semitones / 12)).limit_denominator(400)
    return ratio.numerator, ratio.denominator


def transpose(audio: np.ndarray, semitones: int) -> np.ndarray:
    """``(T,)`` float32 → ``(ceil(T down / up),)``: ``audio`` played ``2^(semitones/12)`` times faster (its pitch
    moved by ``semitones``, its duration by the inverse), by polyphase resampling with a Kaiser-windowed low-pass."""
    from scipy.signal import resample_poly

    up, down = shift_ratio(semitones)
    if up == down:
        return audio
    return resample_poly(audio, down, up).astype(np.float32)


class AudioDataset(Dataset):
    """Fixed-length crops of the audio listed in JSON-lines manifests.

    Args:
        manifests: manifest files; relative audio paths are taken from each manifest's folder.
        segment_seconds: crop length; items hold ``T = round(segment_seconds * 32000)`` samples.
        split: keep records of this split (``None``: all).
        sources: keep these sources (a name selects itself and its ``name/...`` sub-sources); ``None``: all.
        min_duration: drop records shorter than this (seconds).
        seed: seed of the random crops.
        loudness_db: RMS level crops are normalised to (dBFS); ``None`` leaves the level alone.
        segments_per_epoch: items per epoch in random mode (default: total duration / segment length).
        deterministic: fixed crops instead of random ones; ``None`` picks fixed crops for the valid/test splits.
        crops_per_track: fixed mode: evenly spaced crops per track (1 = the centre), fewer if the track is short.
        pitch_shift: random mode: transpose crops by up to this many semitones either way (0: never; at most 12).
        pitch_shift_share: the share of crops whose transposition is drawn, uniformly from ``-pitch_shift`` to
            ``pitch_shift`` semitones (0 included; 6 with a share of 1 spreads any key over the 12 pitch classes
            almost evenly); the rest are played as recorded.

    Items are dicts: ``audio`` float32 Tensor ``[1, T]``; ``valence``/``arousal``/``tempo`` floats (NaN when
    unknown); ``emotion``/``key``/``mode``/``caption``/``source``/``track``/``title`` strings (``""`` when unknown);
    ``tags`` a list of strings; ``offset`` the crop's start in the file (seconds); ``length`` the number of real
    (unpadded) samples; ``shift`` the semitones the crop was transposed by (0 when not). Batch them with
    :func:`collate_segments`.
    """

    def __init__(
        self,
        manifests: Sequence[str | os.PathLike],
        segment_seconds: float,
        split: str | None = "train",
        sources: Sequence[str] | None = None,
        min_duration: float = 0.0,
        seed: int = 0,
        loudness_db: float | None = -20.0,
        segments_per_epoch: int | None = None,
        deterministic: bool | None = None,
        crops_per_track: int = 1,
        pitch_shift: int = 0,
        pitch_shift_share: float = 0.0,
    ) -> None:
        if not 0 < segment_seconds <= 600:
            raise ValueError(f"segment_seconds must be in (0, 600], got {segment_seconds}")
        if segments_per_epoch is not None and segments_per_epoch < 1:
            raise ValueError(f"segments_per_epoch must be >= 1 or None, got {segments_per_epoch}")
        if crops_per_track < 1:
            raise ValueError(f"crops_per_track must be >= 1, got {crops_per_track}")
        if not 0 <= int(pitch_shift) <= 12 or pitch_shift != int(pitch_shift):
            raise ValueError(f"pitch_shift must be a whole number of semitones in [0, 12], got {pitch_shift}")
        if not 0.0 <= pitch_shift_share <= 1.0:
            raise ValueError(f"pitch_shift_share must be in [0, 1], got {pitch_shift_share}")
        if loudness_db is not None and not -70 <= loudness_db <= 0:
            raise ValueError(f"loudness_db must be in [-70, 0] dBFS or None, got {loudness_db}")
        if isinstance(manifests, (str, os.PathLike)):
            manifests = [manifests]
        self.records = load_records(manifests, split, sources, min_duration)
        if not self.records:
            raise ValueError(
                f"no records in {[str(m) for m in manifests]} match split={split!r}, sources={sources}, "
                f"min_duration={min_duration}"
            )
        self.segment_seconds = float(segment_seconds)
        self.num_samples = round(segment_seconds * SAMPLE_RATE)
        self.seed = int(seed)
        self.loudness_db = loudness_db
        self.epoch = 0
        self.deterministic = split in ("valid", "test") if deterministic is None else bool(deterministic)
        durations = np.array([r.duration for r, _ in self.records], dtype=np.float64)
        self.total_seconds = float(durations.sum())
        self._cumulative = np.cumsum(durations) / self.total_seconds
        self._fixed = self._fixed_crops(crops_per_track) if self.deterministic else []
        if segments_per_epoch is None:
            segments_per_epoch = max(1, int(self.total_seconds // self.segment_seconds))
        self.segments_per_epoch = segments_per_epoch
        self.pitch_shift = int(pitch_shift)
        self.pitch_shift_share = float(pitch_shift_share) if pitch_shift else 0.0

    def thin_fixed(self, n: int) -> None:
        """Keep an evenly spread ``n`` of the fixed crops (a cheaper validation set)."""
        self._fixed = self._fixed[:: max(1, len(self._fixed) // n)][:n]

    def _fixed_crops(self, per_track: int) -> list[tuple[int, float]]:
        """``[(record index, offset within the record)]``: evenly spaced crop centres."""
        crops = []
        for i, (r, _) in enumerate(self.records):
            n = max(1, min(per_track, int(r.duration // self.segment_seconds)))
            room = max(0.0, r.duration - self.segment_seconds)
            crops += [(i, room * (k + 1) / (n + 1)) for k in range(n)]
        return crops

    def set_epoch(self, epoch: int) -> None:
        """Move random mode to the crops of ``epoch`` (call before each epoch; workers must be re-created or the
        DataLoader built with ``persistent_workers=False`` to see it)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._fixed) if self.deterministic else self.segments_per_epoch

    def _read(self, index: int, offset: float, shift: int = 0) -> tuple[np.ndarray, int]:
        """Decode one crop, transposed by ``shift`` semitones: ``(audio (T,) float32 zero-padded, real length)``."""
        record, path = self.records[index]
        up, down = shift_ratio(shift)
        want = -(-self.num_samples * up // down)  # the source samples that play the crop at the shifted speed
        audio = load_audio(
            path, SAMPLE_RATE, offset=record.offset + offset, duration=want / SAMPLE_RATE, allow_silent=True
        )[:want]
        if shift:
            audio = transpose(audio, shift)
        audio = audio[: self.num_samples]
        n = audio.shape[0]
        if n < self.num_samples:
            audio = np.pad(audio, (0, self.num_samples - n))
        return audio, n

    def _draw(self, rng: np.random.Generator) -> tuple[int, float, int]:
        """``(record index, offset, semitones)`` of a random crop: the offset leaves room for the source samples a
        transposed crop reads."""
        index = min(bisect_right(self._cumulative, rng.random()), len(self.records) - 1)
        start = rng.random()
        shift = 0
        if self.pitch_shift_share and rng.random() < self.pitch_shift_share:
            shift = int(rng.integers(-self.pitch_shift, self.pitch_shift + 1))
        up, down = shift_ratio(shift)
        room = max(0.0, self.records[index][0].duration - self.segment_seconds * up / down)
        return index, float(start * room), shift

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} segments")
        shift = 0
        if self.deterministic:
            index, offset = self._fixed[i]
            audio, n = self._read(index, offset)
        else:
            index, offset, shift, audio, n = self._random_crop(i)
        if self.loudness_db is not None and rms_db(audio[:n]) > SILENCE_DB:
            audio = normalise_rms(audio, self.loudness_db)
        return self._item(index, offset, audio, n, shift)

    def _random_crop(self, i: int) -> tuple[int, float, int, np.ndarray, int]:
        """Item ``i``'s crop in random mode ``(record index, offset, semitones, audio, length)``: redrawn while
        silent or unreadable, at most ``MAX_RETRIES`` times (a silent crop is kept when nothing better turned up)."""
        rng = np.random.default_rng([self.seed, self.epoch, i])
        found = None
        for _ in range(MAX_RETRIES + 1):
            index, offset, shift = self._draw(rng)
            try:
                audio, n = self._read(index, offset, shift)
            except AudioError:
                continue  # an unreadable file: draw another crop
            found = (index, offset, shift, audio, n)
            if rms_db(audio[:n]) > SILENCE_DB:
                break
        if found is None:
            raise AudioError(f"no readable crop after {MAX_RETRIES + 1} draws (item {i})")
        return found

    def _item(self, index: int, offset: float, audio: np.ndarray, n: int, shift: int = 0) -> dict:
        r = self.records[index][0]
        item: dict = {"audio": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]}
        for name in NUMERIC_LABELS:
            v = getattr(r, name)
            item[name] = float("nan") if v is None else float(v)
        for name in TEXT_LABELS:
            item[name] = getattr(r, name) or ""
        item["tags"] = list(r.tags)
        item["offset"] = float(offset)
        item["length"] = int(n)
        item["shift"] = int(shift)
        item["record_key"] = record_key(r)  # where a per-record cache (e.g. the note posteriors) keeps this record
        return item


def collate_segments(items: list[dict]) -> dict:
    """Batch items of :class:`AudioDataset`: ``audio`` ``[B, 1, T]``, numeric labels, ``length`` and ``shift`` as
    ``[B]`` tensors (NaN = unknown), text labels, ``tags`` and the records' cache ``record_key`` as lists."""
    batch: dict = {"audio": torch.stack([it["audio"] for it in items])}
    for name in (*NUMERIC_LABELS, "offset"):
        batch[name] = torch.tensor([it[name] for it in items], dtype=torch.float32)
    batch["length"] = torch.tensor([it["length"] for it in items], dtype=torch.long)
    batch["shift"] = torch.tensor([it.get("shift", 0) for it in items], dtype=torch.long)
    for name in (*TEXT_LABELS, "tags", "record_key"):
        batch[name] = [it[name] for it in items]
    return batch
