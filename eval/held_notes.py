"""Held notes through codecs: a sustained pad chord and a bass line, rendered by the soundfont, as CQT spectrograms.

An average over real music can hide what a listener hears (a log-mel distance looked fine while a codec lost every
note); a sustained pad and a bass line show it at a glance: in a constant-Q spectrogram their notes are horizontal
lines, and a codec that cannot hold a note turns them into a smear. Beside the figure, each row's CQT-chroma
cosine to the render and the share of its energy within a quarter tone of the notes' partials.

    python -m audiogen.eval.held_notes --codec audiogen/pretrained/default/codec v2 RUN_EXPORT --out docs/eval/held.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 32000
# a held C minor 9 pad (C3 Eb3 G3 Bb3 D4) for 8 s over a bass line (C2 C2 Ab1 Bb1, two seconds each, walking eighths)
PAD = (48, 51, 55, 58, 62)
BASS = ((36, 0.0), (36, 2.0), (32, 4.0), (34, 6.0))


def pad_and_bass(seconds: float = 8.0) -> tuple[np.ndarray, list[int]]:
    """``(audio (T,) float32 at 32 kHz, the MIDI notes played)``: a warm pad (GM 89) holding :data:`PAD` and a
    fingered bass (GM 33) playing :data:`BASS` in eighth notes, rendered by the default soundfont, normalised."""
    import pretty_midi

    from audiogen.data.render import normalise, render_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pad = pretty_midi.Instrument(program=89)
    pad.notes = [pretty_midi.Note(70, p, 0.0, seconds - 0.2) for p in PAD]
    bass = pretty_midi.Instrument(program=33)
    for pitch, start in BASS:
        for k in range(8):
            t = start + 0.25 * k
            if t < seconds - 0.25:
                bass.notes.append(pretty_midi.Note(95, pitch + (12 if k % 4 == 3 else 0), t, t + 0.22))
    pm.instruments = [pad, bass]
    audio, _ = normalise(render_midi(pm, seconds, sample_rate=SR), -16.0, SR)
    notes = sorted(set(PAD) | {p for p, _ in BASS} | {p + 12 for p, _ in BASS})
    return audio, notes


def partial_share(audio: np.ndarray, notes: list[int], partials: int = 6) -> float:
    """Share of the energy of ``audio`` ``(T,)`` between 40 Hz and 4 kHz (a 16384-point STFT) that lies within a
    quarter tone of a partial (1..``partials``) of one of ``notes`` (MIDI)."""
    import librosa

    spec = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=16384, hop_length=4096)) ** 2
    freqs = librosa.fft_frequencies(sr=SR, n_fft=16384)
    band = (freqs >= 40) & (freqs <= 4000)
    near = np.zeros_like(freqs, dtype=bool)
    for m in notes:
        f0 = 440.0 * 2 ** ((m - 69) / 12)
        for k in range(1, partials + 1):
            near |= np.abs(freqs - k * f0) <= k * f0 * (2 ** (1 / 24) - 1)
    e = spec.sum(1)
    return float(e[band & near].sum() / max(e[band].sum(), 1e-12))


def rows_for(codecs: list, n_q: int | list[int] = 4, seconds: float = 8.0) -> list[tuple[str, np.ndarray, dict]]:
    """``[(title, audio (T,), readings)]``: the render, then its round trip through each codec at ``n_q`` codebooks
    (one count for all, or one per codec, each capped at the codec's own)."""
    from audiogen.eval.codec_bench import codec_roundtrip
    from audiogen.eval.metrics import chroma_cosine

    audio, notes = pad_and_bass(seconds)
    counts = [n_q] * len(codecs) if isinstance(n_q, int) else list(n_q)
    if len(counts) != len(codecs):
        raise ValueError(f"n_q: give one codebook count, or one per codec ({len(codecs)}); got {len(counts)}")
    rows = [("soundfont render", audio, {"chroma": 1.0, "partials": partial_share(audio, notes)})]
    for codec, n in zip(codecs, counts, strict=True):
        k = min(n, codec.cfg.n_q)
        out = codec_roundtrip(codec, audio[None], k)[0][: len(audio)]
        readings = {"chroma": chroma_cosine(audio, out, SR), "partials": partial_share(out, notes)}
        rows.append((f"{codec.name}, {codec.cfg.kbps(k):g} kbps", out, readings))
    return rows


def figure(rows, path: str | Path) -> Path:
    """CQT spectrograms (semitone bins, C1..B8) of ``rows`` one above the other, written to ``path``."""
    import librosa

    from audiogen.eval.plots import figure, save_figure

    plt, fig, axes = figure(len(rows), 1, size=(9, 2.4 * len(rows)))
    for ax, (title, audio, r) in zip(axes[:, 0], rows, strict=True):
        cqt = np.abs(librosa.cqt(np.asarray(audio, np.float32), sr=SR, hop_length=256,
                                 fmin=librosa.note_to_hz("C1"), n_bins=96))  # fmt: skip
        db = librosa.amplitude_to_db(cqt, ref=np.max, top_db=70)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, len(audio) / SR, 0, 96))
        ax.set_yticks(range(0, 96, 12), [f"C{o}" for o in range(1, 9)])
        ax.set(title=f"{title} — chroma {r['chroma']:.3f}, energy on the partials {r['partials']:.2f}",
               xlabel="seconds", ylabel="pitch")  # fmt: skip
    return save_figure(plt, fig, path)


def main(argv: list[str] | None = None) -> int:
    import torch

    from audiogen.codec.backends import load_codec

    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.held_notes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codec folders")
    ap.add_argument("--n-q", type=int, nargs="+", default=[4],
                    help="codebooks, as the LM uses them: one count for all codecs or one per codec (default 4)")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if len(args.n_q) not in (1, len(args.codec)):
        ap.error(f"--n-q: give one codebook count, or one per codec ({len(args.codec)}); got {len(args.n_q)}")
    counts = args.n_q * len(args.codec) if len(args.n_q) == 1 else args.n_q
    rows = rows_for([load_codec(c) for c in args.codec], counts)
    for title, _, r in rows:
        print(f"{title}: chroma {r['chroma']:.3f}, energy on the partials {r['partials']:.3f}")
    print(figure(rows, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
