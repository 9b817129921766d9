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

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """The same block on frames-first input ``[B, T, C]`` → ``[B, T, C]`` (fewer layout copies in a stack)."""
        y = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + self.gamma * y


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

    Uses "same" padding so ``F`` frames give exactly ``F * hop`` samples (as in Vocos). :meth:`forward_frames` is the
    fast path (frames-last input, overlap-add by shifted adds when ``hop`` divides ``n_fft``);
    :meth:`reference_forward` is the plain one it is tested against (``nn.functional.fold`` overlap-add).
    """

    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.proj = nn.Conv1d(dim, n_fft + 2, 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, F]`` → ``[B, F * hop]``."""
        return self.forward_frames(x.transpose(1, 2))

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``[B, F, C]`` (frames first) → waveform ``[B, F * hop]``."""
        if self.n_fft % self.hop:
            return self.reference_forward(x.transpose(1, 2))
        h = nn.functional.linear(x, self.proj.weight[:, :, 0], self.proj.bias)  # (B, F, n_fft + 2)
        mag, phase = h.chunk(2, dim=-1)
        spec = torch.polar(torch.exp(mag).clamp(max=1e2), phase)  # (B, F, n_fft/2+1)
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1) * self.window  # (B, F, n_fft), each frame contiguous
        y = self._overlap_add(frames)
        env = self._overlap_add(self.window.square().expand(1, frames.shape[1], -1))[0]
        pad = (self.n_fft - self.hop) // 2
        return y[:, pad : y.shape[1] - pad] / env[pad : env.shape[0] - pad].clamp(min=1e-11)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, F, n_fft]`` frames ``hop`` apart → ``[B, (F - 1) * hop + n_fft]`` (``hop`` divides ``n_fft``)."""
        b, n, _ = frames.shape
        r = self.n_fft // self.hop
        parts = frames.reshape(b, n, r, self.hop)
        out = frames.new_zeros(b, n + r - 1, self.hop)
        for k in range(r):
            out[:, k : k + n] += parts[:, :, k]
        return out.reshape(b, -1)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain computation ``[B, C, F]`` → ``[B, F * hop]`` (1×1 conv, complex spectrum, ``fold``)."""
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
