"""Codec architecture comparison, measured side by side in one run: what a CPU training step and decoding cost.

Compares audiogen's frame-rate codec (STFT + ConvNeXt encoder, ConvNeXt + inverse-STFT decoder) with a
sample-rate SEANet encoder/decoder (EnCodec's, from the ``encodec`` package, at MusicGen's 32 kHz / hop-640
ratios). Both get the same quantizer-free training step (batch × 1 s, multi-scale mel loss, backward, AdamW), so
the numbers isolate the encoder/decoder cost. Writes the "## Codec architecture" section of BENCHMARKS.md.

    python -m audiogen.eval.bench_codec_arch --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

from audiogen.codec.losses import MultiScaleMelLoss
from audiogen.codec.model import CodecConfig, Decoder, Encoder
from audiogen.eval.report import command_line, machine, replace_section, table, today

SECTION = "## Codec architecture"


def seanet(latent: int = 128, filters: int = 32) -> tuple[nn.Module, nn.Module]:
    """EnCodec's SEANet pair at hop 640 (ratios 8·5·4·4), as MusicGen's 32 kHz tokenizer uses."""
    from encodec.modules import SEANetDecoder, SEANetEncoder

    kw = dict(channels=1, dimension=latent, n_filters=filters, ratios=[8, 5, 4, 4], lstm=2)
    return SEANetEncoder(**kw), SEANetDecoder(**kw)


class Ours(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.encoder, self.decoder = Encoder(cfg), Decoder(cfg)

    def encode(self, wav: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, D, F]
        return self.encoder(wav)

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # [B, D, F] -> [B, T]
        return self.decoder(z)


class Seanet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.decoder = seanet()

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.encoder(wav[:, None])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)[:, 0]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(model: nn.Module, batch: int, repeats: int) -> dict[str, float]:
    """Params (M), seconds per training step (batch × 1 s), encode and decode real-time factors on 10 s."""
    mel = MultiScaleMelLoss()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    wav = torch.randn(batch, 32000) * 0.1

    def step() -> None:
        recon = model.decode(model.encode(wav))[..., : wav.shape[-1]]
        loss = mel(recon, wav)
        opt.zero_grad()
        loss.backward()
        opt.step()

    long = torch.randn(1, 320000) * 0.1
    with torch.no_grad():
        z = model.encode(long)
        enc = _time(lambda: model.encode(long), repeats)
        dec = _time(lambda: model.decode(z), repeats)
    return {
        "params": sum(p.numel() for p in model.parameters()) / 1e6,
        "step": _time(step, repeats),
        "enc_rtf": 10.0 / enc,
        "dec_rtf": 10.0 / dec,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="BENCHMARKS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = machine()
    results = {
        "audiogen (STFT+ConvNeXt enc, ConvNeXt+iSTFT dec)": measure(Ours(CodecConfig()), args.batch, args.repeats),
        "SEANet enc/dec (EnCodec modules, hop 640)": measure(Seanet(), args.batch, args.repeats),
    }
    ours, ref = results.values()
    rows = [
        [name, f"{r['params']:.2f}", f"{r['step']:.2f}", f"{r['enc_rtf']:.0f}x", f"{r['dec_rtf']:.0f}x"]
        for name, r in results.items()
    ]
    body = [
        f"Command: `{command_line('python -m audiogen.eval.bench_codec_arch', argv)}`  ",
        f"Machine: {started}; {args.threads} torch thread(s); {today()}.",
        "",
        *table(
            ["encoder/decoder", "params (M)", f"train step, batch {args.batch} × 1 s (s)", "encode", "decode"], rows
        ),
        "",
        f"Ratios in this run: training step {ref['step'] / ours['step']:.1f}× cheaper, decoding "
        f"{ours['dec_rtf'] / ref['dec_rtf']:.1f}× faster, encoding {ours['enc_rtf'] / ref['enc_rtf']:.1f}× faster "
        "for the frame-rate design. The quantizer (identical for both) is left out.",
    ]
    replace_section(args.out, SECTION, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
