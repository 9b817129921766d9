"""Language-model training on a token cache: AdamW, warm-up + cosine, per-codebook cross-entropy, CFG dropout.

    python -m audiogen.train.lm recipes/cpu-small/lm.yaml run_dir=runs/lm cache=TOKENS_DIR
    python -m audiogen.train.lm export runs/lm OUT_DIR      # fp16 release weights + config.json
    python -m audiogen.train.lm beat-prior TOKENS_DIR OUT_DIR [--scale 3] [--bins 12] [--edges 85,135]
                                                            # beat guidance table (audiogen.lm.beat_prior)

Runs on `accelerate` (one CPU process here; ``accelerate launch -m audiogen.train.lm ...`` for DDP on GPUs). The run
folder holds ``config.json`` (this recipe), ``log.jsonl`` (train and valid losses per codebook) and ``last.pt``
(model, optimiser, step, RNG state; written atomically every ``ckpt_every`` steps). Starting the same command again
resumes from it. The windows of step ``s`` and its conditioning dropout depend only on ``(seed, s)``, so a resumed
run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from torch import nn
from torch.utils.data import DataLoader

from audiogen.data.token_cache import TokenCache, TokenWindowDataset, collate_windows
from audiogen.fileio import atomic_write_text
from audiogen.lm.config import LMConfig
from audiogen.lm.model import MusicLM
from audiogen.train.config import load_recipe, recipe_to_dict

CHECKPOINT = "last.pt"


@dataclass
class LMTrainConfig:
    """Everything an LM run needs; see recipes/cpu-small/lm.yaml. ``window_frames`` 0 = the model's max_frames."""

    run_dir: str = "runs/lm"
    cache: str = ""
    model: LMConfig = field(default_factory=LMConfig)
    window_frames: int = 0
    batch_size: int = 8
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_steps: int = 500
    max_steps: int = 50000
    grad_clip: float = 1.0
    log_every: int = 25
    ckpt_every: int = 200
    valid_every: int = 1000
    valid_batches: int = 8
    mixed_precision: str = "no"
    num_threads: int = 1
    num_workers: int = 0
    seed: int = 0
    init_from: str = ""
    # weights (key prefixes) that keep their fresh initialisation instead of the source's, e.g. ["emb.", "heads."]
    # for a new codec's token space: the body is warm-started, the token embeddings and output heads learn anew
    init_fresh: list[str] = field(default_factory=list)
    # a token map (audiogen.train.token_map) from init_from's token space to this cache's: the token embeddings and
    # output heads start as count-weighted means of the source's rows instead of fresh (needs init_from); a model
    # with more codebooks than the map (and its source) starts the others fresh (they must be named by init_fresh)
    init_token_map: str = ""
    control_dropout: float = 0.5
    control_dropout_all: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = LMConfig.from_dict(self.model)
        for name in ("batch_size", "max_steps", "log_every", "ckpt_every", "valid_every", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("window_frames", "warmup_steps", "valid_batches", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1 or self.weight_decay < 0 or not self.grad_clip > 0:
            raise ValueError("need lr > 0, 0 <= min_lr_ratio <= 1, weight_decay >= 0 and grad_clip > 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        for name in ("control_dropout", "control_dropout_all"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        if self.init_token_map and not self.init_from:
            raise ValueError("init_token_map needs init_from (the LM whose token space the map starts from)")

    @property
    def window(self) -> int:
        return self.window_frames or self.model.max_frames


class StepBatches:
    """Batch sampler: step ``s`` draws ``batch_size`` windows per process with replacement, from a generator seeded
    by ``(seed, s)``; dataset index ``slot + s * len`` gives each draw its own random window (see
    :class:`TokenWindowDataset`). Starts at ``start_step`` and never ends; stateless, so resuming is exact."""

    def __init__(self, size: int, batch_size: int, seed: int, start_step: int, rank: int = 0, world: int = 1):
        self.size, self.batch, self.seed = size, batch_size, seed
        self.start, self.rank, self.world = start_step, rank, world

    def __iter__(self):
        step = self.start
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            slots = torch.randint(0, self.size, (self.world, self.batch), generator=g)[self.rank]
            yield (slots + step * self.size).tolist()
            step += 1


class LossModule(nn.Module):
    """What the optimiser (and DDP) wraps: conditions from attributes, then the LM loss."""

    def __init__(self, lm: MusicLM):
        super().__init__()
        self.lm = lm

    def forward(
        self, codes: torch.Tensor, attributes: list, controls: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """codes ``[B, K, T]`` (controls ``[B, >= T + K - 1, F]`` or None) -> ``(loss, per_codebook [K])``."""
        return self.lm.loss(codes, self.lm.condition(attributes), controls)


class LMTrainer:
    """Owns the model, optimiser, data and checkpoint of one run."""

    def __init__(self, cfg: LMTrainConfig):
        if not cfg.cache:
            raise ValueError("cache= (the token cache folder) is required")
        torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.cfg, self.run = cfg, Path(cfg.run_dir)
        self.run.mkdir(parents=True, exist_ok=True)
        # conditioning dropout leaves some conditioner weights unused in a step: DDP must not wait for them
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        self.acc = Accelerator(
            cpu=not torch.cuda.is_available(), mixed_precision=cfg.mixed_precision, kwargs_handlers=[ddp]
        )
        self.cache = TokenCache(cfg.cache)
        self._check_cache()
        self.model = MusicLM(cfg.model)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))
        self.step = 0
        self._resume()
        self.loss_module, self.opt = self.acc.prepare(LossModule(self.model), self.opt)

    def _check_cache(self) -> None:
        m, c = self.cfg.model, self.cache
        if c.card != m.card or c.n_q < m.n_q or c.frame_rate != m.frame_rate:
            raise ValueError(
                f"token cache {c.dir} (card {c.card}, n_q {c.n_q}, {c.frame_rate} frames/s) does not fit the model "
                f"(card {m.card}, n_q {m.n_q}, {m.frame_rate} frames/s)"
            )

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _resume(self) -> None:
        ckpt = self.run / CHECKPOINT
        # the recipe in effect (a resumed run may change the schedule, e.g. max_steps)
        atomic_write_text(self.run / "config.json", json.dumps(recipe_to_dict(self.cfg), indent=2) + "\n")
        if not ckpt.is_file():
            if self.cfg.init_from:
                self._init_from(Path(self.cfg.init_from))
            return
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])
        if torch.cuda.is_available() and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        print(f"resumed from {ckpt} at step {self.step}", flush=True)

    def _init_from(self, source: Path) -> None:
        """Start a new run from the weights of another run's ``last.pt`` or a released model folder. Weights the
        source lacks may only be new inputs (the control maps), which start at zero, and those named by
        ``init_fresh``; anything else is an error. A source with a beat clock gives its clock weights to the
        controls' clock columns."""
        if source.is_dir():
            from safetensors.torch import load_file

            weights = source / "model.safetensors"
            if not weights.is_file():
                raise FileNotFoundError(f"init_from={source}: no model.safetensors in that folder")
            state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
        elif source.is_file():
            state = torch.load(source, map_location="cpu", weights_only=True)["model"]
        else:
            raise FileNotFoundError(f"init_from={source}: no such checkpoint file or model folder")
        from audiogen.lm.model import upgrade_state

        if "clock.weight" in state and self.model.controls is not None:
            state = upgrade_state(state, self.cfg.model)
        fresh = tuple(self.cfg.init_fresh)
        source_state = state
        if fresh:
            if not any(k.startswith(fresh) for k in state):
                raise ValueError(f"init_fresh={list(fresh)}: no weight of init_from={source} starts with these")
            state = {k: v for k, v in state.items() if not k.startswith(fresh)}
        if self.cfg.init_token_map:
            from audiogen.train.token_map import apply_token_map, load_token_map

            counts = load_token_map(self.cfg.init_token_map)
            m = self.cfg.model
            if counts.ndim != 3 or not 1 <= counts.shape[0] <= m.n_q or counts.shape[1:] != (m.card, m.card):
                raise ValueError(f"init_token_map={self.cfg.init_token_map}: counts {counts.shape} do not fit the "
                                 f"model (at most {m.n_q} codebooks of {m.card})")  # fmt: skip
            state.update(apply_token_map(source_state, self.model.state_dict(), counts))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        bad = [k for k in missing if not k.startswith(("controls.", *fresh))]
        if bad or unexpected:
            raise ValueError(f"init_from={source} does not fit this model: missing {bad}, unexpected {unexpected}")
        print(f"initialised from {source} (new: {missing or 'nothing'})", flush=True)

    def save(self) -> None:
        """Write ``last.pt`` atomically (main process only)."""
        self.acc.wait_for_everyone()
        if not self.acc.is_main_process:
            return
        state = {
            "model": self.acc.unwrap_model(self.loss_module).lm.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        tmp = self.run / f".{CHECKPOINT}.part"
        torch.save(state, tmp)
        os.replace(tmp, self.run / CHECKPOINT)

    def log(self, record: dict) -> None:
        if self.acc.is_main_process:
            line = json.dumps({"step": self.step, "time": round(time.time(), 1), **record})
            with (self.run / "log.jsonl").open("a") as f:
                f.write(line + "\n")
            print(line, flush=True)

    # -- training ----------------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warm-up to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``max_steps``."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
        return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))

    def train_step(
        self, codes: torch.Tensor, attributes: list, controls: torch.Tensor | None = None
    ) -> tuple[float, list[float]]:
        """One optimiser step on a batch (``controls`` ``[B, steps, F]`` or None); returns ``(loss, per-codebook
        CE)``.

        Conditioning dropout (for guidance) is drawn per step: the provider's per-group dropout; each control group
        of a row is removed with probability ``control_dropout`` and all of them with ``control_dropout_all``, so the
        model also plays from any subset of the controls, or none."""
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        provider = self.model.provider
        g = torch.Generator().manual_seed(self.cfg.seed * 7_919 + self.step)
        if provider is not None:  # CFG dropout, reproducible per step
            attributes = provider.dropout(attributes, g)
        if controls is not None:
            controls = drop_controls(controls, g, self.cfg.control_dropout, self.cfg.control_dropout_all)
            controls = controls.to(self.acc.device)
        loss, per_codebook = self.loss_module(codes.to(self.acc.device), attributes, controls)
        self.opt.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        return loss.item(), per_codebook.tolist()

    def loader(self, split: str, start_step: int = 0) -> DataLoader | None:
        """Training batches from ``start_step`` (split "train") or the fixed validation windows; None if empty."""
        cfg = self.cfg
        if split != "train" and cfg.valid_batches == 0:
            return None
        try:
            ds = TokenWindowDataset(
                self.cache,
                cfg.window,
                split,
                n_q=cfg.model.n_q,
                seed=cfg.seed,
                control_features=cfg.model.control_features,
            )
        except ValueError:
            if split == "train":
                raise
            return None
        # its own generator: iterating a DataLoader must not draw from the global RNG (dropout's, restored on resume)
        kw = {"collate_fn": collate_windows, "num_workers": cfg.num_workers, "generator": torch.Generator()}
        if split == "train":
            rank, world = self.acc.process_index, self.acc.num_processes
            sampler = StepBatches(len(ds), cfg.batch_size, cfg.seed, start_step, rank, world)
            return DataLoader(ds, batch_sampler=sampler, **kw)
        subset = list(range(min(len(ds), cfg.valid_batches * cfg.batch_size)))
        return DataLoader(torch.utils.data.Subset(ds, subset), batch_size=cfg.batch_size, **kw)

    @torch.no_grad()
    def validate(self, loader: DataLoader) -> dict:
        """Mean loss and per-codebook CE over the validation windows (main process, no dropout)."""
        self.model.eval()
        sums, n = None, 0
        for codes, attributes, controls in loader:
            controls = None if controls is None else controls.to(self.acc.device)
            _, per_codebook = self.model.loss(codes.to(self.acc.device), self.model.condition(attributes), controls)
            sums = per_codebook * len(codes) if sums is None else sums + per_codebook * len(codes)
            n += len(codes)
        self.model.train()
        ce = (sums / n).tolist()
        return {"valid_loss": round(sum(ce) / len(ce), 4), "valid_ce": [round(x, 4) for x in ce]}

    def fit(self, until: int | None = None) -> None:
        """Train to ``until`` (default ``max_steps``; the schedule always follows ``max_steps``), checkpointing."""
        cfg, until = self.cfg, min(until or self.cfg.max_steps, self.cfg.max_steps)
        valid = self.loader("valid") if self.acc.is_main_process else None
        self.model.train()
        history: list[tuple[float, list[float]]] = []  # (loss, per-codebook CE) since the last log line
        t0 = time.time()
        batches = iter(self.loader("train", self.step))
        while self.step < until:
            codes, attributes, controls = next(batches)
            history.append(self.train_step(codes, attributes, controls))
            self.step += 1
            if self.step % cfg.log_every == 0 or self.step == until:
                n = len(history)
                ce = [round(sum(h[1][k] for h in history) / n, 4) for k in range(cfg.model.n_q)]
                loss = round(sum(h[0] for h in history) / n, 4)
                sec = round((time.time() - t0) / n, 3)
                self.log({"lr": self.lr_at(self.step - 1), "loss": loss, "ce": ce, "sec_per_step": sec})
                history, t0 = [], time.time()
            if self.step % cfg.ckpt_every == 0 or self.step == until:
                self.save()
            if valid is not None and (self.step % cfg.valid_every == 0 or self.step == cfg.max_steps):
                self.log(self.validate(valid))


