"""The audiogen codec: STFT encoder → residual VQ → ConvNeXt decoder with an inverse-STFT head.

```
wav [B, T] ─► log|STFT| (hop h) ─► ConvNeXt ×n ─► stride-2 conv ─► ConvNeXt ×n ─► latent [B, D, F]   (F = T / 2h)
           (+ log-frequency |STFT 4096|, semitone bins, same hop: ``pitch_bins`` > 0)
latent ─► RVQ (K × N codes, factorised) ─► codes [B, K, F]
codes ─► ConvNeXt ×m ─► ×2 transposed conv ─► ConvNeXt ×m' ─► iSTFT (hop h) ─► wav [B, F · 2h]
```
At 32 kHz with h = 320 the token rate is 50 frames/s; 8 codebooks of 1024 entries give 0.5 kbps each (4 kbps max).

The iSTFT head predicts a log-magnitude and a phase per bin and frame. How that phase is read decides whether a held
note can come out (``modules.ISTFTHead``): ``phase_ref="frame"`` (v1, v2) reads it against each frame's own start,
so the near-constant tokens of a held note decode to a frame-periodic signal, a comb at multiples of 50 Hz;
``phase_ref="time"`` reads it against a sinusoid per bin that runs on across frames, and ``phase_rate`` adds a
predicted per-frame phase increment summed over frames, so a constant input can hold a tone at any frequency (v2.1).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from audiogen.codec.inference import conv_frames
from audiogen.codec.modules import PHASE_REFS, ConvNeXtBlock, ISTFTHead, PitchFeatures, STFTFeatures
from audiogen.codec.phase import MagnitudeSynth, TwoBandSynth
from audiogen.codec.quantizer import ResidualVQ

HEADS = ("istft", "magnitude")
BASS_PITCH_BINS = 108  # the encoder's bass pitch input (bass_pitch_n_fft): C1..B3, three bins a semitone
DECODE_WINDOW = 1500  # token frames per window of a decode in windows (30 s at 50 frames/s)


@dataclass
class CodecConfig:
    """Shape of a codec. ``hop`` is the STFT hop; one token frame covers ``2 * hop`` samples."""

    sample_rate: int = 32000
    n_fft: int = 1280
    hop: int = 320
    enc_dim: int = 256
    enc_layers: int = 4
    latent_dim: int = 128
    dec_dim: int = 320
    dec_layers: int = 6
    up_dim: int = 192
    up_layers: int = 2
    n_q: int = 8
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    restart_after: int = 200
    pitch_bins: int = 0  # > 0: the encoder also reads a semitone-resolving spectrum (modules.PitchFeatures); v1: 0
    # > 0: the encoder also reads the three octaves C1..B3 folded onto thirds of semitones from a Hann STFT of this
    # many points (16384: 2 Hz bins, semitones apart from about C2, where the 4096-point pitch input separates them
    # only from about 260 Hz up), through its own input layer that starts at zero
    bass_pitch_n_fft: int = 0
    phase_ref: str = "frame"  # the decoder head's phase reference (modules.ISTFTHead): "time" holds steady notes
    phase_rate: bool = False  # the head also predicts a per-frame phase increment, summed over frames (any pitch)
    # > 0: the decoder also reads the first N columns of the plan's dense controls (audiogen.controls.layout) at the
    # token rate: 26 = the chord and melody groups, the notes the tokens of a small codec do not hold
    decoder_controls: int = 0
    # the decoder's output: "istft" (v1, v2: a log-magnitude and a phase per bin of an ``n_fft`` STFT) or "magnitude"
    # (v3: only the log-magnitude of a Gaussian-window ``synth_n_fft`` STFT; the phase is rebuilt, codec.phase)
    head: str = "istft"
    synth_n_fft: int = 2048
    # > 0: a magnitude head with a hidden layer this wide (GELU) before its projection to the bins. A linear head
    # from up_dim features keeps every predicted spectrum in an up_dim-dimensional subspace of log-magnitudes, which
    # cannot hold sharp partials anywhere (BENCHMARKS.md, "Codec v3: the magnitude head's rank")
    head_hidden: int = 0
    # > 0: a magnitude head also predicts the bass (below about ``bass_hz``) as a Gaussian-window STFT of this many
    # points, whose finer bins tell bass semitones apart (codec.phase.TwoBandSynth); 0: one spectrogram (v3 so far)
    bass_n_fft: int = 0
    bass_hz: float = 300.0
    # > 0: the bass band is drawn from features that first pass this many dilated convolutions over frames
    # (dilations 1, 2, 4, ...: each adds that many frames of context on both sides), so a held bass note's pitch can
    # be read from more of its length than the body's reach; each starts as the identity (a decoder fine-tuned with
    # it begins as the one it starts from)
    bass_context: int = 0
    model_id: str = ""
    decoder_id: str = ""  # names the decoder's weights (set on save): two decoders of one token space differ here

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop", "enc_dim", "latent_dim", "dec_dim", "up_dim", "codebook_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.n_fft < 2 * self.hop or self.n_fft % 2:
            raise ValueError(f"n_fft must be even and >= 2 * hop ({2 * self.hop}), got {self.n_fft}")
        if not 1 <= self.n_q <= 32:
            raise ValueError(f"n_q must be in [1, 32], got {self.n_q}")
        if not 2 <= self.codebook_size <= 65536:
            raise ValueError(f"codebook_size must be in [2, 65536], got {self.codebook_size}")
        if not 0.0 <= self.quantizer_dropout <= 1.0:
            raise ValueError(f"quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        if self.phase_ref not in PHASE_REFS:
            raise ValueError(f"phase_ref must be one of {PHASE_REFS}, got {self.phase_ref!r}")
        if not 0 <= self.decoder_controls <= 35:
            raise ValueError(f"decoder_controls must be 0..35 control columns, got {self.decoder_controls}")
        if not isinstance(self.phase_rate, bool):
            raise ValueError(f"phase_rate must be true or false, got {self.phase_rate!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.synth_n_fft % 2 or self.synth_n_fft < 2 * self.hop:
            raise ValueError(f"synth_n_fft must be even and >= 2 * hop ({2 * self.hop}), got {self.synth_n_fft}")
        if self.head_hidden < 0:
            raise ValueError(f"head_hidden must be >= 0, got {self.head_hidden}")
        if self.bass_n_fft and (self.head != "magnitude" or self.bass_n_fft <= self.synth_n_fft
                                or self.bass_n_fft % 2):  # fmt: skip
            raise ValueError(f"bass_n_fft must be 0, or even and above synth_n_fft ({self.synth_n_fft}) with "
                             f"head='magnitude'; got {self.bass_n_fft} (head={self.head!r})")  # fmt: skip
        if not 0 < 1.25 * self.bass_hz < self.sample_rate / 2:
            raise ValueError(f"bass_hz must be in (0, {self.sample_rate / 2.5:g}), got {self.bass_hz}")
        if not 0 <= self.bass_context <= 8 or (self.bass_context and not self.bass_n_fft):
            raise ValueError(f"bass_context must be 0..8 blocks, and needs bass_n_fft > 0; got {self.bass_context} "
                             f"(bass_n_fft={self.bass_n_fft})")  # fmt: skip
        if self.bass_pitch_n_fft and (self.bass_pitch_n_fft < 4096 or self.bass_pitch_n_fft % 2):
            raise ValueError(f"bass_pitch_n_fft must be 0 or an even number of at least 4096, got "
                             f"{self.bass_pitch_n_fft}")  # fmt: skip
        if self.pitch_bins < 0 or self.pitch_bins % 12 or self.pitch_bins > 12 * 7 * 4:
            raise ValueError(f"pitch_bins must be 0 or a multiple of 12 up to 336, got {self.pitch_bins}")

    @property
    def out_bins(self) -> int:
        """Frequency bins of the decoder's log-magnitude."""
        if self.head == "magnitude" and self.bass_n_fft:
            bass = int(math.ceil(1.25 * self.bass_hz * self.bass_n_fft / self.sample_rate)) + 1
            return self.synth_n_fft // 2 + 1 + bass
        return (self.synth_n_fft if self.head == "magnitude" else self.n_fft) // 2 + 1

    @property
    def frame_size(self) -> int:
        """Samples per token frame."""
        return 2 * self.hop

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.frame_size

    def kbps(self, n_q: int) -> float:
        """Bitrate in kbps when ``n_q`` codebooks are kept."""
        return n_q * math.log2(self.codebook_size) * self.frame_rate / 1000

    def n_q_for_kbps(self, kbps: float) -> int:
        """The most codebooks whose bitrate fits in ``kbps``; raises if even one does not."""
        allowed = [round(self.kbps(k), 3) for k in range(1, self.n_q + 1)]
        n = sum(1 for b in allowed if b <= kbps + 1e-9)
        if n == 0:
            raise ValueError(f"bitrate {kbps} kbps is below the lowest this codec offers; allowed: {allowed} kbps")
        return n


