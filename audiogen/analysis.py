"""Music descriptors and emotion labels from audio (label method ``audio-analysis-v1``).

Descriptors (all from librosa / pyloudnorm at 22.05 kHz):

* ``tempo`` (BPM): librosa's beat tracker; the tempo is refined as the mean of the inter-beat intervals that lie
  within 15 % of the tracker's estimate (the frame grid alone quantises it by ~2.5 % at 120 BPM).
* ``key``/``mode``: Krumhansl–Schmuckler — the track's mean CQT chroma correlated with the 24 rotations of the
  Krumhansl–Kessler major and minor profiles; ``key_strength`` is the best correlation, ``mode_score`` the best
  major correlation minus the best minor one.
* ``loudness_lufs``: integrated loudness (ITU-R BS.1770, pyloudnorm); ``onset_rate``: onsets per second;
  ``centroid_hz``/``rolloff_hz``: mean spectral centroid and 85 % roll-off (brightness); ``dynamic_range_db``: the
  spread (95th − 5th percentile) of frame RMS in dB; ``percussive_ratio``: percussive share of the spectral energy
  after harmonic/percussive separation.

Valence and arousal follow the cues with the strongest evidence in music psychology (major mode and brightness →
positive valence; tempo, loudness, onset density, brightness and percussiveness → arousal). Each descriptor is turned
into a robust z-score ``z(x) = (x − centre) / scale`` (centre = corpus median, scale = corpus IQR / 1.349 but at least
:data:`MIN_SCALES`; the defaults in :data:`DEFAULT_NORMS` come from the Debian game-music corpus) and::

    mode_term = clip(mode_score / 0.1, −1, 1)
    valence   = tanh(0.8·mode_term + 0.35·z(centroid_hz) + 0.15·z(tempo) − 0.15·z(percussive_ratio))
    arousal   = tanh(0.35·z(tempo) + 0.45·z(loudness_lufs) + 0.45·z(onset_rate) + 0.25·z(centroid_hz)
                     + 0.2·z(percussive_ratio))

When a title word carries an emotion ("victory", "sad", "battle", "peace", ...) the point moves a quarter of the way
towards that word's emotion. The ``emotion`` label is the vocabulary label nearest the point.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from audiogen.audio import load_audio, resample
from audiogen.conditioning.emotions import EMOTIONS, nearest_label, quadrant
from audiogen.music import SHARPS

ANALYSIS_SR = 22050
HOP = 512
LABEL_METHOD = "audio-analysis-v1"
PITCHES = SHARPS
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# (centre, scale) per descriptor; replaced by corpus statistics in :func:`corpus_norms`.
DEFAULT_NORMS: dict[str, tuple[float, float]] = {
    "tempo": (122.0, 20.0),
    "loudness_lufs": (-18.7, 3.7),
    "onset_rate": (4.0, 1.8),
    "centroid_hz": (1690.0, 770.0),
    "percussive_ratio": (0.18, 0.15),
}
# Smallest scale a corpus may set: beat trackers pile estimates up near 120 BPM, and a small or uniform corpus
# must not turn tiny differences into large z-scores.
MIN_SCALES = {"tempo": 20.0, "loudness_lufs": 3.0, "onset_rate": 0.8, "centroid_hz": 350.0, "percussive_ratio": 0.05}
TITLE_WEIGHT = 0.25

# Title / package words -> (tag, emotion the word suggests or None).
WORD_CUES: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(
        (
            "battle",
            "battlescape",
            "fight",
            "fightmare",
            "combat",
            "war",
            "warfare",
            "attack",
            "siege",
            "firefight",
            "infight",
            "assault",
            "raid",
        ),
        ("battle", "tense"),
    ),
    **dict.fromkeys(("boss", "hellforce", "hell", "demon", "vengeful", "revenge"), ("boss", "angry")),
    **dict.fromkeys(("victory", "win", "wingame", "triumph", "heroes", "hero", "winner"), ("victory", "triumphant")),
    **dict.fromkeys(("defeat", "lose", "loosegame", "lost", "casualties", "falls", "dead"), ("defeat", "sad")),
    **dict.fromkeys(("sad", "sorrow", "tears", "funeral", "introsad"), ("sad", "sad")),
    **dict.fromkeys(
        ("calm", "peace", "peaceful", "ambient", "ambience", "ambiphonic", "sanctuary", "silence", "safe"),
        ("calm", "calm"),
    ),
    **dict.fromkeys(("menu", "title", "intro", "credits"), ("menu", None)),
    **dict.fromkeys(
        ("night", "moonlight", "dark", "shadows", "underground", "cave", "dungeon", "deep"), ("dark", "dark")
    ),
    **dict.fromkeys(
        ("mystery", "mysterious", "suspense", "suspicion", "intrigue", "unknown", "void", "tension"),
        ("suspense", "mysterious"),
    ),
    **dict.fromkeys(("love", "romance", "romantic"), ("love", "romantic")),
    **dict.fromkeys(
        ("town", "village", "farm", "garden", "tavern", "minstrels", "party", "dance", "fair"), ("town", "playful")
    ),
    **dict.fromkeys(("epic", "legends", "kingdom", "empire", "imperial", "army", "march"), ("epic", "epic")),
    **dict.fromkeys(("space", "galactic", "cosmo", "nebula", "stars", "orbit", "launch", "liftoff"), ("space", None)),
    **dict.fromkeys(
        (
            "forest",
            "elf",
            "elvish",
            "celtic",
            "snow",
            "ocean",
            "sea",
            "river",
            "wind",
            "mountain",
            "mountains",
            "valley",
            "desert",
            "lava",
        ),
        ("nature", None),
    ),
    **dict.fromkeys(("race", "racing", "kart", "frantic", "pursuit", "upbeat", "energy"), ("action", "energetic")),
    **dict.fromkeys(
        ("journey", "wanderer", "traveling", "return", "returnjourney", "exploration", "overworld"), ("journey", None)
    ),
}


def _tempo(y: np.ndarray, sr: int, onset_env: np.ndarray) -> float:
    import librosa

    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    tempo = float(np.atleast_1d(tempo)[0])
    times = librosa.frames_to_time(beats, sr=sr, hop_length=HOP)
    if tempo <= 0 or len(times) < 4:
        return tempo
    period = 60.0 / tempo
    d = np.diff(times)
    good = d[np.abs(d - period) < 0.15 * period]
    return float(60.0 / good.mean()) if len(good) >= 3 else tempo


def key_from_chroma(chroma_mean: np.ndarray) -> dict:
    """Krumhansl–Schmuckler key of a mean chroma vector ``(12,)``: key, mode, key_strength, mode_score."""
    c = np.asarray(chroma_mean, dtype=np.float64)
    scores = {}
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(c, np.roll(profile, tonic))[0, 1]
            scores[(tonic, mode)] = -1.0 if not np.isfinite(r) else float(r)
    (tonic, mode), best = max(scores.items(), key=lambda kv: kv[1])
    best_major = max(v for (_, m), v in scores.items() if m == "major")
    best_minor = max(v for (_, m), v in scores.items() if m == "minor")
    return {"key": PITCHES[tonic], "mode": mode, "key_strength": best, "mode_score": best_major - best_minor}


def _loudness(y: np.ndarray, sr: int) -> float:
    import pyloudnorm

    if len(y) < int(0.5 * sr):
        y = np.pad(y, (0, int(0.5 * sr) - len(y)))
    lufs = pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64))
    return float(lufs) if np.isfinite(lufs) else -70.0


def describe(y: np.ndarray, sr: int) -> dict:
    """Raw descriptors of mono audio ``y`` ``(T,)`` at ``sr`` Hz (see the module docstring for their meaning)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size < sr // 2:
        raise ValueError(f"analysis needs mono audio (T,) of at least 0.5 s, got shape {tuple(y.shape)} at {sr} Hz")
    if sr != ANALYSIS_SR:
        y = resample(y, sr, ANALYSIS_SR)
    sr = ANALYSIS_SR
    seconds = len(y) / sr
    stft = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP))
    onset_env = librosa.onset.onset_strength(S=librosa.amplitude_to_db(stft, ref=np.max), sr=sr)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    with warnings.catch_warnings():  # short inputs: librosa warns about the CQT's low octaves
        warnings.simplefilter("ignore", UserWarning)
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=HOP)
    harm, perc = librosa.decompose.hpss(stft, kernel_size=17)
    frame_db = librosa.amplitude_to_db(librosa.feature.rms(S=stft, frame_length=2048)[0], ref=1.0, top_db=None)
    loud_frames = frame_db[frame_db > frame_db.max() - 60] if frame_db.size else frame_db
    out = {
        "tempo": round(_tempo(y, sr, onset_env), 2),
        **key_from_chroma(chroma.mean(axis=1)),
        "loudness_lufs": _loudness(y, sr),
        "onset_rate": len(onsets) / seconds,
        "centroid_hz": float(librosa.feature.spectral_centroid(S=stft, sr=sr).mean()),
        "rolloff_hz": float(librosa.feature.spectral_rolloff(S=stft, sr=sr, roll_percent=0.85).mean()),
        "dynamic_range_db": float(np.percentile(loud_frames, 95) - np.percentile(loud_frames, 5)),
        "percussive_ratio": float((perc**2).sum() / max((harm**2).sum() + (perc**2).sum(), 1e-12)),
        "analysed_seconds": round(seconds, 2),
    }
    out["chroma"] = [round(float(c), 4) for c in chroma.mean(axis=1)]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _z(desc: dict, name: str, norms: dict[str, tuple[float, float]]) -> float:
    centre, scale = norms.get(name, DEFAULT_NORMS[name])
    v = desc.get(name)
    return 0.0 if v is None or not math.isfinite(v) else float(np.clip((v - centre) / max(scale, 1e-9), -4, 4))


