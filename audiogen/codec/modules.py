"""Building blocks of the codec: ConvNeXt blocks, the STFT encoder front end and the inverse-STFT head.

Both encoder and decoder work at the frame rate, not the sample rate (Vocos / WavTokenizer): the encoder reads
STFT magnitudes, the decoder predicts STFT magnitude and phase and an inverse STFT makes the waveform. This costs a
fraction of a SEANet waveform stack on a CPU.

Inference (no gradients) takes a faster path through the same weights (``infer_frames``): frames-first tensors
``[B, T, C]`` throughout (convolutions read them as channels-last images, so no layout copies), LayerNorm affine and
layer scale folded into prepacked pointwise layers with GELU and the residual add fused into the GEMMs, and the
inverse-STFT head run in chunks of frames that stay in cache. See :mod:`audiogen.codec.inference`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.codec.inference import PackedLinear, conv_frames, inference_cache


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

    def _folded(self) -> tuple[PackedLinear, PackedLinear]:
        """``pw1`` with the LayerNorm affine folded in and ``pw2`` with the layer scale folded in:
        ``pw1(norm(y)) = pw1'(layer_norm(y))`` and ``gamma * pw2(h) = pw2'(h)``."""
        w1, g = self.pw1.weight, self.norm.weight
        pw1 = PackedLinear(w1 * g, self.pw1.bias + w1 @ self.norm.bias)
        pw2 = PackedLinear(self.pw2.weight * self.gamma[:, None], self.pw2.bias * self.gamma)
        return pw1, pw2

    def infer_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Inference-only :meth:`forward_frames` (no autograd): ``[B, T, C]`` → ``[B, T, C]``, equal up to rounding.

        Channels-last depthwise conv, folded weights (cached), GELU and the residual add fused into the two GEMMs.
        """
        pw1, pw2 = inference_cache(self, self._folded)
        c = x.shape[-1]
        y = F.layer_norm(conv_frames(self.dwconv, x), (c,), eps=self.norm.eps)  # (B, T, C), affine folded into pw1
        h = pw1.gelu(y.reshape(-1, c))  # (B*T, mult*C)
        return pw2.add(h, x.reshape(-1, c)).view(x.shape)


