"""Music emotion model: an excerpt's features -> valence, arousal (in [-1, 1]) and style-tag probabilities.

A small MLP over the features of :mod:`audiogen.conditioning.emotion_features` (descriptors + log-mel statistics of
the central 30 s). The input standardisation (train-set mean and std of each feature) is part of the weights, so a
checkpoint is self-contained: ``config.json`` + ``model.safetensors`` (fp16), loaded without pickles::

    model = EmotionModel.from_pretrained(default_emotion_dir())
    out = model.predict_audio(audio, sample_rate)   # {"valence", "arousal", "tags": {tag: probability}, ...}

Training and evaluation (``python -m audiogen.conditioning.emotion_model features|train|evaluate``) live in
:mod:`audiogen.conditioning.emotion_train`.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiogen.conditioning.emotion_features import FEATURE_VERSION, N_FEATURES, WINDOW_SECONDS, excerpt_features
from audiogen.conditioning.styles import STYLE_TAGS
from audiogen.fileio import atomic_write

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class EmotionModelConfig:
    """Shape of the emotion model and the features it expects.

    ``tags`` are style-vocabulary tags (:data:`audiogen.conditioning.styles.STYLE_TAGS`) the tag head predicts, in
    order; ``label_sources`` records what the training targets were (for the model card and the CLI output).
    """

    n_features: int = N_FEATURES
    hidden: int = 96
    layers: int = 2
    dropout: float = 0.3
    tags: tuple[str, ...] = ()
    tag_threshold: float = 0.5
    window_seconds: float = WINDOW_SECONDS
    feature_version: str = FEATURE_VERSION
    label_sources: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tags = tuple(self.tags)
        if self.n_features != N_FEATURES:
            raise ValueError(f"n_features must be {N_FEATURES} (feature set {FEATURE_VERSION}), got {self.n_features}")
        if self.feature_version != FEATURE_VERSION:
            raise ValueError(f"feature_version must be {FEATURE_VERSION!r}, got {self.feature_version!r}")
        if not 4 <= self.hidden <= 1024:
            raise ValueError(f"hidden must be in [4, 1024], got {self.hidden}")
        if not 1 <= self.layers <= 6:
            raise ValueError(f"layers must be in [1, 6], got {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.tag_threshold < 1.0:
            raise ValueError(f"tag_threshold must be in (0, 1), got {self.tag_threshold}")
        if not 1.0 <= self.window_seconds <= 600.0:
            raise ValueError(f"window_seconds must be in [1, 600], got {self.window_seconds}")
        unknown = [t for t in self.tags if t not in STYLE_TAGS]
        if unknown or len(set(self.tags)) != len(self.tags):
            bad = unknown or list(self.tags)
            raise ValueError(f"tags must be distinct tags of the style vocabulary, got unknown or repeated: {bad}")


class EmotionModel(nn.Module):
    """Standardise ``(B, F)`` features, then an MLP with a valence/arousal head and a tag head."""

    def __init__(self, config: EmotionModelConfig):
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.n_features))
        self.register_buffer("feature_std", torch.ones(config.n_features))
        dims = [config.n_features] + [config.hidden] * config.layers
        blocks: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(dims):
            blocks += [nn.Linear(d_in, d_out), nn.GELU(), nn.Dropout(config.dropout)]
        self.body = nn.Sequential(*blocks)
        self.va_head = nn.Linear(config.hidden, 2)
        self.tag_head = nn.Linear(config.hidden, len(config.tags)) if config.tags else None

    def set_normalisation(self, features: np.ndarray) -> None:
        """Take the input standardisation from training features ``(N, F)`` (std floored at 1e-3)."""
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        self.feature_mean.copy_(x.mean(0))
        self.feature_std.copy_(x.std(0).clamp_min(1e-3))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``features (B, F)`` -> ``(va (B, 2) in [-1, 1] (valence, arousal), tag_logits (B, n_tags))``."""
        if features.ndim != 2 or features.shape[1] != self.config.n_features:
            raise ValueError(f"features must have shape (B, {self.config.n_features}), got {tuple(features.shape)}")
        x = ((features - self.feature_mean) / self.feature_std).clamp(-8.0, 8.0)
        h = self.body(x)
        va = torch.tanh(self.va_head(h))
        tags = self.tag_head(h) if self.tag_head is not None else h.new_zeros(h.shape[0], 0)
        return va, tags

    @torch.no_grad()
    def predict_features(self, features: np.ndarray) -> list[dict]:
        """Predictions for features ``(B, F)`` or ``(F,)``: one dict per row with ``valence``, ``arousal`` and
        ``tags`` (every tag's probability, highest first)."""
        x = torch.as_tensor(np.atleast_2d(np.asarray(features, dtype=np.float32)))
        was_training = self.training
        self.eval()
        va, logits = self(x)
        self.train(was_training)
        probs = torch.sigmoid(logits)
        out = []
        for i in range(x.shape[0]):
            tag_probs = {t: round(float(p), 4) for t, p in zip(self.config.tags, probs[i].tolist(), strict=True)}
            out.append(
                {
                    "valence": round(float(va[i, 0]), 4),
                    "arousal": round(float(va[i, 1]), 4),
                    "tags": dict(sorted(tag_probs.items(), key=lambda kv: -kv[1])),
                }
            )
        return out

    def predict_audio(self, audio: np.ndarray, sample_rate: int) -> dict:
        """Prediction for an excerpt ``audio`` ``(T,)`` (the caller picks the window; see ``config.window_seconds``),
        plus the ``descriptors`` measured on it."""
        feats, desc = excerpt_features(audio, sample_rate)
        return {**self.predict_features(feats)[0], "descriptors": desc}

    def save_pretrained(self, directory: str | os.PathLike, half: bool = True) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (fp16 unless ``half=False``) into ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        dtype = torch.float16 if half else torch.float32
        state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in self.state_dict().items()}
        config = asdict(self.config)
        config["tags"] = list(config["tags"])
        atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, p))
        atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config, indent=2) + "\n"))
        from audiogen.weights import write_checksums

        write_checksums(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> EmotionModel:
        """Load a model written by :meth:`save_pretrained` (float32, eval mode; no pickles)."""
        from audiogen.weights import load_weights

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} is not an emotion model checkpoint ({CONFIG_NAME} + {WEIGHTS_NAME})")
        model = cls(EmotionModelConfig(**json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))))
        state = {k: v.float() for k, v in load_weights(directory / WEIGHTS_NAME).items()}
        model.load_state_dict(state)
        return model.eval()


def default_emotion_dir() -> Path:
    """Folder of the emotion model shipped inside the package (it may be absent: check ``config.json``)."""
    from audiogen.pretrained import DEFAULT_DIR

    return DEFAULT_DIR / "emotion"


def main(argv: list[str] | None = None) -> int:
    """``python -m audiogen.conditioning.emotion_model features|train|evaluate ...`` (see ``--help``)."""
    from audiogen.conditioning.emotion_train import main as train_main

    return train_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
