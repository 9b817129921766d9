"""The pitch teacher: what the first codebooks of codec v3 are made to hold.

Reconstruction losses are dominated by broadband energy, so nothing makes the codebooks an LM models first carry the
notes. During training, a linear read-out (a 3-frame convolution) of the latent of the first ``teacher_codebooks``
codebooks must give the crop's **semitone spectrum**: the log energy in each of 84 semitones from C1 to B7, from an
8192-point STFT (3.9 Hz bins, a Hann main lobe narrower than a semitone from about C4 up) folded onto the semitones
by Gaussians a quarter of a semitone wide, relative to the frame's loudest semitone and floored at -8 nats. These
labels are exact for synthetic notes and need no model; a read-out that is linear keeps the pitch explicit in those
codebooks, as Mimi distils its teacher into its first one. The read-out is training-only: it is not part of a codec
folder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SEMITONES = 84  # C1 (32.7 Hz) .. B7 (3951 Hz)
FLOOR = -8.0
N_FFT = 8192


def semitone_filterbank(n_fft: int, sample_rate: int, fmin: float = 32.70) -> torch.Tensor:
    """``[84, n_fft/2+1]``: row ``s`` a Gaussian in frequency centred on semitone ``s`` above ``fmin``, a quarter of a
    semitone wide (or one FFT bin where that is wider)."""
    centres = fmin * 2.0 ** (torch.arange(SEMITONES, dtype=torch.float64) / 12)
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    width = torch.clamp(centres * (2 ** (1 / 48) - 1), min=sample_rate / n_fft)
    return torch.exp(-0.5 * ((freqs[None] - centres[:, None]) / width[:, None]) ** 2).float()


_CACHE: dict = {}


def semitone_labels(wav: torch.Tensor, sample_rate: int, hop: int) -> torch.Tensor:
    """Waveform ``[B, T]`` (T a multiple of ``2 * hop``) → labels ``[B, 84, T / (2 hop)]``: each token frame's log
    energy per semitone (mean of its two STFT frames) minus the frame's loudest, floored at ``FLOOR``."""
    key = (sample_rate, str(wav.device))
    if key not in _CACHE:
        _CACHE[key] = (torch.hann_window(N_FFT, device=wav.device),
                       semitone_filterbank(N_FFT, sample_rate).to(wav.device))  # fmt: skip
    window, fold = _CACHE[key]
    x = wav if wav.shape[-1] > N_FFT // 2 else torch.nn.functional.pad(wav, (0, N_FFT // 2 + 1 - wav.shape[-1]))
    spec = torch.stft(x, N_FFT, hop, window=window, center=True, return_complex=True).abs().square()
    frames = wav.shape[-1] // (2 * hop)
    energy = (fold @ spec)[..., : 2 * frames]  # (B, 84, 2F)
    energy = energy.reshape(*energy.shape[:2], frames, 2).mean(-1)  # (B, 84, F)
    log = torch.log(energy.clamp(min=1e-10))
    return (log - log.amax(1, keepdim=True)).clamp(min=FLOOR)


class PitchTeacher(nn.Module):
    """Read-out ``[B, latent_dim, F]`` → predicted labels ``[B, 84, F]``; :meth:`loss` compares it with the labels of
    the audio the latent was coded from."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.sample_rate, self.hop = cfg.sample_rate, cfg.hop
        self.readout = nn.Conv1d(cfg.latent_dim, SEMITONES, 3, padding=1)
        with torch.no_grad():
            self.readout.bias.fill_(FLOOR / 2)

    def forward(self, z_first: torch.Tensor) -> torch.Tensor:
        return self.readout(z_first)

    def loss(self, z_first: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        """Mean L1 between the read-out of ``z_first`` ``[B, D, F]`` and the labels of ``wav`` ``[B, F * 2 hop]``."""
        with torch.no_grad():
            labels = semitone_labels(wav, self.sample_rate, self.hop)
        pred = self(z_first)
        n = min(pred.shape[-1], labels.shape[-1])
        return F.l1_loss(pred[..., :n], labels[..., :n])


class NoteTeacher(nn.Module):
    """The notes themselves as the first codebooks' target: a read-out ``[B, latent_dim, F]`` → logits ``[B, 88,
    F]`` of basic-pitch's note posteriors (A0..C8; :mod:`audiogen.data.note_cache`), scored by binary cross-entropy
    against them. The semitone teacher's labels are a spectrum, timbre included; these are which keys sound."""

    def __init__(self, cfg) -> None:
        super().__init__()
        from audiogen.transcribe import KEYS

        self.readout = nn.Conv1d(cfg.latent_dim, KEYS, 3, padding=1)
        with torch.no_grad():
            self.readout.bias.fill_(-4.0)  # most keys are silent most of the time

    def forward(self, z_first: torch.Tensor) -> torch.Tensor:
        return self.readout(z_first)

    def loss(self, z_first: torch.Tensor, notes: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy of the read-out of ``z_first`` ``[B, D, F]`` against posteriors ``notes``
        ``[B, 88, F']`` over the items that have them (``known`` ``[B]`` bool); 0 when none has."""
        if not bool(known.any()):
            return z_first.new_zeros(())
        logits = self(z_first[known])
        n = min(logits.shape[-1], notes.shape[-1])
        return F.binary_cross_entropy_with_logits(logits[..., :n], notes[known][..., :n].to(logits.dtype))