class STFTFeatures(nn.Module):
    """Waveform ``[B, T]`` → log-magnitude STFT ``[B, n_fft//2+1, frames]`` (centre-padded, Hann window)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return torch.log(spec.abs().clamp(min=1e-5))


def log_frequency_filterbank(
    n_fft: int, sample_rate: int, fmin: float = 32.70, octaves: int = 7, per_semitone: int = 3
) -> torch.Tensor:
    """``[octaves * 12 * per_semitone, n_fft // 2 + 1]`` weights folding a linear-frequency magnitude spectrum
    into bins spaced ``1 / per_semitone`` semitone apart from ``fmin`` (C1 by default). Each row is a Gaussian in
    frequency, as wide as its bin spacing or the FFT's resolution if that is wider (so the lowest rows interpolate
    between FFT bins instead of falling between them), and sums to 1."""
    n_bins = octaves * 12 * per_semitone
    centres = fmin * 2.0 ** (torch.arange(n_bins, dtype=torch.float64) / (12 * per_semitone))  # (n_bins,)
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft  # (n_fft//2+1,)
    width = torch.clamp(centres * (2 ** (1 / (12 * per_semitone)) - 1), min=sample_rate / n_fft)
    w = torch.exp(-0.5 * ((freqs[None] - centres[:, None]) / width[:, None]) ** 2)
    return (w / w.sum(1, keepdim=True).clamp(min=1e-12)).float()


class PitchFeatures(nn.Module):
    """Waveform ``[B, T]`` → log magnitude on a semitone-resolving frequency axis ``[B, n_bins, T / hop + 1]``.

    A long-window STFT (``n_fft`` 4096 at 32 kHz: 7.8 Hz bins) folded by :func:`log_frequency_filterbank`, framed
    like :class:`STFTFeatures` (centred, same hop) so the two can be added frame for frame. The codec's own 1280-point
    STFT has 25 Hz bins, wider than a semitone below about 440 Hz: its magnitudes cannot tell the notes of a bass
    line or of most chords apart, and what the encoder cannot see, the tokens cannot keep.
    """

    def __init__(self, sample_rate: int, hop: int, n_bins: int, n_fft: int = 4096, octaves: int | None = None) -> None:
        super().__init__()
        if n_bins % 12:
            raise ValueError(f"pitch_bins must be a multiple of 12 (whole octaves ... per semitone), got {n_bins}")
        # seven octaves from C1 by default; with ``octaves`` given, that many (the bass: 3, C1..B3), and the FFT bins
        # above the filterbank's reach are cut away (the default keeps every bin, as the shipped token spaces were
        # computed)
        per_semitone = max(1, n_bins // (12 * (octaves or 7)))
        trim = octaves is not None
        octaves = octaves or n_bins // (12 * per_semitone)
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        fb = log_frequency_filterbank(n_fft, sample_rate, octaves=octaves, per_semitone=per_semitone)
        self.keep = int((fb.amax(0) > 1e-12).nonzero().max()) + 1 if trim else fb.shape[1]
        self.register_buffer("fold", fb[:, : self.keep].contiguous(), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return torch.log((self.fold @ spec[..., : self.keep, :].abs()).clamp(min=1e-5))  # (B, n_bins, frames)


PHASE_REFS = ("frame", "time")


def phase_advance_table(n_fft: int, hop: int) -> torch.Tensor:
    """``[P, n_fft/2+1]``: the phase (radians, in [0, 2 pi)) that a sinusoid at bin ``k``'s frequency gains over
    ``p`` hops, for ``p`` in one period ``P = n_fft / gcd(n_fft, hop)`` of the pattern (4 for 1280/320). Computed in
    integers, so it is exact for any frame index taken modulo ``P``."""
    period = n_fft // math.gcd(n_fft, hop)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.int64)
    p = torch.arange(period, dtype=torch.int64)
    cycles = (k[None, :] * ((p[:, None] * hop) % n_fft)) % n_fft
    return cycles.to(torch.float32) * (2 * math.pi / n_fft)


class ISTFTHead(nn.Module):
    """Features ``[B, C, F]`` → waveform ``[B, F * hop]``: predicts log-magnitude and phase per bin, then iSTFT.

    Uses "same" padding so ``F`` frames give exactly ``F * hop`` samples (as in Vocos). :meth:`forward_frames` is the
    differentiable fast path (frames-first input, overlap-add by shifted adds when ``hop`` divides ``n_fft``),
    :meth:`infer_frames` the inference one (chunks of frames, no complex ``polar``); :meth:`reference_forward` is the
    plain computation both are tested against (``nn.functional.fold`` overlap-add).
    """

    def __init__(self, dim: int, n_fft: int, hop: int, phase_ref: str = "frame", phase_rate: bool = False) -> None:
        super().__init__()
        if phase_ref not in PHASE_REFS:
            raise ValueError(f"phase_ref must be one of {PHASE_REFS}, got {phase_ref!r}")
        self.n_fft, self.hop, self.phase_ref, self.phase_rate = n_fft, hop, phase_ref, phase_rate
        nb = n_fft // 2 + 1
        self.proj = nn.Conv1d(dim, 3 * nb if phase_rate else 2 * nb, 1)
        if phase_rate:  # the rate rows start at zero: the head starts as the one without them
            with torch.no_grad():
                self.proj.weight[2 * nb :].zero_()
                self.proj.bias[2 * nb :].zero_()
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("phase_advance", phase_advance_table(n_fft, hop), persistent=False)

    def _phase_offset(self, start: int, n: int) -> torch.Tensor | None:
        """The phase added to frames ``start .. start + n - 1`` ``[n, n_fft/2+1]``, or None (``phase_ref="frame"``).

        With ``phase_ref="time"`` the predicted phase of bin ``k`` in frame ``m`` is read against a sinusoid at the
        bin's frequency that runs on from frame to frame (``2 pi k m hop / n_fft``), so an unchanging input decodes
        to a steady tone. With ``"frame"`` (v1) it is read against each frame's own start, which makes a steady note
        need a phase that changes from frame to frame, something a convolution over near-constant tokens cannot
        produce: such a decoder turns held notes into a comb at multiples of the frame rate.
        """
        if self.phase_ref == "frame":
            return None
        period = self.phase_advance.shape[0]
        return self.phase_advance[(start + torch.arange(n, device=self.phase_advance.device)) % period]

    def _phase(self, phase: torch.Tensor, rate: torch.Tensor | None, start: int = 0, carry=None):
        """Total phase ``[B, F, N]`` of frames ``start ..``: the predicted phase, plus the reference's offset, plus
        (``phase_rate``) the running sum of the predicted per-frame phase increments ``rate`` ``[B, F, N]``, which
        lets an unchanging input hold a tone anywhere inside a bin, not only at the bin's centre frequency.
        ``carry`` ``[B, N]`` (float64) is the sum over the frames before ``start``. Returns ``(phase, carry)``."""
        offset = self._phase_offset(start, phase.shape[1])
        if offset is not None:
            phase = phase + offset
        if rate is None:
            return phase, carry
        run = torch.cumsum(rate.double(), dim=1)
        if carry is not None:
            run = run + carry[:, None]
        carry = run[:, -1]
        return phase + torch.remainder(run, 2 * math.pi).to(phase.dtype), carry

    def parts(self, h: torch.Tensor, dim: int):
        """Split a projection ``[.., 2N or 3N, ..]`` along ``dim`` into (log-magnitude, phase, rate or None)."""
        parts = h.chunk(3 if self.phase_rate else 2, dim=dim)
        return parts[0], parts[1], parts[2] if self.phase_rate else None

    _parts = parts  # the earlier name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, F]`` → ``[B, F * hop]``."""
        return self.forward_frames(x.transpose(1, 2))

    def forward_frames(self, x: torch.Tensor, mag_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Features ``[B, F, C]`` (frames first) → waveform ``[B, F * hop]``. ``mag_bias`` ``[B, F, n_fft/2+1]`` is
        added to the predicted log-magnitude (a decoder's direct path from the plan's notes to the spectrum)."""
        if self.n_fft % self.hop:
            return self.reference_forward(x.transpose(1, 2), None if mag_bias is None else mag_bias.transpose(1, 2))
        h = nn.functional.linear(x, self.proj.weight[:, :, 0], self.proj.bias)  # (B, F, 2 or 3 × (n_fft/2+1))
        mag, phase, rate = self._parts(h, -1)
        if mag_bias is not None:
            mag = mag + mag_bias
        phase, _ = self._phase(phase, rate)
        spec = torch.polar(torch.exp(mag).clamp(max=1e2), phase)  # (B, F, n_fft/2+1)
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1) * self.window  # (B, F, n_fft), each frame contiguous
        return self._normalise(self._overlap_add(frames))

    def _normalise(self, y: torch.Tensor) -> torch.Tensor:
        """Overlap-added ``[B, (F - 1) * hop + n_fft]`` → ``[B, F * hop]``: divided by the summed squared window and
        cropped to 'same' length."""
        n = (y.shape[1] - self.n_fft) // self.hop + 1
        r = self.n_fft // self.hop
        win_sq = self.window.square().view(r, self.hop)
        env = y.new_zeros(n + r - 1, self.hop)  # the squared window overlap-added, as _overlap_add sums it
        for k in range(r):
            env[k : k + n] += win_sq[k]
        env = env.view(-1)
        pad = (self.n_fft - self.hop) // 2
        return y[:, pad : y.shape[1] - pad] / env[pad : env.shape[0] - pad].clamp(min=1e-11)

    def _split_proj(self) -> tuple[PackedLinear, PackedLinear, PackedLinear | None, torch.Tensor]:
        """The 1×1 conv as linear layers (log-magnitude, phase and, with ``phase_rate``, phase rate; ``C → n_fft/2+1``
        each), and the window ``[n_fft / hop, hop]`` scaled by ``1 / n_fft`` so the unnormalised inverse FFT (faster)
        can be used."""
        w, b = self.proj.weight[:, :, 0], self.proj.bias
        nb = self.n_fft // 2 + 1
        win = (self.window / self.n_fft).view(-1, self.hop)
        rate = PackedLinear(w[2 * nb :], b[2 * nb :]) if self.phase_rate else None
        return PackedLinear(w[:nb], b[:nb]), PackedLinear(w[nb : 2 * nb], b[nb : 2 * nb]), rate, win

    def infer_frames(self, x: torch.Tensor, chunk: int = 256, mag_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Inference-only :meth:`forward_frames` (no autograd): ``[B, F, C]`` → ``[B, F * hop]``, equal up to rounding.

        Works through ``chunk`` frames at a time, so the projection, spectrum and frames (``chunk × n_fft`` each) stay
        in cache and are reused instead of freshly faulted in; the spectrum is built from ``exp``/``cos``/``sin``
        (vectorised, unlike ``torch.polar``); the window and the inverse FFT's ``1 / n_fft`` are applied while
        overlap-adding.
        """
        if self.n_fft % self.hop:
            return self.reference_forward(x.transpose(1, 2), None if mag_bias is None else mag_bias.transpose(1, 2))
        return self._infer(x, chunk, mag_bias)[0]

    @property
    def context(self) -> int:
        """Frames on each side of a stretch that :meth:`infer_span` needs to give it exactly (the frames whose
        windows reach into it)."""
        return -(-self.n_fft // self.hop) + 1

    def infer_span(
        self, x: torch.Tensor, start: int, keep: tuple[int, int], carry=None, mag_bias: torch.Tensor | None = None
    ):
        """One window of a decode done in windows: features ``[B, n, C]`` of frames ``start .. start + n - 1`` of a
        longer signal → ``(waveform [B, (k1 - k0) * hop], carry)`` of the frames ``keep = (k0, k1)`` (indices into
        ``x``), equal (up to rounding) to those samples of :meth:`infer_frames` on the whole signal, given
        :attr:`context` frames of ``x`` on each side of them (or the signal's own ends).

        ``carry`` ``[B, N]`` (float64, or None at the start) is the running phase of ``phase_rate``: the sum of the
        phase increments of every frame before frame ``start + k0``; the returned one is that sum before frame
        ``start + k1``, for the next window. The phase reference (``phase_ref="time"``) is read at ``start``."""
        if self.n_fft % self.hop:
            raise ValueError(f"a decode in windows needs n_fft ({self.n_fft}) to be a multiple of hop ({self.hop})")
        k0, k1 = keep
        b, n, c = x.shape
        proj_rate = inference_cache(self, self._split_proj)[2]
        if proj_rate is not None and k0 > 0:  # the running phase at the window's first frame
            lead = proj_rate(x[:, :k0].reshape(-1, c)).view(b, k0, -1).double().sum(1)
            carry = (0.0 if carry is None else carry) - lead
        y, carry = self._infer(x, 256, mag_bias, start, carry)
        if proj_rate is not None and k1 < n:  # ... and after its last kept frame
            carry = carry - proj_rate(x[:, k1:].reshape(-1, c)).view(b, n - k1, -1).double().sum(1)
        return y[:, k0 * self.hop : k1 * self.hop], carry

    def _infer(self, x: torch.Tensor, chunk: int, mag_bias: torch.Tensor | None, start: int = 0, carry=None):
        """:meth:`infer_frames` of frames ``start ..`` given the running phase ``carry``; returns ``(waveform
        [B, F * hop], carry after the last frame)``."""
        proj_mag, proj_phase, proj_rate, win = inference_cache(self, self._split_proj)
        b, n, c = x.shape
        r = self.n_fft // self.hop
        out = x.new_zeros(b, n + r - 1, self.hop)
        for s in range(0, n, chunk):
            xc = x[:, s : s + chunk].reshape(-1, c)  # (B*m, C)
            m = xc.shape[0] // b
            amp = proj_mag(xc).view(b, m, -1)  # (B, m, N) log-magnitude
            if mag_bias is not None:
                amp = amp + mag_bias[:, s : s + m]
            amp = amp.exp_().clamp_(max=1e2)
            phase = proj_phase(xc).view(b, m, -1)
            rate = None if proj_rate is None else proj_rate(xc).view(b, m, -1)
            phase, carry = self._phase(phase, rate, start + s, carry)
            spec = torch.empty(amp.shape, dtype=torch.promote_types(amp.dtype, torch.complex64))
            re_im = torch.view_as_real(spec)  # (B, m, N, 2)
            torch.mul(amp, torch.cos(phase), out=re_im[..., 0])
            torch.mul(amp, phase.sin_(), out=re_im[..., 1])
            parts = torch.fft.irfft(spec, self.n_fft, dim=-1, norm="forward").view(b, m, r, self.hop)  # n_fft × frame
            for k in range(r):
                out[:, s + k : s + k + m].addcmul_(parts[:, :, k], win[k])
        return self._normalise(out.view(b, -1)), carry

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, F, n_fft]`` frames ``hop`` apart → ``[B, (F - 1) * hop + n_fft]`` (``hop`` divides ``n_fft``)."""
        b, n, _ = frames.shape
        r = self.n_fft // self.hop
        parts = frames.reshape(b, n, r, self.hop)
        out = frames.new_zeros(b, n + r - 1, self.hop)
        for k in range(r):
            out[:, k : k + n] += parts[:, :, k]
        return out.reshape(b, -1)

    def reference_forward(self, x: torch.Tensor, mag_bias: torch.Tensor | None = None) -> torch.Tensor:
        """The plain computation ``[B, C, F]`` → ``[B, F * hop]`` (1×1 conv, complex spectrum, ``fold``);
        ``mag_bias`` ``[B, n_fft/2+1, F]``."""
        mag, phase, rate = self._parts(self.proj(x), 1)  # (B, n_fft/2+1, F) each
        if mag_bias is not None:
            mag = mag + mag_bias
        phase, _ = self._phase(phase.transpose(1, 2), None if rate is None else rate.transpose(1, 2))
        phase = phase.transpose(1, 2)
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
