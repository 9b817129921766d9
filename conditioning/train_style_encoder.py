"""Train the style encoder contrastively: two crops of one track are a positive pair, other tracks are negatives.

Run (a background job on a small machine; it checkpoints every ``--save-every`` steps and resumes from ``--out``)::

    python -m audiogen.conditioning.train_style_encoder --manifest DATA/manifest.jsonl --out runs/style \\
        --steps 1000 --batch 16 --threads 1
    python -m audiogen.conditioning.train_style_encoder export --out runs/style --to audiogen/pretrained/default/style

Decoding and resampling compressed audio costs about as much as a training step, so the first run caches log-mels:
each track gets up to ``max_windows`` non-overlapping windows of two crops' length (8 s for 4-s crops), evenly
spaced over the track, stored as float16 in ``--cache`` (default ``OUT/cache``). Each step draws ``batch`` tracks
(weighted by the square root of their duration, so long recordings do not crowd out short rendered pieces), one
random crop from each of two different windows of each, adds a noise floor 20–40 dB below the crop's mean level,
and minimises the NT-Xent loss (SimCLR) over the ``2·batch`` vectors; tracks drawn twice in a batch are left out of
each other's negatives. Validation reports same-track retrieval on the valid split (see :func:`retrieval`).

``export`` writes the shipped folder: the encoder in float16 plus a :class:`~.style_encoder.StyleIndex` with one
vector per training track (mean over all its crops) and the track's style-vocabulary tags.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audiogen.audio import AudioError, load_audio
from audiogen.conditioning.style_encoder import StyleEncoder, StyleEncoderConfig, StyleIndex
from audiogen.conditioning.styles import filter_tags
from audiogen.data.dataset import load_records

STATE_NAME = "train_state.pt"
CACHE_TENSORS = "logmel.safetensors"
CACHE_INDEX = "tracks.json"


@dataclass
class LogMelCache:
    """Cached windows: ``logmel [W, n_mels, frames]`` float16, ``track [W]`` (row of ``tracks`` each window belongs
    to) and ``tracks``: one dict per track (``name``, ``source``, ``split``, ``tags``, ``duration``)."""

    logmel: torch.Tensor
    track: torch.Tensor
    tracks: list[dict]

    def windows_of(self) -> list[list[int]]:
        """Window rows of each track, in time order."""
        out: list[list[int]] = [[] for _ in self.tracks]
        for w, t in enumerate(self.track.tolist()):
            out[t].append(w)
        return out

    def split(self, name: str) -> list[int]:
        """Track rows of one split."""
        return [i for i, t in enumerate(self.tracks) if t["split"] == name]


def window_starts(duration: float, window_seconds: float, max_windows: int) -> list[float]:
    """Start times (s) of up to ``max_windows`` non-overlapping windows spread evenly over ``duration`` seconds."""
    n = min(max_windows, int(duration // window_seconds))
    if n < 1:
        return []
    if n == 1:
        return [max(0.0, (duration - window_seconds) / 2)]
    return [float(x) for x in np.linspace(0.0, duration - window_seconds, n)]


def build_cache(
    manifests: list[str], cache_dir: Path, config: StyleEncoderConfig, sources=None, max_windows: int = 8
) -> LogMelCache:
    """Decode every train/valid track's windows once and store their log-mels (reused when the settings match)."""
    cache_dir = Path(cache_dir)
    window = 2 * config.crop_seconds
    key = {
        "manifests": [str(Path(m).resolve()) for m in manifests],
        "sources": sources,
        "max_windows": max_windows,
        "window_seconds": window,
        "mel": [config.sample_rate, config.n_fft, config.hop, config.n_mels],
    }
    if (cache_dir / CACHE_INDEX).is_file() and (cache_dir / CACHE_TENSORS).is_file():
        meta = json.loads((cache_dir / CACHE_INDEX).read_text())
        if meta["key"] == key:
            return _load_cache(cache_dir, meta)
    mel = StyleEncoder(config).eval()
    n = int(round(window * config.sample_rate))
    chunks, owner, tracks = [], [], []
    for record, path in load_records(manifests, None, sources, min_duration=window):
        if record.split not in ("train", "valid"):
            continue
        try:
            audio = [
                load_audio(path, config.sample_rate, offset=record.offset + s, duration=window, allow_silent=True)[:n]
                for s in window_starts(record.duration, window, max_windows)
            ]
        except AudioError as exc:
            print(json.dumps({"skipped": str(exc)}), flush=True)
            continue
        batch = torch.from_numpy(np.stack([np.pad(a, (0, n - a.shape[0])) for a in audio]))
        with torch.no_grad():
            chunks.append(mel.log_mel(batch).half())  # (w, M, F)
        owner += [len(tracks)] * len(audio)
        name = f"{record.source}: {record.title or record.track or record.path}"
        tracks.append(
            {
                "name": name,
                "source": record.source,
                "split": record.split,
                "tags": list(filter_tags(record.tags)),
                "duration": record.duration,
            }
        )
    if not tracks:
        raise ValueError("no readable train/valid tracks in the manifests")
    from safetensors.torch import save_file

    cache_dir.mkdir(parents=True, exist_ok=True)
    logmel, track = torch.cat(chunks), torch.tensor(owner, dtype=torch.int32)
    tmp = cache_dir / f".{CACHE_TENSORS}.tmp"  # the tensors first, then the index that marks the cache complete
    save_file({"logmel": logmel, "track": track}, str(tmp))
    tmp.replace(cache_dir / CACHE_TENSORS)
    tmp = cache_dir / f".{CACHE_INDEX}.tmp"
    tmp.write_text(json.dumps({"key": key, "tracks": tracks}))
    tmp.replace(cache_dir / CACHE_INDEX)
    return LogMelCache(logmel, track, tracks)


