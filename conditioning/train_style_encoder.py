"""Train the style encoder contrastively: two crops of one track are a positive pair, other tracks are negatives.

Run (a background job on a small machine; it checkpoints every ``--save-every`` steps and resumes from ``--out``)::

    python -m audiogen.conditioning.train_style_encoder --manifest DATA/manifest.jsonl --out runs/style \\
        --steps 3000 --batch 16 --threads 1

Each step draws ``batch`` tracks (weighted by duration), two random crops of each, adds a little noise, and
minimises the NT-Xent loss (SimCLR) over the ``2·batch`` vectors; crops of the same track that happen to be drawn
twice in a batch are left out of the negatives. Validation reports nearest-neighbour retrieval on the valid split:
the fraction of crops whose nearest other crop comes from the same track (and from the same source).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from audiogen.conditioning.style_encoder import StyleEncoder, StyleEncoderConfig
from torch.utils.data import DataLoader, Dataset

from audiogen.audio import SAMPLE_RATE, AudioError, load_audio
from audiogen.data.dataset import load_records, normalise_rms, rms_db
from audiogen.data.manifest import Record

STATE_NAME = "train_state.pt"


def read_crop(record: Record, path: Path, offset: float, seconds: float) -> np.ndarray:
    """``(T,)`` float32 crop at ``offset`` seconds of a record, zero-padded to ``seconds``, RMS-normalised."""
    n = int(round(seconds * SAMPLE_RATE))
    audio = load_audio(path, SAMPLE_RATE, offset=record.offset + offset, duration=seconds, allow_silent=True)[:n]
    audio = np.pad(audio, (0, n - audio.shape[0]))
    return normalise_rms(audio, -20.0) if rms_db(audio) > -60 else audio


class TrackPairs(Dataset):
    """Item ``i``: two random crops of one track, drawn from ``(seed, i)`` only, and the track's index."""

    def __init__(self, records: list[tuple[Record, Path]], crop_seconds: float, length: int, seed: int = 0):
        if not records:
            raise ValueError("no training records")
        self.records = records
        self.crop_seconds = crop_seconds
        self.length = length
        self.seed = seed
        durations = np.array([r.duration for r, _ in records], dtype=np.float64)
        self.weights = durations / durations.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, i])
        for _ in range(5):  # an unreadable file: draw another track
            index = int(rng.choice(len(self.records), p=self.weights))
            record, path = self.records[index]
            room = max(0.0, record.duration - self.crop_seconds)
            try:
                a, b = (read_crop(record, path, float(rng.random() * room), self.crop_seconds) for _ in range(2))
            except AudioError:
                continue
            return torch.from_numpy(a), torch.from_numpy(b), index
        raise AudioError(f"no readable track after 5 draws (item {i})")