def title_cues(*texts: str) -> tuple[list[str], list[str]]:
    """``(tags, emotions)`` suggested by the words of ``texts`` (titles, package names), in order, deduplicated."""
    words = []
    for t in texts:
        t = re.sub(r"([a-z])([A-Z])", r"\1 \2", t or "")
        words += re.findall(r"[a-z]+", t.lower())
    tags, emotions = [], []
    for w in words:
        if w in WORD_CUES:
            tag, emo = WORD_CUES[w]
            if tag not in tags:
                tags.append(tag)
            if emo and emo not in emotions:
                emotions.append(emo)
    return tags, emotions


def valence_arousal(
    desc: dict, norms: dict | None = None, title_emotions: list[str] | None = None
) -> tuple[float, float]:
    """Valence and arousal in [-1, 1] from descriptors (formulas in the module docstring)."""
    norms = norms or DEFAULT_NORMS
    mode_term = float(np.clip(desc.get("mode_score", 0.0) / 0.1, -1, 1))
    zt, zl, zo = _z(desc, "tempo", norms), _z(desc, "loudness_lufs", norms), _z(desc, "onset_rate", norms)
    zb, zp = _z(desc, "centroid_hz", norms), _z(desc, "percussive_ratio", norms)
    v = math.tanh(0.8 * mode_term + 0.35 * zb + 0.15 * zt - 0.15 * zp)
    a = math.tanh(0.35 * zt + 0.45 * zl + 0.45 * zo + 0.25 * zb + 0.2 * zp)
    if title_emotions:
        tv = float(np.mean([EMOTIONS[e][0] for e in title_emotions]))
        ta = float(np.mean([EMOTIONS[e][1] for e in title_emotions]))
        v, a = v + TITLE_WEIGHT * (tv - v), a + TITLE_WEIGHT * (ta - a)
    return round(float(np.clip(v, -1, 1)), 4), round(float(np.clip(a, -1, 1)), 4)


