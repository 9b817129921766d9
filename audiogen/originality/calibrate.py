"""Thresholds for the originality verdict, from the corpus itself: what unrelated music reads, what copies read.

- **Unrelated**: 30 s excerpts of training items read against the index *without that item* (a different real track
  of the same corpus, often of the same game or genre), and excerpts of valid-split items (never trained on) read
  against the whole index. The training items are drawn from those the copy encoder never saw
  (:func:`audiogen.originality.encoder.encoder_bucket`), as the copies below are.
- **Copies**: 30 s excerpts of other training items, read against the whole index as they are and altered as a
  copyist would: transposed by 1-3 semitones, re-tempoed by 5-10 % (either way), coded through Opus at 12 kbps,
  mixed with white noise at 20 dB SNR.

Each reading's threshold is one step above the highest value any unrelated excerpt reached (one note, one chord
change, 0.1 s of tokens, 0.01 of cosine), so no unrelated calibration excerpt is flagged; what share of each kind of
copy then reaches it is recorded beside it (``index.json`` ``calibration``).
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from audiogen.originality.check import LEVELS
from audiogen.originality.index import OriginalityIndex

ALTERATIONS = ("copy", "transpose", "tempo", "opus12", "noise20")
STEP = {"melody": 1.0, "chords": 1.0, "tokens": 0.1, "sound": 0.01}
EXCERPT_S = 30.0


def without_item(index: OriginalityIndex, item: int) -> OriginalityIndex:
    """A view of ``index`` in which item ``item`` is absent (its symbols replaced by separators, its fingerprints and
    sound windows dropped): what the index would be had that track not been trained on."""
    from audiogen.originality.features import SEPARATOR

    mel = np.where(index.melody_item == item, SEPARATOR, index.melody)
    cho = np.where(index.chord_item == item, SEPARATOR, index.chords)
    fp, snd = index.fp_item != item, index.sound_item != item
    return replace(index, melody=mel, chords=cho, fp_hash=index.fp_hash[fp], fp_item=index.fp_item[fp],
                   fp_frame=index.fp_frame[fp], sound=index.sound[snd], sound_item=index.sound_item[snd])  # fmt: skip


def alter(audio: np.ndarray, sample_rate: int, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``(altered audio [T'], what was done)`` of mono ``audio`` ``[T]`` (see :data:`ALTERATIONS`)."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if kind == "copy":
        return y, "unaltered"
    if kind == "transpose":
        steps = int(rng.choice([-3, -2, -1, 1, 2, 3]))
        return librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=steps).astype(np.float32), f"{steps:+d} st"
    if kind == "tempo":
        rate = float(rng.uniform(1.05, 1.10)) ** float(rng.choice([-1, 1]))
        return librosa.effects.time_stretch(y, rate=rate).astype(np.float32), f"tempo x{rate:.3f}"
    if kind == "opus12":
        from audiogen.eval.baselines import opus_roundtrip

        return opus_roundtrip(y, sample_rate, 12.0).audio.astype(np.float32), "Opus 12 kbps"
    if kind == "noise20":
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        noise = rng.standard_normal(len(y)).astype(np.float32) * rms / 10.0
        return np.clip(y + noise, -1, 1), "white noise at 20 dB SNR"
    raise ValueError(f"unknown alteration {kind!r}; allowed: {', '.join(ALTERATIONS)}")


def excerpt_of(rec, root, cache_frames: int, frame_rate: float, rng: np.random.Generator, sr: int = 32000):
    """``(audio [T], start s)``: an :data:`EXCERPT_S` excerpt of a manifest record's audio at a random start within
    the part the cache holds."""
    from audiogen.audio import load_audio

    seconds = cache_frames / frame_rate
    start = float(rng.uniform(0, max(seconds - EXCERPT_S, 0.0)))
    y = load_audio(rec.resolve_path(root), sr, rec.offset + start, min(EXCERPT_S, seconds), allow_silent=True)
    return y, start


def readings_row(result, **facts) -> dict:
    """One table row: ``facts`` plus each level's value and nearest item id."""
    row = dict(facts)
    for r in result.readings:
        row[r.level] = r.value
        row[f"{r.level}_item"] = (r.item or {}).get("id")
    return row


