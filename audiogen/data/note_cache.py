"""basic-pitch's note posteriors of every record of a corpus, cached once for a codec's note teacher.

Basic Pitch (Apache-2.0) ships a small polyphonic note model inside its wheel; run through ONNX Runtime it gives,
for every 11.6 ms frame (86.13 frames a second at its 22,050 Hz), the probability that each of the 88 piano keys
sounds. A codec whose first codebooks are taught these posteriors is taught the notes themselves, not a spectrum
that also carries timbre (the semitone teacher's labels, :mod:`audiogen.codec.teacher`). Running the model for every
training crop would cost about half a training step, so it runs once per record here and the trainer reads slices.

Each record of the manifests becomes ``OUT/<key>.npy``: float16 ``[frames, 88]`` of the record's span (its offset
and duration), keyed by :func:`record_key`. Records already cached are skipped, each file is written whole or not
at all, so an interrupted build resumes with the same command::

    python -m audiogen.data.note_cache MANIFEST [MANIFEST ...] --out $AUDIOGEN_WORK/notes [--limit N]

About 0.05 s of one CPU thread per second of audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from audiogen.data.manifest import record_key
from audiogen.transcribe import KEYS, LOWEST_MIDI, frame_rate, note_posteriors  # noqa: F401 (the cache's layout)


class NoteReader:
    """Posteriors of training crops from a cache folder: :meth:`crops` gives, for a batch's records and crop
    offsets, the mean posterior of each key over each token frame (``frame_seconds`` long) of the crop. A record
    without a cache file is looked for again after ``recheck_s`` seconds, so a run can start while the cache is
    still being built and take on each record as it arrives."""

    def __init__(self, folder: str | Path, frame_seconds: float, frames: int, recheck_s: float = 600.0) -> None:
        self.folder, self.frame_seconds, self.frames = Path(folder).expanduser(), float(frame_seconds), int(frames)
        self.recheck_s = float(recheck_s)
        self._open: dict[str, np.ndarray] = {}
        self._absent: dict[str, float] = {}  # key -> when its file was last found missing (time.monotonic)

    def _array(self, key: str) -> np.ndarray | None:
        if key in self._open:
            return self._open[key]
        seen = self._absent.get(key)
        if seen is not None and time.monotonic() - seen < self.recheck_s:
            return None
        path = self.folder / f"{key}.npy"
        if not path.is_file():
            self._absent[key] = time.monotonic()
            return None
        self._absent.pop(key, None)
        self._open[key] = np.load(path, mmap_mode="r")
        return self._open[key]

    def crops(self, keys: list[str], offsets) -> tuple[np.ndarray, np.ndarray]:
        """``(posteriors [B, 88, frames] float32, known [B] bool)`` for records ``keys`` and crop starts
        ``offsets`` (seconds into each record); an item without a cache file is unknown (zeros)."""
        rate = frame_rate()
        out = np.zeros((len(keys), KEYS, self.frames), dtype=np.float32)
        known = np.zeros(len(keys), dtype=bool)
        edges = np.arange(self.frames + 1) * self.frame_seconds
        for i, (key, offset) in enumerate(zip(keys, offsets, strict=True)):
            post = self._array(key)
            if post is None:
                continue
            lo = np.floor((float(offset) + edges[:-1]) * rate).astype(int)
            hi = np.maximum(lo + 1, np.floor((float(offset) + edges[1:]) * rate).astype(int))
            for f, (a, b) in enumerate(zip(lo, hi, strict=True)):
                if a < len(post):
                    out[i, :, f] = np.asarray(post[a : min(b, len(post))], dtype=np.float32).mean(0)
            known[i] = True
        return out, known


def _save(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a temporary's name
        np.save(f, array, allow_pickle=False)


def build(manifests: list[str], out: str | Path, limit: int | None = None, log=print) -> dict:
    """Cache the posteriors of every record of ``manifests`` (the first ``limit``) in ``out``; returns
    ``{"done", "skipped", "failed", "seconds"}``. A record whose audio cannot be read is reported and skipped."""
    from audiogen.audio import AudioError, load_audio
    from audiogen.data.manifest import iter_manifest
    from audiogen.fileio import atomic_write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"done": 0, "skipped": 0, "failed": 0, "seconds": 0.0}
    seen = 0
    for manifest in manifests:
        root = Path(manifest).parent
        for record in iter_manifest(manifest):
            if limit is not None and seen >= limit:
                return counts
            seen += 1
            target = out / f"{record_key(record)}.npy"
            if target.is_file():
                counts["skipped"] += 1
                continue
            t0 = time.perf_counter()
            try:
                audio = load_audio(record.resolve_path(root), 22050, offset=record.offset,
                                   duration=record.duration, allow_silent=True)  # fmt: skip
            except (AudioError, OSError) as exc:
                log(f"note_cache: skipped {record.track}: {exc}")
                counts["failed"] += 1
                continue
            post = note_posteriors(audio, 22050).astype(np.float16)
            atomic_write(target, lambda p, a=post: _save(p, a))
            counts["done"] += 1
            counts["seconds"] += record.duration
            log(f"note_cache: {record.track} ({record.duration:.0f} s) in {time.perf_counter() - t0:.1f} s")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.data.note_cache", description=__doc__.split("\n")[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None, help="cache at most this many records (a trial)")
    args = ap.parse_args(argv)
    from audiogen.transcribe import available

    why = available()
    if why:
        print(f"note_cache: {why}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    counts = build(args.manifests, args.out, args.limit)
    print(f"note_cache: {counts['done']} cached ({counts['seconds'] / 3600:.2f} h of audio), {counts['skipped']} "
          f"already there, {counts['failed']} unreadable")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
