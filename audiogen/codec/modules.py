"""Building blocks of the codec: ConvNeXt blocks, the STFT encoder front end and the inverse-STFT head.

Both encoder and decoder work at the frame rate, not the sample rate (Vocos / WavTokenizer): the encoder reads
STFT magnitudes, the decoder predicts STFT magnitude and phase and an inverse STFT makes the waveform. This costs a
fraction of a SEANet waveform stack on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) → LayerNorm → pointwise MLP ×``mult`` → layer-scaled residual. ``[B, C, T]`` → same."""

    def __init__(self, dim: int, mult: int = 3, layer_scale: float = 0.1) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, dim * mult)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(dim * mult, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (B, T, C)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class STFTFeatures(nn.Module):
    """Waveform ``[B, T]`` → log-magnitude STFT ``[B, n_fft//2+1, frames]`` (centre-padded, Hann window)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return torch.log(spec.abs().clamp(min=1e-5))


class ISTFTHead(nn.Module):
    """Features ``[B, C, F]`` → waveform ``[B, F * hop]``: predicts log-magnitude and phase per bin, then iSTFT.

    Uses "same" padding so ``F`` frames give exactly ``F * hop`` samples (as in Vocos).
    """

    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.proj = nn.Conv1d(dim, n_fft + 2, 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self.proj(x).chunk(2, dim=1)  # (B, n_fft/2+1, F) each
        mag = torch.exp(mag).clamp(max=1e2)
        spec = torch.polar(mag, phase)
        return self._istft_same(spec)

    def _istft_same(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse STFT with 'same' padding: ``[B, N, F]`` complex → ``[B, F * hop]``."""
        pad = (self.n_fft - self.hop) // 2
        frames = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None]  # (B, n_fft, F)
        n_frames = frames.shape[-1]
        out_len = (n_frames - 1) * self.hop + self.n_fft
        fold = nn.functional.fold
        y = fold(frames, (1, out_len), kernel_size=(1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        win_sq = self.window.square().expand(1, n_frames, -1).transpose(1, 2)
        env = fold(win_sq, (1, out_len), kernel_size=(1, self.n_fft), stride=(1, self.hop)).squeeze()
        y = y[:, pad : out_len - pad]
        env = env[pad : out_len - pad]
        return y / env.clamp(min=1e-11)
