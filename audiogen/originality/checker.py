"""An index with the models that read a track for it: :class:`OriginalityChecker`.

``MusicGenerator`` checks every track it makes with the checker of its model folder (``originality/`` beside
``codec/`` and ``lm/``): the plan's exact melody and chords, the LM's own tokens and the style vectors of the mastered
audio. ``audiogen check`` reads any audio file (extractor, codec, style encoder) or a plan (melody and chords only).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audiogen.originality.check import QUERY_HOP_S, Originality, check
from audiogen.originality.index import OriginalityIndex, window_vectors

DIR_NAME = "originality"
ENCODER_DIR = "encoder"  # inside DIR_NAME: the copy encoder whose vectors the index's sound windows are


def sound_encoder(index_dir: str | os.PathLike, style_dir: str | os.PathLike | None = None):
    """The encoder of an index's sound windows: its own copy encoder (``index_dir/encoder/``), else the style encoder
    in ``style_dir``, else None (sound not read)."""
    from audiogen.conditioning.style_encoder import StyleEncoder

    for folder in (Path(index_dir) / ENCODER_DIR, style_dir):
        if folder is not None and (Path(folder) / "config.json").is_file():
            return StyleEncoder.from_pretrained(folder)
    return None


class OriginalityChecker:
    """``index`` (:class:`OriginalityIndex`), the style ``encoder`` its sound vectors came from (None: sound not read)
    and the ``codec`` its tokens came from (None, or another codec: tokens are read only when given as such)."""

    def __init__(self, index: OriginalityIndex, encoder=None, codec=None, name: str = "") -> None:
        self.index, self.encoder, self.codec = index, encoder, codec
        self.name = name or f"{len(index.items)} training items"

    @classmethod
    def from_model(cls, model_dir: str | os.PathLike, codec=None) -> OriginalityChecker | None:
        """The checker of a model folder (its ``originality/`` index and ``style/`` encoder), or None without an
        index. ``codec``: the model's codec, already loaded (else loaded from ``codec/`` when the audio is read)."""
        model_dir = Path(model_dir)
        if not (model_dir / DIR_NAME / "index.json").is_file():
            return None
        index = OriginalityIndex.load(model_dir / DIR_NAME)
        encoder = sound_encoder(model_dir / DIR_NAME, model_dir / "style")
        if codec is None and (model_dir / "codec" / "config.json").is_file():
            from audiogen.codec.model import Codec

            codec = Codec.from_pretrained(model_dir / "codec")
        return cls(index, encoder, codec, f"{model_dir.name}: {len(index.items)} training items")

    def codec_matches(self) -> bool:
        """True when this checker's codec made the index's token fingerprints."""
        return self.codec is not None and getattr(self.codec, "model_id", None) == self.index.codec

    def vectors(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """Window style vectors ``[Q, E]`` of mono ``audio`` ``[T]`` (None without an encoder)."""
        if self.encoder is None:
            return None
        from audiogen.audio import resample

        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, self.encoder.config.sample_rate)
        return window_vectors(self.encoder, x, hop_s=QUERY_HOP_S)

    def tokens(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """Coarse tokens ``[F]`` of ``audio`` ``[T]`` by the index's codec (None when this checker has another)."""
        if not self.codec_matches():
            return None
        import torch

        from audiogen.audio import resample

        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, self.codec.sample_rate)
        with torch.inference_mode():
            return self.codec.encode(torch.from_numpy(x)[None], n_q=1)[0, 0].numpy()

    def check_plan(self, plan) -> Originality:
        """Melody and chords of a :class:`~audiogen.compose.plan.Plan` (tokens and sound: not read)."""
        from audiogen.controls.from_plan import plan_controls

        return check(self.index, controls=plan_controls(plan), name=self.name)

    def check_audio(self, audio: np.ndarray, sample_rate: int, *, plan=None, tokens=None) -> Originality:
        """Every reading of mono ``audio`` ``[T]``: melody and chords from ``plan`` when given (exact), else read
        from the audio; ``tokens`` ``[F]`` (coarse, the index's codec) when given, else the audio encoded."""
        if plan is not None:
            from audiogen.controls.from_plan import plan_controls

            controls = plan_controls(plan)
        else:
            from audiogen.controls.extract import read_controls

            controls = read_controls(np.asarray(audio, dtype=np.float32), sample_rate).controls
        if tokens is None:
            tokens = self.tokens(audio, sample_rate)
        return check(self.index, controls=controls, tokens=tokens, vectors=self.vectors(audio, sample_rate),
                     name=self.name)  # fmt: skip
