"""The copy encoder: the style encoder's network taught that a recording and its altered copy are one sound.

The shipped style encoder groups tracks by style; a copy that has been transposed, re-tempoed, coded through Opus or
noised moves far enough from its original to pass for another track of the same style. The copy encoder starts from
the style encoder's weights and is trained contrastively on pairs: a 4 s crop of a training track and the same
passage (its start moved by up to :data:`JITTER_S`) altered one of the ways :func:`audiogen.originality.calibrate.
alter` alters a copy; the other pairs of the batch are the negatives. Its vectors are the index's sound windows.

    python -m audiogen.originality.encoder pairs MANIFEST... --out PAIRS.npz --items 400 --crops 8
    python -m audiogen.originality.encoder train PAIRS.npz --init MODEL/style --out RUN --steps 800
    (RUN holds the encoder, ``config.json`` + ``model.safetensors``, and its resumable state)

Pairs are drawn from the train split's items whose id hashes into :data:`TRAIN_SHARE` of 10 buckets, so the others
stay unseen for measuring (the check's evaluation uses them as copies).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

CROP_S, SEGMENT_S, JITTER_S = 4.0, 6.0, 1.0
TRAIN_SHARE = 7  # of 10 hash buckets
KINDS = ("transpose", "tempo", "opus12", "noise20")
STATE_NAME = "train_state.pt"


def encoder_bucket(item_id: str) -> int:
    """The hash bucket 0..9 of an item id: the copy encoder trains on buckets below :data:`TRAIN_SHARE`."""
    return int(hashlib.sha1(item_id.encode()).hexdigest()[:8], 16) % 10


def _pair(encoder, segment: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Log-mels ``([M, F], [M, F])`` of the crop in the middle of ``segment`` and of the altered segment's crop
    around the same passage."""
    from audiogen.originality.calibrate import alter

    sr = encoder.config.sample_rate
    n, lead = int(CROP_S * sr), int((SEGMENT_S - CROP_S) / 2 * sr)
    altered, _ = alter(segment, sr, kind, rng)
    scale = len(altered) / len(segment)  # a re-tempoed segment is longer or shorter
    start = int(np.clip((lead + rng.uniform(-JITTER_S, JITTER_S) * sr) * scale, 0, max(len(altered) - n, 0)))
    crops = [segment[lead : lead + n], np.pad(altered[start : start + n], (0, max(0, n - len(altered[start:]))))]
    with torch.no_grad():
        mels = encoder.log_mel(torch.from_numpy(np.stack(crops).astype(np.float32)))
    return mels[0].numpy(), mels[1].numpy()


def make_pairs(manifests: list[str], encoder, items: int, crops: int, seed: int = 0,
               share: int = TRAIN_SHARE) -> dict[str, np.ndarray]:  # fmt: skip
    """``{"a": [P, M, F], "b": [P, M, F] float16, "item": [P]}``: ``crops`` pairs from each of ``items`` train items
    of ``manifests`` whose :func:`encoder_bucket` is below ``share``, each pair with one alteration of
    :data:`KINDS`."""
    from audiogen.audio import load_audio
    from audiogen.data.manifest import iter_manifest

    rng = np.random.default_rng(seed)
    pool = [(r, Path(m).parent) for m in manifests for r in iter_manifest(m)
            if r.split == "train" and encoder_bucket(f"{r.track}@{r.offset:g}") < share
            and r.duration > SEGMENT_S + 1]  # fmt: skip
    chosen = rng.choice(len(pool), size=min(items, len(pool)), replace=False)
    a, b, owner = [], [], []
    for n, i in enumerate(chosen):
        rec, root = pool[i]
        for _ in range(crops):
            start = float(rng.uniform(0, min(rec.duration, 600.0) - SEGMENT_S))
            seg = load_audio(rec.resolve_path(root), encoder.config.sample_rate, rec.offset + start, SEGMENT_S,
                             allow_silent=True)  # fmt: skip
            if len(seg) < SEGMENT_S * encoder.config.sample_rate * 0.99 or not np.abs(seg).max() > 1e-3:
                continue
            x, y = _pair(encoder, seg, KINDS[int(rng.integers(len(KINDS)))], rng)
            a.append(x.astype(np.float16))
            b.append(y.astype(np.float16))
            owner.append(n)
        if (n + 1) % 20 == 0:
            print(f"copy pairs: {n + 1}/{len(chosen)} items", file=sys.stderr, flush=True)
    return {"a": np.stack(a), "b": np.stack(b), "item": np.array(owner)}


