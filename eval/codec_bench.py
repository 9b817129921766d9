"""Codec benchmark: the audiogen codec at each of its bitrates next to Opus and MP3, and its speed next to EnCodec.

Quality is measured on fixed crops of the valid split of a real-music manifest (the centre ``--seconds`` of each
track, RMS-normalised to -20 dBFS like the training crops), and with ``--heldout`` on every track of a second set of
real music that no training run has seen: the pitch kept (frame-wise cosine of CQT chroma against the original), the
harmonic share of the energy (HPSS), mel distance (over the whole band, and over 0-8 kHz), multi-resolution STFT
distance, SI-SDR and ViSQOL (audio mode, 48 kHz; PyPI ``visqol-python``, extra ``codec-eval``). The codec's
bitrate is measured from the size of the ``.agc`` token file it writes (header included). ``--compare`` measures a
second codec (e.g. the shipped one) in the same run, and ``--spectrogram`` draws one clip before and after both.
Speed is the real-time factor of encoding and decoding one clip (compute time / audio duration), measured in the
same run for the ``encodec`` package's 24 kHz architecture with random weights, with 1 and 2 threads. The
"## Codec" section of BENCHMARKS.md is rewritten.

    python -m audiogen.eval.codec_bench --codec DIR --manifest MANIFEST [--heldout MANIFEST] [--compare DIR]
        [--spectrogram PNG] [--clips N] [--out BENCHMARKS.md]

Opus and MP3 go through the libsndfile bundled with soundfile; no command-line encoder is needed. libopus chooses
the band it codes (0-8 kHz at 12 kbps mono, 0-4 kHz at 6 kbps); the Opus rows name it. The mel distance weighs every
mel band up to 16 kHz alike, so the bands a codec leaves out dominate it (about 2 log10 units each); the 0-8 kHz
column, the same distance on both signals resampled to 16 kHz, compares codecs inside the band that Opus codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

SECTION = "## Codec"
SR = 32000


def load_clips(
    manifests: Sequence[str | os.PathLike],
    seconds: float,
    max_clips: int | None,
    split: str = "valid",
    crops_per_track: int = 1,
):
    """Fixed crops of ``split`` (``crops_per_track`` evenly spaced per track; 1 = the centre): ``(audio [N, T]
    float32, titles [N])``, evenly spaced over the crops when there are more than ``max_clips``. Deterministic."""
    from audiogen.data.dataset import AudioDataset

    ds = AudioDataset(manifests, seconds, split=split, deterministic=True, crops_per_track=crops_per_track)
    n = len(ds) if max_clips is None else min(max_clips, len(ds))
    picks = np.unique(np.linspace(0, len(ds) - 1, n).round().astype(int))
    items = [ds[int(i)] for i in picks]
    return np.stack([it["audio"][0].numpy() for it in items]), [it["title"] or it["track"] for it in items]


class Visqol:
    """ViSQOL v3 audio mode (MOS-LQO 1..5) of a degraded clip against its reference, both ``(T,)`` at ``rate``."""

    def __init__(self) -> None:
        os.environ.setdefault("NUMBA_NUM_THREADS", "1")
        from visqol import VisqolApi

        self.api = VisqolApi()
        self.api.create(mode="audio")

    def __call__(self, reference: np.ndarray, degraded: np.ndarray, rate: int = SR) -> float:
        from audiogen.audio import resample

        ref, deg = (resample(x, rate, 48000).astype(np.float64) for x in (reference, degraded))
        return float(self.api.measure_from_arrays(ref, deg, 48000).moslqo)


LOW_BAND_RATE = 16000  # ``mel_8k``: the mel distance of both signals resampled to this rate (0-8 kHz)


def score(reference: np.ndarray, decoded: np.ndarray, visqol: Visqol | None) -> dict[str, float]:
    """All quality metrics of ``decoded`` ``[N, T]`` against ``reference`` ``[N, T]``, averaged over clips."""
    from audiogen.audio import resample
    from audiogen.eval.metrics import chroma_cosine, codec_distances, harmonic_share

    rows = [codec_distances(r[None], d[None]) for r, d in zip(reference, decoded, strict=True)]
    out = {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}
    pairs = list(zip(reference, decoded, strict=True))
    low = [resample(np.stack(p), SR, LOW_BAND_RATE) for p in pairs]
    out["mel_8k"] = float(np.mean([codec_distances(r[None], d[None], LOW_BAND_RATE)["mel"] for r, d in low]))
    out["chroma"] = float(np.nanmean([chroma_cosine(r, d, SR) for r, d in pairs]))
    out["harmonic"] = float(np.nanmean([harmonic_share(d) for d in decoded]))
    out["visqol"] = float(np.mean([visqol(r, d) for r, d in pairs])) if visqol else float("nan")
    return out


def file_kbps(codec, clips: np.ndarray, n_q: int) -> float:
    """The bitrate of the ``.agc`` token files (header included) that ``n_q`` codebooks of ``clips`` ``[N, T]``
    make, from their size on disk: the codes are bit-packed, so this is the nominal bitrate plus the header."""
    import tempfile

    import torch

    from audiogen.codec.tokenfile import TokenHeader, write_tokens

    bits, seconds = 0, 0.0
    with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
        for i, clip in enumerate(clips):
            codes = codec.encode(torch.from_numpy(clip)[None], n_q=n_q)[0].numpy()
            header = TokenHeader(codec.model_id, SR, float(codec.frame_rate), n_q, codec.cfg.codebook_size,
                                 len(clip), codes.shape[-1])  # fmt: skip
            bits += write_tokens(Path(tmp) / f"{i}.agc", codes, header).stat().st_size * 8
            seconds += len(clip) / SR
    return bits / seconds / 1000


def codec_roundtrip(codec, clips: np.ndarray, n_q: int, batch: int = 4) -> np.ndarray:
    """Encode with ``n_q`` codebooks and decode ``clips`` ``[N, T]`` → ``[N, T]``."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            x = torch.from_numpy(clips[i : i + batch])
            out.append(codec.decode(codec.encode(x, n_q=n_q))[..., : x.shape[-1]].numpy())
    return np.concatenate(out)


