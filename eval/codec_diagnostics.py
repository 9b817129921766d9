"""Codec diagnostics: where the notes go, for one or more codecs side by side.

- the relative residual of the quantized latent after each stage (``ResidualVQ.residual_errors``) on valid crops;
- CQT chroma cosine of the decoder fed the encoder's unquantized latent, beside the quantized one at ``--n-q``
  codebooks (if both are low, the notes are lost in the encoder and decoder, not in the bits);
- steady tones: chords of harmonic tones held for seconds (pitches off the frame-rate grid), coded and decoded; the
  share of the decoded energy within 1 Hz of a multiple of the codec's frame rate (a decoder that cannot hold a
  note turns it into that comb) and within 3 Hz of the input's partials (what a listener should hear);
- chord (major/minor) and key accuracy of composed plans rendered with the soundfont, before and after each codec at
  ``--n-q`` codebooks, read as the plan-adherence benchmark reads them (``eval/bench_perform.py``);
- what the tokens hold of the chords: a linear probe (multinomial logistic regression) from one frame's quantized
  latent at ``--n-q`` codebooks (and from the unquantized latent) to the plan's chord at that frame, trained on the
  first three quarters of the rendered plans and scored on the rest (frame accuracy; beside it, always answering
  the training frames' most frequent chord, and the scored frames' own most frequent one). A decoder can only play
  the chords its input holds, or that it is given.

The "## Codec diagnostics" section of BENCHMARKS.md is rewritten.

    python -m audiogen.eval.codec_diagnostics --codec audiogen/pretrained/default/codec v2 --manifest M.jsonl
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

HEADING = "## Codec diagnostics"
EMOTIONS = ("happy", "sad", "calm", "tense", "energetic", "romantic", "epic", "melancholic")


def latent_readings(codec, wav, n_q: int) -> dict:
    """Residual errors per stage and the chroma cosine of the unquantized / quantized latent through the decoder
    for crops ``wav`` ``[N, T]`` (a tensor)."""
    import torch

    from audiogen.eval.metrics import chroma_cosine

    with torch.no_grad():
        z = codec.encoder(codec._pad(wav))
        outs = {"unquantized": codec.decoder(z), "quantized": codec.decoder(codec.quantizer(z, n_q=n_q)["z_q"])}
        errors = codec.quantizer.residual_errors(z)
    chroma = {
        k: float(np.mean([chroma_cosine(w.numpy(), o[i, : w.shape[-1]].numpy()) for i, w in enumerate(wav)]))
        for k, o in outs.items()
    }
    return {"residual": errors, **chroma}


def steady_chord(freqs, seconds: float, sr: int) -> np.ndarray:
    """``[seconds * sr]`` float32: harmonic tones (5 partials, 1/k^1.5) at ``freqs`` Hz, held, with a soft onset."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * k * t + k) / k**1.5 for f in freqs for k in range(1, 6))
    y = y * np.minimum(1.0, t / 0.05)
    return (0.25 * y / np.abs(y).max()).astype(np.float32)


