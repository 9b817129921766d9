"""A phase for a magnitude spectrogram, rebuilt in one vectorised pass (no learning, no iterations).

Codec v3's decoder predicts only the log-magnitude of a Gaussian-window STFT (2048 points at 32 kHz, hop 320: 15.6 Hz
bins, a semitone apart from about 270 Hz up, and a Gaussian's main lobe whose shape says where inside a bin a partial
lies). A phase that lets a held note ring is then computed, not predicted, in the spirit of phase-gradient heap
integration (Průša et al. 2017) but along time only, so it is a few tensor operations:

1. Each bin reads the frequency of the partial it belongs to from the slope of the log-magnitude across frequency
   (a Gaussian window's main lobe is a parabola in log-magnitude, so the slope says how far the partial lies).
2. A partial at ``k0`` bins advances its phase by ``2 pi k0 hop / n_fft`` per frame; each bin integrates its advance
   over frames (a cumulative sum), so a steady partial keeps one frequency for as long as it lasts.
3. Every bin belongs to the local maximum it climbs to (the left or right neighbour peak, whichever its slope
   points at).
4. Phase locking: the bins of one peak's lobe take the peak's phase minus ``pi (k - p)`` — for a window centred in its
   frame, the exact relation between a stationary sinusoid's bins — so the lobe adds up to one partial instead of
   a cluster of beating ones.

On real music, the original clip's own magnitude with this phase keeps a frame-wise CQT chroma cosine of 0.971 at 2048
points (Griffin-Lim's 32 iterations on a 1280-point Hann STFT: 0.946, at seven times the CPU time;
``python -m audiogen.eval.codec_diagnostics --pitch-path``, BENCHMARKS.md, "Where the pitch goes"). Transients are
softened (the frequency-direction half of heap integration is left out), which a discriminator stage can polish.
"""

from __future__ import annotations

import math

import torch

GAUSS_RATIO = 0.25645  # window "time-frequency ratio" gamma / n_fft^2, as in the phase-retrieval literature