def calibration_rows(checker, cache_dir, manifests: list[str], n_unrelated: int = 100, n_copies: int = 50,
                     seed: int = 0, progress: bool = True) -> list[dict]:  # fmt: skip
    """Rows of readings (see :func:`readings_row`) with ``kind`` = "unrelated-train", "unrelated-valid" or an
    alteration of :data:`ALTERATIONS`; ``source`` the excerpt's item id. Items are drawn with ``seed``."""
    from audiogen.data.token_cache import TokenCache
    from audiogen.originality.encoder import TRAIN_SHARE, encoder_bucket
    from audiogen.originality.index import manifest_roots

    cache, records = TokenCache(cache_dir), manifest_roots(manifests)
    index = checker.index
    pos = {it["id"]: i for i, it in enumerate(index.items)}
    rng = np.random.default_rng(seed)
    train = [i for i in cache.split("train") if cache[i].id in pos and cache[i].record.get("track") in records
             and encoder_bucket(cache[i].id) >= TRAIN_SHARE]  # fmt: skip
    valid = [i for i in cache.split("valid") if cache[i].record.get("track") in records]
    picks = rng.permutation(train)
    plan = [("unrelated-train", i) for i in picks[:n_unrelated]] + [("unrelated-valid", i) for i in valid]
    plan += [("copies", i) for i in picks[n_unrelated : n_unrelated + n_copies]]
    rows = []
    for n, (kind, i) in enumerate(plan):
        item = cache[i]
        rec, root = records[item.record["track"]]
        y, start = excerpt_of(rec, root, item.frames, cache.frame_rate, rng)
        if kind == "copies":
            for alteration in ALTERATIONS:
                z, how = alter(y, 32000, alteration, rng)
                rows.append(readings_row(checker.check_audio(z, 32000), kind=alteration, how=how, source=item.id,
                                         start=round(start, 2)))  # fmt: skip
        else:
            saved = checker.index
            if kind == "unrelated-train":
                checker.index = without_item(index, pos[item.id])
            try:
                rows.append(readings_row(checker.check_audio(y, 32000), kind=kind, source=item.id,
                                         start=round(start, 2)))  # fmt: skip
            finally:
                checker.index = saved
        if progress:
            print(f"calibration: {n + 1}/{len(plan)} excerpts", file=sys.stderr, flush=True)
    return rows


def thresholds_from(rows: list[dict]) -> tuple[dict[str, float], dict]:
    """``(thresholds, calibration summary)`` from :func:`calibration_rows`: per level one :data:`STEP` above the
    highest unrelated value; the summary holds both distributions' quantiles and each alteration's flag rate."""
    unrelated = [r for r in rows if r["kind"].startswith("unrelated")]
    thresholds, summary = {}, {"excerpt_s": EXCERPT_S, "unrelated": len(unrelated), "levels": {}}
    for level in LEVELS:
        vals = np.array([r[level] for r in unrelated if r.get(level) is not None], dtype=np.float64)
        if not len(vals):
            continue
        t = round(float(vals.max()) + STEP[level], 4)
        thresholds[level] = t
        q = np.quantile(vals, [0.5, 0.9, 0.99]).round(4).tolist()
        summary["levels"][level] = {"unrelated_median_p90_p99_max": [*q, float(vals.max())], "threshold": t}
    detect = {}
    for kind in ALTERATIONS:
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        flagged = [any(r.get(lv) is not None and lv in thresholds and r[lv] >= thresholds[lv] for lv in LEVELS)
                   for r in sel]  # fmt: skip
        by_level = {lv: float(np.mean([r.get(lv) is not None and r[lv] >= thresholds.get(lv, np.inf) for r in sel]))
                    for lv in LEVELS}  # fmt: skip
        detect[kind] = {"n": len(sel), "flagged": float(np.mean(flagged)), "by_level": by_level}
    summary["copies_flagged"] = detect
    return thresholds, summary