def baseline_roundtrips(clips: np.ndarray) -> list[tuple[str, Callable[[np.ndarray], object]]]:
    """``[(name, clip -> RoundTrip)]`` for Opus 6 and 12 kbps and MP3 at its lowest bitrates."""
    from audiogen.eval.baselines import MP3_SETTINGS, mp3_roundtrip, opus_roundtrip

    systems = [(f"Opus {k:g} kbps (libopus, 48 kHz)", _opus(k, opus_roundtrip)) for k in (6.0, 12.0)]
    for kbps, rate in MP3_SETTINGS:
        systems.append((f"MP3 {kbps} kbps CBR ({rate / 1000:g} kHz)", _mp3(kbps, rate, mp3_roundtrip)))
    return systems


def _mp3(kbps, rate, fn):
    return lambda c: fn(c, SR, kbps, rate)


def _opus(kbps, fn):
    return lambda c: fn(c, SR, kbps)


def quality_rows(
    codec, clips: np.ndarray, visqol: Visqol | None, log=print, compare=None, baselines: bool = True
) -> list[dict]:
    """One result dict per system: the original (its harmonic share), the codec at 1..n_q codebooks, the
    ``compare`` codec likewise, then the baselines (a baseline that reports the band it codes, Opus, names it)."""
    from audiogen.eval.metrics import align, harmonic_share

    original = float(np.mean([harmonic_share(c) for c in clips]))
    rows = [{"system": "original", "kbps": float("nan"), "harmonic": original}]
    for model in (codec, compare):
        if model is None:
            continue
        for k in range(1, model.cfg.n_q + 1):
            t0 = time.perf_counter()
            res = score(clips, codec_roundtrip(model, clips, k), visqol)
            name = f"audiogen codec `{model.name}`, {k} codebook{'s' * (k > 1)}"
            rows.append({"system": name, "nominal_kbps": model.cfg.kbps(k), "kbps": file_kbps(model, clips, k), **res})
            log(f"  {name}: {_fmt_row(rows[-1])} ({time.perf_counter() - t0:.0f} s)")
    for name, fn in baseline_roundtrips(clips) if baselines else ():
        trips = [fn(c) for c in clips]
        band = max(t.bandwidth_hz or 0 for t in trips)
        if band:
            name = f"{name}, codes 0-{band / 1000:g} kHz"
        decoded = np.stack([align(c, t.audio) for c, t in zip(clips, trips, strict=True)])
        rows.append({"system": name, "kbps": float(np.mean([t.kbps for t in trips])), **score(clips, decoded, visqol)})
        log(f"  {name}: {_fmt_row(rows[-1])}")
    return rows


