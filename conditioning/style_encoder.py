"""The style encoder: a small conv net over log-mel spectrograms, audio ``[B, T]`` -> style vector ``[B, E]``.

A reference clip's vector is given to the LM as ``Attributes.style_embedding`` ("make it sound like this"). The
network is trained contrastively (:mod:`.train_style_encoder`): two crops of the same track are positives, crops of
other tracks negatives, so the vector captures what stays constant within a recording (instrumentation, timbre,
production, tempo feel) rather than what changes from bar to bar.

Architecture: log-mel (64 bands, 10 ms hop) with per-clip mean removal (so level does not matter) -> 4 blocks of
[3×3 conv, batch norm, GELU, 2×2 max-pool] -> mean and standard deviation over time and frequency (statistics
pooling) -> linear -> L2-normalised ``E``-dim vector. About 0.3 M parameters.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


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

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel with the clip's mean removed: ``[B, T]`` -> ``[B, 1, n_mels, frames]``."""
        if audio.ndim != 2:
            raise ValueError(f"audio must be [B, T], got {tuple(audio.shape)}")
        min_len = self.config.n_fft
        if audio.shape[1] < min_len:
            raise ValueError(f"audio must have at least {min_len} samples, got {audio.shape[1]}")
        logmel = torch.log(self.mel(audio.float()) + 1e-5)  # (B, M, F)
        logmel = logmel - logmel.mean(dim=(1, 2), keepdim=True)
        return logmel[:, None]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio ``[B, T]`` -> ``[B, E]`` with unit L2 norm."""
        h = self.blocks(self.features(audio))  # (B, C, M', F')
        h = h.flatten(2)  # (B, C, M'·F')
        stats = torch.cat([h.mean(-1), h.std(-1, unbiased=False)], dim=1)  # (B, 2C)
        return F.normalize(self.out(stats), dim=-1)

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

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (each atomically)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        _atomic(directory / WEIGHTS_NAME, lambda p: save_file(state, p))
        _atomic(directory / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(asdict(self.config), indent=2)))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> StyleEncoder:
        """Load a model written by :meth:`save_pretrained` (no pickles), in eval mode."""
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} is not a style encoder checkpoint ({CONFIG_NAME} + {WEIGHTS_NAME})")
        config = StyleEncoderConfig(**json.loads((directory / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(directory / WEIGHTS_NAME)))
        return model.to(device).eval()


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
