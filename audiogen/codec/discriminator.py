"""Multi-scale STFT discriminator (after EnCodec), kept narrow (16 filters, 3 scales) for CPU training."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class STFTDiscriminator(nn.Module):
    """One scale: complex STFT (real, imag as 2 channels) → 2-D conv stack → logits.

    ``forward(wav [B, T])`` → (logits ``[B, 1, F', T']``, feature maps list).
    """

    def __init__(self, n_fft: int, filters: int = 16, dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [weight_norm(nn.Conv2d(2, filters, (3, 9), padding=(1, 4)))]
        for d in dilations:
            convs.append(
                weight_norm(nn.Conv2d(filters, filters, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4)))
            )
        convs.append(weight_norm(nn.Conv2d(filters, filters, (3, 3), padding=1)))
        self.convs = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(filters, 1, (3, 3), padding=1))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, return_complex=True)  # (B, F, T)
        x = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # (B, 2, T, F)
        feats = []
        for conv in self.convs:
            x = self.act(conv(x))
            feats.append(x)
        return self.out(x), feats


class MultiScaleSTFTDiscriminator(nn.Module):
    """Several :class:`STFTDiscriminator` scales. ``forward(wav [B, T])`` → lists of logits and of feature lists."""

    def __init__(self, n_ffts: tuple[int, ...] = (2048, 1024, 512), filters: int = 16) -> None:
        super().__init__()
        self.discs = nn.ModuleList(STFTDiscriminator(n, filters) for n in n_ffts)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outs = [d(wav) for d in self.discs]
        return [o[0] for o in outs], [o[1] for o in outs]


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator, narrow for the CPU: the waveform folded into ``[T / p, p]`` so 2-D
    convolutions along time compare samples one period apart, which is where pitch (periodicity) shows.

    ``forward(wav [B, T])`` → (logits ``[B, 1, T', p]``, feature maps list).
    """

    def __init__(self, period: int, channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        self.period = period
        convs, c_in = [], 1
        for c in channels:
            convs.append(weight_norm(nn.Conv2d(c_in, c, (5, 1), stride=(3, 1), padding=(2, 0))))
            c_in = c
        convs.append(weight_norm(nn.Conv2d(c_in, c_in, (5, 1), padding=(2, 0))))
        self.convs = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(c_in, 1, (3, 1), padding=(1, 0)))
        self.act = nn.LeakyReLU(0.1)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, t = wav.shape
        pad = (-t) % self.period
        x = nn.functional.pad(wav, (0, pad), mode="reflect" if pad < t else "constant")
        x = x.view(b, 1, -1, self.period)  # (B, 1, T / p, p)
        feats = []
        for conv in self.convs:
            x = self.act(conv(x))
            feats.append(x)
        return self.out(x), feats


class CodecDiscriminator(nn.Module):
    """The multi-scale STFT discriminator, plus period discriminators for ``periods`` (HiFi-GAN / Vocos / DAC use
    2, 3, 5, 7, 11; empty = the STFT scales alone, the v1 recipe). Same interface as
    :class:`MultiScaleSTFTDiscriminator`."""

    def __init__(self, n_ffts=(2048, 1024, 512), filters: int = 16, periods: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.stft = MultiScaleSTFTDiscriminator(tuple(n_ffts), filters)
        self.periods = nn.ModuleList(PeriodDiscriminator(p) for p in periods)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        logits, feats = self.stft(wav)
        for d in self.periods:
            out, f = d(wav)
            logits.append(out)
            feats.append(f)
        return logits, feats