def spectral_shares(y: np.ndarray, sr: int, frame_rate: float, partials, lo: float = 30.0, hi: float = 4000.0):
    """``(comb, partial)``: shares of ``y``'s energy between ``lo`` and ``hi`` Hz within 1 Hz of a multiple of
    ``frame_rate`` and within 3 Hz of one of ``partials`` (Hz), from one Hann-windowed FFT of the whole signal."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1 / sr)
    band = (f > lo) & (f < hi)
    total = max(float(spec[band].sum()), 1e-20)
    near_grid = np.abs(f - np.round(f / frame_rate) * frame_rate) < 1.0
    near_partial = np.zeros_like(band)
    for p in partials:
        near_partial |= np.abs(f - p) < 3.0
    return float(spec[band & near_grid].sum() / total), float(spec[band & near_partial].sum() / total)


def steady_readings(codec, n_q: int, chords: int = 8, seconds: float = 4.0, seed: int = 0) -> dict:
    """Mean comb and partial shares (see :func:`spectral_shares`) of ``chords`` random three-note chords (MIDI 48-84,
    tuned 30 cents off equal temperament so no partial sits on the frame-rate grid) through ``codec``."""
    import torch

    rng = np.random.default_rng(seed)
    sr, rate = codec.cfg.sample_rate, codec.cfg.frame_rate
    rows = {"input": [], "coded": []}
    for _ in range(chords):
        freqs = 440.0 * 2 ** ((rng.choice(np.arange(48, 85), 3, replace=False) + 0.3 - 69) / 12)
        partials = [f * k for f in freqs for k in range(1, 6)]
        x = steady_chord(freqs, seconds, sr)
        with torch.inference_mode():
            y = codec.decode(codec.encode(torch.from_numpy(x)[None], n_q=n_q))[0, : len(x)].numpy()
        keep = slice(sr // 2, len(x) - sr // 2)  # away from the edges
        rows["input"].append(spectral_shares(x[keep], sr, rate, partials))
        rows["coded"].append(spectral_shares(y[keep], sr, rate, partials))
    return {k: tuple(float(np.mean([r[i] for r in v])) for i in range(2)) for k, v in rows.items()}


def chord_probe(feats: list[np.ndarray], labels: list[list[str]]) -> dict:
    """Frame accuracy of a linear probe from features to chord labels, one ``[F_i, D]`` array and ``F_i`` labels per
    plan: trained on the first three quarters of the plans, scored on the rest. Returns ``{"accuracy", "chance",
    "best_constant"}``: chance is the accuracy of always answering the training frames' most frequent label (0 when
    the scored plans are in other keys), best_constant that of the scored frames' own most frequent label (a
    constant answer that knew them)."""
    from collections import Counter

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    n_train = max(1, (3 * len(feats)) // 4)
    if n_train >= len(feats):
        raise ValueError(f"the chord probe needs at least 2 plans, got {len(feats)}")
    xtr, ytr = np.concatenate(feats[:n_train]), [x for lab in labels[:n_train] for x in lab]
    xva, yva = np.concatenate(feats[n_train:]), [x for lab in labels[n_train:] for x in lab]
    scale = StandardScaler().fit(xtr)
    model = LogisticRegression(C=0.1, max_iter=500).fit(scale.transform(xtr), ytr)
    accuracy = float(np.mean(model.predict(scale.transform(xva)) == np.asarray(yva)))
    prior = Counter(ytr).most_common(1)[0][0]
    return {"accuracy": accuracy, "chance": float(np.mean(np.asarray(yva) == prior)),
            "best_constant": Counter(yva).most_common(1)[0][1] / len(yva)}  # fmt: skip


def plan_readings(codecs: dict, plans: int, n_q: int, seconds: float = 10.0) -> dict:
    """Mean chord and key accuracy of ``plans`` rendered plans: the render, then through every codec; under
    ``"probe"``, :func:`chord_probe` of each codec's quantized (``name``) and unquantized (``name|latent``) latent."""
    import torch

    from audiogen.compose.planner import compose_plan
    from audiogen.controls.from_plan import plan_controls
    from audiogen.data.render import render_midi
    from audiogen.eval.bench_perform import master_to, readings

    given = {k: f"{k}|plan" for k, c in codecs.items() if c.cfg.decoder_controls}
    out: dict[str, list[dict]] = {"render": [], **{k: [] for k in codecs}, **{v: [] for v in given.values()}}
    feats: dict[str, list[np.ndarray]] = {k: [] for name in codecs for k in (name, f"{name}|latent")}
    labels: dict[str, list[list[str]]] = {name: [] for name in codecs}
    for i in range(plans):
        plan = compose_plan("a track", emotion=EMOTIONS[i % len(EMOTIONS)], duration=seconds, seed=i)
        render = master_to(render_midi(plan.to_midi(), plan.duration), plan.duration)
        out["render"].append(readings(render, plan))
        for name, codec in codecs.items():
            with torch.inference_mode():
                wav = torch.from_numpy(render)[None]
                z = codec.encoder(codec._pad(wav))  # [1, D, F]
                q = codec.quantizer(z, n_q=n_q)  # what codec.encode computes, latent and codes together
                feats[f"{name}|latent"].append(z[0].T.numpy())
                feats[name].append(q["z_q"][0].T.numpy())
                labels[name].append(plan.chord_labels_at((np.arange(z.shape[-1]) + 0.5) / codec.cfg.frame_rate))
                codes = q["codes"]
                coded = codec.decode(codes)[0].numpy()
                if name in given:
                    ctrl = torch.from_numpy(plan_controls(plan, codes.shape[-1], codec.cfg.frame_rate)[None])
                    out[given[name]].append(readings(master_to(codec.decode(codes, ctrl)[0].numpy(), seconds), plan))
            out[name].append(readings(master_to(coded, plan.duration), plan))
    result = {k: {m: float(np.nanmean([r[m] for r in v])) for m in ("chord", "key", "beat_f")} for k, v in out.items()}
    probe = {k: chord_probe(v, labels[k.removesuffix("|latent")]) for k, v in feats.items()} if plans >= 2 else {}
    return {**result, "probe": probe}


