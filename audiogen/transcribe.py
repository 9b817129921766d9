"""basic-pitch's note model, run through ONNX Runtime: the notes of a clip, or their frame-wise posteriors.

Basic Pitch (Apache-2.0) ships its polyphonic note model inside its wheel. ``make install`` installs it with
``--no-deps`` (its own requirements pull TensorFlow, which its ONNX model does not need) beside ``onnxruntime`` and
``resampy``. Used by the codec's note measure (:mod:`audiogen.eval.note_f1`) and the note cache
(:mod:`audiogen.data.note_cache`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

import numpy as np

KEYS = 88  # A0 (MIDI 21) .. C8 (MIDI 108)
LOWEST_MIDI = 21
_MODEL: list = []


def available() -> str | None:
    """None when basic-pitch's ONNX model can run here, else why not (what to install)."""
    try:
        import onnxruntime  # noqa: F401

        with quiet():
            from basic_pitch import ICASSP_2022_MODEL_PATH
    except ImportError as exc:
        return f"basic-pitch's note model needs {exc.name} (run `make notes-eval`)"
    if not Path(ICASSP_2022_MODEL_PATH).with_suffix(".onnx").is_file():
        return "basic-pitch's ONNX model is missing from its package"
    return None


@contextlib.contextmanager
def quiet():
    """basic-pitch warns on import that TensorFlow is absent (it is not needed for its ONNX model): silenced."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def model():
    """The ONNX note model (loaded once)."""
    with quiet():
        from basic_pitch import ICASSP_2022_MODEL_PATH
        from basic_pitch.inference import Model

        if not _MODEL:
            _MODEL.append(Model(Path(ICASSP_2022_MODEL_PATH).with_suffix(".onnx")))
    return _MODEL[0]


def frame_rate() -> float:
    """Posterior frames per second (basic-pitch's 86.13)."""
    from basic_pitch.constants import AUDIO_SAMPLE_RATE, FFT_HOP

    return AUDIO_SAMPLE_RATE / FFT_HOP  # the frames are FFT_HOP samples apart


def note_posteriors(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono ``audio`` ``(T,)`` at ``sample_rate`` → basic-pitch's note posteriors ``[frames, 88]`` float32 in [0, 1]
    (frame ``i`` at ``i / frame_rate()`` seconds), windowed and stitched as basic-pitch itself does."""
    net = model()
    with quiet():
        import librosa
        from basic_pitch.constants import AUDIO_N_SAMPLES, AUDIO_SAMPLE_RATE, FFT_HOP
        from basic_pitch.inference import unwrap_output, window_audio_file
    x = np.asarray(audio, dtype=np.float32)
    if sample_rate != AUDIO_SAMPLE_RATE:
        x = librosa.resample(x, orig_sr=sample_rate, target_sr=AUDIO_SAMPLE_RATE)
    overlap_frames = 30
    overlap = overlap_frames * FFT_HOP
    padded = np.concatenate([np.zeros(overlap // 2, dtype=np.float32), x])
    notes = [net.predict(w[None])["note"] for w, _ in window_audio_file(padded, AUDIO_N_SAMPLES - overlap)]
    out = unwrap_output(np.concatenate(notes), len(x), overlap_frames)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def transcribe(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Notes of mono ``audio`` ``(T,)`` by basic-pitch (its default thresholds): ``(intervals [N, 2] seconds,
    pitches [N] Hz)``."""
    import soundfile as sf

    net = model()
    with quiet():
        from basic_pitch.inference import predict

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "clip.wav"
            sf.write(path, np.asarray(audio, np.float32), sample_rate)
            _, _, events = predict(path, net)
    if not events:
        return np.zeros((0, 2)), np.zeros(0)
    intervals = np.array([[e[0], e[1]] for e in events], dtype=np.float64)
    pitches = 440.0 * 2.0 ** ((np.array([e[2] for e in events], dtype=np.float64) - 69) / 12)
    return intervals, pitches
