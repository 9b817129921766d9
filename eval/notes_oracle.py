"""Notes as an explicit bottleneck: how much chroma a codec keeps whose first codebooks are a fixed code of the
semitone spectrum, measured before any training.

The decoder of such a codec would be given each frame's semitone spectrum (84 semitones, C1-B7, the pitch teacher's
labels: :func:`audiogen.codec.teacher.semitone_labels`) as a residual vector quantization fitted by k-means on train
frames, and would have to supply the rest of the sound (the spectral envelope, noise, drums) from learned codebooks.
This script builds that decoder's oracle without training one: a log-magnitude whose envelope is the original's own
(smoothed over ``--octaves``) and whose fine structure within it comes from the (quantized) semitone spectrum,
phased by :class:`audiogen.codec.phase.MagnitudeSynth`. Rows, each the CQT-chroma cosine to the original crop:

- the original's own magnitude (the ceiling of any magnitude-and-rebuilt-phase decoder);
- its envelope alone (no notes: the floor);
- envelope + the unquantized semitone spectrum;
- envelope + the semitone spectrum through 1, 2 and 3 k-means stages of ``--codes`` codes.

    python -m audiogen.eval.notes_oracle --manifest DEBIAN.jsonl [--train-crops 60] [--crops 8] [--codes 1024]

``--whole-spectra`` measures instead k-means fitted to whole spectra: residual stages of ``--codes`` codes over
pairs of 2048-point log-magnitude frames (one token frame, 2,050 numbers), the original's magnitude replaced by its
code, phase rebuilt.
"""

from __future__ import annotations

import argparse
import sys

import torch

SR = 32000
HOP = 320  # the synth's hop; a token frame is two of them