class Encoder(nn.Module):
    """Waveform ``[B, T]`` (T multiple of ``2 * hop``) → latent ``[B, latent_dim, T / (2 hop)]``."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg_pitch = cfg.pitch_bins > 0
        self.stft = STFTFeatures(cfg.n_fft, cfg.hop)
        self.inp = nn.Conv1d(cfg.n_fft // 2 + 1, cfg.enc_dim, 7, padding=3)
        if cfg.pitch_bins:
            self.pitch = PitchFeatures(cfg.sample_rate, cfg.hop, cfg.pitch_bins)
            self.pitch_inp = nn.Conv1d(cfg.pitch_bins, cfg.enc_dim, 7, padding=3)
            # zero at the start: a codec fine-tuned with this input begins as the codec it starts from
            nn.init.zeros_(self.pitch_inp.weight)
            nn.init.zeros_(self.pitch_inp.bias)
        self.cfg_bass_pitch = cfg.bass_pitch_n_fft > 0
        if self.cfg_bass_pitch:
            self.bass_pitch = PitchFeatures(cfg.sample_rate, cfg.hop, BASS_PITCH_BINS, cfg.bass_pitch_n_fft, octaves=3)
            self.bass_pitch_inp = nn.Conv1d(BASS_PITCH_BINS, cfg.enc_dim, 7, padding=3)
            nn.init.zeros_(self.bass_pitch_inp.weight)  # the same: starts as the codec it is fine-tuned from
            nn.init.zeros_(self.bass_pitch_inp.bias)
        half = cfg.enc_layers // 2
        self.blocks1 = nn.Sequential(*[ConvNeXtBlock(cfg.enc_dim) for _ in range(half)])
        self.down = nn.Conv1d(cfg.enc_dim, cfg.enc_dim, 4, stride=2, padding=1)
        self.blocks2 = nn.Sequential(*[ConvNeXtBlock(cfg.enc_dim) for _ in range(cfg.enc_layers - half)])
        self.norm = nn.LayerNorm(cfg.enc_dim)
        self.out = nn.Conv1d(cfg.enc_dim, cfg.latent_dim, 1)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.inp(self.stft(wav))  # (B, C, T/hop + 1)
        if self.cfg_pitch:
            x = x + self.pitch_inp(self.pitch(wav))
        if self.cfg_bass_pitch:
            x = x + self.bass_pitch_inp(self.bass_pitch(wav))
        x = self.blocks1(x)
        x = self.blocks2(self.down(x))  # (B, C, F)
        return self.out(self.norm(x.transpose(1, 2)).transpose(1, 2))


class Decoder(nn.Module):
    """Latent ``[B, latent_dim, F]`` → waveform ``[B, F * 2 * hop]``."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.inp = nn.Conv1d(cfg.latent_dim, cfg.dec_dim, 7, padding=3)
        self.n_controls = cfg.decoder_controls
        if cfg.decoder_controls:
            # zero at the start: a decoder fine-tuned with the controls begins as the one it starts from
            self.ctrl = nn.Conv1d(cfg.decoder_controls, cfg.dec_dim, 3, padding=1)
            nn.init.zeros_(self.ctrl.weight)
            nn.init.zeros_(self.ctrl.bias)
            # and a direct path: which bins' log-magnitude each note raises or lowers (a linear map, learnt fast)
            self.ctrl_mag = nn.Linear(cfg.decoder_controls, cfg.out_bins, bias=False)
            nn.init.zeros_(self.ctrl_mag.weight)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(cfg.dec_dim) for _ in range(cfg.dec_layers)])
        self.up = nn.ConvTranspose1d(cfg.dec_dim, cfg.up_dim, 4, stride=2, padding=1)
        self.up_blocks = nn.Sequential(*[ConvNeXtBlock(cfg.up_dim) for _ in range(cfg.up_layers)])
        self.norm = nn.LayerNorm(cfg.up_dim)
        self.magnitude = cfg.head == "magnitude"
        if self.magnitude:
            self.head = MagnitudeHead(cfg.up_dim, cfg.synth_n_fft, cfg.hop, cfg.head_hidden, cfg.bass_n_fft,
                                      cfg.sample_rate, cfg.bass_hz, cfg.bass_context)  # fmt: skip
        else:
            self.head = ISTFTHead(cfg.up_dim, cfg.n_fft, cfg.hop, cfg.phase_ref, cfg.phase_rate)

    def check_controls(self, controls: torch.Tensor | None, batch: int, frames: int) -> torch.Tensor | None:
        """Controls ``[B, F', N]`` (N = ``decoder_controls``) fitted to ``frames`` (cut, or padded with absent
        controls), or None when this decoder reads none or none are given; a clear error for the wrong shape."""
        if controls is None or not self.n_controls:
            return None
        if controls.dim() != 3 or controls.shape[0] != batch or controls.shape[2] < self.n_controls:
            raise ValueError(f"decoder controls must be [batch={batch}, frames, >= {self.n_controls}], "
                             f"got {tuple(controls.shape)}")  # fmt: skip
        controls = controls[:, :frames, : self.n_controls].float()
        if controls.shape[1] < frames:
            controls = nn.functional.pad(controls, (0, 0, 0, frames - controls.shape[1]))
        return controls

    def forward(self, z: torch.Tensor, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Latent ``[B, latent_dim, F]`` (and, for a decoder with ``decoder_controls``, controls ``[B, F, N]`` or
        None) → waveform ``[B, F * 2 * hop]``, computed frames-first (``[B, F, C]``) between the convolutions;
        without gradients it is :meth:`infer`. :meth:`reference_forward` is the same network in the plain layout
        (tested equal)."""
        if not torch.is_grad_enabled():
            return self.infer(z.transpose(1, 2), controls)
        if self.magnitude:
            return self.head.synth(self.logmag(z, controls))
        x, bias = self.features(z, controls)
        return self.head.forward_frames(x, bias)

    def features(self, z: torch.Tensor, controls: torch.Tensor | None = None):
        """What the body hands the head (with autograd): latent ``[B, latent_dim, F]`` (and controls ``[B, F, N]``
        or None) → ``(normalised features [B, 2F, up_dim], log-magnitude bias [B, 2F, bins] or None)``."""
        controls = self.check_controls(controls, z.shape[0], z.shape[2])
        x = self.inp(z)
        if controls is not None:
            x = x + self.ctrl(controls.transpose(1, 2))
        x = x.transpose(1, 2).contiguous()  # (B, F, dec_dim)
        for block in self.blocks:
            x = block.forward_frames(x)
        x = self.up(x.transpose(1, 2)).transpose(1, 2).contiguous()  # (B, 2F, up_dim)
        for block in self.up_blocks:
            x = block.forward_frames(x)
        return self.norm(x), self._mag_bias(controls)

    def logmag(self, z: torch.Tensor, controls: torch.Tensor | None = None) -> torch.Tensor:
        """A magnitude decoder's (``head="magnitude"``) output before the phase: latent ``[B, latent_dim, F]`` →
        natural-log magnitude ``[B, 2F, synth_n_fft/2+1]`` of the Gaussian-window STFT (what training compares)."""
        if not self.magnitude:
            raise ValueError("logmag() is for a decoder with head='magnitude'")
        x, bias = self.features(z, controls)
        out = self.head(x)
        return out if bias is None else out + bias

    def _mag_bias(self, controls: torch.Tensor | None) -> torch.Tensor | None:
        """Controls ``[B, F, N]`` → the head's log-magnitude bias ``[B, 2F, n_fft/2+1]`` (each token frame covers two
        STFT frames), or None."""
        if controls is None:
            return None
        return self.ctrl_mag(controls).repeat_interleave(2, dim=1)

    @torch.no_grad()
    def infer(self, z: torch.Tensor, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Inference on a frames-first latent ``[B, F, latent_dim]`` (and controls ``[B, F, N]`` or None) → waveform
        ``[B, F * 2 * hop]`` (no autograd).

        Frames-first throughout (convolutions read channels-last), folded ConvNeXt weights and the chunked iSTFT head:
        :meth:`forward`'s result up to float rounding, at about 1.2× its speed on one CPU thread.
        """
        x, bias = self.infer_features(z, controls)
        if self.magnitude:
            out = self.head(x)
            return self.head.synth(out if bias is None else out + bias)
        return self.head.infer_frames(x, mag_bias=bias)

    @torch.no_grad()
    def infer_features(self, z: torch.Tensor, controls: torch.Tensor | None = None):
        """:meth:`features` on the inference path: frames-first latent ``[B, F, latent_dim]`` → ``(normalised
        features [B, 2F, up_dim], log-magnitude bias [B, 2F, bins] or None)``, no autograd."""
        x = conv_frames(self.inp, z)  # (B, F, dec_dim)
        controls = self.check_controls(controls, z.shape[0], z.shape[1])
        if controls is not None:
            x = x + conv_frames(self.ctrl, controls)
        for block in self.blocks:
            x = block.infer_frames(x)
        x = conv_frames(self.up, x)  # (B, 2F, up_dim)
        for block in self.up_blocks:
            x = block.infer_frames(x)
        return self.norm(x), self._mag_bias(controls)

    @property
    def context_frames(self) -> int:
        """Token frames on each side of a window that :meth:`infer_span` needs to decode it exactly: how far the
        convolutions reach (the input's, one per ConvNeXt block, the upsampler's) plus the head's overlap-add."""
        tokens = max(self.inp.kernel_size[0], self.ctrl.kernel_size[0] if self.n_controls else 1) // 2
        tokens += sum(b.dwconv.kernel_size[0] // 2 for b in self.blocks) + 1  # + the ×2 transposed conv
        head = self.head.synthesiser if self.magnitude else self.head
        reach = self.head.reach if self.magnitude else 0
        stft = sum(b.dwconv.kernel_size[0] // 2 for b in self.up_blocks) + reach + head.context
        return tokens + -(-stft // 2) + 1

    @torch.no_grad()
    def infer_span(
        self, z: torch.Tensor, start: int, keep: tuple[int, int], carry=None, controls: torch.Tensor | None = None
    ):
        """One window of a decode done in windows (:meth:`Codec.decode_windows`): frames-first latent
        ``[B, n, latent_dim]`` of token frames ``start .. start + n - 1`` (and their controls ``[B, n, N]`` or None)
        → ``(waveform [B, (k1 - k0) * 2 * hop], carry)`` of the token frames ``keep = (k0, k1)`` (indices into
        ``z``): :meth:`infer` of the whole signal at those samples, up to float rounding, given
        :attr:`context_frames` frames of ``z`` on each side of them (or the signal's own ends). ``carry`` is the
        head's running phase before token frame ``start + k0`` (None at the start); the one returned is that
        before ``start + k1``."""
        x, bias = self.infer_features(z, controls)  # (B, 2n, up_dim)
        head = self.head.synthesiser if self.magnitude else self.head
        k0, k1 = 2 * keep[0], 2 * keep[1]
        h0, h1 = max(0, k0 - head.context), min(x.shape[1], k1 + head.context)  # the head needs no more than this
        bias = None if bias is None else bias[:, h0:h1]
        if self.magnitude:  # its bass branch may read a few frames further (MagnitudeHead.reach)
            r0, r1 = max(0, h0 - self.head.reach), min(x.shape[1], h1 + self.head.reach)
            out = self.head(x[:, r0:r1])[:, h0 - r0 : h1 - r0]
            return head.infer_span(out if bias is None else out + bias, (k0 - h0, k1 - h0), carry)
        x = x[:, h0:h1]
        return head.infer_span(x, 2 * start + h0, (k0 - h0, k1 - h0), carry, mag_bias=bias)

    def reference_forward(self, z: torch.Tensor, controls: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` computed the plain way (channels-first blocks, 1×1-conv head, ``fold`` overlap-add)."""
        if self.magnitude:
            with torch.enable_grad() if torch.is_grad_enabled() else torch.no_grad():
                return self.head.synth(self.logmag(z, controls))
        x = self.inp(z)
        controls = self.check_controls(controls, z.shape[0], z.shape[2])
        if controls is not None:
            x = x + self.ctrl(controls.transpose(1, 2))
        x = self.up_blocks(self.up(self.blocks(x)))  # (B, up_dim, 2F)
        bias = self._mag_bias(controls)
        return self.head.reference_forward(
            self.norm(x.transpose(1, 2)).transpose(1, 2), None if bias is None else bias.transpose(1, 2)
        )


class DilatedBlock(nn.Module):
    """Frames-first ``[B, F, C]`` → same: a depthwise convolution of 3 taps ``dilation`` frames apart, LayerNorm, a
    pointwise MLP (×2, GELU) and a residual whose scale starts at 0 (the block starts as the identity)."""

    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.dwconv = nn.Conv1d(dim, dim, 3, padding=dilation, dilation=dilation, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, 2 * dim)
        self.pw2 = nn.Linear(2 * dim, dim)
        self.gamma = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        return x + self.gamma * self.pw2(nn.functional.gelu(self.pw1(self.norm(y))))


class MagnitudeHead(nn.Module):
    """Frames-first features ``[B, F, C]`` → natural-log magnitude ``[B, F, n_fft/2+1]`` of a Gaussian-window STFT
    (codec v3); :meth:`synth` turns such a spectrogram into a waveform ``[B, F * hop]`` with a rebuilt phase
    (:mod:`audiogen.codec.phase`), :meth:`analyse` reads a waveform's own (the training target)."""

    def __init__(
        self,
        dim: int,
        n_fft: int,
        hop: int,
        hidden: int = 0,
        bass_n_fft: int = 0,
        sample_rate: int = 32000,
        bass_hz: float = 300.0,
        bass_context: int = 0,
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, hidden) if hidden else None
        self.proj = nn.Linear(hidden or dim, n_fft // 2 + 1)
        with torch.no_grad():  # start near silence (log-magnitude -5) rather than at 0 dB in every bin
            self.proj.bias.fill_(-5.0)
        if bass_n_fft:  # the bass as a finer spectrogram, after the main one's bins (codec.phase.TwoBandSynth)
            self.synthesiser = TwoBandSynth(n_fft, bass_n_fft, hop, sample_rate, bass_hz)
            self.bass_proj = nn.Linear(hidden or dim, self.synthesiser.n_bass)
            with torch.no_grad():
                self.bass_proj.weight.zero_()
                self.bass_proj.bias.fill_(-5.0)
        else:
            self.synthesiser = MagnitudeSynth(n_fft, hop)
            self.bass_proj = None
        self.bass_context = (
            nn.Sequential(*[DilatedBlock(dim, 2**i) for i in range(bass_context)]) if bass_context else None
        )

    @property
    def reach(self) -> int:
        """Frames on each side of a frame that its log-magnitude depends on (the bass branch's dilated convolutions;
        0 without them)."""
        return sum(b.dilation for b in self.bass_context) if self.bass_context is not None else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``[B, F, C]`` → log-magnitude ``[B, F, n_fft/2+1 (+ bass bins)]`` (at most 8 nats)."""
        h = self._hidden(x)
        if self.bass_proj is None:
            return self.proj(h).clamp(max=8.0)
        hb = h if self.bass_context is None else self._hidden(self.bass_context(x))
        return torch.cat([self.proj(h), self.bass_proj(hb)], -1).clamp(max=8.0)

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.hidden is None else nn.functional.gelu(self.hidden(x))

    def synth(self, logmag: torch.Tensor) -> torch.Tensor:
        """Log-magnitude ``[B, F, N]`` → waveform ``[B, F * hop]`` (gradients reach the log-magnitude through the
        magnitudes and through the rebuilt phase; :meth:`MagnitudeSynth.forward` can leave the phase out)."""
        return self.synthesiser(logmag)

    def analyse(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``[B, T]`` (T a multiple of hop) → its log-magnitude ``[B, T / hop, N]``, framed as decoded."""
        return self.synthesiser.analyse(wav)


class Codec(nn.Module):
    """Audio ↔ tokens. See the module docstring for the data flow."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(
            cfg.latent_dim, cfg.n_q, cfg.codebook_size, cfg.codebook_dim, cfg.quantizer_dropout, cfg.restart_after
        )
        self.decoder = Decoder(cfg)

    @property
    def name(self) -> str:
        """The token space's id plus the decoder's (``audiogen-codec-<12 hex>/<8 hex>``; the id alone before a save
        or for configs written before decoders had ids): what a benchmark row names."""
        return f"{self.model_id}/{self.cfg.decoder_id}" if self.cfg.decoder_id else self.model_id

    @property
    def model_id(self) -> str:
        return self.cfg.model_id or "untrained"

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.cfg.frame_rate

    @property
    def n_q(self) -> int:
        return self.cfg.n_q

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    def kbps(self, n_q: int) -> float:
        return self.cfg.kbps(n_q)

    def n_q_for_kbps(self, kbps: float) -> int:
        return self.cfg.n_q_for_kbps(kbps)

    def pad(self, wav: torch.Tensor) -> torch.Tensor:
        """Mono audio ``[B, T]`` (or ``[B, 1, T]``) zero-padded to whole frames: ``[B, ceil(T / frame) * frame]``."""
        if wav.dim() == 3:
            wav = wav[:, 0]
        rem = (-wav.shape[-1]) % self.cfg.frame_size
        return nn.functional.pad(wav, (0, rem)) if rem else wav

    _pad = pad  # the earlier name

    def forward(
        self,
        wav: torch.Tensor,
        n_q: int | None = None,
        step: int | None = None,
        train_encoder: bool = True,
        controls: torch.Tensor | None = None,
        first: int = 0,
    ) -> dict[str, torch.Tensor]:
        """Training pass. ``wav`` ``[B, T]`` or ``[B, 1, T]`` → dict with ``recon`` ``[B, T']`` (T' = T padded to
        whole frames), ``codes`` ``[B, K, F]`` and the quantizer losses.

        ``train_encoder=False`` freezes the token space (encoder and quantizer run without gradients or codebook
        updates) so only the decoder learns: tokens cached for the LM stay valid while the decoder improves.
        ``first`` > 0 adds ``z_first`` ``[B, D, F]``, the latent of the first ``first`` codebooks alone (every item,
        whatever its quantizer dropout): what a pitch teacher reads. A magnitude decoder (v3) returns ``logmag``
        ``[B, 2F, N]`` and the target's ``target_logmag`` instead of a waveform.
        """
        wav = self._pad(wav)
        if train_encoder:
            q = self.quantizer(self.encoder(wav), n_q=n_q, step=step, first=first)
        else:
            with torch.no_grad():
                q = self.quantizer(self.encoder(wav), n_q=n_q, step=None, first=first)
            q["z_q"] = q["z_q"].detach()
        if self.decoder.magnitude:
            q["logmag"] = self.decoder.logmag(q["z_q"], controls)
            with torch.no_grad():
                q["target_logmag"] = self.decoder.head.analyse(wav)
        else:
            q["recon"] = self.decoder(q["z_q"], controls)
        q["target"] = wav
        return q

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Waveform ``[B, T]`` or ``[B, 1, T]`` at ``sample_rate`` → codes ``[B, n_q, ceil(T / frame_size)]``."""
        return self.quantizer(self.encoder(self._pad(wav)), n_q=n_q)["codes"]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, controls: torch.Tensor | None = None) -> torch.Tensor:
        """Codes ``[B, K', F]`` (any K' ≤ n_q) → waveform ``[B, F * frame_size]``.

        controls: for a codec with ``decoder_controls``, the plan's dense controls ``[B, F', >= N]`` at the token rate
        (``audiogen.controls``; cut or padded to ``F``), which tell the decoder the chords and melody; None decodes
        the tokens alone. Ignored by a codec without them."""
        return self.decoder.infer(self.quantizer.decode_frames(codes), controls)

    @torch.no_grad()
    def decode_windows(
        self,
        read: Callable[[int, int], torch.Tensor],
        frames: int,
        window: int = DECODE_WINDOW,
        controls: torch.Tensor | None = None,
    ) -> Iterator[torch.Tensor]:
        """:meth:`decode` of a long code sequence in windows, with memory bounded by the window, not the length.

        ``read(a, b)`` gives the codes ``[B, K', b - a]`` of token frames ``a .. b - 1`` of ``frames`` in all (a
        token file read piece by piece: :class:`~audiogen.codec.tokenfile.TokenFile`). Yields the waveform
        ``[B, w * frame_size]`` of ``window`` token frames at a time (the last ``w`` shorter), which together equal
        :meth:`decode` of the whole sequence up to float rounding: each window is decoded with
        :attr:`Decoder.context_frames` frames of context on each side, and the head's running phase is carried
        from window to window. controls: as in :meth:`decode`, ``[B, >= frames, N]``.
        """
        if window < 1:
            raise ValueError(f"window must be at least one token frame, got {window}")
        margin, carry = self.decoder.context_frames, None
        for s in range(0, frames, window):
            e = min(frames, s + window)
            a, b = max(0, s - margin), min(frames, e + margin)
            z = self.quantizer.decode_frames(read(a, b))  # (B, b - a, D)
            ctl = None if controls is None else controls[:, a:b]
            wav, carry = self.decoder.infer_span(z, a, (s - a, e - a), carry, ctl)
            yield wav

    def save_pretrained(self, directory: str | Path, half: bool = True) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (fp16 unless ``half=False``); sets ``model_id``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in self.state_dict().items()
        }
        # The id names the token space (encoder + quantizer): any decoder trained on it decodes the same tokens.
        digest = hashlib.sha256()
        for k in sorted(k for k in state if k.startswith(("encoder.", "quantizer."))):
            digest.update(k.encode())
            digest.update(
                state[k].float().numpy().tobytes() if state[k].is_floating_point() else state[k].numpy().tobytes()
            )
        self.cfg.model_id = f"audiogen-codec-{digest.hexdigest()[:12]}"
        digest = hashlib.sha256()
        for k in sorted(k for k in state if k.startswith("decoder.")):
            digest.update(k.encode())
            digest.update(state[k].float().numpy().tobytes())
        self.cfg.decoder_id = digest.hexdigest()[:8]
        tmp = directory / ".model.safetensors.part"
        save_file(state, str(tmp))
        tmp.replace(directory / "model.safetensors")
        (directory / "config.json").write_text(json.dumps(asdict(self.cfg), indent=2) + "\n")
        from audiogen.weights import write_checksums

        write_checksums(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None) -> Codec:
        """Load a codec folder (default: the codec shipped inside the package). Weights are cast to float32."""
        if directory is None:
            from audiogen.pretrained import default_codec_dir

            directory = default_codec_dir()
        directory = Path(directory)
        cfg_path = directory / "config.json"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{directory}: not a codec folder (no config.json)")
        raw = json.loads(cfg_path.read_text())
        known = {f.name for f in fields(CodecConfig)}
        model = cls(CodecConfig(**{k: v for k, v in raw.items() if k in known}))
        from audiogen.weights import load_weights

        raw = load_weights(directory / "model.safetensors")
        state = {k: v.float() if v.is_floating_point() else v for k, v in raw.items()}
        model.load_state_dict(state)
        return model.eval()
