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
  latent at ``--n-q`` codebooks (and from the unquantized latent, and from the first two codebooks alone) to the
  plan's chord at that frame, trained on the first three quarters of the rendered plans and scored on the rest
  (frame accuracy; beside it, always answering the training frames' most frequent chord, and the scored frames' own
  most frequent one). A decoder can only play the chords its input holds, or that it is given.

The "## Codec diagnostics" section of BENCHMARKS.md is rewritten.

With ``--pitch-path``, where the pitch goes instead (the "## Where the pitch goes (codec diagnostics)" section):

- for a codec whose decoder predicts a log-magnitude and a phase (``head="istft"``): the chroma cosine of its output
  waveform beside that of its *predicted magnitude* with the phase rebuilt by Griffin-Lim (the head's STFT), from the
  latent at ``--n-q`` codebooks and unquantized (if the magnitude keeps the notes and the output does not, they are
  lost in the learned phase);
- ceilings: the original clip's own magnitude with a rebuilt phase (Hann STFT + Griffin-Lim; the one-pass
  Gaussian-window :class:`audiogen.codec.phase.MagnitudeSynth` at two sizes), chroma and seconds per 10 s of audio;
- the chord probe, also from the first two codebooks alone.

    python -m audiogen.eval.codec_diagnostics --codec audiogen/pretrained/default/codec v2 --manifest M.jsonl
    python -m audiogen.eval.codec_diagnostics --pitch-path --codec audiogen/pretrained/default/codec v2 --manifest M
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

HEADING = "## Codec diagnostics"
PITCH_HEADING = "## Where the pitch goes (codec diagnostics)"
EMOTIONS = ("happy", "sad", "calm", "tense", "energetic", "romantic", "epic", "melancholic")


def latent_readings(codec, wav, n_q: int) -> dict:
    """Residual errors per stage and the chroma cosine of the unquantized / quantized latent through the decoder
    for crops ``wav`` ``[N, T]`` (a tensor)."""
    import torch

    from audiogen.eval.metrics import chroma_cosine

    with torch.no_grad():
        z = codec.encoder(codec.pad(wav))
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


def head_input(decoder, z, controls=None):
    """What a decoder hands its output head: latent ``[B, latent_dim, F]`` (and controls ``[B, F, N]`` or None) →
    ``(features [B, 2F, up_dim], log-magnitude bias [B, 2F, bins] or None)``, computed as ``Decoder.infer`` computes
    them (``Decoder.infer_features``: frames first, no autograd)."""
    return decoder.infer_features(z.transpose(1, 2), controls)


def predicted_logmag(codec, z, controls=None):
    """The decoder's predicted natural-log magnitude ``[B, 2F, bins]`` for a latent ``[B, latent_dim, F]``: for an
    ``"istft"`` head the log-magnitude part of the head's projection (``ISTFTHead.parts``; bins = n_fft/2+1 of its
    Hann STFT, frame ``m`` centred on sample ``m * hop + hop / 2``), for a ``"magnitude"`` head ``Decoder.logmag``
    (bins of its Gaussian-window STFT). The phase the decoder would pair with it is not computed."""
    import torch
    from torch import nn

    decoder = codec.decoder
    with torch.no_grad():
        if decoder.magnitude:
            return decoder.logmag(z, controls)
        x, bias = head_input(decoder, z, controls)
        head = decoder.head
        mag, _, _ = head.parts(nn.functional.linear(x, head.proj.weight[:, :, 0], head.proj.bias), -1)
        return mag if bias is None else mag + bias