def gaussian_window(n_fft: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[n_fft]``: ``exp(-pi (n - n_fft/2)^2 / gamma)``, ``gamma = 0.25645 n_fft^2`` (falls to 0.047 at its ends)."""
    n = torch.arange(n_fft, dtype=torch.float64) - n_fft / 2
    return torch.exp(-math.pi * n.square() / (GAUSS_RATIO * n_fft**2)).to(dtype)


def peak_owner(logmag: torch.Tensor) -> torch.Tensor:
    """For log-magnitudes ``[..., N]`` (N bins): the bin of the local maximum each bin belongs to ``[..., N]``
    (int64): the nearest maximum on the side its slope climbs towards."""
    n = logmag.shape[-1]
    idx = torch.arange(n, device=logmag.device)
    left = torch.cat([logmag[..., :1], logmag[..., :-1]], -1)  # L[k-1] (edge repeated)
    right = torch.cat([logmag[..., 1:], logmag[..., -1:]], -1)  # L[k+1]
    is_peak = (logmag >= left) & (logmag > right)
    is_peak[..., 0] |= logmag[..., 0] > logmag[..., 1]
    # nearest peak at or left of k, and at or right of k (a running max / min of the peak positions)
    marks = torch.where(is_peak, idx, torch.full_like(idx, -1))
    left_peak = torch.cummax(marks, dim=-1).values
    marks = torch.where(is_peak, idx, torch.full_like(idx, n))
    right_peak = torch.flip(torch.cummin(torch.flip(marks, [-1]), dim=-1).values, [-1])
    owner = torch.where(right > left, right_peak, left_peak)  # the slope points to the right-hand peak
    owner = torch.where(owner < 0, right_peak, owner)
    return torch.where(owner >= n, left_peak, owner).clamp(0, n - 1)


def bin_frequency(logmag: torch.Tensor) -> torch.Tensor:
    """Instantaneous frequency in bins ``[..., N]`` of each bin of a Gaussian-window log-magnitude ``[..., N]``.

    A partial at ``k0`` gives ``L(k) = c - pi gamma (k - k0)^2 / N^2``, so ``k0 = k + L'(k) / (2 pi ratio)`` with
    ``L'`` the centred difference along frequency: every bin of a lobe reads the same ``k0``."""
    left = torch.cat([logmag[..., :1], logmag[..., :-1]], -1)
    right = torch.cat([logmag[..., 1:], logmag[..., -1:]], -1)
    k = torch.arange(logmag.shape[-1], device=logmag.device, dtype=logmag.dtype)
    return k + (right - left) / (4 * math.pi * GAUSS_RATIO)


def phase_advance(logmag: torch.Tensor, hop: int, n_fft: int) -> torch.Tensor:
    """The phase each bin of each frame of ``logmag`` ``[B, F, N]`` advances by over one hop ``[B, F, N]`` (float64):
    ``2 pi k0 hop / n_fft`` for the partial at ``k0`` it belongs to."""
    return (2 * math.pi * hop / n_fft) * bin_frequency(logmag).double()


def rebuild_phase(
    logmag: torch.Tensor,
    hop: int,
    n_fft: int,
    carry: torch.Tensor | None = None,
    freq: torch.Tensor | None = None,
):
    """Phase ``[B, F, N]`` (float32) for natural-log magnitudes ``logmag`` ``[B, F, N]`` of a centred Gaussian-window
    STFT (``N = n_fft // 2 + 1`` bins, frames ``hop`` apart).

    ``carry`` ``[B, N]`` (float64, or None) is the integrated phase after the frames before these, so a spectrogram
    can be phased in chunks with the same result as in one piece. ``freq`` ``[B, F, N]`` (in bins, or None): the
    partial frequency of each bin, given instead of read from the slopes of ``logmag`` (:func:`bin_frequency`).
    Returns ``(phase, carry)``."""
    if freq is None:
        advance = phase_advance(logmag, hop, n_fft)  # (B, F, N) per-frame phase advance
    else:
        advance = (2 * math.pi * hop / n_fft) * freq.double()
    run = torch.cumsum(advance, dim=1)
    if carry is not None:
        run = run + carry[:, None]
    carry = run[:, -1]
    run = torch.remainder(run, 2 * math.pi)
    owner = peak_owner(logmag)
    k = torch.arange(logmag.shape[-1], device=logmag.device)
    locked = torch.gather(run, -1, owner) - math.pi * (k - owner).double()
    return torch.remainder(locked, 2 * math.pi).float(), carry


class MagnitudeSynth(torch.nn.Module):
    """Log-magnitude ``[B, F, n_fft/2+1]`` of a Gaussian-window STFT → waveform ``[B, F * hop]`` (rebuilt phase,
    least-squares inverse STFT with "same" framing: frame ``m`` is centred on sample ``m * hop + hop / 2``... see
    :meth:`forward`). :meth:`analyse` is the matching forward transform, which a decoder's targets are read with."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        if n_fft % 2 or n_fft < 2 * hop:
            raise ValueError(f"n_fft must be even and >= 2 * hop, got n_fft={n_fft}, hop={hop}")
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", gaussian_window(n_fft), persistent=False)

    def analyse(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``[B, T]`` (T a multiple of ``hop``) → log-magnitude ``[B, T / hop, n_fft/2+1]`` (floor 1e-5),
        frames centred on samples ``hop/2, 3 hop/2, ...`` (the "same" framing :meth:`forward` inverts)."""
        pad = self.n_fft // 2 - self.hop // 2
        x = torch.nn.functional.pad(wav, (pad, pad + self.hop), mode="reflect" if wav.shape[-1] > pad + self.hop
                                    else "constant")  # fmt: skip
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        frames = wav.shape[-1] // self.hop
        return torch.log(spec.abs()[..., :frames].clamp(min=1e-5)).transpose(1, 2)

    def forward(self, logmag: torch.Tensor, chunk: int = 1024, phase_grad: bool = True) -> torch.Tensor:
        """Log-magnitude ``[B, F, N]`` → waveform ``[B, F * hop]``; the phase is rebuilt in chunks of ``chunk``
        frames (same result as one piece). ``phase_grad=False``: gradients reach ``logmag`` through the magnitudes
        only, the rebuilt phase taken as given (its own gradient, through the running sum of every earlier frame's
        frequency, is larger and mostly unrelated: cosine 0.35 with the
        magnitudes' on real crops: ``python -m audiogen.eval.resynth_gradient``)."""
        return self._synth(logmag, chunk, phase_grad=phase_grad)[0]

    @property
    def context(self) -> int:
        """Frames on each side of a stretch that :meth:`infer_span` needs to give it exactly."""
        return -(-self.n_fft // self.hop) + 1

    def infer_span(self, logmag: torch.Tensor, keep: tuple[int, int], carry=None):
        """One window of a decode done in windows: log-magnitude ``[B, n, N]`` of frames of a longer signal →
        ``(waveform [B, (k1 - k0) * hop], carry)`` of the frames ``keep = (k0, k1)`` (indices into ``logmag``),
        equal (up to rounding) to those samples of :meth:`forward` on the whole signal, given :attr:`context` frames
        on each side of them (or the signal's own ends). ``carry`` ``[B, N]`` (float64, None at the start) is the
        integrated phase before frame ``k0``; the one returned is that before frame ``k1``, for the next window."""
        k0, k1 = keep
        n = logmag.shape[1]
        if k0 > 0:  # the integrated phase at the window's first frame
            carry = (0.0 if carry is None else carry) - phase_advance(logmag[:, :k0], self.hop, self.n_fft).sum(1)
        y, carry = self._synth(logmag, 1024, carry)
        if k1 < n:  # ... and after its last kept frame
            carry = carry - phase_advance(logmag[:, k1:], self.hop, self.n_fft).sum(1)
        return y[:, k0 * self.hop : k1 * self.hop], carry

    def _synth(self, logmag: torch.Tensor, chunk: int, carry=None, phase_grad: bool = True):
        """:meth:`forward` given the integrated phase ``carry`` before the first frame; returns ``(waveform
        [B, F * hop], carry after the last frame)``."""
        phases = []
        for s in range(0, logmag.shape[1], chunk):
            ph, carry = rebuild_phase(logmag[:, s : s + chunk], self.hop, self.n_fft, carry)
            phases.append(ph)
        phase = torch.cat(phases, 1)
        if not phase_grad:
            phase = phase.detach()
        return self.play(logmag, phase), carry

    def play(self, logmag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Log-magnitude and phase ``[B, F, N]`` → waveform ``[B, F * hop]`` (the least-squares inverse STFT in the
        framing of :meth:`analyse`)."""
        spec = torch.polar(torch.exp(logmag).clamp(max=1e3), phase).transpose(1, 2)  # (B, N, F)
        frames = spec.shape[-1]
        pad = self.n_fft // 2 - self.hop // 2
        y = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=False,
                        length=(frames - 1) * self.hop + self.n_fft)  # fmt: skip
        return y[:, pad : pad + frames * self.hop]


class DecimatedSynth(torch.nn.Module):
    """:class:`MagnitudeSynth` of a ``n_fft``-point spectrogram (hop ``hop``) whose content lies below
    ``sample_rate / (2 * factor)``, played at a ``factor`` times lower rate and brought back up: the same bins
    (``n_fft / factor`` points, hop ``hop / factor``), a ``factor``-th of the work (an 8192-point bass band up to 375
    Hz costs about a quarter of the 2048-point main one instead of four times it). Reads the log-magnitude of the
    full-rate spectrogram's first ``n_fft / (2 factor) + 1`` bins; the upsampler is a windowed-sinc low-pass (cut
    at 0.8 of the lower rate's Nyquist) applied polyphase, and reaches ``taps`` low-rate samples each side."""

    def __init__(self, n_fft: int, hop: int, factor: int, taps: int = 24) -> None:
        super().__init__()
        if n_fft % (2 * factor) or hop % factor:
            raise ValueError(f"n_fft ({n_fft}) and hop ({hop}) must be multiples of 2 * factor and factor ({factor})")
        self.low = MagnitudeSynth(n_fft // factor, hop // factor)
        self.factor, self.hop, self.n_fft = factor, hop, n_fft
        self.bins = n_fft // factor // 2 + 1
        k = torch.arange(-taps * factor, taps * factor + 1, dtype=torch.float64)
        cut = 0.8 / factor  # of the full rate's Nyquist
        kernel = cut * torch.sinc(cut * k) * torch.hann_window(len(k) + 2, periodic=False, dtype=torch.float64)[1:-1]
        self.register_buffer("kernel", (kernel * factor / kernel.sum()).float()[None, None], persistent=False)
        self.pad = taps * factor

    @property
    def context(self) -> int:
        """Frames each side that :meth:`infer_span` needs: the low-rate synth's, plus the upsampler's reach."""
        return self.low.context + -(-self.pad // self.hop) + 1

    def _up(self, y: torch.Tensor) -> torch.Tensor:
        """Low-rate waveform ``[B, n]`` → ``[B, n * factor]`` (sample ``j`` of the input at output ``j * factor``)."""
        out = torch.nn.functional.conv_transpose1d(y[:, None], self.kernel, stride=self.factor)[:, 0]
        return out[:, self.pad : self.pad + y.shape[-1] * self.factor]

    def _low(self, logmag: torch.Tensor) -> torch.Tensor:
        """Full-rate log-magnitudes ``[B, F, >= bins]`` → the low-rate spectrogram's (a window a ``factor``-th as
        long holds a ``factor``-th of the samples: magnitudes a ``factor``-th)."""
        return logmag[..., : self.bins] - math.log(self.factor)

    def forward(self, logmag: torch.Tensor, chunk: int = 1024, phase_grad: bool = True) -> torch.Tensor:
        """Log-magnitude ``[B, F, >= bins]`` → waveform ``[B, F * hop]``."""
        return self._up(self.low(self._low(logmag), chunk, phase_grad))

    def infer_span(self, logmag: torch.Tensor, keep: tuple[int, int], carry=None):
        """:meth:`MagnitudeSynth.infer_span` at the low rate over ``keep`` widened by the upsampler's reach, brought up
        and cut to ``keep``; ``carry`` as there (the low-rate phase, which advances as the full-rate one)."""
        k0, k1 = keep
        n = logmag.shape[1]
        reach = -(-self.pad // self.hop) + 1
        a, b = max(0, k0 - reach), min(n, k1 + reach)
        low = self._low(logmag)
        if carry is not None and a < k0:  # the running phase before frame a
            carry = carry - phase_advance(low[:, a:k0], self.low.hop, self.low.n_fft).sum(1)
        y, carry = self.low.infer_span(low, (a, b), carry)
        if b > k1:  # ... and before frame k1, for the next window
            carry = carry - phase_advance(low[:, k1:b], self.low.hop, self.low.n_fft).sum(1)
        y = self._up(y)
        return y[:, (k0 - a) * self.hop : (k1 - a) * self.hop], carry


class TwoBandSynth(torch.nn.Module):
    """Two Gaussian-window magnitude spectrograms, one for the bass at a finer frequency resolution, played together.

    Below ``bass_hz`` a 2048-point window cannot tell semitones apart (15.6 Hz bins; a semitone at 270 Hz), so a held
    bass note is played at whatever frequency the slope of its lobe gives, up to a semitone off. With the render's own
    audio below 300 Hz under a v3 decoder's output above, rendered plans keep 7 of their 8 keys instead of 1
    (BENCHMARKS.md, "Codec v3: pilot"). Here the bass comes from a ``bass_n_fft``-point spectrogram (8192: 3.9 Hz
    bins, semitones apart down to about C2) of the same frames, its own phase rebuilt the same way.

    The log-magnitude is one tensor ``[B, F, N + Nb]``: the ``N = n_fft // 2 + 1`` bins of the main spectrogram, then
    the first ``Nb`` bins of the bass one (up to ``1.25 * bass_hz``). The two are crossed over between ``0.8`` and
    ``1.25 * bass_hz`` with power-complementary weights (their phases are rebuilt apart). Interface and framing as
    :class:`MagnitudeSynth`."""

    def __init__(self, n_fft: int, bass_n_fft: int, hop: int, sample_rate: int, bass_hz: float) -> None:
        super().__init__()
        if bass_n_fft <= n_fft:
            raise ValueError(f"bass_n_fft must be larger than n_fft ({n_fft}), got {bass_n_fft}")
        if not 0 < 1.25 * bass_hz < sample_rate / 2:
            raise ValueError(f"bass_hz must be in (0, {sample_rate / 2.5:g}), got {bass_hz}")
        self.main = MagnitudeSynth(n_fft, hop)
        self.bass_analysis = MagnitudeSynth(bass_n_fft, hop)  # the targets' bins; played at a lower rate below
        factor = 16  # the lowest rate that still holds the band under the upsampler's cut
        while factor > 1 and (bass_n_fft % (2 * factor) or hop % factor or 2.5 * bass_hz > 0.8 * sample_rate / factor):
            factor //= 2
        self.bass = DecimatedSynth(bass_n_fft, hop, factor)
        self.n_fft, self.hop = n_fft, hop
        self.n_main = n_fft // 2 + 1
        self.n_bass = int(math.ceil(1.25 * bass_hz * bass_n_fft / sample_rate)) + 1

        def position(n: int, size: int) -> torch.Tensor:  # 0 below 0.8 bass_hz, 1 above 1.25 bass_hz, per bin
            f = torch.arange(n, dtype=torch.float64) * sample_rate / size
            return ((f - 0.8 * bass_hz) / (0.45 * bass_hz)).clamp(0, 1)

        up = torch.sin(0.5 * math.pi * position(self.n_main, n_fft))  # power-complementary: sin² + cos² = 1
        down = torch.cos(0.5 * math.pi * position(self.n_bass, bass_n_fft))
        self.register_buffer("log_main", torch.log(up.clamp(min=1e-5)).float(), persistent=False)
        self.register_buffer("log_bass", torch.log(down.clamp(min=1e-5)).float(), persistent=False)

    @property
    def bins(self) -> int:
        """``N + Nb``: the width of the log-magnitude this synth reads."""
        return self.n_main + self.n_bass

    @property
    def context(self) -> int:
        """Frames on each side of a stretch that :meth:`infer_span` needs to give it exactly (the bass band's)."""
        return max(self.main.context, self.bass.context)

    def analyse(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``[B, T]`` (T a multiple of ``hop``) → log-magnitude ``[B, T / hop, N + Nb]``."""
        return torch.cat([self.main.analyse(wav), self.bass_analysis.analyse(wav)[..., : self.n_bass]], -1)

    def split(self, logmag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, F, N + Nb]`` → ``(main [B, F, N], bass [B, F, bass_n_fft/2+1])``, each weighted for the crossover
        (the bass padded with silence above its ``Nb`` bins)."""
        main = logmag[..., : self.n_main] + self.log_main
        bass = logmag[..., self.n_main :] + self.log_bass
        rest = max(0, self.bass.bins - self.n_bass)
        return main, torch.nn.functional.pad(bass, (0, rest), value=math.log(1e-5))

    def forward(self, logmag: torch.Tensor, chunk: int = 1024, phase_grad: bool = True) -> torch.Tensor:
        """Log-magnitude ``[B, F, N + Nb]`` → waveform ``[B, F * hop]`` (see :meth:`MagnitudeSynth.forward`)."""
        main, bass = self.split(logmag)
        return self.main(main, chunk, phase_grad) + self.bass(bass, chunk, phase_grad)

    def infer_span(self, logmag: torch.Tensor, keep: tuple[int, int], carry=None):
        """:meth:`MagnitudeSynth.infer_span` of both bands; ``carry`` is the pair of their running phases."""
        main, bass = self.split(logmag)
        carry_main, carry_bass = carry if carry is not None else (None, None)
        y_main, carry_main = self.main.infer_span(main, keep, carry_main)
        y_bass, carry_bass = self.bass.infer_span(bass, keep, carry_bass)
        return y_main + y_bass, (carry_main, carry_bass)
