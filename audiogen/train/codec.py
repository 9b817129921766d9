"""Codec training: a mel-reconstruction warm-up, then adversarial training (MS-STFT discriminator).

    python -m audiogen.train.codec recipes/cpu-small/codec.yaml run_dir=runs/codec manifests=[data/manifest.jsonl]
    python -m audiogen.train.codec export runs/codec OUT_DIR      # fp16 release weights + config.json

Runs on `accelerate` (one CPU process here; `accelerate launch` for DDP on GPUs). The run folder holds
``config.json``, ``log.jsonl`` (losses, codebook perplexity, validation distances) and ``last.pt`` (model,
discriminator, optimisers, step), written atomically every ``ckpt_every`` steps; starting the same command again
resumes from it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader

from audiogen.codec.discriminator import CodecDiscriminator, MultiScaleSTFTDiscriminator
from audiogen.codec.losses import (
    MultiScaleMelLoss,
    PitchLoss,
    discriminator_hinge,
    feature_matching,
    generator_hinge,
    multi_resolution_stft_distance,
    si_sdr,
)
from audiogen.codec.model import Codec, CodecConfig
from audiogen.codec.teacher import NoteTeacher, PitchTeacher
from audiogen.data.dataset import AudioDataset, collate_segments
from audiogen.data.note_cache import NoteReader
from audiogen.train.config import load_recipe, recipe_to_dict

# weights a run may start without (fresh inputs or outputs): the encoder's pitch inputs, the decoder's controls,
# bass head and its context blocks
NEW_INPUTS = ("encoder.pitch_inp.", "encoder.bass_pitch_inp.", "decoder.ctrl.", "decoder.ctrl_mag.",
              "decoder.head.bass_proj.", "decoder.head.bass_context.")  # fmt: skip


@dataclass
class CodecTrainConfig:
    """Everything a codec run needs; see recipes/cpu-small/codec.yaml."""

    run_dir: str = "runs/codec"
    manifests: list[str] = field(default_factory=list)
    model: CodecConfig = field(default_factory=CodecConfig)
    segment_seconds: float = 1.0
    batch_size: int = 8
    lr: float = 5e-4
    disc_lr: float = 2e-4
    warmup_steps: int = 500
    max_steps: int = 50000
    gan_start: int = 10000
    freeze_encoder_at: int | None = None
    # the encoder and quantizer stay frozen for this many first steps, while a fresh decoder head finds its feet (its
    # first, large gradients otherwise collapse the codebooks' usage)
    encoder_warmup: int = 0
    disc_filters: int = 16
    disc_seconds: float = 0.5
    disc_n_ffts: list[int] = field(default_factory=lambda: [2048, 1024, 512])
    lambda_mel: float = 15.0
    lambda_adv: float = 1.0
    lambda_feat: float = 2.0
    lambda_commit: float = 0.25
    lambda_codebook: float = 1.0
    lambda_latent: float = 0.0  # the quantizer's full-space latent loss (audiogen.codec.quantizer); 0 = the v1 recipe
    latent_to_encoder: bool = True  # whether that loss also trains the encoder (v2); False: only the stages (v3)
    lambda_pitch: float = 0.0  # long-window linear-STFT log-magnitude L1 (audiogen.codec.losses.PitchLoss); 0 = v1
    lambda_chroma: float = 0.0  # 1 - chroma cosine from those spectra; 0 = the v1 recipe
    disc_periods: list[int] = field(default_factory=list)  # period discriminators (e.g. [2, 3, 5, 7, 11]); [] = v1
    # a magnitude decoder (model.head="magnitude", v3): L1 between its log-magnitude and the target's (both floored at
    # logmag_floor nats) and the spectral convergence of the linear magnitudes; the mel loss needs a waveform, so a
    # magnitude run leaves it out until its GAN stage
    lambda_logmag: float = 1.0
    lambda_sc: float = 1.0
    logmag_floor: float = -9.0
    # and L1 between log energies folded onto semitones (C3..B7, from the same magnitudes): the musically relevant
    # part of the spectrum weighed as much as the many bins above 4 kHz; 0 = off
    lambda_semitone: float = 0.0
    # and L1 between log mel energies (80 bands to 16 kHz) of the same magnitudes: the envelope, without the
    # unpredictable fine structure of noise-like bins (their log magnitude is random; a per-bin L1 on noise cannot
    # get below about 0.48 nats)
    lambda_mag_mel: float = 0.0
    # and the energy-weighted distance in bins between the partial frequencies the rebuilt phase plays, read from the
    # slopes of both log-magnitudes (frequency_loss): a phase-derivative loss, since the phase is rebuilt from them
    lambda_freq: float = 0.0
    # and the chroma of the same magnitudes (55 Hz - 4 kHz; a two-band head's bass spectrogram below bass_hz, its main
    # one above) against the crop's, frame by frame and over the crop (chroma_loss): the energy-weighted pitch-class
    # balance a key is read from, which log-domain losses weigh no more than the quiet bins; 0 = off
    lambda_mag_chroma: float = 0.0
    # a two-band head (model.bass_n_fft): log-magnitude L1 + spectral convergence of its bass spectrogram
    lambda_bass: float = 1.0
    # and L1 between the semitone spectra (the teacher's labels: 8192-point STFT, C1..B7) of the waveform the
    # magnitude head's output plays (its phase rebuilt, differentiably) and of the crop: the pitch a listener hears,
    # bass included, at a resolution the 2048-point magnitude itself cannot show; 0 = off
    lambda_resynth: float = 0.0
    resynth_items: int = 4  # on this many crops of the batch (the phase rebuild's backward costs a third of a step)
    resynth_phase_grad: bool = True  # whether that loss's gradient also runs through the rebuilt phase
    # the pitch teacher: a linear read-out of the first ``teacher_codebooks`` codebooks' latent must give the crop's
    # semitone spectrum (audiogen.codec.teacher), so the codebooks an LM models first hold the notes; 0 = off
    lambda_teacher: float = 0.0
    teacher_codebooks: int = 2
    # the note teacher: a read-out of the same codebooks' latent must give basic-pitch's note posteriors of the crop
    # (audiogen.codec.teacher.NoteTeacher; binary cross-entropy), read from the cache that
    # `python -m audiogen.data.note_cache` builds in notes_dir; crops of records without a cache file go without;
    # the read-out has its own optimizer, so a run takes it on (or drops it) when it resumes; 0 = off
    lambda_notes: float = 0.0
    notes_dir: str = ""
    init_from: str = ""  # a codec folder whose weights start the run (with freeze_encoder_at=0: a new decoder
    # for the same token space, so an LM trained on it keeps working)
    # a decoder with decoder_controls reads the chords and melody of each crop, read from its audio the way the
    # token cache's controls are (audiogen.controls.extract, chord spans on a 0.5 s grid); this share of crops goes
    # without, so the decoder still decodes tokens alone
    decoder_control_dropout: float = 0.3
    control_lr: float = 0.0  # learning rate of the decoder's direct path from notes to log-magnitude (0 = lr)
    # learning rate of the encoder's bass pitch input layer (model.bass_pitch_n_fft; 0 = lr): a layer that starts at
    # zero inside a trained encoder, which at the run's rate grew to a seventeenth of the other pitch input's weights
    # in 2,700 steps (BENCHMARKS.md, "Codec v4 pilot")
    bass_pitch_lr: float = 0.0
    # transpose this share of the training crops by -pitch_shift..pitch_shift semitones (audiogen.data.dataset):
    # each timbre heard on more notes; 0 = off
    pitch_shift: int = 0
    pitch_shift_share: float = 0.0
    # the codebooks the crops are decoded from (quantizer dropout then draws from 1..train_n_q): with the token space
    # frozen, a decoder for the bitrate an LM uses (4) instead of one that sees 8 codebooks on most crops and 4 on
    # about one in sixteen; 0 = all of them
    train_n_q: int = 0
    grad_clip: float = 10.0
    log_every: int = 25
    ckpt_every: int = 200
    ckpt_minutes: float = 10.0  # also checkpoint when this long has passed since the last one
    valid_every: int = 1000
    valid_crops: int = 48
    num_threads: int = 1
    num_workers: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = CodecConfig(**self.model)
        if self.batch_size < 1 or self.max_steps < 1:
            raise ValueError("batch_size and max_steps must be >= 1")
        if not 0 <= self.decoder_control_dropout <= 1:
            raise ValueError(f"decoder_control_dropout must lie in [0, 1], got {self.decoder_control_dropout}")
        if self.lambda_notes and not self.notes_dir:
            raise ValueError("lambda_notes needs notes_dir: the folder `python -m audiogen.data.note_cache` fills")
        if self.lambda_notes and self.pitch_shift and self.pitch_shift_share:
            raise ValueError(
                "lambda_notes cannot be used with pitch_shift: the cached note posteriors are those of the crops as "
                "recorded, not transposed (set lambda_notes=0, or pitch_shift_share=0)"
            )
        if not 0 <= self.train_n_q <= self.model.n_q:
            raise ValueError(f"train_n_q must be in [0, {self.model.n_q}] (0: all the codebooks), got {self.train_n_q}")
        if (self.lambda_teacher or self.lambda_notes) and not 1 <= self.teacher_codebooks <= self.model.n_q:
            raise ValueError(f"teacher_codebooks must be in [1, {self.model.n_q}], got {self.teacher_codebooks}")
        if (self.lambda_teacher or self.lambda_notes) and 0 < self.train_n_q < self.teacher_codebooks:
            raise ValueError(
                f"train_n_q ({self.train_n_q}) must be at least teacher_codebooks ({self.teacher_codebooks})"
            )
        if not 0 < self.segment_seconds <= 30:
            raise ValueError(f"segment_seconds must be in (0, 30], got {self.segment_seconds}")


def magnitude_losses(pred: torch.Tensor, target: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-magnitudes ``pred``, ``target`` ``[B, F, N]`` (nats) → (mean L1 of both floored at ``floor``, spectral
    convergence ``||T - P|| / ||T||`` of the linear magnitudes, per item then averaged)."""
    l1 = (pred.clamp(min=floor) - target.clamp(min=floor)).abs().mean()
    p, t = pred.exp(), target.exp()
    sc = torch.linalg.vector_norm(t - p, dim=(1, 2)) / torch.linalg.vector_norm(t, dim=(1, 2)).clamp(min=1e-5)
    return l1, sc.mean()