def kmeans(x: torch.Tensor, k: int, iters: int = 20, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means of rows ``x`` ``[N, D]`` → centroids ``[k, D]`` (k-means++-style init from a fixed seed;
    an empty cluster takes the point farthest from its centroid)."""
    g = torch.Generator().manual_seed(seed)
    cent = x[torch.randint(len(x), (1,), generator=g)]
    d2 = torch.cdist(x, cent).square().min(1).values
    for _ in range(1, k):  # k-means++ on a sample keeps this O(N k)
        idx = torch.multinomial(d2 + 1e-12, 1, generator=g)
        cent = torch.cat([cent, x[idx]])
        d2 = torch.minimum(d2, (x - x[idx]).square().sum(1))
    for _ in range(iters):
        dist = torch.cdist(x, cent)
        a = dist.argmin(1)
        counts = torch.bincount(a, minlength=k).float()
        sums = torch.zeros_like(cent).index_add_(0, a, x)
        empty = counts == 0
        cent = torch.where(empty[:, None], cent, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            far = dist.gather(1, a[:, None])[:, 0].topk(int(empty.sum())).indices
            cent[empty] = x[far]
    return cent


def rvq_fit(x: torch.Tensor, stages: int, k: int) -> list[torch.Tensor]:
    """Residual k-means: ``stages`` codebooks ``[k, D]`` fitted in turn on the residual of rows ``x`` ``[N, D]``."""
    books, res = [], x.clone()
    for s in range(stages):
        c = kmeans(res, k, seed=s)
        books.append(c)
        res = res - c[torch.cdist(res, c).argmin(1)]
    return books


def rvq_apply(x: torch.Tensor, books: list[torch.Tensor]) -> list[torch.Tensor]:
    """Rows ``x`` ``[N, D]`` → their reconstruction after 1, 2, ... stages of ``books`` (one ``[N, D]`` each)."""
    out, res, rec = [], x.clone(), torch.zeros_like(x)
    for c in books:
        q = c[torch.cdist(res, c).argmin(1)]
        rec, res = rec + q, res - q
        out.append(rec.clone())
    return out


def to_feature(labels: torch.Tensor, feature: str) -> torch.Tensor:
    """Log semitone energies (relative, floored) → what k-means fits: themselves (``"log"``) or amplitudes in
    [0, 1] (``"amp"``)."""
    return labels if feature == "log" else torch.exp(labels / 2)


def from_feature(x: torch.Tensor, feature: str) -> torch.Tensor:
    """Inverse of :func:`to_feature` (amplitudes clamped to the labels' floor)."""
    from audiogen.codec.teacher import FLOOR

    return x if feature == "log" else (2 * torch.log(x.clamp(min=1e-6))).clamp(min=FLOOR)


def smooth_octaves(logmag: torch.Tensor, octaves: float, n_fft: int) -> torch.Tensor:
    """Log-magnitude ``[B, F, N]`` smoothed along frequency by a Gaussian whose width is ``octaves`` (standard
    deviation ``octaves / 2``) on a log-frequency axis (bins below 40 Hz are smoothed as at 40 Hz)."""
    n = logmag.shape[-1]
    f = torch.arange(n, dtype=torch.float64) * SR / n_fft
    lf = torch.log2(f.clamp(min=40.0))
    w = torch.exp(-0.5 * ((lf[:, None] - lf[None]) / (octaves / 2)) ** 2)
    w = (w / w.sum(0, keepdim=True)).float()  # column j: the weights that make bin j
    return logmag @ w


def tonal_logmag(labels: torch.Tensor, n_fft: int, octaves: float) -> torch.Tensor:
    """Semitone spectra ``[B, 84, F]`` (log, relative) → the fine structure they imply at ``n_fft`` points,
    ``[B, 2F, n_fft/2+1]``: log of the Gaussian-spread semitone energies minus its own ``octaves`` smoothing (zero
    mean within an octave, so it only moves energy within the envelope). Above B7 it is zero."""
    from audiogen.codec.teacher import semitone_filterbank

    fold = semitone_filterbank(n_fft, SR)  # (84, N)
    energy = torch.exp(labels).transpose(1, 2) @ fold  # (B, F, N)
    log = torch.log(energy + 1e-4)
    fine = log - smooth_octaves(log, octaves, n_fft)
    fine[..., int(4100 * n_fft / SR) :] = 0.0
    return fine.repeat_interleave(2, dim=1)


def whole_spectra(args) -> int:
    """``--whole-spectra``: chroma after 1 .. ``--stages`` residual k-means stages of token-frame spectra."""
    from audiogen.codec.phase import MagnitudeSynth
    from audiogen.eval.codec_bench import load_clips
    from audiogen.eval.codec_diagnostics import mean_chroma

    train, _ = load_clips([args.manifest], args.seconds, args.train_crops, split="train")
    valid, _ = load_clips([args.manifest], args.seconds, args.crops, split="valid")
    synth = MagnitudeSynth(args.n_fft, HOP)
    with torch.no_grad():
        lt = synth.analyse(torch.from_numpy(train))
        n = lt.shape[1] // 2 * 2
        pairs = lt[:, :n].reshape(-1, 2 * lt.shape[-1])  # one token frame: two STFT frames
        pick = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0))[:12000]
        mean = pairs.mean(0)
        books = rvq_fit(pairs[pick] - mean, args.stages, args.codes)
        lv = synth.analyse(torch.from_numpy(valid))
        m = lv.shape[1] // 2 * 2
        flat = lv[:, :m].reshape(-1, 2 * lv.shape[-1]) - mean
        print("| stages | chroma |\n|---|---|")
        for s, rec in enumerate(rvq_apply(flat, books), 1):
            q = (rec + mean).reshape(lv.shape[0], m, lv.shape[-1])
            print(f"| {s} | {mean_chroma(torch.from_numpy(valid), synth(q)):.3f} |", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.notes_oracle", description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--train-crops", type=int, default=60)
    ap.add_argument("--crops", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--codes", type=int, default=1024)
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--octaves", type=float, default=1.0)
    ap.add_argument("--n-fft", type=int, default=2048)
    ap.add_argument(
        "--feature",
        choices=("log", "amp"),
        default="log",
        help="what k-means fits: the log semitone energies, or their amplitudes relative to the frame's "
        "loudest (so that the distance weighs the loud semitones)",
    )
    ap.add_argument("--whole-spectra", action="store_true", help="k-means of pairs of whole log-magnitude frames")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.whole_spectra:
        return whole_spectra(args)

    from audiogen.codec.phase import MagnitudeSynth
    from audiogen.codec.teacher import semitone_labels
    from audiogen.eval.codec_bench import load_clips
    from audiogen.eval.codec_diagnostics import mean_chroma

    train, _ = load_clips([args.manifest], args.seconds, args.train_crops, split="train")
    valid, _ = load_clips([args.manifest], args.seconds, args.crops, split="valid")
    train, valid = torch.from_numpy(train), torch.from_numpy(valid)
    with torch.no_grad():
        lab_train = semitone_labels(train, SR, HOP)  # (N, 84, F)
        x = to_feature(lab_train.transpose(1, 2).reshape(-1, lab_train.shape[1]), args.feature)
        print(f"fitting {args.stages} x {args.codes} codes on {len(x)} frames", file=sys.stderr)
        books = rvq_fit(x, args.stages, args.codes)
        synth = MagnitudeSynth(args.n_fft, HOP)
        logmag = synth.analyse(valid)  # (N, 2F, n)
        frames = logmag.shape[1] // 2
        env = smooth_octaves(logmag, args.octaves, args.n_fft)
        lab = semitone_labels(valid, SR, HOP)[..., :frames]  # (N, 84, F)
        flat = lab.transpose(1, 2).reshape(-1, lab.shape[1])
        rows = {"original magnitude": logmag, f"envelope ({args.octaves:g} octave) alone": env,
                "envelope + semitone spectrum": env + tonal_logmag(lab, args.n_fft, args.octaves)}  # fmt: skip
        l1 = {}
        for s, rec in enumerate(rvq_apply(to_feature(flat, args.feature), books), 1):
            q = from_feature(rec, args.feature).reshape(lab.shape[0], frames, -1).transpose(1, 2)
            name = f"envelope + semitone spectrum, {s} stage(s) of {args.codes}"
            rows[name] = env + tonal_logmag(q, args.n_fft, args.octaves)
            l1[name] = float((q - lab).abs().mean())
        print("| magnitude | chroma | semitone L1 (nats) |")
        print("|---|---|---|")
        for name, lm in rows.items():
            y = synth(lm[:, : 2 * frames])
            print(f"| {name} | {mean_chroma(valid, y):.3f} | {l1.get(name, float('nan')):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
