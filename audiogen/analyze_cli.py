"""``audiogen analyze FILE...`` and :func:`analyze`: tempo, key, loudness, valence/arousal, emotion and style tags.

Valence and arousal come from the emotion model shipped in the package (``pretrained/default/emotion``, see
:mod:`audiogen.conditioning.emotion_model`), applied to the central 30 s of the audio. Without a shipped model the
rule-based analysis (``audio-analysis-v1``, :mod:`audiogen.analysis`) provides them, and ``method`` says so.
Tempo and key are measured on the same excerpt; loudness is the integrated loudness of the whole file.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import numpy as np

from audiogen.analysis import ANALYSIS_SR, LABEL_METHOD
from audiogen.audio import AudioError, audio_info, load_audio, resample

RULE_WINDOW_SECONDS = 30.0


@functools.lru_cache(maxsize=4)
def _load_model(directory: str):
    from audiogen.conditioning.emotion_model import EmotionModel

    return EmotionModel.from_pretrained(directory)


def _default_model():
    """The shipped emotion model, or None when this build has none."""
    from audiogen.conditioning.emotion_model import CONFIG_NAME, default_emotion_dir

    directory = default_emotion_dir()
    return _load_model(str(directory)) if (directory / CONFIG_NAME).is_file() else None


def _resolve_model(model):
    if model is None:
        return _default_model()
    if isinstance(model, (str, os.PathLike)):
        return _load_model(str(Path(model).resolve()))
    return model


def _audio_of(path_or_track) -> tuple[np.ndarray, str | None]:
    """Mono audio at the analysis rate ``(T,)`` and the file name (None for a Track)."""
    if isinstance(path_or_track, (str, os.PathLike)):
        path = Path(path_or_track)
        if not path.is_file():
            raise AudioError(f"{path}: no such file")
        audio_info(path)  # a clear error for a missing or unreadable file before decoding
        return load_audio(path, ANALYSIS_SR, allow_silent=True), str(path)
    audio, rate = getattr(path_or_track, "audio", None), getattr(path_or_track, "sample_rate", None)
    if audio is None or rate is None:
        raise TypeError(f"analyze() takes a file path or a Track, got {type(path_or_track).__name__}")
    return resample(np.asarray(audio, dtype=np.float32).reshape(-1), int(rate), ANALYSIS_SR), None


SILENT_DBFS = -60.0
NOISE_FLATNESS = 0.1  # median spectral flatness: music ~0.0001-0.01, pink noise ~0.15, white noise ~0.56


def check_analysable(audio: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` when there is nothing to analyse: silence (RMS below -60 dBFS) or noise alone (a
    spectrum as flat as pink noise's, with no harmonic content), instead of labelling it with a key and a mood."""
    import librosa

    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if 20 * np.log10(max(rms, 1e-12)) < SILENT_DBFS:
        raise ValueError(f"{name}: nothing to analyse: the audio is silent (below {SILENT_DBFS:g} dBFS)")
    flatness = float(np.median(librosa.feature.spectral_flatness(y=np.asarray(audio, np.float32))))
    if flatness > NOISE_FLATNESS:
        raise ValueError(
            f"{name}: nothing to analyse: the audio is noise, not music (spectral flatness {flatness:.2f}; music "
            f"stays below {NOISE_FLATNESS:g})"
        )