_SEMITONE_FOLD: dict = {}


def semitone_loss(pred: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Mean L1 between the log energies of log-magnitudes ``pred``, ``target`` ``[B, F, N]`` folded onto the 60
    semitones C3..B7 (``audiogen.codec.teacher.semitone_filterbank`` rows, normalised to sum to 1)."""
    from audiogen.codec.teacher import semitone_filterbank

    n_fft = 2 * (pred.shape[-1] - 1)
    key = (n_fft, sample_rate, str(pred.device))
    if key not in _SEMITONE_FOLD:
        fb = semitone_filterbank(n_fft, sample_rate)[24:]  # C3 and up: a semitone is at least 1.2 bins of 2048
        _SEMITONE_FOLD[key] = (fb / fb.sum(1, keepdim=True).clamp(min=1e-12)).to(pred.device)
    fold = _SEMITONE_FOLD[key]
    fp = torch.log((pred.exp().square() @ fold.T).clamp(min=1e-8))
    ft = torch.log((target.exp().square() @ fold.T).clamp(min=1e-8))
    return (fp - ft).abs().mean()


def magnitude_chroma(logmag: torch.Tensor, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> torch.Tensor:
    """``[B, F, 12]``: the pitch-class profile of log-magnitudes ``logmag`` ``[B, F, N]`` (N may be fewer than
    ``n_fft // 2 + 1`` bins: a band's first bins), its linear magnitudes between ``fmin`` and ``fmax`` folded onto
    C..B (:func:`audiogen.codec.losses.chroma_filter`)."""
    from audiogen.codec.losses import chroma_filter

    key = ("chroma", n_fft, sample_rate, fmin, fmax, logmag.shape[-1], str(logmag.device))
    if key not in _SEMITONE_FOLD:
        _SEMITONE_FOLD[key] = chroma_filter(n_fft, sample_rate, fmin, fmax)[:, : logmag.shape[-1]].to(logmag.device)
    return logmag.exp() @ _SEMITONE_FOLD[key].T


def chroma_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pitch-class profiles ``pred``, ``target`` ``[B, F, 12]`` → ``1 - cosine`` of each frame (weighted by the
    target frame's share of the crop's chroma energy, so near-silent frames count for little) plus ``1 - cosine`` of
    the crop's mean profile: the reading a key estimate is made from, whose small tilts turn a key into its
    neighbour (a major key read as its parallel minor)."""
    cos = F.cosine_similarity(pred, target, dim=-1, eps=1e-6)  # (B, F)
    weight = torch.linalg.vector_norm(target, dim=-1)
    weight = weight / weight.sum(-1, keepdim=True).clamp(min=1e-8)
    frames = ((1 - cos) * weight).sum(-1)
    whole = 1 - F.cosine_similarity(pred.mean(1), target.mean(1), dim=-1, eps=1e-6)
    return (frames + whole).mean()


def frequency_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    low_hz: float = 30.0,
    top_hz: float = 4000.0,
    clip: float = 1.5,
) -> torch.Tensor:
    """The pitch a rebuilt phase plays, compared: the energy-weighted mean distance in semitones between each bin's
    partial frequency read from log-magnitudes ``pred`` and ``target`` ``[B, F, N]`` of a Gaussian-window STFT
    (:func:`audiogen.codec.phase.bin_frequency`: from the slope of the lobe, which is what the phase advances by).

    Weights: the target's amplitude, in bins within 30 dB of their frame's loudest and between ``low_hz`` and
    ``top_hz`` (the partials that carry the pitch; noise-like bins' slopes are random). Each bin's distance is
    clipped at ``clip`` semitones (further off, it is another partial). A magnitude loss barely sees where inside a
    15.6 Hz bin a partial lies, but below about 270 Hz that decides the semitone: the v3 run's decoded bass notes sat
    on bin centres, up to a semitone off (BENCHMARKS.md, "Codec v3: pilot"). In semitones, not bins, so that a bass
    note a semitone off weighs what it sounds like, and a 1 kHz partial 0.3 bins (9 cents) off does not."""
    from audiogen.codec.phase import bin_frequency

    n_fft = 2 * (pred.shape[-1] - 1)
    lo = max(1, int(round(low_hz * n_fft / sample_rate)))
    top = min(pred.shape[-1], int(round(top_hz * n_fft / sample_rate)) + 1)
    got = bin_frequency(pred)[..., lo:top].clamp(min=0.5)
    want = bin_frequency(target)[..., lo:top].clamp(min=0.5)
    err = (12 * torch.log2(got / want)).abs().clamp(max=clip)
    with torch.no_grad():
        t = target[..., lo:top]
        w = t.exp() * (t > t.amax(-1, keepdim=True) - 30 / 8.686)  # 30 dB in nats
        w = w / w.sum().clamp(min=1e-12)
    return (w * err).sum()


def resynth_semitone_loss(
    audio: torch.Tensor, target: torch.Tensor, sample_rate: int, hop: int, floor: float = -5.0
) -> torch.Tensor:
    """Mean L1 between the semitone spectra (:func:`audiogen.codec.teacher.semitone_labels`: log energy per semitone
    C1..B7 from an 8192-point STFT, relative to the frame's loudest) of ``audio`` ``[B, T']`` (a decoder's output,
    with gradient) and of ``target`` ``[B, T]`` (T a multiple of ``2 * hop``; ``audio`` is cut to it), both floored
    at ``floor`` nats (-5: 43 dB under the frame's loudest semitone; lower, the leakage of any rebuilt phase into
    empty semitones dilutes the reading: on a C major triad at C3, 0.11 against 0.26 for the triad a semitone up at
    -5, 0.22 against 0.37 at -8)."""
    from audiogen.codec.teacher import semitone_labels

    with torch.no_grad():
        want = semitone_labels(target, sample_rate, hop).clamp(min=floor)
    got = semitone_labels(audio[..., : target.shape[-1]], sample_rate, hop).clamp(min=floor)
    return (got - want).abs().mean()


_MEL_FOLD: dict = {}


def mel_band_loss(pred: torch.Tensor, target: torch.Tensor, sample_rate: int, n_mels: int = 80) -> torch.Tensor:
    """Mean L1 between the log10 mel energies (``n_mels`` bands, 20 Hz to Nyquist) of log-magnitudes ``pred``,
    ``target`` ``[B, F, N]``."""
    import torchaudio

    n = pred.shape[-1]
    key = (n, sample_rate, n_mels, str(pred.device))
    if key not in _MEL_FOLD:
        fb = torchaudio.functional.melscale_fbanks(n, 20.0, sample_rate / 2, n_mels, sample_rate)  # (N, n_mels)
        _MEL_FOLD[key] = fb.to(pred.device)
    fb = _MEL_FOLD[key]
    mp = torch.log10((pred.exp().square() @ fb).clamp(min=1e-8))
    mt = torch.log10((target.exp().square() @ fb).clamp(min=1e-8))
    return (mp - mt).abs().mean()


def cqt_chroma(reference: torch.Tensor, decoded: torch.Tensor, sample_rate: int) -> float:
    """Mean frame-wise CQT-chroma cosine (the codec benchmark's reading) of decoded crops ``[B, T]`` against theirs."""
    from audiogen.eval.metrics import chroma_cosine

    pairs = zip(reference.cpu(), decoded.cpu(), strict=True)
    vals = [chroma_cosine(r.numpy(), d.numpy(), sample_rate) for r, d in pairs]
    vals = [v for v in vals if v == v]
    return float(np.mean(vals)) if vals else float("nan")


def perplexity(codes: torch.Tensor, size: int) -> torch.Tensor:
    """Per-codebook perplexity of ``codes`` ``[B, K, T]`` → ``[K]`` (``size`` = perfectly uniform usage)."""
    k = codes.shape[1]
    counts = torch.zeros(k, size)
    counts.scatter_add_(1, codes.transpose(0, 1).reshape(k, -1), torch.ones(k, codes[:, 0].numel()))
    p = counts / counts.sum(1, keepdim=True)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum(1))