def _lr(base: float, step: int, steps: int) -> float:
    warm = max(1, steps // 20)
    if step < warm:
        return base * (step + 1) / warm
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm)))))


def train(pairs_path: str, init: str, out: str, steps: int = 800, batch: int = 48, lr: float = 3e-4,
          temperature: float = 0.1, seed: int = 0, save_every: int = 100) -> dict:  # fmt: skip
    """Train (or resume) the copy encoder from the style encoder in ``init`` on the pairs file; writes ``out``
    (encoder + state, atomically every ``save_every`` steps). Returns the last step's numbers."""
    from audiogen.conditioning.style_encoder import StyleEncoder
    from audiogen.conditioning.train_style_encoder import nt_xent

    torch.manual_seed(seed)
    data = np.load(pairs_path)
    a, b, owner = torch.from_numpy(data["a"]), torch.from_numpy(data["b"]), data["item"]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume = (out_dir / STATE_NAME).is_file()
    model = StyleEncoder.from_pretrained(out_dir if resume else init)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    if resume:
        state = torch.load(out_dir / STATE_NAME, map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
    items = np.unique(owner)
    by_item = {i: np.flatnonzero(owner == i) for i in items}
    rng = np.random.default_rng([seed, step])
    model.train()
    t0, first, last = time.time(), step, {}
    while step < steps:
        rows = [int(rng.choice(by_item[i])) for i in rng.choice(items, size=min(batch, len(items)), replace=False)]
        for g in opt.param_groups:
            g["lr"] = _lr(lr, step, steps)
        za, zb = model.embed_log_mel(a[rows].float()), model.embed_log_mel(b[rows].float())
        loss = nt_xent(za, zb, torch.from_numpy(owner[rows]), temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        last = {"step": step, "loss": round(loss.item(), 4), "s/step": round((time.time() - t0) / (step - first), 2)}
        if step % 20 == 0:
            print(json.dumps(last), flush=True)
        if step % save_every == 0 or step == steps:
            _save(model, opt, step, out_dir)
    return last


def _save(model, opt, step: int, out_dir: Path) -> None:
    from audiogen.fileio import atomic_write

    model.save_pretrained(out_dir)
    atomic_write(out_dir / STATE_NAME, lambda p: torch.save({"step": step, "optimizer": opt.state_dict()}, p))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m audiogen.originality.encoder", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pairs", help="crops of train items and their altered copies, as log-mels")
    q.add_argument("manifests", nargs="+")
    q.add_argument("--init", required=True, help="the style encoder folder (its log-mel front end)")
    q.add_argument("--out", required=True)
    q.add_argument("--items", type=int, default=400)
    q.add_argument("--crops", type=int, default=8)
    q.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train", help="train (or resume) the copy encoder on a pairs file")
    t.add_argument("pairs")
    t.add_argument("--init", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=800)
    t.add_argument("--batch", type=int, default=48)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.cmd == "pairs":
        from audiogen.conditioning.style_encoder import StyleEncoder
        from audiogen.fileio import atomic_write

        data = make_pairs(args.manifests, StyleEncoder.from_pretrained(args.init), args.items, args.crops, args.seed)

        def write(path: str) -> None:
            with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary's name
                np.savez(f, **data)

        atomic_write(Path(args.out), write)
        print(f"{len(data['item'])} pairs of {len(np.unique(data['item']))} items in {args.out}")
    else:
        torch.set_num_threads(args.threads)
        print(json.dumps(train(args.pairs, args.init, args.out, args.steps, args.batch, args.lr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