def drop_controls(controls: torch.Tensor, generator: torch.Generator, p_group: float, p_all: float) -> torch.Tensor:
    """Controls ``[B, S, F]`` with each group of each row zeroed with probability ``p_group`` and every group of a
    row with probability ``p_all`` (draws from ``generator``, in a fixed order)."""
    from audiogen.controls.layout import GROUPS

    b = len(controls)
    keep_all = torch.rand(b, generator=generator) >= p_all
    out = controls.clone()
    for sl in GROUPS.values():
        keep = (torch.rand(b, generator=generator) >= p_group) & keep_all
        out[:, :, sl] *= keep[:, None, None].to(out.dtype)
    return out


def export(run_dir: str | os.PathLike, out_dir: str | os.PathLike, dtype: torch.dtype = torch.float16) -> Path:
    """Write a run's last checkpoint as release weights: ``config.json`` + ``model.safetensors`` in ``dtype``."""
    run = Path(run_dir)
    if not (run / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run} has no {CHECKPOINT} (not a training run folder?)")
    cfg = LMTrainConfig(**{**json.loads((run / "config.json").read_text()), "run_dir": str(run)})
    model = MusicLM(cfg.model)
    model.load_state_dict(torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)["model"])
    return model.save_pretrained(out_dir, dtype=dtype)