def analyze(path_or_track, model=None) -> dict:
    """Analyse a music file (wav, flac, ogg, mp3, ...) or an :class:`audiogen.track.Track`.

    Args:
        path_or_track: a file path, or an object with ``.audio`` ``(T,)`` and ``.sample_rate`` (a Track).
        model: an :class:`~audiogen.conditioning.emotion_model.EmotionModel`, a folder holding one, or None for
            the shipped model (rule-based labels when none is shipped).

    Returns:
        a JSON-friendly dict: ``file``, ``duration`` (s), ``tempo`` (BPM), ``key``, ``mode``, ``loudness_lufs``
        (integrated, whole file; None for silence), ``valence`` and ``arousal`` in [-1, 1], ``emotion`` (nearest
        vocabulary label), ``quadrant`` and ``quadrant_name``, ``tags`` (style tags), ``tag_scores`` (model
        probabilities), ``method``, ``window`` (``[start, length]`` of the analysed excerpt, s) and
        ``descriptors`` (the raw measurements and the rule-based ``rule_valence``/``rule_arousal``/``rule_emotion``).

    Raises:
        AudioError: the file is missing or not readable audio (the message names it).
        ValueError: the audio is shorter than 0.5 s, silent, or noise alone (:func:`check_analysable`).
    """
    import math

    from audiogen.analysis import labels
    from audiogen.conditioning.emotion_features import central_window, excerpt_features
    from audiogen.conditioning.emotions import QUADRANT_NAMES, nearest_label, quadrant
    from audiogen.conditioning.styles import filter_tags
    from audiogen.mastering.measure import integrated_loudness

    audio, name = _audio_of(path_or_track)
    duration = audio.size / ANALYSIS_SR
    if duration < 0.5:
        raise ValueError(f"{name or 'track'}: analysis needs at least 0.5 s of audio, got {duration:.2f} s")
    check_analysable(audio, name or "track")
    model = _resolve_model(model)
    window = model.config.window_seconds if model is not None else RULE_WINDOW_SECONDS
    start, length = central_window(duration, window)
    excerpt = audio[int(start * ANALYSIS_SR) : int((start + length) * ANALYSIS_SR)]
    feats, desc = excerpt_features(excerpt, ANALYSIS_SR)
    rule = labels(desc)  # audio only: no title words
    lufs = integrated_loudness(audio, ANALYSIS_SR)
    if model is not None:
        pred = model.predict_features(feats)[0]
        v, a, scores = pred["valence"], pred["arousal"], pred["tags"]
        tags = [t for t, p in scores.items() if p >= model.config.tag_threshold]
        method = f"emotion model ({model.config.feature_version} MLP on the central {length:.0f} s)"
    else:
        v, a, scores = rule["valence"], rule["arousal"], {}
        tags = list(filter_tags(rule["tags"]))
        method = f"rule-based analysis ({LABEL_METHOD}; no emotion model is shipped with this build)"
    q = quadrant(v, a)
    return {
        "file": name,
        "duration": round(duration, 2),
        "tempo": desc["tempo"],
        "key": desc["key"],
        "mode": desc["mode"],
        "loudness_lufs": round(lufs, 2) if math.isfinite(lufs) else None,
        "valence": v,
        "arousal": a,
        "emotion": nearest_label(v, a),
        "quadrant": q,
        "quadrant_name": QUADRANT_NAMES[q],
        "tags": tags,
        "tag_scores": scores,
        "method": method,
        "window": [round(start, 2), round(length, 2)],
        "descriptors": {
            **desc,
            "rule_valence": rule["valence"],
            "rule_arousal": rule["arousal"],
            "rule_emotion": rule["emotion"],
        },
    }


def format_text(result: dict) -> str:
    """The human-readable block ``audiogen analyze`` prints for one result of :func:`analyze`."""
    minutes, seconds = divmod(round(result["duration"]), 60)
    lufs = "silent" if result["loudness_lufs"] is None else f"{result['loudness_lufs']:.1f} LUFS (integrated)"
    lines = [
        f"{result['file'] or 'track'} ({minutes}:{seconds:02d})",
        f"  tempo     {result['tempo']:.1f} BPM",
        f"  key       {result['key']} {result['mode']}",
        f"  loudness  {lufs}",
        f"  valence   {result['valence']:+.2f}   arousal {result['arousal']:+.2f}",
        f"  emotion   {result['emotion']} ({result['quadrant']} {result['quadrant_name']})",
        f"  style     {', '.join(result['tags']) or '-'}",
        f"  method    {result['method']}",
    ]
    return "\n".join(lines)


def _run(args) -> int:
    model = args.model
    if model is not None and not Path(model).is_dir():
        raise FileNotFoundError(f"--model {model}: no such folder (expected config.json + model.safetensors)")
    results, failed = [], 0
    for i, path in enumerate(args.files):
        try:
            result = analyze(path, model=model)
        except (AudioError, ValueError, OSError) as err:
            failed += 1
            msg = str(err) if str(path) in str(err) else f"{path}: {err}"
            print(f"audiogen analyze: error: {msg}", file=sys.stderr, flush=True)
            continue
        if args.json:
            results.append(result)
        else:
            print(("\n" if i and results else "") + format_text(result), flush=True)
            results.append(result)
    if args.json:
        print(json.dumps(results, indent=2))
    return 2 if failed else 0


def register(subparsers) -> None:
    """Add ``audiogen analyze`` to the CLI."""
    p = subparsers.add_parser(
        "analyze",
        help="tempo, key, loudness, valence/arousal, emotion and style tags of music files",
        description="Analyse music files: tempo, key/mode, integrated loudness, valence and arousal (emotion model "
        "shipped with audiogen, or the rule-based analysis), nearest emotion, quadrant and style tags. "
        "Unreadable files are reported (exit status 2) and the others still analysed.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list of results instead of text")
    p.add_argument("--model", default=None, help="emotion model folder (default: the one shipped with audiogen)")
    p.set_defaults(func=_run)
    from audiogen.brief.cli import register as register_briefs

    register_briefs(subparsers)  # analyze-image, analyze-video
