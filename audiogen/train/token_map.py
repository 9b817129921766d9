"""Token maps: how often each code of one codec's token space sounds where a code of another's does.

An LM trained on codec A's tokens knows how music moves through A's codes. Moved to codec B (a new token space),
its token embeddings and output heads would have to start from nothing. A token map counts, on the same audio encoded
by both codecs (frames line up: both run at the same frame rate), how often B's code ``b`` of codebook ``k`` falls on
the frame of A's code ``a`` of codebook ``k``. ``map_rows`` turns those counts into B's starting rows: each of B's
codes starts at the count-weighted mean of A's rows for the codes it co-occurs with, so the warm-started body
receives inputs it already knows and its heads start with a guess better than uniform.

    python -m audiogen.train.token_map --source audiogen/pretrained/default/codec --target v2 \\
        --manifest DEBIAN.jsonl SYMBOLIC.jsonl --out TOKEN_MAP.npz [--minutes 90] [--n-q 4]

The LM recipe then names it: ``init_token_map: TOKEN_MAP.npz`` (with ``init_from`` the source codec's LM).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def count_pairs(source_codes: np.ndarray, target_codes: np.ndarray, source_card: int, target_card: int) -> np.ndarray:
    """Co-occurrence counts ``[K, target_card, source_card]`` (int64) of codes ``[K, F]`` of the same frames."""
    if source_codes.shape != target_codes.shape or source_codes.ndim != 2:
        raise ValueError(f"need codes of equal shape [K, F], got {source_codes.shape} and {target_codes.shape}")
    k = source_codes.shape[0]
    out = np.zeros((k, target_card, source_card), dtype=np.int64)
    for q in range(k):
        np.add.at(out[q], (target_codes[q], source_codes[q]), 1)
    return out


def map_rows(source_rows: torch.Tensor, counts: np.ndarray, fresh_rows: torch.Tensor, keep_norm: bool) -> torch.Tensor:
    """Rows for the target token space from the source's.

    source_rows: ``[S (+ extra), D]`` (an embedding may have rows past the codes, e.g. the delay pattern's special
    token: they are copied as they are); counts: ``[T, S]`` from :func:`count_pairs`; fresh_rows: ``[T (+ extra), D]``,
    kept for codes never seen. keep_norm: scale each mapped row to the weighted mean norm of its source rows (an
    average of many embeddings is shorter than any of them). Returns ``[T (+ extra), D]``.
    """
    t, s = counts.shape
    extra = source_rows.shape[0] - s
    if extra < 0 or fresh_rows.shape[0] - t != extra or fresh_rows.shape[1] != source_rows.shape[1]:
        shapes = f"{tuple(source_rows.shape)} / {tuple(fresh_rows.shape)}"
        raise ValueError(f"rows {shapes} do not fit counts {counts.shape}")
    w = torch.from_numpy(counts.astype(np.float64))
    total = w.sum(1, keepdim=True)
    seen = total[:, 0] > 0
    w = w / total.clamp(min=1)
    src = source_rows[:s].double()
    mapped = w @ src  # (T, D)
    if keep_norm:
        norms = w @ src.norm(dim=1, keepdim=True)
        mapped = mapped * norms / mapped.norm(dim=1, keepdim=True).clamp(min=1e-12)
    out = fresh_rows.clone()
    out[:t][seen] = mapped[seen].to(out.dtype)
    if extra:
        out[t:] = source_rows[s:].to(out.dtype)
    return out


def apply_token_map(state: dict, fresh: dict, counts: np.ndarray) -> dict:
    """``emb.{k}.weight`` and ``heads.{k}.weight`` of an LM state dict moved to the target token space with
    ``counts`` ``[K, T, S]``; ``fresh`` holds the target model's own (freshly initialised) tensors of those keys."""
    out = {}
    for k in range(counts.shape[0]):
        for key, keep_norm in ((f"emb.{k}.weight", True), (f"heads.{k}.weight", False)):
            if key not in state or key not in fresh:
                raise ValueError(f"token map: the LM has no {key} (the map has {counts.shape[0]} codebooks)")
            out[key] = map_rows(state[key].float(), counts[k], fresh[key].float(), keep_norm)
    return out


def load_token_map(path: str | Path) -> np.ndarray:
    """Counts ``[K, T, S]`` of a map written by :func:`main`."""
    with np.load(path) as f:
        return f["counts"]


def main(argv: list[str] | None = None) -> int:
    from audiogen.audio import load_audio
    from audiogen.codec.backends import load_codec
    from audiogen.data.manifest import read_manifest

    ap = argparse.ArgumentParser(prog="python -m audiogen.train.token_map", description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True, help="the codec the LM was trained on (folder or name)")
    ap.add_argument("--target", required=True, help="the new codec (folder)")
    ap.add_argument("--manifest", nargs="+", required=True, help="manifests; their train split is read")
    ap.add_argument("--out", required=True, help="the .npz to write")
    ap.add_argument("--minutes", type=float, default=90.0, help="audio to count over (default 90)")
    ap.add_argument("--seconds-per-item", type=float, default=30.0, help="taken from the middle of each item")
    ap.add_argument("--n-q", type=int, default=4, help="codebooks (the LM's; default 4)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.minutes <= 0 or args.seconds_per_item <= 0 or args.n_q < 1:
        ap.error("--minutes, --seconds-per-item and --n-q must be > 0")
    torch.set_num_threads(1)
    source, target = load_codec(args.source).eval(), load_codec(args.target).eval()
    if source.frame_rate != target.frame_rate or source.sample_rate != target.sample_rate:
        raise ValueError("the two codecs must share sample rate and frame rate for their frames to line up")
    items = [(r, Path(m).parent) for m in args.manifest for r in read_manifest(m) if r.split == "train"]
    rng = np.random.default_rng(0)
    rng.shuffle(items)
    counts = np.zeros((args.n_q, target.codebook_size, source.codebook_size), dtype=np.int64)
    seconds = 0.0
    for rec, root in items:
        if seconds >= args.minutes * 60:
            break
        length = min(args.seconds_per_item, rec.duration)
        start = rec.offset + max(0.0, (rec.duration - length) / 2)
        wav = torch.as_tensor(load_audio(rec.resolve_path(root), source.sample_rate, start, length)).reshape(1, -1)
        with torch.inference_mode():
            a = source.encode(wav, n_q=args.n_q)[0].numpy()
            b = target.encode(wav, n_q=args.n_q)[0].numpy()
        counts += count_pairs(a, b, source.codebook_size, target.codebook_size)
        seconds += length
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part.npz")
    np.savez_compressed(tmp, counts=counts)
    tmp.replace(out)
    seen = (counts.sum(2) > 0).mean(1)
    print(json.dumps({"out": str(out), "seconds": round(seconds, 1), "source": source.model_id,
                      "target": target.model_id, "target_codes_seen": [round(float(x), 3) for x in seen]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