def _fmt_row(r: dict) -> str:
    vq = "n/a" if np.isnan(r["visqol"]) else f"{r['visqol']:.2f}"
    return (
        f"{r['kbps']:.2f} kbps, chroma {r['chroma']:.3f}, harmonic {r['harmonic']:.3f}, mel {r['mel']:.3f} "
        f"(0-8 kHz {r['mel_8k']:.3f}), "
        f"stft {r['stft']:.3f}, si-sdr {r['si_sdr']:.2f} dB, visqol {vq}"
    )


def _interleaved_timings(systems: Sequence[tuple], repeats: int) -> list[dict]:
    """Seconds of encoding and decoding for each ``(name, encode, decode, x)`` system, timed in rounds: each round
    times every system once, in turn, so load on a shared machine falls on all of them alike. Returns one dict per
    system with the per-round ``encode``/``decode`` seconds (lists of length ``repeats``)."""
    import torch

    out = [{"encode": [], "decode": []} for _ in systems]
    with torch.inference_mode():
        codes = [encode(x) for _, encode, _, x in systems]  # also the warm-up
        for (_, _, decode, _), c in zip(systems, codes, strict=True):
            decode(c)
        for _ in range(repeats):
            for (_, encode, decode, x), c, times in zip(systems, codes, out, strict=True):
                t0 = time.perf_counter()
                encode(x)
                t1 = time.perf_counter()
                decode(c)
                times["encode"].append(t1 - t0)
                times["decode"].append(time.perf_counter() - t1)
    return out


def speed_rows(codec, clip: np.ndarray, threads: Sequence[int], repeats: int = 3) -> list[dict]:
    """Encode/decode real-time factors (medians over rounds) of the codec (all codebooks) and of EnCodec 24 kHz
    (random weights), timed in interleaved rounds; the codec's rows also carry ``encode_speedup``/``decode_speedup``,
    the median over rounds of EnCodec's time divided by ours."""
    import torch

    from audiogen.audio import resample
    from audiogen.eval.baselines import encodec_24khz_random

    enc_model, enc_sr, enc_bw = encodec_24khz_random()
    seconds = len(clip) / SR
    systems = (
        (f"audiogen codec ({codec.cfg.n_q} codebooks, {codec.cfg.kbps(codec.cfg.n_q):g} kbps)",
         codec.encode, codec.decode, torch.from_numpy(clip)[None]),
        (f"EnCodec 24 kHz, random weights ({enc_bw:g} kbps)",
         enc_model.encode, enc_model.decode, torch.from_numpy(resample(clip, SR, enc_sr))[None, None]),
    )  # fmt: skip
    rows = []
    saved = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            ours, ref = _interleaved_timings(systems, repeats)
            for (name, *_), t in zip(systems, (ours, ref), strict=True):
                row = {"model": name, "threads": n}
                row.update({f"{k}_rtf": float(np.median(t[k])) / seconds for k in ("encode", "decode")})
                rows.append(row)
            for k in ("encode", "decode"):
                rows[-2][f"{k}_speedup"] = float(np.median(np.asarray(ref[k]) / np.asarray(ours[k])))
    finally:
        torch.set_num_threads(saved)
    return rows


def _quality_table(quality: list[dict]) -> list[str]:
    from audiogen.eval.report import table

    def num(v, fmt):
        return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)

    keys = ("kbps", "chroma", "harmonic", "mel", "mel_8k", "stft", "si_sdr", "visqol")
    formats = (".2f", ".3f", ".3f", ".3f", ".3f", ".3f", ".2f", ".2f")
    return table(
        ["system", "kbps", "chroma cosine ↑", "harmonic share", "mel distance ↓", "mel distance 0-8 kHz ↓",
         "STFT distance ↓", "SI-SDR (dB) ↑", "ViSQOL ↑"],
        [[r["system"], *(num(r.get(k), f) for k, f in zip(keys, formats, strict=True))] for r in quality],
    )  # fmt: skip


