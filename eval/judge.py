"""The musicnn judge: a music embedding and 50 mood/genre tags from a model trained on the Million Song Dataset.

musicnn (PyPI ``musicnn`` 0.1.0, TensorFlow) ships its weights in the wheel. It is the independent judge of the
evaluation (Fréchet distance, mood adherence) and is never used to label training data. Its wheel pins
``numpy<1.17``, so it is installed without dependencies into an environment with TensorFlow (``make judge-env``
builds ``.venv-judge``). The judge then runs in one of two ways:

* in this process, when ``tensorflow`` and ``musicnn`` import here;
* as a subprocess of the judge environment's Python (``AUDIOGEN_JUDGE_PYTHON`` or ``--judge-python``, default
  ``.venv-judge/bin/python`` when it exists). This file is then run as a script; it imports only numpy, scipy,
  librosa, tensorflow and musicnn, never audiogen.

Audio at any rate is resampled to 16 kHz, turned into musicnn's log-mel spectrogram (96 bands, hop 256) and cut into
non-overlapping 3 s patches (187 frames; a shorter clip is repeat-padded, as in musicnn's training). Per patch the
model gives the 200-d penultimate layer (the embedding) and 50 tag probabilities.

    python eval/judge.py --selftest     # in the judge environment: prints the tags of a synthetic clip
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JUDGE_SR = 16000
N_FFT, HOP, N_MELS = 512, 256, 96
PATCH_FRAMES = 187  # 3 s at 16 kHz / hop 256, as musicnn computes it
EMBED_DIM = 200
MODEL = "MSD_musicnn"
ENV_PYTHON = "AUDIOGEN_JUDGE_PYTHON"
DEFAULT_JUDGE_PYTHON = Path(".venv-judge") / "bin" / "python"
# musicnn's MSD tag vocabulary, in the model's output order.
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
    "House", "happy",
)  # fmt: skip


class JudgeUnavailable(RuntimeError):
    """The musicnn judge cannot run here (TensorFlow/musicnn missing and no judge environment found)."""


@dataclass
class JudgeOutput:
    """What the judge says about one clip: ``embeddings`` ``(P, 200)`` and ``tags`` ``(P, 50)`` per 3 s patch."""

    embeddings: np.ndarray
    tags: np.ndarray

    @property
    def embedding(self) -> np.ndarray:
        """Mean embedding over patches, ``(200,)``."""
        return self.embeddings.mean(axis=0)

    def tag(self, name: str) -> float:
        """Mean probability of the tag ``name`` (case-insensitive, e.g. ``"happy"``, ``"mellow"``) over patches."""
        lower = [t.lower() for t in MSD_TAGS]
        if name.lower() not in lower:
            raise ValueError(f"unknown musicnn tag {name!r}; tags: {', '.join(MSD_TAGS)}")
        return float(self.tags[:, lower.index(name.lower())].mean())


# --- signal preparation (shared by both environments) ------------------------------------------------------------


def to_judge_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono ``audio`` ``(T,)`` at ``sample_rate`` → float32 ``(T',)`` at 16 kHz (polyphase resampling)."""
    from math import gcd

    from scipy.signal import resample_poly

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"the judge needs finite, non-empty mono audio; got {x.size} samples")
    if sample_rate != JUDGE_SR:
        g = gcd(int(sample_rate), JUDGE_SR)
        x = resample_poly(x, JUDGE_SR // g, int(sample_rate) // g).astype(np.float32)
    return x


def patches(audio16k: np.ndarray) -> np.ndarray:
    """musicnn's input: 16 kHz audio ``(T,)`` → log-mel patches ``(P, 187, 96)`` (float32, P >= 1)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio16k, sr=JUDGE_SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T
    # musicnn rounds the spectrogram to float16, then scales in float32 (NumPy 1's promotion of ``10000 * x``;
    # under NumPy 2 the product would stay float16 and overflow to inf for ordinary music levels).
    rep = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    if len(rep) < PATCH_FRAMES:
        rep = np.tile(rep, (int(np.ceil(PATCH_FRAMES / max(len(rep), 1))), 1))[:PATCH_FRAMES]
    starts = range(0, len(rep) - PATCH_FRAMES + 1, PATCH_FRAMES)
    return np.stack([rep[s : s + PATCH_FRAMES] for s in starts])


# --- the TensorFlow model ----------------------------------------------------------------------------------------


class _Model:
    """musicnn's MSD graph in a TF1-style session (built once; weights restored from the musicnn package)."""

    def __init__(self, threads: int = 1, model: str = MODEL) -> None:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import musicnn
        import tensorflow as tf
        from musicnn import models

        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, N_MELS])
            self.training = tf.compat.v1.placeholder(tf.bool)
            with tf.name_scope("model"):
                out = models.define_model(self.x, self.training, model, len(MSD_TAGS))
            self.probs, self.penultimate = tf.nn.sigmoid(out[0]), out[-1]
            config = tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1, device_count={"GPU": 0}
            )
            self.session = tf.compat.v1.Session(graph=self.graph, config=config)
            saver = tf.compat.v1.train.Saver()
            saver.restore(self.session, str(Path(musicnn.__file__).parent / model) + "/")

    def run(self, batch: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """``(P, 187, 96)`` → ``(embeddings (P, 200), tag probabilities (P, 50))``."""
        embs, probs = [], []
        for i in range(0, len(batch), batch_size):
            p, e = self.session.run(
                [self.probs, self.penultimate], {self.x: batch[i : i + batch_size], self.training: False}
            )
            embs.append(e)
            probs.append(p)
        return np.concatenate(embs).astype(np.float32), np.concatenate(probs).astype(np.float32)


def _judge_clips(clips16k: Sequence[np.ndarray], threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
    model = _Model(threads)
    return [model.run(patches(c)) for c in clips16k]


# --- the public wrapper ------------------------------------------------------------------------------------------


def in_process_available() -> bool:
    """Whether TensorFlow and musicnn import in this interpreter (checked without importing them)."""
    from importlib.util import find_spec

    return find_spec("tensorflow") is not None and find_spec("musicnn") is not None


def find_judge_python(python: str | os.PathLike | None = None) -> str | None:
    """The judge environment's interpreter: ``python``, else ``$AUDIOGEN_JUDGE_PYTHON``, else
    ``.venv-judge/bin/python`` under the current folder when it exists; ``None`` if none is found."""
    for candidate in (python, os.environ.get(ENV_PYTHON), DEFAULT_JUDGE_PYTHON):
        if candidate and Path(candidate).is_file():
            return str(candidate)
        if candidate and candidate is not DEFAULT_JUDGE_PYTHON:
            raise JudgeUnavailable(f"judge Python {candidate} does not exist; build it with `make judge-env`")
    return None


class MusicnnJudge:
    """Runs musicnn on clips: ``judge(clips, sample_rate) -> [JudgeOutput]``.

    Args:
        python: interpreter of a judge environment (see :func:`find_judge_python`); ``None`` runs in this process
            when TensorFlow and musicnn import here, else looks for a judge environment.
        threads: TensorFlow CPU threads.
        timeout: seconds allowed for one subprocess call.

    Raises:
        JudgeUnavailable: neither this interpreter nor a judge environment can run musicnn.
    """

    def __init__(self, python: str | os.PathLike | None = None, threads: int = 1, timeout: float = 3600) -> None:
        self.threads = int(threads)
        self.timeout = float(timeout)
        self.python = None if python is None and in_process_available() else find_judge_python(python)
        if self.python is None and not in_process_available():
            raise JudgeUnavailable(
                "the musicnn judge needs TensorFlow + musicnn: run `make judge-env` (builds .venv-judge) or set "
                f"{ENV_PYTHON} to a Python that has them"
            )

    @classmethod
    def available(cls, python: str | os.PathLike | None = None) -> bool:
        """Whether a judge can be made with these arguments."""
        try:
            cls(python)
        except JudgeUnavailable:
            return False
        return True

    def __call__(self, clips: Sequence[np.ndarray], sample_rate: int) -> list[JudgeOutput]:
        """Judge ``clips`` (each mono ``(T,)`` at ``sample_rate``); one :class:`JudgeOutput` per clip."""
        if not clips:
            return []
        clips16k = [to_judge_rate(c, sample_rate) for c in clips]
        if self.python is None:
            results = _judge_clips(clips16k, self.threads)
        else:
            results = self._subprocess(clips16k)
        return [JudgeOutput(embeddings=e, tags=t) for e, t in results]

    def _subprocess(self, clips16k: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        with tempfile.TemporaryDirectory(prefix="audiogen-judge-") as tmp:
            src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(src, **{f"clip_{i}": c for i, c in enumerate(clips16k)})
            cmd = [self.python, str(Path(__file__).resolve()), "--worker", str(src), str(dst), "--threads"]
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
            proc = subprocess.run(
                [*cmd, str(self.threads)], capture_output=True, text=True, timeout=self.timeout, env=env
            )
            if proc.returncode != 0 or not dst.is_file():
                tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
                raise JudgeUnavailable(f"the judge subprocess failed (exit {proc.returncode}):\n{tail}")
            with np.load(dst) as out:
                return [(out[f"emb_{i}"], out[f"tags_{i}"]) for i in range(len(clips16k))]


# --- script entry (runs inside the judge environment) ------------------------------------------------------------


def _worker(src: str, dst: str, threads: int) -> int:
    with np.load(src) as data:
        clips = [data[f"clip_{i}"] for i in range(len(data.files))]
    results = _judge_clips(clips, threads)
    out = {}
    for i, (emb, tags) in enumerate(results):
        out[f"emb_{i}"], out[f"tags_{i}"] = emb, tags
    tmp = Path(dst).with_name(Path(dst).name + ".part.npz")
    np.savez(tmp, **out)
    os.replace(tmp, dst)
    return 0


def _selftest() -> int:
    t = np.arange(10 * JUDGE_SR) / JUDGE_SR
    clip = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    emb, tags = _judge_clips([clip], 1)[0]
    top = np.argsort(-tags.mean(0))[:5]
    print(f"patches {emb.shape[0]}, embedding {emb.shape[1]}-d; top tags:")
    for i in top:
        print(f"  {MSD_TAGS[i]}: {tags[:, i].mean():.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="musicnn judge (run inside the judge environment)")
    ap.add_argument("--worker", nargs=2, metavar=("IN_NPZ", "OUT_NPZ"), help="judge the clips of IN_NPZ")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--selftest", action="store_true", help="judge a synthetic clip and print its top tags")
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(*args.worker, args.threads)
    if args.selftest:
        return _selftest()
    ap.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
