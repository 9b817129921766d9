"""Notes kept by a codec: basic-pitch's transcription of the decoded audio against its transcription of the original.

Basic Pitch (Apache-2.0) ships its polyphonic note model inside its wheel; it is run here through ONNX Runtime
(``make notes-eval`` installs ``basic-pitch`` without its TensorFlow requirement, plus ``onnxruntime`` and
``resampy``). Both the original crop and the codec's round trip are transcribed the same way, and the decoded notes
are scored against the original's with ``mir_eval``'s note measure: onset within 50 ms and the same pitch (within
half a semitone), offsets ignored. F1 = 1: every note the original shows is heard again, and no other. The CQT
chroma cosine of the same crops is printed beside it, with its noise floor in mind (BENCHMARKS "Where the pitch
goes").

    python -m audiogen.eval.note_f1 --codec DIR [DIR ...] --manifest MANIFEST [--crops 8] [--seconds 10] [--n-q 4]
        [--crops-per-track 1]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from audiogen.transcribe import available
from audiogen.transcribe import transcribe as transcribe_notes

SR = 32000
ONSET_TOLERANCE = 0.05


def basic_pitch_available() -> str | None:
    """None when basic-pitch's ONNX model can run here, else why not (:func:`audiogen.transcribe.available`)."""
    return available()


def transcribe(audio: np.ndarray, sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Notes of mono ``audio`` ``(T,)`` by basic-pitch: ``(intervals [N, 2] seconds, pitches [N] Hz)``."""
    return transcribe_notes(audio, sample_rate)


def note_f1(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SR) -> dict:
    """Onset-and-pitch note scores of ``estimate`` ``(T,)`` against ``reference`` ``(T,)``, both transcribed by
    :func:`transcribe`: ``{"precision", "recall", "f1", "ref_notes", "est_notes"}`` (F1 is nan when the
    reference has no notes)."""
    import mir_eval

    ref_i, ref_p = transcribe(reference, sample_rate)
    est_i, est_p = transcribe(estimate, sample_rate)
    if len(ref_p) == 0:
        return {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"), "ref_notes": 0,
                "est_notes": len(est_p)}  # fmt: skip
    if len(est_p) == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "ref_notes": len(ref_p), "est_notes": 0}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE, offset_ratio=None
    )
    return {"precision": p, "recall": r, "f1": f, "ref_notes": len(ref_p), "est_notes": len(est_p)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.note_f1", description=__doc__.split("\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codec folders (or 'opus6', 'opus12' for libopus)")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--crops", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--n-q", type=int, default=4)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--crops-per-track", type=int, default=1, help="evenly spaced crops per track (1 = the centre)")
    args = ap.parse_args(argv)
    why = basic_pitch_available()
    if why:
        print(f"note_f1: {why}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    from audiogen.codec.model import Codec
    from audiogen.eval.codec_bench import codec_roundtrip, load_clips
    from audiogen.eval.codec_diagnostics import mean_chroma

    clips, _ = load_clips(
        [args.manifest], args.seconds, args.crops, split=args.split, crops_per_track=args.crops_per_track
    )
    print(f"| codec | note F1 | precision | recall | notes (original / decoded) | chroma |  ({len(clips)} crops of "
          f"{args.seconds:g} s, {args.split}, {args.n_q} codebooks)")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in args.codec:
        if name in ("opus6", "opus12"):
            from audiogen.eval.baselines import opus_roundtrip

            decoded = np.stack([opus_roundtrip(c, SR, int(name[4:])).audio[: len(c)] for c in clips])
        else:
            decoded = codec_roundtrip(Codec.from_pretrained(name).eval(), clips, args.n_q)
        scores = [note_f1(c, d[: len(c)]) for c, d in zip(clips, decoded, strict=True)]
        mean = {k: float(np.nanmean([s[k] for s in scores])) for k in ("f1", "precision", "recall")}
        notes = f"{sum(s['ref_notes'] for s in scores)} / {sum(s['est_notes'] for s in scores)}"
        chroma = mean_chroma(clips, decoded)
        print(f"| {name} | {mean['f1']:.3f} | {mean['precision']:.3f} | {mean['recall']:.3f} | {notes} | "
              f"{chroma:.3f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