def _words(desc: dict, norms: dict) -> list[str]:
    tempo = desc.get("tempo") or 0
    words = ["slow" if tempo < 85 else "fast" if tempo > 135 else "moderate tempo"]  # slow/fast: style words too
    zl, zb, zp = _z(desc, "loudness_lufs", norms), _z(desc, "centroid_hz", norms), _z(desc, "percussive_ratio", norms)
    words += ["loud"] if zl > 0.7 else ["soft"] if zl < -0.7 else []
    words += ["bright"] if zb > 0.7 else ["warm"] if zb < -0.7 else []
    words += ["percussive"] if zp > 0.7 else ["sustained"] if zp < -0.7 else []
    return words


def _style_words(title: str, source: str) -> list[str]:
    """Style-vocabulary tags named by the title (``"Celtic March"`` -> celtic, march); ``game`` for game music."""
    from audiogen.conditioning.styles import canonical_tag

    found = ["game"] if source.startswith("debian") else []
    for w in re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", title or "").lower()):
        tag = canonical_tag(w) if len(w) > 2 else None
        if tag and tag not in found:
            found.append(tag)
    return found


def labels(desc: dict, title: str = "", source: str = "", norms: dict | None = None) -> dict:
    """Record labels from descriptors and title: valence, arousal, emotion, tempo, key, mode, caption, tags."""
    norms = norms or DEFAULT_NORMS
    tags, title_emotions = title_cues(title, source.split("/")[-1])
    v, a = valence_arousal(desc, norms, title_emotions)
    emotion = nearest_label(v, a)
    words = _words(desc, norms)
    caption = f"{emotion} music in {desc['key']} {desc['mode']} at {round(desc['tempo'])} BPM, {', '.join(words)}"
    if tags:
        caption += f"; {', '.join(tags)}"
    if title:
        caption += f' ("{title}")'
    all_tags = [emotion, quadrant(v, a), desc["mode"], *words, *tags, *_style_words(title, source)]
    return {
        "valence": v,
        "arousal": a,
        "emotion": emotion,
        "tempo": desc["tempo"],
        "key": desc["key"],
        "mode": desc["mode"],
        "caption": caption,
        "tags": list(dict.fromkeys(all_tags)),
    }