def section_lines(meta: dict, quality: list[dict], speed: list[dict], heldout: list[dict] | None = None) -> list[str]:
    """The body of the "## Codec" section."""
    from audiogen.eval.report import table

    lines = []
    if meta.get("tiny"):
        lines += ["**Tiny smoke run** (`--tiny`): two 2 s clips; these numbers test the pipeline only.", ""]
    lines += [
        f"Codec `{meta['model_id']}` on {meta['clips']} fixed {meta['seconds']:g} s crops (the centre of each track) "
        f"of the valid split of the real-music manifest, RMS-normalised to -20 dBFS, 32 kHz mono "
        f"({meta['date']}; {meta['machine']}).",
        "",
        f"Command: `{meta['command']}` (paths are the local codec folder and corpus). Took {meta['took_s']:.0f} s.",
        "",
        "kbps is measured from the encoded size: the `.agc` token file for our codec (bit-packed codes and its "
        "header), the Ogg/MP3 stream for the others. Opus and MP3 are encoded with the libsndfile bundled with "
        "soundfile (libopus; LAME). libopus chooses the band it codes, not the full band: each Opus row names the "
        "band read from its packets (0-8 kHz at 12 kbps, 0-4 kHz at 6 kbps on mono music); MP3 codes at most half "
        "its sample rate. Mel distance: L1 of log10 mel spectrograms at three scales, every mel band up to 16 kHz "
        "weighed alike, so the bands a codec leaves out dominate it (about 2 log10 units each); mel distance "
        "0-8 kHz: the same on both signals resampled to 16 kHz. Chroma cosine: frame-wise cosine of CQT chroma "
        "against the original (the notes kept, 1 = all). Harmonic share: the energy share of the harmonic part of "
        "an HPSS separation of the decoded audio (the original's is in its row). ViSQOL: `visqol-python` audio "
        "mode at 48 kHz (MOS-LQO, 1..5).",
        "",
    ]
    lines += _quality_table(quality)
    if heldout:
        lines += [
            "",
            f"Held-out real music (never in any training run): {meta['heldout_clips']} fixed {meta['seconds']:g} s "
            f"crops of {meta['heldout_name']}.",
            "",
            *_quality_table(heldout),
        ]
    if speed:
        lines += [
            "",
            f"Speed on one {meta['speed_seconds']:g} s clip, median of {meta['repeats']} rounds after a warm-up; each "
            "round times both models in turn, so machine load falls on both alike. Real-time factor = compute time / "
            "audio duration (lower is faster; ×N = N times faster than real time). Speed-up = EnCodec's time / ours, "
            "median over rounds.",
            "",
        ]

        def speedup(r: dict, k: str) -> str:
            return f"{r[k]:.1f}×" if r.get(k) is not None else ""

        lines += table(
            ["model", "threads", "encode RTF", "decode RTF", "encode speed-up", "decode speed-up"],
            [
                [r["model"], str(r["threads"])]
                + [f"{r[k]:.4f} ({1 / max(r[k], 1e-9):.0f}×)" for k in ("encode_rtf", "decode_rtf")]
                + [speedup(r, "encode_speedup"), speedup(r, "decode_speedup")]
                for r in speed
            ],
        )
    return lines


def run(
    args: argparse.Namespace, argv: list[str], log=print, program: str = "python -m audiogen.eval.codec_bench"
) -> dict:
    """Run the benchmark described by ``args``; returns the results and rewrites the section of ``args.out``."""
    import torch

    from audiogen.codec.model import Codec
    from audiogen.eval.report import command_line, machine, replace_section, today

    t_start = time.perf_counter()
    meta = {"date": today(), "machine": machine(), "command": command_line(program, argv)}
    meta["tiny"] = bool(getattr(args, "tiny", False))
    torch.set_num_threads(1)
    codec = Codec.from_pretrained(args.codec).eval()
    opt = {k: getattr(args, k, None) for k in ("compare", "heldout", "spectrogram")}  # callers may not set them
    compare = Codec.from_pretrained(opt["compare"]).eval() if opt["compare"] else None
    clips, titles = load_clips(args.manifest, args.seconds, args.clips)
    log(f"codec {codec.name}: {len(clips)} clips of {args.seconds:g} s")
    visqol = None if args.no_visqol else Visqol()
    quality = quality_rows(codec, clips, visqol, log, compare)
    heldout = None
    if opt["heldout"]:
        held, _ = load_clips(opt["heldout"], args.seconds, args.clips, split=None)
        log(f"held-out set: {len(held)} clips")
        heldout = quality_rows(codec, held, visqol, log, compare)
        meta.update(heldout_clips=len(held), heldout_name=", ".join(Path(m).parent.name for m in opt["heldout"]))
    if opt["spectrogram"]:
        spectrogram_figure(clips[getattr(args, "spectrogram_clip", 0) % len(clips)], codec, compare, opt["spectrogram"])
        log(f"wrote {opt['spectrogram']}")
    speed = []
    if args.speed_seconds > 0:
        clip = np.resize(clips[0], round(args.speed_seconds * SR)).astype(np.float32)
        speed = speed_rows(codec, clip, args.threads, args.repeats)
        for r in speed:
            log(
                f"  {r['model']}, {r['threads']} thread(s): encode RTF {r['encode_rtf']:.4f}, "
                f"decode RTF {r['decode_rtf']:.4f}"
            )
    meta.update(
        model_id=codec.name,
        clips=len(clips),
        seconds=args.seconds,
        titles=titles,
        speed_seconds=args.speed_seconds,
        repeats=args.repeats,
        took_s=time.perf_counter() - t_start,
    )
    results = {"meta": meta, "quality": quality, "heldout": heldout, "speed": speed}
    if args.out:
        replace_section(args.out, SECTION, section_lines(meta, quality, speed, heldout))
        log(f"wrote the '{SECTION}' section of {args.out} in {meta['took_s']:.0f} s")
    if args.json:
        write_json(args.json, results)
    return results