def _beat_prior_main(argv: list[str]) -> int:
    """``beat-prior TOKENS_DIR OUT_DIR``: count the beat guidance table of a token cache with tracked beats into an
    LM folder (``OUT_DIR/beat_prior.safetensors``; its codebooks follow ``OUT_DIR/config.json`` when there is one)."""
    import argparse

    from audiogen.data.token_cache import TokenCache
    from audiogen.lm.beat_prior import DEFAULT_EDGES, BeatPrior
    from audiogen.lm.config import LMConfig

    ap = argparse.ArgumentParser(prog="python -m audiogen.train.lm beat-prior", description=_beat_prior_main.__doc__)
    ap.add_argument("cache", help="token cache folder with beats.jsonl (`audiogen codec beats`)")
    ap.add_argument("out", help="LM folder to write beat_prior.safetensors into")
    ap.add_argument("--scale", type=float, default=3.0, help="default beat_scale of the model (default 3)")
    ap.add_argument("--bins", type=int, default=12, help="phase bins per beat (default 12)")
    ap.add_argument("--edges", default=",".join(f"{e:g}" for e in DEFAULT_EDGES), help="tempo band edges, BPM")
    ap.add_argument("--split", default="train", help="cache split to count (default train)")
    args = ap.parse_args(argv)
    try:
        edges = tuple(float(e) for e in args.edges.split(",") if e.strip())
    except ValueError:
        ap.error(f"--edges must be comma-separated BPM numbers, got {args.edges!r}")
    config_path = Path(args.out) / "config.json"
    n_q = LMConfig.from_dict(json.loads(config_path.read_text())).n_q if config_path.is_file() else None
    cache = TokenCache(args.cache)
    prior = BeatPrior.from_cache(cache, n_q, args.bins, edges, split=args.split, default_scale=args.scale)
    print(prior.save(args.out), f"({prior.n_q} codebooks, frames per band {prior.frames})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "export":
        if len(argv) != 3:
            print("usage: python -m audiogen.train.lm export RUN_DIR OUT_DIR", file=sys.stderr)
            return 2
        print(export(argv[1], argv[2]))
        return 0
    if argv and argv[0] == "beat-prior":
        return _beat_prior_main(argv[1:])
    recipe = argv[0] if argv and "=" not in argv[0] else None
    overrides = argv[1:] if recipe else argv
    LMTrainer(load_recipe(LMTrainConfig, recipe, overrides)).fit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
