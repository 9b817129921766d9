"""Features of a music excerpt for the emotion model (feature set ``emotion-features-v1``), and their cache.

One excerpt (by default the central 30 s of a file) becomes a fixed-length vector of :data:`N_FEATURES` numbers:

* 9 descriptors from :func:`audiogen.analysis.describe` (log tempo, mode score, key strength, loudness,
  log onset rate, log centroid, log roll-off, dynamic range, percussive ratio);
* the mean chroma rotated so the estimated tonic comes first, normalised to sum 1 (12; mode and harmony, not key);
* log-mel statistics over time of 64 mel bands (22.05 kHz, 2048-point FFT, hop 512, dB): mean, standard deviation
  and mean absolute frame-to-frame change (3 × 64).

Extracting one 30 s excerpt takes a few CPU seconds (the CQT chroma and the harmonic/percussive split dominate), so
corpus features are cached as JSON lines (:class:`FeatureCache`), one line per excerpt written as soon as it is done:
an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from audiogen.analysis import ANALYSIS_SR, HOP, PITCHES, analysis_window, describe
from audiogen.audio import load_audio, resample

FEATURE_VERSION = "emotion-features-v1"
WINDOW_SECONDS = 30.0
N_MELS = 64
DESCRIPTOR_NAMES = (
    "log_tempo",
    "mode_score",
    "key_strength",
    "loudness_lufs",
    "log_onset_rate",
    "log_centroid",
    "log_rolloff",
    "dynamic_range_db",
    "percussive_ratio",
)
FEATURE_NAMES: tuple[str, ...] = (
    *DESCRIPTOR_NAMES,
    *(f"chroma_{i}" for i in range(12)),
    *(f"mel_mean_{i}" for i in range(N_MELS)),
    *(f"mel_std_{i}" for i in range(N_MELS)),
    *(f"mel_flux_{i}" for i in range(N_MELS)),
)
N_FEATURES = len(FEATURE_NAMES)


def descriptor_vector(desc: dict) -> np.ndarray:
    """The 21 descriptor features (9 scalars + tonic-relative chroma) of a :func:`describe` dict, float32 ``(21,)``."""
    scalars = [
        math.log(max(desc["tempo"], 1.0)),
        desc["mode_score"],
        desc["key_strength"],
        max(desc["loudness_lufs"], -70.0),
        math.log1p(desc["onset_rate"]),
        math.log(max(desc["centroid_hz"], 1.0)),
        math.log(max(desc["rolloff_hz"], 1.0)),
        desc["dynamic_range_db"],
        desc["percussive_ratio"],
    ]
    chroma = np.roll(np.asarray(desc["chroma"], dtype=np.float64), -PITCHES.index(desc["key"]))
    chroma = chroma / max(chroma.sum(), 1e-9)
    return np.asarray([*scalars, *chroma], dtype=np.float32)


def mel_statistics(y: np.ndarray, sr: int = ANALYSIS_SR) -> np.ndarray:
    """Mean, std and mean absolute change over time of 64 log-mel bands of ``y`` ``(T,)``: float32 ``(192,)``."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=HOP, n_mels=N_MELS, fmax=sr / 2)
    db = 10.0 * np.log10(mel + 1e-10)  # (64, frames)
    flux = np.abs(np.diff(db, axis=1)).mean(axis=1) if db.shape[1] > 1 else np.zeros(N_MELS)
    return np.concatenate([db.mean(axis=1), db.std(axis=1), flux]).astype(np.float32)


def excerpt_features(y: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
    """Features of one excerpt ``y`` ``(T,)`` at ``sr`` Hz (at least 0.5 s).

    Returns:
        ``(features (N_FEATURES,) float32, descriptors dict of describe())``.
    """
    y = np.asarray(y, dtype=np.float32)
    if sr != ANALYSIS_SR:
        y = resample(y, sr, ANALYSIS_SR)
    desc = describe(y, ANALYSIS_SR)
    feats = np.concatenate([descriptor_vector(desc), mel_statistics(y)])
    if not np.isfinite(feats).all():
        raise ValueError("feature extraction produced non-finite values (is the excerpt silent?)")
    return feats, desc


def central_window(duration: float, window: float = WINDOW_SECONDS) -> tuple[float, float]:
    """``(start, length)`` in seconds of the excerpt the model looks at: the central ``window`` seconds."""
    start, length = analysis_window(duration, window)
    return start, duration if length is None else length


def training_windows(duration: float, window: float = WINDOW_SECONDS, extra: bool = False) -> list[tuple[float, float]]:
    """Excerpts of a record used for training: the central window, plus (``extra``) the windows one ``window``
    before and after it when the record is long enough (they stay inside the central 120 s the analysis labels
    were measured on)."""
    out = [central_window(duration, window)]
    if extra and duration >= 3 * window:
        start = out[0][0]
        out += [(start - window, window), (start + window, window)]
    return out


def cache_key(path: str | os.PathLike, start: float, length: float) -> str:
    """Key of one excerpt: the file (path, size, modification time) and the excerpt's place in it."""
    st = os.stat(path)
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{start:.2f}|{length:.2f}|{FEATURE_VERSION}"


class FeatureCache:
    """Features of excerpts in ``DIR/features.jsonl`` (one JSON line per excerpt: key, features, descriptors)."""

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / "features.jsonl"
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line from a killed run

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def add(self, entry: dict) -> None:
        """Store ``entry`` (with ``key``) and append it to the file at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        self.entries[entry["key"]] = entry


def excerpt_entry(path: Path, offset: float, start: float, length: float) -> dict:
    """Cache entry of one excerpt (``offset`` = the record's start in the file): features or the error."""
    key = cache_key(path, offset + start, length)
    t0 = time.process_time()
    try:
        y = load_audio(path, ANALYSIS_SR, offset=offset + start, duration=length, allow_silent=True)
        feats, desc = excerpt_features(y, ANALYSIS_SR)
        seconds = round(time.process_time() - t0, 2)
        return {"key": key, "features": [round(float(x), 5) for x in feats], "descriptors": desc, "cpu_s": seconds}
    except Exception as err:  # cached so that a bad file is not retried forever
        return {"key": key, "error": f"{type(err).__name__}: {err}"}


def fill_cache(
    jobs: Iterable[tuple[Path, float, float, float]], cache: FeatureCache, progress: bool = True
) -> dict[str, int]:
    """Extract and cache the features of every ``(path, offset, start, length)`` not cached yet.

    Returns counts: ``done``, ``cached``, ``failed`` and ``seconds`` (wall time spent extracting).
    """
    jobs = list(jobs)
    counts = {"done": 0, "cached": 0, "failed": 0}
    t0 = time.time()
    for i, (path, offset, start, length) in enumerate(jobs, 1):
        if not Path(path).is_file():  # moved or deleted since the manifest was written: not cached, retried later
            counts["failed"] += 1
            print(f"features skipped: {path}: no such file", file=sys.stderr, flush=True)
            continue
        if cache.get(cache_key(path, offset + start, length)) is not None:
            counts["cached"] += 1
            continue
        entry = excerpt_entry(path, offset, start, length)
        cache.add(entry)
        if "error" in entry:
            counts["failed"] += 1
            print(f"features failed: {path}: {entry['error']}", file=sys.stderr, flush=True)
        else:
            counts["done"] += 1
        if progress and (counts["done"] % 20 == 0 or i == len(jobs)):
            print(f"features {i}/{len(jobs)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    counts["seconds"] = round(time.time() - t0, 1)
    return counts