def main(argv: list[str] | None = None) -> int:
    import torch

    from audiogen.codec.backends import load_codec
    from audiogen.data.dataset import AudioDataset
    from audiogen.eval.report import command_line, machine, replace_section, table, today

    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.codec_diagnostics", description=__doc__.split("\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codec folders or names (e.g. v2)")
    ap.add_argument("--manifest", nargs="+", required=True, help="real-music manifest(s); the valid split is used")
    ap.add_argument("--crops", type=int, default=8, help="valid crops of 6 s for the latent readings (default 8)")
    ap.add_argument("--plans", type=int, default=16, help="rendered plans of 10 s (default 16)")
    ap.add_argument("--n-q", type=int, default=4, help="codebooks, as the LM uses them (default 4)")
    ap.add_argument("--out", default="BENCHMARKS.md", help="file whose section is rewritten ('' = none)")
    args = ap.parse_args(argv)
    if args.crops < 1 or args.plans < 1:
        ap.error("--crops and --plans must be >= 1")
    torch.set_num_threads(1)
    codecs = {}
    for spec in args.codec:
        c = load_codec(spec).eval()
        codecs[c.name] = c
    ds = AudioDataset(args.manifest, 6.0, split="valid", deterministic=True)
    picks = np.unique(np.linspace(0, len(ds) - 1, args.crops).round().astype(int))
    wav = torch.stack([ds[int(i)]["audio"][0] for i in picks])
    latent = {k: latent_readings(c, wav, args.n_q) for k, c in codecs.items()}
    steady = {k: steady_readings(c, args.n_q) for k, c in codecs.items()}
    plans = plan_readings(codecs, args.plans, args.n_q)
    probe = plans.pop("probe")
    kbps = next(iter(codecs.values())).cfg.kbps(args.n_q)
    body = [
        f"Command: `{command_line('python -m audiogen.eval.codec_diagnostics', argv)}`  ",
        f"Machine: {machine()}; date {today()}. Latent readings on {len(picks)} valid crops of 6 s; plans: "
        f"{args.plans} composed plans of 10 s rendered with the soundfont; codecs at {args.n_q} codebooks "
        f"({kbps:g} kbps).",
        "",
        *table(
            ["codec", "residual after stages 1..K", "chroma, unquantized latent", f"chroma, {args.n_q} codebooks"],
            [[f"`{k}`", " / ".join(f"{e:.3f}" for e in v["residual"]), f"{v['unquantized']:.3f}",
              f"{v['quantized']:.3f}"] for k, v in latent.items()],
        ),
        "",
        "Steady tones (8 held three-note chords of harmonic tones, 4 s each, pitches 30 cents off the frame-rate "
        "grid): share of the decoded energy (30 Hz-4 kHz) on the comb of the frame rate's multiples, and on the "
        "input's partials.",
        "",
        *table(
            ["codec", "on the frame-rate comb (input: {:.3f})".format(next(iter(steady.values()))["input"][0]),
             "on the input's partials (input: {:.3f})".format(next(iter(steady.values()))["input"][1])],
            [[f"`{k}`", f"{v['coded'][0]:.3f}", f"{v['coded'][1]:.3f}"] for k, v in steady.items()],
        ),
        "",
        *table(
            ["audio", "chord accuracy (maj/min)", "key (tonic + mode)", "beat F"],
            [[k if k == "render" else f"render through `{k.removesuffix('|plan')}`"
              + (", given the plan's chords and melody" if k.endswith("|plan") else ""), f"{v['chord']:.3f}",
              f"{v['key']:.2f}",
              f"{v['beat_f']:.2f}"] for k, v in plans.items()],
        ),
        "",
        f"What the codes hold of the chords: a linear probe from one frame's latent to the plan's chord at that frame "
        f"(major/minor label or N), trained on {max(1, 3 * args.plans // 4)} of the "
        f"rendered plans and scored on the others (frame accuracy).",
        "",
        *table(
            ["codec", f"quantized latent, {args.n_q} codebooks", "unquantized latent",
             "constant: training frames' most frequent chord", "constant: scored frames' most frequent chord"],
            [[f"`{k}`", f"{probe[k]['accuracy']:.3f}", f"{probe[k + '|latent']['accuracy']:.3f}",
              f"{probe[k]['chance']:.3f}", f"{probe[k]['best_constant']:.3f}"] for k in codecs if k in probe],
        ),
    ]
    if args.out:
        replace_section(args.out, HEADING, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
