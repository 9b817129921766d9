"""Codec backends behind one interface, and :func:`load_codec` to pick one.

Every backend offers ``sample_rate``, ``frame_rate``, ``n_q``, ``codebook_size``, ``model_id``, ``kbps(n_q)``,
``n_q_for_kbps(kbps)``, ``encode(wav [B, T], n_q) -> codes [B, n_q, F]`` and ``decode(codes [B, K, F]) -> wav [B, T']``.

- our codec (:class:`audiogen.codec.model.Codec`): the shipped default, or any folder written by ``save_pretrained``;
- EnCodec 24 kHz from the ``encodec`` package, for users who hold its pretrained weights locally
  (``encodec:PATH/encodec_24khz-d7cc33bc.th``; nothing is downloaded). The package is CC-BY-NC licensed and is a
  reference backend and speed anchor, not audiogen's codec.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from torch import nn

from audiogen.codec.model import Codec


class EncodecBackend(nn.Module):
    """EnCodec 24 kHz (75 frames/s, up to 32 codebooks of 1024) behind audiogen's codec interface.

    ``weights``: a local state-dict file of the pretrained model (loaded with ``weights_only=True``), or None for
    random weights (speed measurements, tests).
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        from encodec import EncodecModel

        self.model = EncodecModel.encodec_model_24khz(pretrained=False)
        if weights is not None:
            weights = Path(weights)
            if not weights.is_file():
                raise FileNotFoundError(f"{weights}: no such EnCodec weights file")
            self.model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
            self._id = f"encodec-24khz-{digest}"
        else:
            self._id = "encodec-24khz-random"
        self.model.eval()

    sample_rate = 24000
    frame_rate = 75.0
    codebook_size = 1024

    @property
    def n_q(self) -> int:
        return 32

    @property
    def model_id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._id

    def kbps(self, n_q: int) -> float:
        return n_q * math.log2(self.codebook_size) * self.frame_rate / 1000

    def n_q_for_kbps(self, kbps: float) -> int:
        allowed = {1.5: 2, 3.0: 4, 6.0: 8, 12.0: 16, 24.0: 32}
        fits = [n for b, n in allowed.items() if b <= kbps + 1e-9]
        if not fits:
            raise ValueError(f"bitrate {kbps} kbps is below EnCodec's lowest; allowed: {sorted(allowed)} kbps")
        return max(fits)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``[B, T]`` at 24 kHz → codes ``[B, n_q, F]``."""
        n_q = n_q or 8
        self.model.set_target_bandwidth(self.kbps(n_q))
        frames = self.model.encode(wav.reshape(wav.shape[0], 1, -1))
        return torch.cat([codes for codes, _ in frames], dim=-1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K, F]`` → ``[B, T]`` at 24 kHz."""
        return self.model.decode([(codes, None)])[:, 0]


def load_codec(spec: str | Path | None = None):
    """``None`` → the shipped codec; ``"encodec"`` or ``"encodec:WEIGHTS"`` → EnCodec 24 kHz; a folder → our
    codec."""
    if spec is None:
        return Codec.from_pretrained()
    text = str(spec)
    if text == "encodec" or text.startswith("encodec:"):
        path = text.partition(":")[2] or None
        return EncodecBackend(path)
    return Codec.from_pretrained(text)
