"""Where a codec's chroma goes, by frequency band: which part of the decoded spectrum costs the pitch classes.

On fixed crops of a real split, the CQT-chroma cosine (:func:`audiogen.eval.codec_diagnostics.mean_chroma`) of

- the codec's round trip at ``--n-q`` codebooks, and its decode of the unquantized latent;
- band swaps: the original below a cut-off frequency under the decoded audio above it (and the other way round),
  exchanged in an 8192-point STFT: if the original's band alone brings the reading back, that band is where the
  notes are lost;
- for a two-band magnitude decoder (``bass_n_fft``): its predicted log-magnitude with the original's own bass band,
  main band, or both, put in before the phase is rebuilt (what a perfect bass or main branch would give; both: the
  ceiling of the rebuilt phase);
- the decoded level against the original's in bass bands (dB, mean over crops), and each band's share of the
  original's energy.

    python -m audiogen.eval.chroma_bands --codec DIR --manifest MANIFEST [--crops 1000] [--crops-per-track 3]
"""

from __future__ import annotations

import argparse

import numpy as np

SR = 32000
CUTS_HZ = (150, 300, 600, 1200, 2500)
LEVEL_BANDS_HZ = ((20, 40), (40, 60), (60, 90), (90, 130), (130, 200), (200, 300), (300, 600), (600, 4000))
N_FFT, HOP = 8192, 1024


def _stft(x: np.ndarray):
    import torch

    return torch.stft(torch.from_numpy(np.ascontiguousarray(x)).float(), N_FFT, HOP, window=torch.hann_window(N_FFT),
                      return_complex=True)  # fmt: skip


def band_swap(original: np.ndarray, decoded: np.ndarray, cut_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(original below cut_hz + decoded above, decoded below + original above)``, each ``[N, T]``, from crops
    ``original`` and ``decoded`` ``[N, T]`` exchanged bin by bin in an 8192-point Hann STFT (hop 1024)."""
    import torch

    o, d = _stft(original), _stft(decoded)
    below = (torch.arange(o.shape[-2]) * SR / N_FFT < cut_hz).float()[None, :, None]

    def back(spec):
        return torch.istft(spec, N_FFT, HOP, window=torch.hann_window(N_FFT), length=original.shape[-1]).numpy()

    return back(o * below + d * (1 - below)), back(d * below + o * (1 - below))


def band_levels(original: np.ndarray, decoded: np.ndarray) -> list[tuple[tuple[int, int], float, float]]:
    """``[((lo, hi) Hz, decoded − original level in dB (mean over crops), the band's share of the original's
    energy)]`` for :data:`LEVEL_BANDS_HZ`, from ``[N, T]`` crops."""
    import torch

    po, pd = _stft(original).abs().square(), _stft(decoded).abs().square()
    f = torch.arange(po.shape[-2]) * SR / N_FFT
    total = po.sum((1, 2))
    rows = []
    for lo, hi in LEVEL_BANDS_HZ:
        m = (f >= lo) & (f < hi)
        eo, ed = po[:, m].sum((1, 2)).clamp(min=1e-12), pd[:, m].sum((1, 2)).clamp(min=1e-12)
        rows.append(((lo, hi), float((10 * torch.log10(ed / eo)).mean()), float((eo / total).mean())))
    return rows


def head_swaps(codec, clips: np.ndarray, n_q: int) -> dict[str, float] | None:
    """For a two-band magnitude decoder: chroma of its predicted log-magnitude with the original's bass band
    (``"original bass band"``), main band (``"original main band"``) or both (``"original both bands"``: the
    synth's own ceiling) in its place, phase rebuilt as decoded; None for other decoders."""
    import torch

    from audiogen.eval.codec_diagnostics import mean_chroma

    head = codec.decoder.head
    if not codec.decoder.magnitude or getattr(head, "bass_proj", None) is None:
        return None
    synth, out = head.synthesiser, {}
    with torch.no_grad():
        x = torch.from_numpy(clips)
        padded = codec.pad(x)
        pred = codec.decoder.logmag(codec.quantizer(codec.encoder(padded), n_q=n_q)["z_q"])
        want = synth.analyse(padded[:, : pred.shape[1] * synth.hop])
        bands = {"original bass band": slice(synth.n_main, None), "original main band": slice(0, synth.n_main),
                 "original both bands": slice(None)}  # fmt: skip
        for name, sl in bands.items():
            mixed = pred.clone()
            mixed[..., sl] = want[..., sl]
            out[name] = mean_chroma(clips, synth(mixed).numpy())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.chroma_bands", description=__doc__.split("\n")[0])
    ap.add_argument("--codec", required=True, help="codec folder")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--crops", type=int, default=1000, help="at most this many crops")
    ap.add_argument("--crops-per-track", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--n-q", type=int, default=4)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from audiogen.codec.model import Codec
    from audiogen.eval.codec_bench import codec_roundtrip, load_clips
    from audiogen.eval.codec_diagnostics import mean_chroma

    clips, _ = load_clips([args.manifest], args.seconds, args.crops, split=args.split,
                          crops_per_track=args.crops_per_track)  # fmt: skip
    codec = Codec.from_pretrained(args.codec).eval()
    decoded = codec_roundtrip(codec, clips, args.n_q)[:, : clips.shape[1]]
    with torch.no_grad():
        unq = codec.decoder(codec.encoder(codec.pad(torch.from_numpy(clips)))).numpy()[:, : clips.shape[1]]
    print(f"{codec.name}: {len(clips)} crops of {args.seconds:g} s ({args.split}, {args.crops_per_track} per track), "
          f"{args.n_q} codebooks\n")  # fmt: skip
    print("| audio | chroma |\n|---|---|")
    print(f"| decoded | {mean_chroma(clips, decoded):.3f} |")
    print(f"| decoded from the unquantized latent | {mean_chroma(clips, unq):.3f} |")
    for name, value in (head_swaps(codec, clips, args.n_q) or {}).items():
        print(f"| decoded log-magnitude, the {name} put in | {value:.3f} |")
    for cut in CUTS_HZ:
        low, high = band_swap(clips, decoded, cut)
        print(f"| original below {cut} Hz, decoded above | {mean_chroma(clips, low):.3f} |")
        print(f"| decoded below {cut} Hz, original above | {mean_chroma(clips, high):.3f} |", flush=True)
    print("\n| band (Hz) | decoded − original (dB) | share of the original's energy |\n|---|---|---|")
    for (lo, hi), db, share in band_levels(clips, decoded):
        print(f"| {lo}–{hi} | {db:+.1f} | {share:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