def nt_xent(za: torch.Tensor, zb: torch.Tensor, track: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR loss for unit vectors ``za, zb [N, E]`` (row i of each is a positive pair) with track ids ``[N]``.

    Other pairs with the same track id are masked out of the negatives.
    """
    n = za.shape[0]
    z = torch.cat([za, zb])  # (2N, E)
    ids = torch.cat([track, track])
    logits = z @ z.T / temperature  # (2N, 2N)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    same = ids[:, None] == ids[None, :]
    hide = same.clone()
    hide[torch.arange(2 * n), partner] = False  # keep the positive, hide self and same-track duplicates
    logits = logits.masked_fill(hide, -math.inf)
    return F.cross_entropy(logits, partner)


@torch.no_grad()
def retrieval(model: StyleEncoder, records: list[tuple[Record, Path]], crop_seconds: float) -> dict[str, float]:
    """Nearest-neighbour retrieval over two fixed crops (at 1/3 and 2/3) of each track: same-track and same-source
    top-1 accuracy."""
    model.eval()
    vecs, tracks, sources = [], [], []
    for i, (r, p) in enumerate(records):
        room = max(0.0, r.duration - crop_seconds)
        try:
            crops = [read_crop(r, p, room * f, crop_seconds) for f in (1 / 3, 2 / 3)]
        except AudioError:
            continue
        vecs.append(model(torch.from_numpy(np.stack(crops)).to(next(model.parameters()).device)).cpu())
        tracks += [i, i]
        sources += [r.source, r.source]
    model.train()
    if len(tracks) < 4:
        return {}
    z = torch.cat(vecs)
    sim = z @ z.T
    sim.fill_diagonal_(-math.inf)
    nn_idx = sim.argmax(1).tolist()
    same_track = np.mean([tracks[j] == tracks[i] for i, j in enumerate(nn_idx)])
    same_source = np.mean([sources[j] == sources[i] for i, j in enumerate(nn_idx)])
    return {"same_track@1": float(same_track), "same_source@1": float(same_source), "crops": len(tracks)}


def _save(model, opt, step: int, out: Path, args) -> None:
    model.save_pretrained(out)
    state = {"step": step, "optimizer": opt.state_dict(), "args": vars(args)}
    tmp = out / f".{STATE_NAME}.tmp"
    torch.save(state, tmp)
    tmp.replace(out / STATE_NAME)


def _resume(model, opt, out: Path) -> int:
    if not (out / STATE_NAME).is_file():
        return 0
    loaded = StyleEncoder.from_pretrained(out)
    model.load_state_dict(loaded.state_dict())
    state = torch.load(out / STATE_NAME, map_location="cpu", weights_only=True)
    opt.load_state_dict(state["optimizer"])
    return int(state["step"])


def train(args: argparse.Namespace) -> dict:
    """Run (or resume) training as configured by the command-line ``args``; returns the last validation numbers."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = StyleEncoderConfig(dim=args.dim, crop_seconds=args.crop_seconds)
    model = StyleEncoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step = _resume(model, opt, out)
    train_recs = load_records(args.manifest, "train", args.sources, min_duration=1.0)
    valid_recs = load_records(args.manifest, "valid", args.sources, min_duration=1.0)
    data = TrackPairs(train_recs, cfg.crop_seconds, length=(args.steps - step) * args.batch, seed=args.seed + step)
    loader = DataLoader(data, batch_size=args.batch, num_workers=args.workers, drop_last=True)
    gen = torch.Generator().manual_seed(args.seed + step)
    metrics: dict = {}
    t0, first = time.time(), step
    for a, b, track in loader:
        noise = 10 ** (-(20 + 20 * torch.rand(2, a.shape[0], 1, generator=gen)) / 20)  # SNR 20–40 dB
        a = a + noise[0] * 0.1 * torch.randn(a.shape, generator=gen)
        b = b + noise[1] * 0.1 * torch.randn(b.shape, generator=gen)
        loss = nt_xent(model(a), model(b), track, args.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % args.log_every == 0:
            rate = (time.time() - t0) / (step - first)
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "s/step": round(rate, 2)}), flush=True)
        if step % args.save_every == 0 or step == args.steps:
            _save(model, opt, step, out, args)
        if valid_recs and (step % args.eval_every == 0 or step == args.steps):
            metrics = retrieval(model, valid_recs[: args.eval_tracks], cfg.crop_seconds)
            print(json.dumps({"step": step, "valid": metrics}), flush=True)
    return metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train_style_encoder", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", nargs="+", required=True, help="JSON-lines manifest(s) of the corpus")
    p.add_argument("--out", required=True, help="checkpoint folder (resumed if it holds a training state)")
    p.add_argument("--sources", nargs="*", default=None, help="keep only these sources (default: all)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16, help="tracks per step (two crops each)")
    p.add_argument("--crop-seconds", type=float, default=4.0)
    p.add_argument("--dim", type=int, default=128, help="embedding width; must match the LM's style_dim")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-tracks", type=int, default=200)
    args = p.parse_args(argv)
    for name in ("steps", "batch", "threads", "log_every", "save_every", "eval_every", "eval_tracks"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.batch < 2:
        p.error("--batch must be >= 2 (the loss needs negatives)")
    if not 0 < args.temperature <= 1:
        p.error("--temperature must be in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
