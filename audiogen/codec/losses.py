"""Codec losses and distances: multi-scale mel, multi-resolution STFT, SI-SDR, hinge GAN, feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn


class MultiScaleMelLoss(nn.Module):
    """Mean over scales of L1 between log10 mel spectrograms. ``(x [B, T], y [B, T])`` → scalar.

    Also the "mel distance" metric of the benchmarks.
    """

    def __init__(self, sample_rate: int = 32000, n_ffts=(512, 1024, 2048), n_mels=(40, 80, 128)) -> None:
        super().__init__()
        self.mels = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate, n_fft=n, hop_length=n // 4, n_mels=m, power=1.0, center=True
            )
            for n, m in zip(n_ffts, n_mels, strict=True)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for mel in self.mels:
            mx, my = mel(x), mel(y)
            loss = loss + F.l1_loss(torch.log10(mx.clamp(min=1e-5)), torch.log10(my.clamp(min=1e-5)))
        return loss / len(self.mels)


def multi_resolution_stft_distance(
    x: torch.Tensor, y: torch.Tensor, n_ffts: tuple[int, ...] = (512, 1024, 2048)
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over resolutions. ``[B, T]`` pairs → scalar."""
    total = x.new_zeros(())
    for n in n_ffts:
        win = torch.hann_window(n, device=x.device)
        sx = torch.stft(x, n, n // 4, window=win, return_complex=True).abs()
        sy = torch.stft(y, n, n // 4, window=win, return_complex=True).abs()
        sc = torch.linalg.norm(sy - sx) / torch.linalg.norm(sy).clamp(min=1e-7)
        mag = F.l1_loss(torch.log(sx.clamp(min=1e-5)), torch.log(sy.clamp(min=1e-5)))
        total = total + sc + mag
    return total / len(n_ffts)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per item. ``[B, T]`` pairs → ``[B]``."""
    ref = reference - reference.mean(-1, keepdim=True)
    est = estimate - estimate.mean(-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.square().sum(-1, keepdim=True) + eps)
    target = alpha * ref
    noise = est - target
    return 10 * torch.log10(target.square().sum(-1) / (noise.square().sum(-1) + eps) + eps)


def discriminator_hinge(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss for the discriminator, averaged over scales."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake, strict=True)) / len(real)


def generator_hinge(fake: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss for the generator, averaged over scales."""
    return sum(F.relu(1 - f).mean() for f in fake) / len(fake)


def feature_matching(real_feats: list[list[torch.Tensor]], fake_feats: list[list[torch.Tensor]]) -> torch.Tensor:
    """Relative L1 between discriminator feature maps (EnCodec), averaged over scales and layers."""
    total, n = 0.0, 0
    for rs, fs in zip(real_feats, fake_feats, strict=True):
        for r, f in zip(rs, fs, strict=True):
            total = total + F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp(min=1e-5)
            n += 1
    return total / max(n, 1)
