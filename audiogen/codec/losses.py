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


def chroma_filter(n_fft: int, sample_rate: int, fmin: float = 55.0, fmax: float = 4000.0) -> torch.Tensor:
    """``[12, n_fft // 2 + 1]`` map from linear STFT bins to pitch classes (C first): each bin in ``[fmin, fmax]``
    goes to its nearest pitch class, weighted by a raised cosine of its distance from that semitone's centre."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    midi = 69 + 12 * torch.log2(freqs.clamp(min=1e-3) / 440.0)
    nearest = torch.round(midi)
    weight = 0.5 + 0.5 * torch.cos(torch.pi * (midi - nearest).clamp(-0.5, 0.5) * 2)
    weight = torch.where((freqs >= fmin) & (freqs <= fmax), weight, torch.zeros_like(weight))
    out = torch.zeros(12, len(freqs))
    out[nearest.long() % 12, torch.arange(len(freqs))] = weight
    return out


class PitchLoss(nn.Module):
    """Losses that see pitch, which 80 mel bands (wider than a semitone below ~500 Hz) cannot.

    ``forward(x [B, T], y [B, T])`` → ``(spectral, chroma)``: ``spectral`` the mean L1 between log magnitudes of
    linear-frequency STFTs at long windows (``n_ffts``; 4096 points at 32 kHz are 7.8 Hz bins, a semitone apart
    from about 130 Hz up, 8192 from 65 Hz), ``chroma`` the mean ``1 - cosine`` between the frames' pitch-class
    profiles folded from those spectra (55 Hz - 4 kHz) — the chroma reading of the codec benchmark, as a loss.
    """

    def __init__(self, sample_rate: int = 32000, n_ffts: tuple[int, ...] = (4096, 8192)) -> None:
        super().__init__()
        self.n_ffts = tuple(n_ffts)
        for n in self.n_ffts:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)
            self.register_buffer(f"chroma_{n}", chroma_filter(n, sample_rate), persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spectral, chroma = x.new_zeros(()), x.new_zeros(())
        for n in self.n_ffts:
            win, fold = getattr(self, f"window_{n}"), getattr(self, f"chroma_{n}")
            if x.shape[-1] < n:  # a crop shorter than the window: pad both alike
                x, y = F.pad(x, (0, n - x.shape[-1])), F.pad(y, (0, n - y.shape[-1]))
            sx = torch.stft(x, n, n // 4, window=win, return_complex=True).abs()  # (B, F, frames)
            sy = torch.stft(y, n, n // 4, window=win, return_complex=True).abs()
            spectral = spectral + F.l1_loss(torch.log(sx.clamp(min=1e-5)), torch.log(sy.clamp(min=1e-5)))
            cx, cy = fold @ sx, fold @ sy  # (B, 12, frames)
            chroma = chroma + (1 - F.cosine_similarity(cx, cy, dim=1, eps=1e-6)).mean()
        return spectral / len(self.n_ffts), chroma / len(self.n_ffts)