def griffin_lim(mag, n_fft: int, hop: int, n_iter: int = 32, seed: int = 0):
    """Magnitudes ``[B, F, n_fft/2+1]`` of a Hann-window STFT (torch's scale, frames ``hop`` apart, frame ``m`` centred
    on sample ``m * hop``, as ``torch.stft(center=True)`` frames a signal of ``(F - 1) * hop`` samples) → waveform
    ``[B, (F - 1) * hop]`` with the phase rebuilt by ``n_iter`` iterations of torchaudio's Griffin-Lim (its defaults
    otherwise: momentum 0.99, random start drawn from ``seed``)."""
    import torch
    import torchaudio

    gl = torchaudio.transforms.GriffinLim(n_fft=n_fft, n_iter=n_iter, hop_length=hop, window_fn=torch.hann_window,
                                          power=1.0, length=(mag.shape[1] - 1) * hop)  # fmt: skip
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        return gl(mag.transpose(1, 2).float())


def head_griffin_lim(codec, z, n_iter: int = 32):
    """An ``"istft"`` decoder's predicted magnitude (:func:`predicted_logmag`, clamped as the head clamps it) for a
    latent ``[B, latent_dim, F]`` with the phase rebuilt by :func:`griffin_lim` on the head's own STFT (n_fft, hop,
    Hann window) instead of the learned phase → waveform ``[B, F * frame_size]``, aligned with the decoder's output
    (the head frames audio half a hop later than ``torch.stft``'s centred frames)."""
    import torch

    if codec.decoder.magnitude:
        raise ValueError("head_griffin_lim is for a decoder with head='istft'")
    head = codec.decoder.head
    mag = torch.exp(predicted_logmag(codec, z)).clamp(max=1e2)  # (B, 2F, n_fft/2+1)
    y = griffin_lim(mag, head.n_fft, head.hop, n_iter)  # (B, (2F - 1) * hop), frame m centred on m * hop
    return torch.nn.functional.pad(y, (head.hop // 2, head.hop - head.hop // 2))  # the head's frame m: m * hop + hop/2


def mean_chroma(wav, out) -> float:
    """Mean :func:`audiogen.eval.metrics.chroma_cosine` of ``out`` ``[N, T']`` (cut to ``T``) against ``wav``
    ``[N, T]`` (tensors or arrays)."""
    from audiogen.eval.metrics import chroma_cosine

    scores = [chroma_cosine(np.asarray(w), np.asarray(o[: len(w)])) for w, o in zip(wav, out, strict=True)]
    return float(np.mean(scores))


def pitch_path_readings(codec, wav, n_q: int, n_iter: int = 32) -> dict:
    """Where the pitch is lost in ``codec``, on crops ``wav`` ``[N, T]`` (a tensor): the mean chroma cosine against the
    crops of the decoder's output waveform (``"quantized"``: latent at ``n_q`` codebooks, ``"unquantized"``: the
    encoder's latent) and, for an ``"istft"`` head, of its predicted magnitude with a Griffin-Lim phase
    (``"quantized_gl"``, ``"unquantized_gl"``; :func:`head_griffin_lim`; None for other heads). Each decoder
    reading runs without controls. Also ``"head"`` and ``"phase"`` (the head and its phase reference)."""
    import torch

    with torch.no_grad():
        z = codec.encoder(codec.pad(wav))  # (N, D, F)
        latents = {"unquantized": z, "quantized": codec.quantizer(z, n_q=n_q)["z_q"]}
        out = {}
        for k, lat in latents.items():
            out[k] = mean_chroma(wav, codec.decoder(lat))
            istft = not codec.decoder.magnitude
            out[f"{k}_gl"] = mean_chroma(wav, head_griffin_lim(codec, lat, n_iter)) if istft else None
    cfg = codec.cfg
    phase = cfg.phase_ref + (" + rate" if cfg.phase_rate else "")
    if codec.decoder.magnitude:
        phase = "rebuilt from the magnitude"
    return {**out, "head": cfg.head, "phase": phase}


def oracle_readings(wav, n_fft: int = 1280, hop: int = 320, n_iter: int = 32, synth_sizes=(2048, 4096),
                    sample_rate: int = 32000) -> dict:  # fmt: skip
    """Ceilings for a decoder that predicts only a magnitude: each crop of ``wav`` ``[N, T]`` (a tensor, T a multiple
    of ``hop``) rebuilt from its own magnitude with a computed phase,
    ``{label: {"chroma", "seconds_per_10s", "cpu_seconds_per_10s"}}``:
    ``"griffin-lim"`` (Hann ``n_fft``, ``hop``, :func:`griffin_lim` with ``n_iter`` iterations) and
    ``"synth <n>"`` for ``n`` in ``synth_sizes`` (:class:`audiogen.codec.phase.MagnitudeSynth` ``(n, hop)``:
    Gaussian window, one-pass phase, ``synth(synth.analyse(x))``). Seconds are the wall time and the process's CPU
    time of the analysis and the rebuild on the current thread count, per 10 s of audio (after one warm-up call);
    on one thread of a busy machine the CPU time is the steadier of the two."""
    import time

    import torch

    from audiogen.codec.phase import MagnitudeSynth

    window = torch.hann_window(n_fft)

    def hann_gl(x):
        mag = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True).abs()  # (1, N, T/hop + 1)
        return griffin_lim(mag.transpose(1, 2), n_fft, hop, n_iter)  # (1, T)

    methods = {"griffin-lim": hann_gl}
    for n in synth_sizes:
        synth = MagnitudeSynth(n, hop)
        methods[f"synth {n}"] = lambda x, s=synth: s(s.analyse(x))
    out = {}
    for label, fn in methods.items():
        with torch.no_grad():
            fn(wav[:1, : 2 * sample_rate - (2 * sample_rate) % hop])  # warm-up
            ys, seconds, cpu = [], 0.0, 0.0
            for x in wav:
                t0, c0 = time.perf_counter(), time.process_time()
                ys.append(fn(x[None])[0])
                seconds += time.perf_counter() - t0
                cpu += time.process_time() - c0
        tens = wav.shape[0] * wav.shape[1] / sample_rate / 10  # audio length in units of 10 s
        out[label] = {"chroma": mean_chroma(wav, ys), "seconds_per_10s": seconds / tens,
                      "cpu_seconds_per_10s": cpu / tens}  # fmt: skip
    return out


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


def plan_readings(codecs: dict, plans: int, n_q: int, seconds: float = 10.0, probe_n_q: int = 2) -> dict:
    """Mean chord and key accuracy of ``plans`` rendered plans: the render, then through every codec; under
    ``"probe"``, :func:`chord_probe` of each codec's quantized (``name``, ``n_q`` codebooks), unquantized
    (``name|latent``) and first-``probe_n_q``-codebooks (``name|q<probe_n_q>``, at most the codec's own) latent
    ``[F, D]`` per plan."""
    import torch

    from audiogen.compose.planner import compose_plan
    from audiogen.controls.from_plan import plan_controls
    from audiogen.data.render import render_midi
    from audiogen.eval.bench_perform import master_to, readings

    given = {k: f"{k}|plan" for k, c in codecs.items() if c.cfg.decoder_controls}
    out: dict[str, list[dict]] = {"render": [], **{k: [] for k in codecs}, **{v: [] for v in given.values()}}
    few = {name: f"{name}|q{probe_n_q}" for name in codecs}
    feats: dict[str, list[np.ndarray]] = {k: [] for name in codecs for k in (name, f"{name}|latent", few[name])}
    labels: dict[str, list[list[str]]] = {name: [] for name in codecs}
    for i in range(plans):
        plan = compose_plan("a track", emotion=EMOTIONS[i % len(EMOTIONS)], duration=seconds, seed=i)
        render = master_to(render_midi(plan.to_midi(), plan.duration), plan.duration)
        out["render"].append(readings(render, plan))
        for name, codec in codecs.items():
            with torch.inference_mode():
                wav = torch.from_numpy(render)[None]
                z = codec.encoder(codec.pad(wav))  # [1, D, F]
                q = codec.quantizer(z, n_q=n_q)  # what codec.encode computes, latent and codes together
                feats[f"{name}|latent"].append(z[0].T.numpy())
                feats[name].append(q["z_q"][0].T.numpy())
                z_few = q["z_q"] if probe_n_q == n_q else codec.quantizer(z, n_q=min(probe_n_q, codec.n_q))["z_q"]
                feats[few[name]].append(z_few[0].T.numpy())
                labels[name].append(plan.chord_labels_at((np.arange(z.shape[-1]) + 0.5) / codec.cfg.frame_rate))
                codes = q["codes"]
                coded = codec.decode(codes)[0].numpy()
                if name in given:
                    ctrl = torch.from_numpy(plan_controls(plan, codes.shape[-1], codec.cfg.frame_rate)[None])
                    out[given[name]].append(readings(master_to(codec.decode(codes, ctrl)[0].numpy(), seconds), plan))
            out[name].append(readings(master_to(coded, plan.duration), plan))
    result = {k: {m: float(np.nanmean([r[m] for r in v])) for m in ("chord", "key", "beat_f")} for k, v in out.items()}
    right = [i for i, r in enumerate(out["render"]) if r["key"] >= 1.0]  # plans whose render reads in its own key
    for k, v in out.items():
        # of those, the share that still reads in the plan's key after the codec (1 = the codec loses no key)
        result[k]["key_kept"] = float(np.mean([v[i]["key"] >= 1.0 for i in right])) if right else float("nan")
        result[k]["key_right"] = len(right)
    probe = {k: chord_probe(v, labels[k.split("|")[0]]) for k, v in feats.items()} if plans >= 2 else {}
    return {**result, "probe": probe}


def probe_table(probe: dict, codecs: dict, n_q: int, probe_n_q: int = 2) -> list[str]:
    """The chord probe's markdown table (lines): per codec, :func:`plan_readings`' ``"probe"`` readings from
    ``n_q`` codebooks, from the first ``probe_n_q``, from the unquantized latent, and the two constant answers."""
    from audiogen.eval.report import table

    return table(
        ["codec", f"quantized latent, {n_q} codebooks", f"first {probe_n_q} codebooks", "unquantized latent",
         "constant: training frames' most frequent chord", "constant: scored frames' most frequent chord"],
        [[f"`{k}`", f"{probe[k]['accuracy']:.3f}", f"{probe[f'{k}|q{probe_n_q}']['accuracy']:.3f}",
          f"{probe[k + '|latent']['accuracy']:.3f}", f"{probe[k]['chance']:.3f}", f"{probe[k]['best_constant']:.3f}"]
         for k in codecs if k in probe],
    )  # fmt: skip


def plan_table(plans: dict) -> list[str]:
    """:func:`plan_readings`' chord, key and beat readings (without ``"probe"``) as markdown table lines."""
    from audiogen.eval.report import table

    def kept(v: dict) -> str:
        n = v.get("key_right", 0)
        return "-" if not n else f"{round(v['key_kept'] * n)} / {n}"

    return table(
        ["audio", "chord accuracy (maj/min)", "key (tonic + mode)", "render's right keys kept", "beat F"],
        [[k if k == "render" else f"render through `{k.removesuffix('|plan')}`"
          + (", given the plan's chords and melody" if k.endswith("|plan") else ""), f"{v['chord']:.3f}",
          f"{v['key']:.2f}", kept(v), f"{v['beat_f']:.2f}"] for k, v in plans.items()],
    )  # fmt: skip


def pitch_summary(paths: dict, oracle: dict, probe: dict, n_q: int) -> list[str]:
    """Plain sentences (markdown bullet lines) stating what the pitch-path readings show, from
    :func:`pitch_path_readings` per codec (``paths``), :func:`oracle_readings` (``oracle``) and the ``"probe"`` of
    :func:`plan_readings`: comparisons of measured numbers only."""
    lines = []
    gl_ceiling = oracle.get("griffin-lim", {}).get("chroma")
    shorts, gaps = [], []
    for name, r in paths.items():
        if r["quantized_gl"] is None:
            lines.append(f"- `{name}` ({r['head']} head): its output already is a magnitude with a rebuilt phase; "
                         f"chroma {r['quantized']:.3f} at {n_q} codebooks.")  # fmt: skip
            continue
        gap = r["quantized_gl"] - r["quantized"]
        gaps.append(gap)
        where = ("more of the pitch classes are in its predicted magnitude than in its output, so part of them is "
                 "lost in the learned phase" if gap > 0.03 else
                 "its learned phase keeps more than Griffin-Lim's phase on the same magnitude" if gap < -0.03 else
                 "the learned phase and Griffin-Lim's phase give about the same (within 0.03)")  # fmt: skip
        text = (f"- `{name}` (phase {r['phase']}): at {n_q} codebooks the decoder's output reads {r['quantized']:.3f}, "
                f"its predicted magnitude with a Griffin-Lim phase {r['quantized_gl']:.3f} ({gap:+.3f}): {where}.")
        if gl_ceiling is not None:
            short = gl_ceiling - r["quantized_gl"]
            shorts.append(short)
            text += (f" The original crop's own magnitude, phased the same way, reads {gl_ceiling:.3f}, "
                     f"{short:.3f} above the predicted magnitude")
            text += (": most of the loss is already in the predicted magnitude, before any phase." if short > 0.05
                     and short > abs(gap) else ".")  # fmt: skip
        text += (f" From the unquantized latent: output {r['unquantized']:.3f}, magnitude with Griffin-Lim "
                 f"{r['unquantized_gl']:.3f}.")
        lines.append(text)
    if shorts:
        lines.insert(0, f"- In short: the decoders' predicted magnitudes, phased by Griffin-Lim, read "
                        f"{min(shorts):.3f} to {max(shorts):.3f} below the original's own magnitude phased the same "
                        f"way; the learned phase against Griffin-Lim's on the same magnitude moves the chroma by "
                        f"{-max(gaps):+.3f} to {-min(gaps):+.3f}.")  # fmt: skip
    if oracle:
        best = max(oracle, key=lambda k: oracle[k]["chroma"])
        fast = min(oracle, key=lambda k: oracle[k]["cpu_seconds_per_10s"])
        worst = min(oracle, key=lambda k: oracle[k]["chroma"])
        text = (f"- Ceilings (the original's magnitude, phase rebuilt, no codec): from {oracle[worst]['chroma']:.3f} "
                f"(`{worst}`) to {oracle[best]['chroma']:.3f} (`{best}`); the fastest is `{fast}` "
                f"({oracle[fast]['cpu_seconds_per_10s']:.2f} CPU s per 10 s).")
        outputs = [r["quantized"] for r in paths.values()]
        if outputs:
            text += (f" The codecs' outputs at {n_q} codebooks ({min(outputs):.3f} to {max(outputs):.3f}) sit "
                     f"{oracle[best]['chroma'] - max(outputs):.3f} to {oracle[best]['chroma'] - min(outputs):.3f} "
                     f"below the best of them.")
        lines.append(text)
    for name in paths:
        if name in probe:
            p = probe[name]
            few = next(v for k, v in probe.items() if k.startswith(f"{name}|q"))
            best = max(p["accuracy"], few["accuracy"], probe[name + "|latent"]["accuracy"])
            side = "below" if best < p["best_constant"] else "above"
            lines.append(f"- Chord probe, `{name}`: {p['accuracy']:.3f} from {n_q} codebooks, {few['accuracy']:.3f} "
                         f"from the first two, {probe[name + '|latent']['accuracy']:.3f} from the unquantized latent; "
                         f"a constant answer scores {p['chance']:.3f} (the training frames' most frequent chord) "
                         f"to {p['best_constant']:.3f} (the scored frames' own): the best probe is {side} the best "
                         f"constant answer.")  # fmt: skip
    return lines


def oracle_label(key: str, n_iter: int, n_fft: int = 1280, hop: int = 320) -> str:
    """The table label of one :func:`oracle_readings` key (``"griffin-lim"`` or ``"synth <n>"``)."""
    if key == "griffin-lim":
        return f"Hann STFT {n_fft} / hop {hop}, Griffin-Lim {n_iter} iterations"
    return f"`MagnitudeSynth({key.split()[1]}, {hop})`: Gaussian window, one pass"


def pitch_section(codecs: dict, args, argv: list[str]) -> list[str]:
    """Run the ``--pitch-path`` readings (:func:`pitch_path_readings`, :func:`oracle_readings`, :func:`plan_readings`
    for the probe) and return the section body (lines)."""
    import torch

    from audiogen.eval.codec_bench import load_clips
    from audiogen.eval.report import command_line, machine, table, today

    seconds = args.crop_seconds or 10.0
    clips, _ = load_clips(args.manifest, seconds, args.crops)
    wav = torch.from_numpy(clips)  # (N, T)
    paths = {k: pitch_path_readings(c, wav, args.n_q, args.gl_iters) for k, c in codecs.items()}
    print(paths, flush=True)
    oracle = oracle_readings(wav, n_iter=args.gl_iters)
    print(oracle, flush=True)
    plans = plan_readings(codecs, args.plans, args.n_q, args.plan_seconds)
    probe = plans.pop("probe")
    kbps = next(iter(codecs.values())).cfg.kbps(args.n_q)

    def gl(v):
        return "-" if v is None else f"{v:.3f}"

    return [
        f"Command: `{command_line('python -m audiogen.eval.codec_diagnostics', argv)}`  ",
        f"Machine: 2-core CPU, one thread ({machine()}); date {today()}. {len(wav)} valid crops of {seconds:g} s; "
        f"codecs at {args.n_q} codebooks ({kbps:g} kbps) unless marked; Griffin-Lim: torchaudio, "
        f"{args.gl_iters} iterations, the head's own STFT (Hann window, n_fft and hop of the head). CQT chroma cosine "
        f"against the original crop (1 = every pitch class kept).",
        "",
        "Where the decoder loses the notes: its output waveform (its own learned phase) beside its predicted "
        "magnitude with the phase rebuilt by Griffin-Lim (both decoded from the tokens alone, without a plan's "
        "controls).",
        "",
        *table(
            ["codec", "head, phase", f"output, {args.n_q} codebooks", f"magnitude + Griffin-Lim, {args.n_q} codebooks",
             "output, unquantized latent", "magnitude + Griffin-Lim, unquantized latent"],
            [[f"`{k}`", f"{v['head']}, {v['phase']}", f"{v['quantized']:.3f}", gl(v["quantized_gl"]),
              f"{v['unquantized']:.3f}", gl(v["unquantized_gl"])] for k, v in paths.items()],
        ),
        "",
        "Ceilings: the original crop's own magnitude with a rebuilt phase (no codec), and the time each takes "
        "(analysis and rebuild, one thread; wall time, and the process's CPU time, steadier on a busy machine).",
        "",
        *table(
            ["phase rebuilt by", "chroma", "seconds per 10 s of audio", "CPU seconds per 10 s of audio"],
            [[oracle_label(k, args.gl_iters), f"{v['chroma']:.3f}", f"{v['seconds_per_10s']:.2f}",
              f"{v['cpu_seconds_per_10s']:.2f}"] for k, v in oracle.items()],
        ),
        "",
        f"Composed plans ({args.plans} of {args.plan_seconds:g} s, rendered with the soundfont): chord and key "
        f"accuracy through each codec at {args.n_q} codebooks, and a linear probe from one frame's latent to the "
        f"plan's chord (trained on {max(1, 3 * args.plans // 4)} plans, scored on the others; frame accuracy).",
        "",
        *plan_table(plans),
        "",
        *probe_table(probe, codecs, args.n_q),
        "",
        "What the numbers show:",
        "",
        *pitch_summary(paths, oracle, probe, args.n_q),
    ]


def main(argv: list[str] | None = None) -> int:
    import torch

    from audiogen.codec.backends import load_codec
    from audiogen.data.dataset import AudioDataset
    from audiogen.eval.report import command_line, machine, replace_section, table, today

    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.codec_diagnostics", description=__doc__.split("\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codec folders")
    ap.add_argument("--manifest", nargs="+", required=True, help="real-music manifest(s); the valid split is used")
    ap.add_argument("--crops", type=int, default=8, help="valid crops for the latent readings (default 8)")
    ap.add_argument("--crop-seconds", type=float, default=None,
                    help="length of each crop (default 6 s; 10 s with --pitch-path)")  # fmt: skip
    ap.add_argument("--plans", type=int, default=16, help="rendered plans (default 16)")
    ap.add_argument("--plan-seconds", type=float, default=10.0,
                    help="length of each plan (default 10; key readings need 30)")  # fmt: skip
    ap.add_argument("--n-q", type=int, default=4, help="codebooks, as the LM uses them (default 4)")
    ap.add_argument("--pitch-path", action="store_true",
                    help=f"where the pitch goes instead (decoder magnitude + Griffin-Lim, phase-rebuild ceilings, the "
                         f"probe from two codebooks): writes the '{PITCH_HEADING.lstrip('# ')}' section")  # fmt: skip
    ap.add_argument("--gl-iters", type=int, default=32, help="Griffin-Lim iterations for --pitch-path (default 32)")
    ap.add_argument("--out", default="BENCHMARKS.md", help="file whose section is rewritten ('' = none)")
    args = ap.parse_args(argv)
    if args.crops < 1 or args.plans < 1:
        ap.error("--crops and --plans must be >= 1")
    if args.crop_seconds is not None and args.crop_seconds <= 0:
        ap.error("--crop-seconds must be > 0")
    torch.set_num_threads(1)
    codecs = {}
    for spec in args.codec:
        c = load_codec(spec).eval()
        codecs[c.name] = c
    if args.pitch_path:
        body = pitch_section(codecs, args, argv)
        if args.out:
            replace_section(args.out, PITCH_HEADING, body)
        print("\n".join(body))
        return 0
    seconds = args.crop_seconds or 6.0
    ds = AudioDataset(args.manifest, seconds, split="valid", deterministic=True)
    picks = np.unique(np.linspace(0, len(ds) - 1, args.crops).round().astype(int))
    wav = torch.stack([ds[int(i)]["audio"][0] for i in picks])
    latent = {k: latent_readings(c, wav, args.n_q) for k, c in codecs.items()}
    steady = {k: steady_readings(c, args.n_q) for k, c in codecs.items()}
    plans = plan_readings(codecs, args.plans, args.n_q, args.plan_seconds)
    probe = plans.pop("probe")
    kbps = next(iter(codecs.values())).cfg.kbps(args.n_q)
    body = [
        f"Command: `{command_line('python -m audiogen.eval.codec_diagnostics', argv)}`  ",
        f"Machine: {machine()}; date {today()}. Latent readings on {len(picks)} valid crops of {seconds:g} s; plans: "
        f"{args.plans} composed plans of {args.plan_seconds:g} s rendered with the soundfont; codecs at {args.n_q} "
        f"codebooks ({kbps:g} kbps).",
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
        *plan_table(plans),
        "",
        f"What the codes hold of the chords: a linear probe from one frame's latent to the plan's chord at that frame "
        f"(major/minor label or N), trained on {max(1, 3 * args.plans // 4)} of the "
        f"rendered plans and scored on the others (frame accuracy).",
        "",
        *probe_table(probe, codecs, args.n_q),
    ]
    if args.out:
        replace_section(args.out, HEADING, body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