def analyze_audio(y: np.ndarray, sr: int, title: str = "", source: str = "", norms: dict | None = None) -> dict:
    """Descriptors and emotion labels of mono audio ``y`` ``(T,)`` sampled at ``sr`` Hz.

    Returns a dict with ``descriptors`` (raw numbers) and the labels of :func:`labels` (``valence``, ``arousal``,
    ``emotion``, ``tempo``, ``key``, ``mode``, ``caption``, ``tags``) plus ``label_method``.
    """
    desc = describe(y, sr)
    return {"descriptors": desc, **labels(desc, title, source, norms), "label_method": LABEL_METHOD}


def analysis_window(duration: float, max_seconds: float | None) -> tuple[float, float | None]:
    """``(offset, length)`` of the analysed window: the central ``max_seconds`` of a longer file, else all of it."""
    if max_seconds is None or duration <= max_seconds:
        return 0.0, None
    return (duration - max_seconds) / 2, max_seconds


def analyze_file(
    path: str | os.PathLike,
    max_seconds: float | None = 120.0,
    title: str | None = None,
    source: str = "",
    norms: dict | None = None,
) -> dict:
    """:func:`analyze_audio` of an audio file (its central ``max_seconds``; the title defaults to the file name)."""
    from audiogen.audio import audio_info

    duration, _, _ = audio_info(path)
    offset, length = analysis_window(duration, max_seconds)
    y = load_audio(path, ANALYSIS_SR, offset=offset, duration=length, allow_silent=True)
    if title is None:
        title = Path(path).stem.replace("_", " ").replace("-", " ")
    return analyze_audio(y, ANALYSIS_SR, title=title, source=source, norms=norms)


def corpus_norms(descriptors: list[dict]) -> dict[str, tuple[float, float]]:
    """Robust ``(median, max(IQR / 1.349, MIN_SCALES))`` of each descriptor over a corpus (defaults below 20
    tracks)."""
    norms = dict(DEFAULT_NORMS)
    for name in DEFAULT_NORMS:
        vals = np.array([d[name] for d in descriptors if d.get(name) is not None and math.isfinite(d[name])])
        if len(vals) >= 20:
            q1, med, q3 = np.percentile(vals, [25, 50, 75])
            if q3 > q1:
                scale = max(float((q3 - q1) / 1.349), MIN_SCALES[name])
                norms[name] = (round(float(med), 4), round(scale, 4))
    return norms


