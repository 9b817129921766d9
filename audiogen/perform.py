"""The performer: one codec and one LM playing plans (or going on from a prompt) into waveforms.

```
plans ──► beats, dense controls, sketch codes ──► LM (sampling) ──► tokens [B, K, F] ──► codec decoder ──► [B, T]
```

:class:`Performer` is what the facade (:class:`~audiogen.generator.MusicGenerator`), the video brief (shot by shot,
:mod:`audiogen.brief.perform`) and the benchmarks share. Each step is public so that a caller can stop after any of
them (the speed benchmark times the LM alone; the perform benchmark compares sketch strengths on one plan's
controls). A :class:`~audiogen.stream.TrackStream` listening on :data:`~audiogen.stream.FRAMES_SINK` is handed the
frames as the LM completes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from audiogen.audio import SAMPLE_RATE, load_audio, resample
from audiogen.codec.model import Codec
from audiogen.conditioning.base import Attributes
from audiogen.controls.from_plan import plan_controls
from audiogen.controls.layout import empty, grid_beats
from audiogen.lm import GenerationParams, MusicLM
from audiogen.lm import generate as lm_generate
from audiogen.stream import FRAMES_SINK


class Performer:
    """Plays plans with ``codec`` and ``lm`` (the LM's card and codebooks must fit the codec)."""

    def __init__(self, codec: Codec, lm: MusicLM) -> None:
        if lm.config.card != codec.codebook_size or lm.config.n_q > codec.n_q:
            raise ValueError(
                f"LM (card {lm.config.card}, {lm.config.n_q} codebooks) does not fit the codec "
                f"(card {codec.codebook_size}, {codec.n_q} codebooks)"
            )
        self.codec, self.lm = codec.eval(), lm.eval()

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate

    # -- what the LM is given ------------------------------------------------------------------------------------
    def plan_beats(self, plans: Sequence, n_frames: int) -> list | None:
        """Beat times per plan, carried on at the plan's last beat interval past its end (for the beat prior and
        the beat clock); None for a model with neither."""
        if not self.lm.config.control_features and self.lm.beat_prior is None:
            return None
        out = []
        seconds = n_frames / self.codec.frame_rate + 1.0
        for p in plans:
            b = np.asarray(p.beats, dtype=np.float64) + self.lm.config.beat_lag_s  # see LMConfig.beat_lag_s
            if len(b) < 2:  # a plan too short for two beats: its tempo's grid
                out.append(grid_beats(p.tempo, seconds, start=float(b[0]) if len(b) else 0.0))
                continue
            tail = grid_beats(60.0 / float(b[-1] - b[-2]), seconds, start=float(b[-1]))
            out.append(np.concatenate([b, tail[1:]]))
        return out

    def plan_controls(self, plans: Sequence, n_frames: int) -> list | None:
        """The dense controls of every plan ``[n_frames + n_q, F]`` (None for a model without a control input)."""
        if not self.lm.config.control_features:
            return None
        lag, n = self.lm.config.beat_lag_s, n_frames + self.lm.config.n_q
        return [plan_controls(p, n, self.codec.frame_rate, beat_lag=lag) for p in plans]

    def sketch(self, plans: Sequence, n_frames: int, params: GenerationParams) -> torch.Tensor | None:
        """Codes ``[B, n_q, n_frames]`` of the plans' sketches (:mod:`audiogen.compose.sketch`), or None when the
        sampling does not lean on them (``params.sketch_strength == 0``)."""
        if not params.sketch_strength:
            return None
        from audiogen.compose.sketch import sketch_codes  # plays the plan through the soundfont: loaded on demand

        return sketch_codes(self.codec, plans, n_frames, self.lm.config.n_q)

    def decoder_controls(self, n_frames: int, plans: Sequence | None) -> torch.Tensor | None:
        """The plans' chords and melody for a codec whose decoder reads them (``CodecConfig.decoder_controls``):
        ``[B, n_frames, N]``, or None (another decoder, no plans, or no row with a plan)."""
        n = getattr(getattr(self.codec, "cfg", None), "decoder_controls", 0)
        if not n or plans is None or all(p is None for p in plans):
            return None
        rows = [empty(n_frames) if p is None else plan_controls(p, n_frames, self.codec.frame_rate)[:n_frames]
                for p in plans]  # fmt: skip
        return torch.from_numpy(np.stack(rows)[:, :, :n])

    # -- a prompt to go on from ----------------------------------------------------------------------------------
    def prompt_audio(self, prompt: str | Path | np.ndarray | None) -> np.ndarray | None:
        """The prompt as mono audio ``(T,)`` at :data:`SAMPLE_RATE` (None without a prompt)."""
        if prompt is None:
            return None
        audio = load_audio(prompt) if isinstance(prompt, (str, Path)) else np.asarray(prompt, dtype=np.float32)
        if audio.ndim != 1 or audio.size < self.codec.cfg.frame_size:
            raise ValueError("prompt audio must be mono (T,) at 32 kHz and at least one codec frame long")
        return audio

    def prompt_codes(self, audio: np.ndarray, batch: int) -> torch.Tensor:
        """The prompt's tokens ``[batch, n_q, F]`` (the same row for every item of the batch)."""
        wav = torch.from_numpy(resample(audio, SAMPLE_RATE, self.codec.sample_rate))[None]
        codes = self.codec.encode(wav, n_q=self.lm.config.n_q)
        return codes.expand(batch, -1, -1).contiguous()

    def prompt_beats(self, tempos: Sequence[float | None], seconds: float, audio: np.ndarray | None) -> list | None:
        """Beat times per request (its tempo in ``tempos``) for a model with a beat clock or a beat prior (None for
        a model with neither).

        Without a prompt: a steady grid at the requested tempo (no clock without a tempo). With a prompt: the
        prompt's own beats (our beat tracker, the requested tempo as its prior), then on at the requested tempo, or
        at the prompt's tempo when none was asked for, so the continuation keeps the prompt's pulse."""
        if not self.lm.config.control_features and self.lm.beat_prior is None:
            return None
        tracked = None
        if audio is not None:
            from audiogen.data.beats import track_beats

            hint = next((t for t in tempos if t), None)
            tempo, found = track_beats(audio, SAMPLE_RATE, hint)
            found = found + self.lm.config.beat_lag_s  # the model's beats sit that late (LMConfig.beat_lag_s)
            tracked = (tempo, found) if len(found) >= 2 and tempo > 0 else None
        out = []
        for tempo in tempos:
            if tracked is None:
                out.append(None if tempo is None else grid_beats(tempo, seconds + 1.0))
                continue
            found = tracked[1]
            tail = grid_beats(tempo or tracked[0], seconds + 1.0, start=float(found[-1]))[1:]
            out.append(np.concatenate([found, tail]))
        return out

    # -- sampling and decoding -----------------------------------------------------------------------------------
    def sample(
        self,
        attributes: Sequence[Attributes],
        n_frames: int,
        params: GenerationParams,
        *,
        prompt: torch.Tensor | None = None,
        progress: bool | Callable[[int, int], None] = False,
        beats: list | None = None,
        controls: list | None = None,
        sketch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tokens ``[B, n_q, n_frames]`` for one attribute set per row (``prompt``: tokens to go on from).
        ``progress``: a progress bar (True), nothing (False), or ``progress(step, total)`` after each step."""
        bar, report = None, progress if callable(progress) else None
        if progress and report is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=1, unit="step", desc="generating", leave=False)

        def callback(step: int, total: int) -> None:
            if report is not None:
                report(step, total)
            if bar is not None:
                bar.total = total
                bar.update(step - bar.n)

        sink = FRAMES_SINK.get()  # a TrackStream listening, or None
        try:
            provider = self.lm.condition if self.lm.provider is not None else None
            return lm_generate(
                self.lm, provider, list(attributes), n_frames, params, prompt=prompt, callback=callback, beats=beats,
                controls=controls, sketch=sketch, on_frames=None if sink is None else sink.frames,
            )  # fmt: skip
        finally:
            if bar is not None:
                bar.close()

    def decode(self, codes: torch.Tensor, plans: Sequence | None = None) -> np.ndarray:
        """Tokens ``[B, K, F]`` → waveforms ``[B, F * frame_size]`` (numpy). A codec whose decoder reads the plan's
        chords and melody (``CodecConfig.decoder_controls``) is given those of ``plans`` (one per row; None or a None
        entry: the tokens alone)."""
        controls = self.decoder_controls(codes.shape[-1], plans)
        with torch.inference_mode():
            wavs = self.codec.decode(codes) if controls is None else self.codec.decode(codes, controls)
        return wavs.numpy()

    def perform_codes(
        self,
        attributes: Sequence[Attributes],
        plans: Sequence,
        n_frames: int,
        params: GenerationParams,
        progress: bool | Callable[[int, int], None] = False,
    ) -> torch.Tensor:
        """Tokens ``[B, K, n_frames]`` of ``plans`` (one per row), each performed with its row's attributes: the
        plans' beats, controls and sketch → the LM."""
        return self.sample(
            attributes, n_frames, params, progress=progress, beats=self.plan_beats(plans, n_frames),
            controls=self.plan_controls(plans, n_frames), sketch=self.sketch(plans, n_frames, params),
        )  # fmt: skip

    def perform(
        self,
        attributes: Sequence[Attributes],
        plans: Sequence,
        n_frames: int,
        params: GenerationParams,
        progress: bool | Callable[[int, int], None] = False,
    ) -> np.ndarray:
        """Waveforms ``[B, n_frames * frame_size]`` at the codec's rate of ``plans``: :meth:`perform_codes`, then
        the decoder."""
        return self.decode(self.perform_codes(attributes, plans, n_frames, params, progress), plans)

    def go_on(
        self,
        attributes: Sequence[Attributes],
        audio: np.ndarray,
        n_frames: int,
        params: GenerationParams,
        progress: bool | Callable[[int, int], None] = False,
    ) -> np.ndarray:
        """Waveforms ``[B, n_frames * frame_size]`` continuing the prompt ``audio`` (no plan: the LM follows the
        prompt's beat, or the requested tempo)."""
        prompt = self.prompt_codes(audio, len(attributes))
        beats = self.prompt_beats([a.tempo for a in attributes], n_frames / self.codec.frame_rate, audio)
        codes = self.sample(attributes, n_frames, params, prompt=prompt, progress=progress, beats=beats)
        return self.decode(codes, None)