def _load_cache(cache_dir: Path, meta: dict) -> LogMelCache:
    from safetensors.torch import load_file

    t = load_file(str(cache_dir / CACHE_TENSORS))
    return LogMelCache(t["logmel"], t["track"].long(), meta["tracks"])


def sample_batch(
    cache: LogMelCache, windows: list[list[int]], tracks: np.ndarray, crop_frames: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two crops ``[B, n_mels, crop_frames]`` of each of the ``B`` tracks, from two different windows if it has more
    than one (random positions inside each window). Returns ``(a, b)``."""
    pairs = []
    for t in tracks:
        ws = windows[t]
        picked = rng.choice(ws, size=2, replace=len(ws) < 2)
        for w in picked:
            start = int(rng.integers(0, cache.logmel.shape[2] - crop_frames + 1))
            pairs.append(cache.logmel[w, :, start : start + crop_frames])
    both = torch.stack(pairs).float()  # (2B, M, f)
    return both[0::2], both[1::2]


def add_noise_floor(logmel: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A flat noise floor 20–40 dB below each crop's mean level, added in the power domain: ``[B, M, F]`` in/out."""
    snr_db = 20 + 20 * torch.rand(logmel.shape[0], 1, 1, generator=generator)
    floor = logmel.mean(dim=(1, 2), keepdim=True) - snr_db * math.log(10) / 10
    return torch.logaddexp(logmel, floor)


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
def window_vectors(embed, cache: LogMelCache, rows: list[int], crop_frames: int, batch: int = 64) -> torch.Tensor:
    """One unit vector per cached window ``[len(rows), E]``: ``embed`` (log-mel ``[B, M, f]`` -> ``[B, E]``) of the
    window's first and last ``crop_frames`` frames, averaged — what :meth:`StyleEncoder.embed_audio` does on the
    window's audio."""
    frames = cache.logmel.shape[2]
    out = []
    for i in range(0, len(rows), batch):
        x = cache.logmel[rows[i : i + batch]].float()  # (b, M, F)
        halves = torch.stack([x[..., :crop_frames], x[..., frames - crop_frames :]], dim=1)  # (b, 2, M, f)
        z = embed(halves.flatten(0, 1)).unflatten(0, (x.shape[0], 2))  # (b, 2, E)
        out.append(F.normalize(z.mean(1), dim=-1))
    return torch.cat(out)


def track_vectors(window_vecs: torch.Tensor, cache: LogMelCache, tracks: list[int]) -> torch.Tensor:
    """Mean of each track's window vectors, re-normalised: ``window_vecs [W, E]`` -> ``[len(tracks), E]``."""
    windows = cache.windows_of()
    return F.normalize(torch.stack([window_vecs[windows[t]].mean(0) for t in tracks]), dim=-1)


def _hits(sim: torch.Tensor, relevant: torch.Tensor, k: int) -> float:
    """Fraction of rows of ``sim [Q, G]`` with a ``relevant [Q, G]`` item among their ``k`` most similar."""
    top = sim.topk(min(k, sim.shape[1]), dim=1).indices
    return float(relevant.gather(1, top).any(1).float().mean())


@torch.no_grad()
def retrieval(
    window_vecs: torch.Tensor,
    cache: LogMelCache,
    ks: tuple[int, ...] = (1, 5),
    index: StyleIndex | None = None,
    queries: list[int] | None = None,
    against_train: bool = True,
) -> dict[str, float]:
    """Retrieval numbers of valid tracks from window vectors ``[W, E]`` (one row per window of ``cache``; only the
    rows the numbers need are read).

    * same-track@k: each valid track gives two clips, its first and its last window (non-overlapping). Every clip
      queries all other valid clips; a hit is the other clip of its track among the k nearest (cosine similarity).
    * same-source@k: every valid clip queries the training tracks (one vector each: ``index``, or the mean of each
      training track's window vectors, as in the shipped index); a hit is a track of the same source among the k
      nearest.
    * tag_f1: micro-F1 of the style tags voted by the 5 nearest training tracks (:meth:`StyleIndex.vote`, a tag
      needs 3 of the 5 votes) against the valid track's own style tags, over clips of tracks that have tags.

    ``queries``: the valid track rows whose clips are queries (default all; the galleries stay the same).
    ``against_train=False`` leaves out the numbers that need the training tracks.
    """
    windows = cache.windows_of()
    valid, train = cache.split("valid"), cache.split("train")
    if len(valid) < 2:
        return {}
    rows = [w for t in valid for w in (windows[t][0], windows[t][-1])]
    owner = torch.tensor([t for t in valid for _ in range(2)])
    asked = set(valid if queries is None else queries)
    qi = torch.tensor([i for i, t in enumerate(owner.tolist()) if t in asked], dtype=torch.long)
    gallery = window_vecs[rows]  # (2V, E)
    sim = gallery @ gallery.T
    sim.fill_diagonal_(-math.inf)
    sim, q_owner = sim[qi], owner[qi]
    metrics: dict[str, float] = {"tracks": len(asked), "clips": len(qi)}
    for k in ks:
        metrics[f"same_track@{k}"] = _hits(sim, q_owner[:, None] == owner[None, :], k)
    if train and against_train:
        if index is None:
            index = StyleIndex.build(track_vectors(window_vecs, cache, train), [cache.tracks[t] for t in train])
        q = gallery[qi]
        src = [cache.tracks[t]["source"] for t in q_owner.tolist()]
        relevant = torch.tensor([[s == cache.tracks[g]["source"] for g in train] for s in src])
        sim_train = q @ index.vectors.float().T
        for k in ks:
            metrics[f"same_source@{k}"] = _hits(sim_train, relevant, k)
        metrics["tag_f1"] = _tag_f1(index, q, [cache.tracks[t]["tags"] for t in q_owner.tolist()])
    return metrics


def _tag_f1(index: StyleIndex, queries: torch.Tensor, truth: list[list[str]]) -> float:
    tp = fp = fn = 0
    for z, tags in zip(queries, truth, strict=True):
        if not tags:
            continue
        got = set(index.vote(z))
        tp, fp, fn = tp + len(got & set(tags)), fp + len(got - set(tags)), fn + len(set(tags) - got)
    return 2 * tp / max(1, 2 * tp + fp + fn)


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


def _lr(args, step: int) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 5% of ``--lr``."""
    warm = max(1, args.steps // 20)
    if step < warm:
        return args.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, args.steps - warm))
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


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
    t_cache = time.time()
    cache = build_cache(args.manifest, Path(args.cache or out / "cache"), cfg, args.sources, args.max_windows)
    print(json.dumps({"cache_windows": cache.logmel.shape[0], "cache_s": round(time.time() - t_cache, 1)}), flush=True)
    windows, train_tracks = cache.windows_of(), np.array(cache.split("train"))
    if not len(train_tracks):
        raise ValueError("no training tracks")
    p = np.sqrt([cache.tracks[t]["duration"] for t in train_tracks])
    p = p / p.sum()
    crop = int(cfg.crop_seconds * cfg.sample_rate) // cfg.hop + 1  # frames of one crop (centred STFT)
    rng = np.random.default_rng([args.seed, step])
    gen = torch.Generator().manual_seed(args.seed + step)
    metrics: dict = {}
    t0, first = time.time(), step
    model.train()
    while step < args.steps:
        ids = rng.choice(train_tracks, size=args.batch, p=p)
        a, b = sample_batch(cache, windows, ids, crop, rng)
        track = torch.from_numpy(ids)
        for group in opt.param_groups:
            group["lr"] = _lr(args, step)
        za, zb = (model.embed_log_mel(add_noise_floor(x, gen)) for x in (a, b))
        loss = nt_xent(za, zb, track, args.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % args.log_every == 0:
            rate = (time.time() - t0) / (step - first)
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "s/step": round(rate, 2)}), flush=True)
        if step % args.save_every == 0 or step == args.steps:
            _save(model, opt, step, out, args)
        if step % args.eval_every == 0 or step == args.steps:
            metrics = validate(model, cache, crop)
            model.train()
            print(json.dumps({"step": step, "valid": metrics}), flush=True)
    return metrics


@torch.no_grad()
def validate(model: StyleEncoder, cache: LogMelCache, crop_frames: int) -> dict[str, float]:
    """Same-track retrieval of the valid split (:func:`retrieval` restricted to valid windows; cheap)."""
    model.eval()
    windows = cache.windows_of()
    keep = {w for t in cache.split("valid") for w in (windows[t][0], windows[t][-1])}
    rows = sorted(keep)
    vecs = torch.zeros(cache.logmel.shape[0], model.config.dim)
    if rows:
        vecs[rows] = window_vectors(model.embed_log_mel, cache, rows, crop_frames)
    return {k: round(v, 4) for k, v in retrieval(vecs, cache, against_train=False).items()}


def export(args: argparse.Namespace) -> Path:
    """Write the encoder (float16) and the training-track index into ``args.to``."""
    torch.set_num_threads(args.threads)
    model = StyleEncoder.from_pretrained(args.out)
    cache = build_cache(args.manifest, Path(args.cache or Path(args.out) / "cache"), model.config, args.sources)
    crop = int(model.config.crop_seconds * model.config.sample_rate) // model.config.hop + 1
    train_tracks = cache.split("train")
    windows = cache.windows_of()
    rows = [w for t in train_tracks for w in windows[t]]
    vecs = torch.zeros(cache.logmel.shape[0], model.config.dim)
    vecs[rows] = window_vectors(model.embed_log_mel, cache, rows, crop)
    index = StyleIndex.build(track_vectors(vecs, cache, train_tracks), [cache.tracks[t] for t in train_tracks])
    to = Path(args.to)
    model.save_pretrained(to, dtype=torch.float16)
    index.save(to)
    print(json.dumps({"to": str(to), "tracks": len(train_tracks), "tags": len(index.tags)}), flush=True)
    return to


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train_style_encoder", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", nargs="+", required=True, help="JSON-lines manifest(s) of the corpus")
    p.add_argument("--out", required=True, help="checkpoint folder (resumed if it holds a training state)")
    p.add_argument("--cache", default=None, help="log-mel cache folder (default: OUT/cache)")
    p.add_argument("--sources", nargs="*", default=None, help="keep only these sources (default: all)")
    p.add_argument("--max-windows", type=int, default=8, help="cached windows per track")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16, help="tracks per step (two crops each)")
    p.add_argument("--crop-seconds", type=float, default=4.0)
    p.add_argument("--dim", type=int, default=128, help="embedding width")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (warm-up, then cosine decay)")
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=250)
    args = p.parse_args(argv)
    for name in ("steps", "batch", "threads", "log_every", "save_every", "eval_every", "max_windows"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.batch < 2:
        p.error("--batch must be >= 2 (the loss needs negatives)")
    if not 0 < args.temperature <= 1:
        p.error("--temperature must be in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        p = argparse.ArgumentParser(prog="train_style_encoder export", description=export.__doc__)
        p.add_argument("--manifest", nargs="+", required=True)
        p.add_argument("--out", required=True, help="the training run folder")
        p.add_argument("--to", required=True, help="folder to write (e.g. audiogen/pretrained/default/style)")
        p.add_argument("--cache", default=None)
        p.add_argument("--sources", nargs="*", default=None)
        p.add_argument("--threads", type=int, default=1)
        export(p.parse_args(argv[1:]))
    else:
        train(parse_args(argv))


if __name__ == "__main__":
    main()