class CodecTrainer:
    """Owns the models, optimisers, data and checkpoint of one run."""

    def __init__(self, cfg: CodecTrainConfig) -> None:
        torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.run = Path(cfg.run_dir)
        self.run.mkdir(parents=True, exist_ok=True)
        self.acc = Accelerator(cpu=not torch.cuda.is_available())
        self.model = Codec(cfg.model)
        self.model.quantizer.latent_to_encoder = cfg.latent_to_encoder
        if cfg.disc_periods:
            self.disc = CodecDiscriminator(tuple(cfg.disc_n_ffts), cfg.disc_filters, tuple(cfg.disc_periods))
        else:  # the v1 discriminator (and its checkpoints' keys)
            self.disc = MultiScaleSTFTDiscriminator(tuple(cfg.disc_n_ffts), cfg.disc_filters)
        self.mel = MultiScaleMelLoss(cfg.model.sample_rate)
        self.pitch = PitchLoss(cfg.model.sample_rate) if cfg.lambda_pitch or cfg.lambda_chroma else None
        self._valid_pitch = None
        self.teacher = PitchTeacher(cfg.model) if cfg.lambda_teacher else None
        self.note_teacher = NoteTeacher(cfg.model) if cfg.lambda_notes else None
        self.opt_notes = None
        self.notes = None
        if self.note_teacher is not None:
            self.opt_notes = torch.optim.AdamW(self.note_teacher.parameters(), cfg.lr, betas=(0.8, 0.99))
            token_hop = 2 * cfg.model.hop
            self.notes = NoteReader(cfg.notes_dir, token_hop / cfg.model.sample_rate,
                                    round(cfg.segment_seconds * cfg.model.sample_rate) // token_hop)  # fmt: skip
        own = ("decoder.ctrl_mag.", "encoder.bass_pitch_inp.")  # layers with their own rate
        ctrl = [p for n, p in self.model.named_parameters() if n.startswith(own[0])]
        bass_pitch = [p for n, p in self.model.named_parameters() if n.startswith(own[1])]
        rest = [p for n, p in self.model.named_parameters() if not n.startswith(own)]
        if self.teacher is not None:
            rest += list(self.teacher.parameters())
        groups = [{"params": rest, "base_lr": cfg.lr}]
        if ctrl:  # the notes' direct path starts at zero and must move by whole nats of log-magnitude: a larger rate
            groups.append({"params": ctrl, "base_lr": cfg.control_lr or cfg.lr})
        if bass_pitch:
            groups.append({"params": bass_pitch, "base_lr": cfg.bass_pitch_lr or cfg.lr})
        self.opt_g = torch.optim.AdamW(groups, cfg.lr, betas=(0.8, 0.99))
        self.opt_d = torch.optim.AdamW(self.disc.parameters(), cfg.disc_lr, betas=(0.8, 0.99))
        self.step = 0
        self._last_save = time.time()
        self._resume()
        self.model, self.disc, self.opt_g, self.opt_d = self.acc.prepare(self.model, self.disc, self.opt_g, self.opt_d)
        if self.teacher is not None:
            self.teacher = self.teacher.to(self.acc.device)
        if self.note_teacher is not None:
            self.note_teacher = self.note_teacher.to(self.acc.device)
        self.mel = self.mel.to(self.acc.device)
        self.pitch = None if self.pitch is None else self.pitch.to(self.acc.device)

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _resume(self) -> None:
        ckpt = self.run / "last.pt"
        # the config the run trains under now (a recipe's schedule may change between resumptions; the campaign
        # reads its max_steps, export its model)
        tmp = self.run / "config.json.tmp"
        tmp.write_text(json.dumps(recipe_to_dict(self.cfg), indent=2) + "\n")
        tmp.replace(self.run / "config.json")
        if not ckpt.is_file():
            if self.cfg.init_from:
                source = Codec.from_pretrained(self.cfg.init_from)
                if source.cfg.n_q != self.cfg.model.n_q or source.cfg.codebook_size != self.cfg.model.codebook_size:
                    raise ValueError(f"init_from={self.cfg.init_from}: its codebooks do not match the recipe's model")
                state = self._grown(source.state_dict())
                fresh: tuple[str, ...] = ()
                if source.cfg.head != self.cfg.model.head:  # a new kind of decoder output: a fresh head, same body
                    fresh = ("decoder.head.",)
                    state = {k: v for k, v in state.items() if not k.startswith(fresh)}
                missing, unexpected = self.model.load_state_dict(state, strict=False)
                # new zero-initialised inputs (the encoder's pitch input, the decoder's controls) are all it may lack
                if unexpected or any(not k.startswith(NEW_INPUTS + fresh) for k in missing):
                    raise ValueError(f"init_from={self.cfg.init_from}: weights do not match the recipe's model "
                                     f"(missing {missing[:4]}, unexpected {unexpected[:4]})")  # fmt: skip
                print(f"initialised from {self.cfg.init_from} ({source.model_id})", flush=True)
            return
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.disc.load_state_dict(state["disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.teacher is not None and "teacher" in state:
            self.teacher.load_state_dict(state["teacher"])
        if self.note_teacher is not None and "note_teacher" in state:
            self.note_teacher.load_state_dict(state["note_teacher"])
            self.opt_notes.load_state_dict(state["opt_notes"])
        if "rng" in state:  # the random stream (quantizer dropout, code restarts) goes on where it stopped
            torch.set_rng_state(state["rng"])
        self.step = int(state["step"])
        print(f"resumed from {ckpt} at step {self.step}", flush=True)

    def _grown(self, state: dict) -> dict:
        """A source state whose decoder head lacks the phase-rate rows (``phase_rate``) given this model's own,
        zero-initialised ones, so the run starts exactly at the source; everything else as it is."""
        own = self.model.state_dict()
        out = dict(state)
        for key in ("decoder.head.proj.weight", "decoder.head.proj.bias"):
            if key in state and key in own and state[key].shape[0] < own[key].shape[0]:
                if state[key].shape[1:] != own[key].shape[1:] or not self.cfg.model.phase_rate:
                    raise ValueError(f"init_from: {key} has shape {tuple(state[key].shape)}, the recipe's model "
                                     f"{tuple(own[key].shape)}")  # fmt: skip
                out[key] = torch.cat([state[key].to(own[key].dtype), own[key][state[key].shape[0] :]])
        return out

    def save(self) -> None:
        if not self.acc.is_main_process:
            return
        unwrap = self.acc.unwrap_model
        state = {
            "model": unwrap(self.model).state_dict(),
            "disc": unwrap(self.disc).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "rng": torch.get_rng_state(),
        }
        if self.teacher is not None:
            state["teacher"] = self.teacher.state_dict()
        if self.note_teacher is not None:
            state["note_teacher"] = self.note_teacher.state_dict()
            state["opt_notes"] = self.opt_notes.state_dict()
        tmp = self.run / "last.pt.part"
        torch.save(state, tmp)
        with tmp.open("rb") as f:  # on disk before the rename makes it the checkpoint
            os.fsync(f.fileno())
        tmp.replace(self.run / "last.pt")
        self._last_save = time.time()

    def log(self, record: dict) -> None:
        if self.acc.is_main_process:
            line = json.dumps({"step": self.step, "time": round(time.time(), 1), **record})
            with (self.run / "log.jsonl").open("a") as f:
                f.write(line + "\n")
            print(line, flush=True)

    # -- training ----------------------------------------------------------------------------------------------
    def _lr_scale(self) -> float:
        warm = min(1.0, (self.step + 1) / max(1, self.cfg.warmup_steps))
        progress = min(1.0, self.step / self.cfg.max_steps)
        return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def crop_notes(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The note teacher's targets of a loader batch: ``(posteriors [B, 88, F], known [B] bool)``, or None
        without a note teacher."""
        if self.notes is None:
            return None
        post, known = self.notes.crops(batch["record_key"], batch["offset"].tolist())
        return torch.from_numpy(post).to(self.acc.device), torch.from_numpy(known).to(self.acc.device)

    def train_step(self, wav: torch.Tensor, notes: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
        """One generator (and, after ``gan_start``, discriminator) update on ``wav`` ``[B, T]``; ``notes`` are the
        note teacher's targets (:meth:`crop_notes`)."""
        cfg, gan = self.cfg, self.step >= self.cfg.gan_start
        for opt, base in ((self.opt_g, cfg.lr), (self.opt_d, cfg.disc_lr)):
            for group in opt.param_groups:
                group["lr"] = group.get("base_lr", base) * self._lr_scale()
        frozen = cfg.freeze_encoder_at is not None and self.step >= cfg.freeze_encoder_at
        frozen = frozen or self.step < cfg.encoder_warmup
        controls = self.crop_controls(wav, cfg.decoder_control_dropout)
        first = cfg.teacher_codebooks if self.teacher is not None or self.note_teacher is not None else 0
        out = self.model(wav, n_q=cfg.train_n_q or None, step=self.step, train_encoder=not frozen, controls=controls,
                         first=first)  # fmt: skip
        target = out["target"]
        loss = cfg.lambda_commit * out["commit"] + cfg.lambda_codebook * out["codebook"]
        logs = {}
        if "logmag" in out:  # a magnitude decoder: compared as spectra; a waveform only for the discriminator
            head = self.acc.unwrap_model(self.model).decoder.head
            pred, want = out["logmag"], out["target_logmag"]
            n_main = getattr(head.synthesiser, "n_main", pred.shape[-1])  # a two-band head: the bass bins after
            if cfg.lambda_mag_chroma:
                mc = chroma_loss(*(self._magnitude_chroma(v, n_main) for v in (pred, want)))
                loss = loss + cfg.lambda_mag_chroma * mc
                logs["mag_chroma"] = mc.item()
            if n_main < pred.shape[-1]:
                bass_l1, bass_sc = magnitude_losses(pred[..., n_main:], want[..., n_main:], cfg.logmag_floor)
                loss = loss + cfg.lambda_bass * (bass_l1 + bass_sc)
                logs.update(bass=bass_l1.item(), bass_sc=bass_sc.item())
                pred, want = pred[..., :n_main], want[..., :n_main]
            logmag, sc = magnitude_losses(pred, want, cfg.logmag_floor)
            loss = loss + cfg.lambda_logmag * logmag + cfg.lambda_sc * sc
            logs.update(logmag=logmag.item(), sc=sc.item())
            if cfg.lambda_mag_mel:
                mm = mel_band_loss(pred, want, self.cfg.model.sample_rate)
                loss = loss + cfg.lambda_mag_mel * mm
                logs["mag_mel"] = mm.item()
            if cfg.lambda_semitone:
                semi = semitone_loss(pred, want, self.cfg.model.sample_rate)
                loss = loss + cfg.lambda_semitone * semi
                logs["semitone"] = semi.item()
            if cfg.lambda_freq:
                freq = frequency_loss(pred, want, self.cfg.model.sample_rate)
                loss = loss + cfg.lambda_freq * freq
                logs["freq"] = freq.item()
            recon = head.synth(out["logmag"]) if gan else None
            if cfg.lambda_resynth:
                n = max(1, cfg.resynth_items)
                played = head.synthesiser(out["logmag"][:n], phase_grad=cfg.resynth_phase_grad)
                rs = resynth_semitone_loss(played, target[:n], self.cfg.model.sample_rate, self.cfg.model.hop)
                loss = loss + cfg.lambda_resynth * rs
                logs["resynth"] = rs.item()
            mel = None
        else:
            recon = out["recon"]
            mel = self.mel(recon, target)
            loss = loss + cfg.lambda_mel * mel
        if cfg.lambda_latent:
            loss = loss + cfg.lambda_latent * out["latent"]
        if self.teacher is not None:
            teach = self.teacher.loss(out["z_first"], target)
            loss = loss + cfg.lambda_teacher * teach
            logs["teacher"] = teach.item()
        if self.note_teacher is not None and notes is not None:
            heard = self.note_teacher.loss(out["z_first"], *notes)
            loss = loss + cfg.lambda_notes * heard
            logs["notes"] = heard.item()
        if self.pitch is not None:
            spectral, chroma = self.pitch(recon, target)
            loss = loss + cfg.lambda_pitch * spectral + cfg.lambda_chroma * chroma
            logs.update(pitch=spectral.item(), chroma=chroma.item())
        if gan:
            loss_g, adv_logs = self._adversarial(recon, target)
            loss = loss + loss_g
            logs.update(adv_logs)
        self.opt_g.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        params = list(self.model.parameters()) + ([] if self.teacher is None else list(self.teacher.parameters()))
        self.acc.clip_grad_norm_(params, cfg.grad_clip)
        self.opt_g.step()
        if self.opt_notes is not None:
            self.opt_notes.step()
            self.opt_notes.zero_grad(set_to_none=True)
        if mel is not None:
            logs["mel"] = mel.item()
        logs.update(commit=out["commit"].item(), codebook=out["codebook"].item())
        logs["latent"] = out["latent"].item()
        self._codes = out["codes"].detach().cpu()
        return logs

    def _magnitude_chroma(self, logmag: torch.Tensor, n_main: int) -> torch.Tensor:
        """``[B, F, 12]`` pitch-class profile of a magnitude head's log-magnitude ``[B, F, N (+ Nb)]``: 55 Hz - 4 kHz
        from its main spectrogram, or, for a two-band head, the bass spectrogram's bins below ``bass_hz`` and the main
        one's above."""
        m, sr = self.cfg.model, self.cfg.model.sample_rate
        main_n_fft = 2 * (n_main - 1)
        if n_main == logmag.shape[-1]:
            return magnitude_chroma(logmag, main_n_fft, sr, 55.0, 4000.0)
        return magnitude_chroma(logmag[..., :n_main], main_n_fft, sr, m.bass_hz, 4000.0) + magnitude_chroma(
            logmag[..., n_main:], m.bass_n_fft, sr, 55.0, m.bass_hz
        )

    def crop_controls(self, wav: torch.Tensor, dropout: float = 0.0) -> torch.Tensor | None:
        """The chord and melody controls ``[B, F, N]`` of crops ``wav`` ``[B, T]`` read from their audio (None for a
        decoder without controls); each crop's are zeroed with probability ``dropout``."""
        n = self.cfg.model.decoder_controls
        if not n:
            return None
        from audiogen.controls.extract import read_controls

        sr, frame = self.cfg.model.sample_rate, self.cfg.model.frame_size
        frames = -(-wav.shape[-1] // frame)
        grid = np.arange(0.0, wav.shape[-1] / sr, 0.5)
        rows = []
        for y in wav.detach().cpu().numpy():
            if dropout and float(torch.rand(())) < dropout:
                rows.append(np.zeros((frames, n), dtype=np.float32))
                continue
            rows.append(read_controls(y, sr, n_frames=frames, beats=grid).controls[:, :n])
        return torch.from_numpy(np.stack(rows)).to(wav.device)

    def _adversarial(self, recon: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Update the discriminator on a random ``disc_seconds`` sub-crop, return the generator's GAN loss.

        The real clip goes through the discriminator once: its logits train the discriminator and its (detached)
        feature maps serve feature matching, which saves a fourth discriminator pass per step.
        """
        cfg = self.cfg
        n = min(recon.shape[-1], round(cfg.disc_seconds * cfg.model.sample_rate))
        start = int(torch.randint(0, recon.shape[-1] - n + 1, ()))
        recon, target = recon[:, start : start + n], target[:, start : start + n]
        real, real_feats = self.disc(target)
        fake, _ = self.disc(recon.detach())
        loss_d = discriminator_hinge(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.acc.backward(loss_d)
        self.opt_d.step()
        fake, fake_feats = self.disc(recon)
        adv, feat = generator_hinge(fake), feature_matching(real_feats, fake_feats)
        logs = {"disc": loss_d.item(), "adv": adv.item(), "feat": feat.item()}
        return cfg.lambda_adv * adv + cfg.lambda_feat * feat, logs

    @torch.no_grad()
    def validate(self, loader: DataLoader) -> dict[str, float]:
        """Mel / multi-resolution STFT distance and SI-SDR on fixed valid crops at 4 and all codebooks."""
        model = self.acc.unwrap_model(self.model).eval()
        res: dict[str, list[float]] = {}
        for batch in loader:
            wav = batch["audio"][:, 0].to(self.acc.device)
            z = model.encoder(model.pad(wav))
            controls = self.crop_controls(wav)
            if controls is not None:  # the chords and melody given: the decoder's use of them
                recon = model.decoder(model.quantizer(z, n_q=4)["z_q"], controls)[:, : wav.shape[-1]]
                res.setdefault("valid_chroma_cos_q4_controls", []).append(1 - self._chroma(recon, wav))
            if model.decoder.magnitude:
                target = model.decoder.head.analyse(model.pad(wav))
                pred = model.decoder.logmag(model.quantizer(z, n_q=4)["z_q"])
                n_main = getattr(model.decoder.head.synthesiser, "n_main", pred.shape[-1])  # the main band's
                pred, target = pred[..., :n_main], target[..., :n_main]
                res.setdefault("valid_logmag_q4", []).append(
                    magnitude_losses(pred, target, self.cfg.logmag_floor)[0].item()
                )
            if self.teacher is not None:
                z_first = model.quantizer(z, first=self.cfg.teacher_codebooks)["z_first"]
                res.setdefault("valid_teacher", []).append(self.teacher.loss(z_first, model.pad(wav)).item())
            for n_q in sorted({4, model.cfg.n_q}):
                recon = model.decoder(model.quantizer(z, n_q=n_q)["z_q"])[:, : wav.shape[-1]]
                if n_q == 4:
                    res.setdefault("valid_cqt_chroma_q4", []).append(cqt_chroma(wav, recon, model.sample_rate))
                res.setdefault(f"valid_mel_q{n_q}", []).append(self.mel(recon, wav).item())
                res.setdefault(f"valid_stft_q{n_q}", []).append(multi_resolution_stft_distance(recon, wav).item())
                res.setdefault(f"valid_sisdr_q{n_q}", []).append(si_sdr(recon, wav).mean().item())
                res.setdefault(f"valid_chroma_cos_q{n_q}", []).append(1 - self._chroma(recon, wav))
        model.train()
        return {k: round(sum(v) / len(v), 4) for k, v in res.items()}

    def _chroma(self, recon: torch.Tensor, wav: torch.Tensor) -> float:
        """The chroma term of :class:`PitchLoss` (1 - cosine) of a validation batch."""
        if self._valid_pitch is None:
            self._valid_pitch = PitchLoss(self.cfg.model.sample_rate).to(wav.device)
        return self._valid_pitch(recon, wav)[1].item()

    def loaders(self) -> tuple[AudioDataset, DataLoader]:
        cfg = self.cfg
        train = AudioDataset(cfg.manifests, cfg.segment_seconds, split="train", seed=cfg.seed,
                             pitch_shift=cfg.pitch_shift, pitch_shift_share=cfg.pitch_shift_share)  # fmt: skip
        valid = AudioDataset(cfg.manifests, 2.0, split="valid", crops_per_track=2)
        # keep validation cheap: an evenly spread subset of the fixed crops
        valid.thin_fixed(cfg.valid_crops)
        valid_loader = DataLoader(valid, batch_size=8, num_workers=cfg.num_workers, collate_fn=collate_segments,
                                  generator=torch.Generator().manual_seed(cfg.seed))  # fmt: skip
        return train, valid_loader

    def epoch_loader(self, train: AudioDataset, epoch: int, skip: int) -> DataLoader:
        """The batches of ``epoch`` from its ``skip``-th on (a resumed run goes on with the very crops it would have
        seen next); each epoch's crops are fixed by (seed, epoch, index)."""
        train.set_epoch(epoch)
        bs = self.cfg.batch_size
        order = range(skip * bs, (len(train) // bs) * bs)
        # its own generator: starting a loader must not draw from the global stream a resumed run restores
        gen = torch.Generator().manual_seed(self.cfg.seed * 100003 + epoch)
        return DataLoader(train, batch_size=bs, sampler=list(order), drop_last=True, generator=gen,
                          num_workers=self.cfg.num_workers, collate_fn=collate_segments)  # fmt: skip

    def _on_term(self, signum, frame) -> None:
        self._stop = True

    def fit(self) -> None:
        """Train to ``max_steps`` (from wherever the run stands). SIGTERM (``campaign stop``, a shutdown) ends it
        after the current step with a checkpoint, so no step is lost."""
        self._stop = False
        if threading.current_thread() is not threading.main_thread():
            return self._fit()
        previous = signal.signal(signal.SIGTERM, self._on_term)
        try:
            return self._fit()
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _fit(self) -> None:
        train, valid_loader = self.loaders()
        cfg = self.cfg
        per_epoch = max(1, len(train) // cfg.batch_size)
        epoch, skip = divmod(self.step, per_epoch)
        acc_logs: dict[str, float] = {}
        usage = None
        t0, since = time.time(), 0
        while self.step < cfg.max_steps:
            for batch in self.epoch_loader(train, epoch, skip):
                logs = self.train_step(batch["audio"][:, 0].to(self.acc.device), self.crop_notes(batch))
                for k, v in logs.items():
                    acc_logs[k] = acc_logs.get(k, 0.0) + v
                ppl = perplexity(self._codes, cfg.model.codebook_size)
                usage = ppl if usage is None else usage + ppl
                self.step += 1
                since += 1
                if self.step % cfg.log_every == 0:
                    n = since  # a resumed run's first line averages the steps it took, not log_every
                    rec = {k: round(v / n, 4) for k, v in acc_logs.items()}
                    rec["perplexity"] = [round(float(x) / n, 1) for x in usage]
                    rec["sec_per_step"] = round((time.time() - t0) / n, 3)
                    self.log(rec)
                    acc_logs, usage, t0, since = {}, None, time.time(), 0
                due = time.time() - self._last_save >= 60 * cfg.ckpt_minutes
                if self.step % cfg.ckpt_every == 0 or due or self._stop:
                    self.save()
                if self._stop:
                    print(f"stopped at step {self.step} (checkpoint written)", flush=True)
                    return
                if self.step % cfg.valid_every == 0:
                    self.log(self.validate(valid_loader))
                if self.step >= cfg.max_steps:
                    break
            epoch, skip = epoch + 1, 0
        self.save()
        self.log(self.validate(valid_loader))


def export(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write a run's current generator as release weights (fp16 safetensors + config.json) into ``out_dir``."""
    run = Path(run_dir)
    raw = json.loads((run / "config.json").read_text())
    model = Codec(CodecConfig(**raw["model"]))
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    # a run from before a zero-initialised input existed exports with that input at zero (what it was trained as)
    if unexpected or any(not k.startswith("decoder.ctrl_mag.") for k in missing):
        raise ValueError(f"{run}: checkpoint does not fit its config (missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]})")  # fmt: skip
    return model.save_pretrained(out_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "export":
        if len(argv) != 3:
            print("usage: python -m audiogen.train.codec export RUN_DIR OUT_DIR", file=sys.stderr)
            return 2
        print(export(argv[1], argv[2]))
        return 0
    recipe = argv[0] if argv and "=" not in argv[0] else None
    overrides = argv[1:] if recipe else argv
    CodecTrainer(load_recipe(CodecTrainConfig, recipe, overrides)).fit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
