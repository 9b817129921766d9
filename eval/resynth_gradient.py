"""Where the resynthesis pitch loss's gradient comes from: through the magnitudes, or through the rebuilt phase.

For a magnitude codec (head ``magnitude``) on train crops, the gradient of
:func:`audiogen.train.codec.resynth_semitone_loss` with respect to the decoder's log-magnitude, taken twice: in
full, and with the rebuilt phase held as given (``MagnitudeSynth(..., phase_grad=False)``). Prints both norms and
their cosine.

    python -m audiogen.eval.resynth_gradient --codec DIR --manifest MANIFEST [--crops 4] [--seconds 1]
"""

from __future__ import annotations

import argparse


def gradients(codec, wav) -> dict:
    """``{"full", "magnitudes", "cosine"}``: gradient norms of the loss on ``wav`` ``[B, T]`` with respect to the
    codec's log-magnitude, in full and through the magnitudes only, and the cosine between the two."""
    import torch

    from audiogen.train.codec import resynth_semitone_loss

    out = codec(wav, first=0)
    logmag = out["logmag"].detach().requires_grad_(True)
    synth = codec.decoder.head.synthesiser
    sr, hop = codec.cfg.sample_rate, codec.cfg.hop
    full, mags = (
        torch.autograd.grad(resynth_semitone_loss(synth(logmag, phase_grad=g), wav, sr, hop), logmag)[0]
        for g in (True, False)
    )
    cos = torch.nn.functional.cosine_similarity(full.flatten(), mags.flatten(), dim=0)
    return {"full": float(full.norm()), "magnitudes": float(mags.norm()), "cosine": float(cos)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.resynth_gradient", description=__doc__.split("\n")[0])
    ap.add_argument("--codec", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from audiogen.codec.model import Codec
    from audiogen.eval.codec_bench import load_clips

    torch.manual_seed(0)  # the quantizer drops codebooks at random in training mode
    clips, _ = load_clips([args.manifest], args.seconds, args.crops, split="train")
    codec = Codec.from_pretrained(args.codec).train()
    g = gradients(codec, torch.from_numpy(clips))
    print(f"gradient norm in full {g['full']:.3e}, through the magnitudes only {g['magnitudes']:.3e} "
          f"(ratio {g['full'] / g['magnitudes']:.1f}), cosine {g['cosine']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