def spectrogram_figure(clip: np.ndarray, codec, compare, path: str | os.PathLike, n_q: int = 4) -> Path:
    """Constant-Q spectrograms (semitone bins, so notes are horizontal lines) of ``clip`` ``(T,)`` and of its
    round trips through ``compare`` and ``codec`` at ``n_q`` codebooks, one row each, written to ``path``."""
    import librosa

    from audiogen.eval.plots import figure, save_figure

    rows = [("original", clip)]
    for model in (compare, codec):
        if model is not None:
            k = min(n_q, model.cfg.n_q)
            rows.append((f"{model.name}, {model.cfg.kbps(k):g} kbps", codec_roundtrip(model, clip[None], k)[0]))
    plt, fig, axes = figure(len(rows), 1, size=(9, 2.4 * len(rows)))
    fmin = librosa.note_to_hz("C1")
    for ax, (title, audio) in zip(axes[:, 0], rows, strict=True):
        cqt = np.abs(librosa.cqt(np.asarray(audio, np.float32), sr=SR, hop_length=256, fmin=fmin, n_bins=96))
        db = librosa.amplitude_to_db(cqt, ref=np.max, top_db=70)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, len(audio) / SR, 0, 96))
        ax.set_yticks(range(0, 96, 12), [f"C{o}" for o in range(1, 9)])
        ax.set(title=title, xlabel="seconds", ylabel="pitch")
    return save_figure(plt, fig, path)


def write_json(path: str | os.PathLike, results: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``python -m audiogen.eval``)."""
    ap.add_argument("--codec", required=True, help="codec folder (config.json + model.safetensors)")
    ap.add_argument("--manifest", required=True, nargs="+", help="real-music manifest(s); the valid split is used")
    ap.add_argument("--heldout", nargs="+", default=None,
                    help="manifest(s) of real music no training run has seen; all their tracks are measured too")
    ap.add_argument("--compare", default=None, help="a second codec folder measured in the same run (e.g. the shipped)")
    ap.add_argument("--spectrogram", default=None, help="write constant-Q spectrograms of one clip before/after (PNG)")
    ap.add_argument("--spectrogram-clip", type=int, default=0, help="which valid clip the spectrogram shows")
    ap.add_argument("--clips", type=int, default=None, help="at most this many crops (default: one per valid track)")
    ap.add_argument("--seconds", type=float, default=10.0, help="crop length (default 10)")
    ap.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (it needs the codec-eval extra)")
    ap.add_argument("--speed-seconds", type=float, default=10.0, help="length of the timed clip; 0 skips timing")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts timed (default 1 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (default 3)")
    ap.add_argument("--out", default="BENCHMARKS.md", help="file whose '## Codec' section is rewritten ('' = none)")
    ap.add_argument("--json", default=None, help="also write all numbers to this JSON file")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    if args.clips is not None and args.clips < 1:
        ap.error(f"--clips must be >= 1, got {args.clips}")
    if not 0.5 <= args.seconds <= 60:
        ap.error(f"--seconds must be in [0.5, 60], got {args.seconds}")
    run(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
