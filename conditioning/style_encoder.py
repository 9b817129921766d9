"""The style encoder: a small conv net over log-mel spectrograms, audio ``[B, T]`` -> style vector ``[B, E]``.

The network is trained contrastively (:mod:`.train_style_encoder`): crops from two places in the same track are
positives, crops of other tracks negatives, so the vector captures what stays constant within a recording
(instrumentation, timbre, production, tempo feel) rather than what changes from bar to bar.

"Make something like this clip" works by retrieval: a :class:`StyleIndex` ships next to the encoder with one vector
per training track and that track's style tags, and :func:`reference_style_tags` returns the tags most of the clip's
nearest tracks carry. (The vector can also be given to an LM trained with style embeddings as
``Attributes.style_embedding``; the shipped LM was trained without them.)

Architecture: log-mel (64 bands, 10 ms hop) with per-clip mean removal (so level does not matter) -> 4 blocks of
[3×3 conv, batch norm, GELU, 2×2 max-pool] -> mean and standard deviation over time and frequency (statistics
pooling) -> linear -> L2-normalised ``E``-dim vector. About 0.3 M parameters.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiogen.fileio import atomic_write

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "index.json"
INDEX_WEIGHTS = "index.safetensors"


@dataclass
class StyleEncoderConfig:
    """sample_rate: input rate (Hz); n_fft/hop/n_mels: the log-mel front end; channels: conv widths, one block each;
    dim: output width E (must equal ``ConditionConfig.style_dim`` of the LM that uses it); crop_seconds: the clip
    length it is trained on and that :meth:`StyleEncoder.embed_audio` averages over."""

    sample_rate: int = 32000
    n_fft: int = 1024
    hop: int = 320
    n_mels: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 128)
    dim: int = 128
    crop_seconds: float = 4.0

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if not 8000 <= self.sample_rate <= 96000:
            raise ValueError(f"sample_rate must be in [8000, 96000] Hz, got {self.sample_rate}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError(f"hop must be in (0, n_fft={self.n_fft}], got {self.hop}")
        if not 16 <= self.n_mels <= 256 or self.n_mels % 2 ** len(self.channels):
            raise ValueError(f"n_mels must be in [16, 256] and divisible by 2**len(channels), got {self.n_mels}")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive widths, got {self.channels}")
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if not 0.5 <= self.crop_seconds <= 30:
            raise ValueError(f"crop_seconds must be in [0.5, 30], got {self.crop_seconds}")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU(), nn.MaxPool2d(2)
    )


class StyleEncoder(nn.Module):
    """Audio ``[B, T]`` (mono, ``config.sample_rate``) -> unit-length style vectors ``[B, E]``."""

    def __init__(self, config: StyleEncoderConfig):
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            config.sample_rate, n_fft=config.n_fft, hop_length=config.hop, n_mels=config.n_mels, power=2.0
        )
        widths = (1, *config.channels)
        self.blocks = nn.Sequential(*[_block(a, b) for a, b in itertools.pairwise(widths)])
        self.out = nn.Linear(2 * config.channels[-1], config.dim)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Natural-log mel power, nothing removed: audio ``[B, T]`` -> ``[B, n_mels, frames]`` (no learned weights,
        so it can be computed once and cached for training)."""
        if audio.ndim != 2:
            raise ValueError(f"audio must be [B, T], got {tuple(audio.shape)}")
        min_len = self.config.n_fft
        if audio.shape[1] < min_len:
            raise ValueError(f"audio must have at least {min_len} samples, got {audio.shape[1]}")
        return torch.log(self.mel(audio.float()) + 1e-5)  # (B, M, F)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel with the clip's mean removed: ``[B, T]`` -> ``[B, 1, n_mels, frames]``."""
        logmel = self.log_mel(audio)
        return (logmel - logmel.mean(dim=(1, 2), keepdim=True))[:, None]

    def embed_log_mel(self, logmel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, n_mels, frames]`` (as from :meth:`log_mel`) -> ``[B, E]`` with unit L2 norm."""
        x = (logmel.float() - logmel.float().mean(dim=(1, 2), keepdim=True))[:, None]  # (B, 1, M, F)
        h = self.blocks(x)  # (B, C, M', F')
        h = h.flatten(2)  # (B, C, M'·F')
        stats = torch.cat([h.mean(-1), h.std(-1, unbiased=False)], dim=1)  # (B, 2C)
        return F.normalize(self.out(stats), dim=-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio ``[B, T]`` -> ``[B, E]`` with unit L2 norm."""
        return self.embed_log_mel(self.log_mel(audio))

    @torch.no_grad()
    def embed_audio(self, audio: np.ndarray | torch.Tensor, max_crops: int = 8) -> torch.Tensor:
        """One style vector ``(E,)`` for a whole clip ``(T,)``: mean of up to ``max_crops`` evenly spaced crops.

        A clip shorter than one crop is used whole. The result is re-normalised to unit length.
        """
        x = torch.as_tensor(audio, dtype=torch.float32).flatten()
        n = int(self.config.crop_seconds * self.config.sample_rate)
        if x.shape[0] <= n:
            crops = x[None]
        else:
            k = min(max_crops, x.shape[0] // n)
            starts = torch.linspace(0, x.shape[0] - n, k).long().tolist()
            crops = torch.stack([x[s : s + n] for s in starts])
        was_training = self.training
        self.eval()
        dev = next(self.parameters()).device
        vec = self(crops.to(dev)).mean(0)
        self.train(was_training)
        return F.normalize(vec, dim=0).cpu()

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (each atomically); ``dtype`` (e.g.
        ``torch.float16``, for shipping) converts the floating-point tensors. Loading converts back to float32."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, p))
        atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(asdict(self.config), indent=2)))
        from audiogen.weights import write_checksums

        write_checksums(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> StyleEncoder:
        """Load a model written by :meth:`save_pretrained` (no pickles), in eval mode."""
        from audiogen.weights import load_weights

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} is not a style encoder checkpoint ({CONFIG_NAME} + {WEIGHTS_NAME})")
        config = StyleEncoderConfig(**json.loads((directory / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_state_dict(load_weights(directory / WEIGHTS_NAME))  # copies float16 into float32 parameters
        return model.to(device).eval()


@dataclass
class StyleIndex:
    """Style vectors of known tracks with their style tags, for "make something like this clip" by retrieval.

    ``vectors [N, E]`` unit rows (stored as float16), ``labels [N, V]`` 0/1 for the ``V`` tags in ``tags`` (a subset of
    :data:`~audiogen.conditioning.styles.STYLE_TAGS`, vocabulary order), ``names`` one label per track (source and
    title), and the voting defaults ``k`` and ``min_share``.
    """

    vectors: torch.Tensor
    labels: torch.Tensor
    tags: tuple[str, ...]
    names: tuple[str, ...]
    k: int = 5
    min_share: float = 0.5

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.labels.shape != (self.vectors.shape[0], len(self.tags)):
            raise ValueError(f"vectors [N, E] and labels [N, {len(self.tags)}] disagree: "
                             f"{tuple(self.vectors.shape)} vs {tuple(self.labels.shape)}")  # fmt: skip
        if len(self.names) != self.vectors.shape[0]:
            raise ValueError(f"{len(self.names)} names for {self.vectors.shape[0]} vectors")
        if not 0 < self.min_share <= 1 or self.k < 1:
            raise ValueError(f"k must be >= 1 and min_share in (0, 1], got {self.k}, {self.min_share}")

    @classmethod
    def build(cls, vectors: torch.Tensor, tracks: list[dict], k: int = 5, min_share: float = 0.5) -> StyleIndex:
        """From track vectors ``[N, E]`` and one dict per track with ``tags`` (vocabulary tags) and ``name``."""
        from audiogen.conditioning.styles import STYLE_TAGS

        used = {t for tr in tracks for t in tr["tags"]}
        tags = tuple(t for t in STYLE_TAGS if t in used)
        labels = torch.tensor([[t in tr["tags"] for t in tags] for tr in tracks], dtype=torch.uint8)
        labels = labels.reshape(len(tracks), len(tags))
        names = tuple(str(tr.get("name", i)) for i, tr in enumerate(tracks))
        return cls(F.normalize(vectors.float(), dim=-1).half(), labels, tags, names, k, min_share)

    def nearest(self, vector: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` most similar tracks to ``vector (E,)``: cosine similarities ``(k,)`` and rows ``(k,)``."""
        sim = self.vectors.float() @ F.normalize(vector.float().flatten(), dim=0)  # (N,)
        return sim.topk(min(k or self.k, sim.shape[0]))

    def vote(self, vector: torch.Tensor, k: int | None = None, min_share: float | None = None) -> tuple[str, ...]:
        """Tags carried by at least ``min_share`` of the ``k`` nearest tracks to ``vector (E,)``, most votes first
        (ties in vocabulary order)."""
        _, rows = self.nearest(vector, k)
        share = self.labels[rows].float().mean(0)  # (V,)
        need = self.min_share if min_share is None else min_share
        order = sorted(range(len(self.tags)), key=lambda j: (-float(share[j]), j))
        return tuple(self.tags[j] for j in order if share[j] >= need - 1e-6)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``index.safetensors`` (vectors float16, labels uint8) and ``index.json`` into ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"vectors": self.vectors.half().contiguous(), "labels": self.labels.to(torch.uint8).contiguous()}
        meta = {"tags": list(self.tags), "names": list(self.names), "k": self.k, "min_share": self.min_share}
        atomic_write(directory / INDEX_WEIGHTS, lambda p: save_file(tensors, p))
        atomic_write(directory / INDEX_NAME, lambda p: Path(p).write_text(json.dumps(meta, indent=0)))
        from audiogen.weights import write_checksums

        write_checksums(directory)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> StyleIndex:
        """Read an index written by :meth:`save`."""
        from audiogen.weights import load_weights

        directory = Path(directory)
        if not (directory / INDEX_NAME).is_file() or not (directory / INDEX_WEIGHTS).is_file():
            raise FileNotFoundError(f"{directory} holds no style index ({INDEX_NAME} + {INDEX_WEIGHTS})")
        meta = json.loads((directory / INDEX_NAME).read_text())
        t = load_weights(directory / INDEX_WEIGHTS)
        return cls(t["vectors"], t["labels"], tuple(meta["tags"]), tuple(meta["names"]), meta["k"], meta["min_share"])


def reference_style_tags(
    audio: np.ndarray | torch.Tensor, encoder: StyleEncoder, index: StyleIndex, k: int | None = None
) -> tuple[str, ...]:
    """Style tags for a reference clip: the vocabulary tags that most of its ``k`` nearest indexed tracks carry.

    ``audio`` is the clip ``(T,)``, mono at ``encoder.config.sample_rate`` (at least ``n_fft`` samples). The clip's
    vector is :meth:`StyleEncoder.embed_audio`; the tags are :meth:`StyleIndex.vote` (``k`` nearest, a tag needs
    ``index.min_share`` of the votes). Returns ``()`` when no tag reaches the threshold.
    """
    return index.vote(encoder.embed_audio(audio), k)