# ---------------------------------------------------------------------------------------------------------------
# Labelling a whole manifest (resumable)


def _cache_key(r) -> str:
    return f"{r.path}|{r.offset}|{r.duration}"


def _describe_record(job: tuple[str, str, float, float, float | None]) -> dict:
    """Worker: descriptors of one record's analysed window, or the error that stopped it."""
    key, path, offset, duration, max_seconds = job
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    start, length = analysis_window(duration, max_seconds)
    try:
        length = duration if length is None else length
        y = load_audio(path, ANALYSIS_SR, offset=offset + start, duration=length, allow_silent=True)
        return {"key": key, "descriptors": describe(y, ANALYSIS_SR)}
    except Exception as err:  # reported and cached so a bad file is not retried forever
        return {"key": key, "error": f"{type(err).__name__}: {err}"}


def read_cache(path: Path) -> dict[str, dict]:
    """Entries of an analysis cache (JSON lines; a torn last line from a killed run is ignored)."""
    import json

    out = {}
    if Path(path).is_file():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                out[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return out


def label_manifest(
    manifest: str | os.PathLike,
    max_seconds: float | None = 120.0,
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Analyse every record of ``manifest`` and rewrite it (atomically) with labels.

    Descriptors are cached in ``NAME.analysis.jsonl`` next to the manifest, one line per record as soon as it is
    done, so an interrupted run resumes where it stopped. Normalisation constants come from the corpus itself
    (:func:`corpus_norms`) and are saved to ``NAME.norms.json``. Records that already carry labels (e.g. from
    sidecar metadata) keep them unless ``overwrite``. Returns counts: ``analysed``, ``cached``, ``failed``.
    """
    import json
    import sys
    import time

    from audiogen.data.manifest import read_manifest, write_manifest

    manifest = Path(manifest)
    records = read_manifest(manifest)
    stem = manifest.name.rsplit(".", 1)[0]
    cache_path = manifest.with_name(f"{stem}.analysis.jsonl")
    cache = read_cache(cache_path)
    todo = [r for r in records if _cache_key(r) not in cache and (overwrite or not r.label_method)]
    jobs_list = [(_cache_key(r), str(r.resolve_path(manifest.parent)), r.offset, r.duration, max_seconds) for r in todo]
    counts = {"analysed": 0, "cached": len(records) - len(todo), "failed": 0}
    t0 = time.time()
    with cache_path.open("a", encoding="utf-8") as f:
        if jobs > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(jobs) as pool:
                results = pool.imap_unordered(_describe_record, jobs_list)
                _drain(results, f, cache, counts, len(jobs_list), t0, progress)
        else:
            _drain(map(_describe_record, jobs_list), f, cache, counts, len(jobs_list), t0, progress)
    descs = [e["descriptors"] for e in cache.values() if "descriptors" in e]
    norms = corpus_norms(descs)
    norms_path = manifest.with_name(f"{stem}.norms.json")
    tmp = norms_path.with_name(f".{norms_path.name}.tmp")
    tmp.write_text(json.dumps(norms, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, norms_path)
    for r in records:
        entry = cache.get(_cache_key(r))
        if entry is None or "descriptors" not in entry or (r.label_method and not overwrite):
            continue
        for name, value in labels(entry["descriptors"], r.title, r.source, norms).items():
            setattr(r, name, value)
        r.descriptors = entry["descriptors"]
        r.label_method = LABEL_METHOD
    write_manifest(manifest, records)
    if progress:
        print(f"labelled {manifest}: {counts}", file=sys.stderr)
    return counts


def _drain(results, f, cache: dict, counts: dict, total: int, t0: float, progress: bool) -> None:
    import json
    import sys
    import time

    for i, entry in enumerate(results, 1):
        cache[entry["key"]] = entry
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        if "error" in entry:
            counts["failed"] += 1
            print(f"analysis failed: {entry['key']}: {entry['error']}", file=sys.stderr)
        else:
            counts["analysed"] += 1
        if progress and (i % 10 == 0 or i == total):
            print(f"analysed {i}/{total} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
