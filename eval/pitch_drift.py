"""Where a codec plays the partials it decodes, and how much of a lost key that explains.

A magnitude decoder (codec v3) has its phase rebuilt from the slope of each lobe of its 2048-point log-magnitude
(:mod:`audiogen.codec.phase`), so the frequency it plays is read from that slope. With bins 15.6 Hz apart, a partial
drawn on a bin centre is up to half a bin off: a semitone below about 270 Hz. Two readings:

1. **Harmonic tones** (seven partials, 1/k amplitudes) held for 4 s at MIDI 36-72 through each codec: how far each of
   the first three partials lands from where it was, in cents (from a 2 s, 0.5 Hz-resolution spectrum).
   With ``--chromatic``, every semitone from MIDI 36 to 84 instead, counted apart on white and black keys (a note
   played a semitone off can turn a major third into a minor one). For a magnitude decoder, the tone's own magnitude
   with the rebuilt phase is read too (what the phase alone costs), and held soundfont notes (strings, organ) as
   rendered and decoded: a synthetic tone can fail where real timbres do not.
2. **Tokens that tell semitones apart**: for the same tones a semitone apart from C2 to C4, the share of frames whose
   first 1, 2 and 4 codes differ from the next tone's (a decoder cannot play a difference its tokens do not hold).
3. **Rendered plans** (composed, 30 s, played by the soundfont), as in the codec diagnostics: the render's right keys
   that the codec keeps, and the chord accuracy, decoded as is (at the LM's codebooks, at all of them, and from the
   encoder's latent before quantization) and, for a magnitude decoder, with the original's own lobe slopes in place
   of the decoder's (the frequencies a perfect frequency reading would play, the magnitudes
   left as decoded), and with the render's own audio below 150 or 300 Hz under the decoded audio above (8th-order
   Butterworth, zero phase). The gaps are what the played frequencies, and the bass, cost. For a magnitude decoder,
   also the render's own magnitude with the rebuilt phase (the synthesiser's ceiling) and the decoded magnitude with
   the render's own levels in its loud bins (within 20 dB of each frame's loudest, per band): whether the keys go
   with the loud partials' levels or with the quiet bins between them.

    python -m audiogen.eval.pitch_drift --codec CODEC [CODEC ...] [--plans 8] [--n-q 4] [--keys-only]
    python -m audiogen.eval.pitch_drift --codec CODEC [CODEC ...] --chromatic --plans 0

``--keys-only`` reads only the rendered plans decoded at the LM's codebooks (and each codec's decoding time).
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

SR = 32000
TONES = (36, 40, 43, 45, 48, 52, 55, 57, 60, 64, 69, 72)
CHROMATIC = range(36, 85)  # C2..C6, every semitone
BLACK = {1, 3, 6, 8, 10}  # pitch classes of the black keys
OFF_CENTS = 50  # a partial further off than this is heard as the neighbouring semitone
SWAP_HZ = (150, 300)  # crossovers of the band-swap rows: the render below, the decoded audio above


def harmonic_tone(midi: int, seconds: float = 4.0) -> np.ndarray:
    """``(T,)`` float32: seven harmonics of MIDI note ``midi`` with amplitudes 1/k, peak 0.3."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    x = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 8))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def partial_cents(audio: np.ndarray, f0: float, partials: int = 3) -> list[float]:
    """Cents from ``k * f0`` to the strongest peak within 1.5 semitones of it (parabolic interpolation on a 0.5 Hz
    grid), ``k = 1..partials``, in the steady middle of ``audio`` ``(T,)`` (seconds 1-3)."""
    seg = audio[SR : 3 * SR].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / SR)
    out = []
    for k in range(1, partials + 1):
        near = (freqs > k * f0 * 2 ** (-1.5 / 12)) & (freqs < k * f0 * 2 ** (1.5 / 12))
        i = int(np.flatnonzero(near)[np.argmax(spec[near])])
        a, b, c = np.log(spec[i - 1 : i + 2] + 1e-12)  # a parabola through the log peak: a fraction of a bin
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
        out.append(float(1200 * np.log2((freqs[i] + shift * (freqs[1] - freqs[0])) / (k * f0))))
    return out


def tone_readings(codec, n_q: int) -> dict[int, list[float]]:
    """MIDI note -> cents off of its first three partials through ``codec`` at ``n_q`` codebooks."""
    import torch

    out = {}
    for midi in TONES:
        with torch.inference_mode():
            x = torch.from_numpy(harmonic_tone(midi))[None]
            y = codec.decode(codec.encode(x, n_q=n_q))[0].numpy()
        out[midi] = partial_cents(y, 440.0 * 2 ** ((midi - 69) / 12))
    return out


def soundfont_note(midi: int, program: int, seconds: float = 4.0) -> np.ndarray:
    """``(T,)`` float32: one note ``midi`` held for ``seconds`` on General MIDI ``program``, played by the default
    soundfont, peak 0.3."""
    import pretty_midi

    from audiogen.data.render import render_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=midi, start=0.0, end=seconds))
    pm.instruments.append(inst)
    x = render_midi(pm, seconds)
    return (0.3 * x / max(float(np.abs(x).max()), 1e-6)).astype(np.float32)


INSTRUMENTS = {"strings": 48, "organ": 19}  # General MIDI programs of held notes (string ensemble, rock organ)


def chromatic_readings(codec, n_q: int, notes=CHROMATIC) -> dict[str, dict[int, list[float]]]:
    """MIDI note -> cents off of the first three partials, for every note of ``notes``: ``"tone, decoded"`` (a
    seven-partial harmonic tone through ``codec`` at ``n_q`` codebooks), for a magnitude decoder ``"tone, own
    magnitude"`` (the tone's own log-magnitude played by the decoder's synthesiser, its phase rebuilt: what the phase
    alone costs), and for each of :data:`INSTRUMENTS` the soundfont's note as rendered and decoded."""
    import torch

    head = getattr(codec.decoder, "head", None)
    synth = getattr(head, "synthesiser", None) if codec.cfg.head == "magnitude" else None
    out: dict[str, dict[int, list[float]]] = {"tone, decoded": {}}
    if synth is not None:
        out["tone, own magnitude"] = {}
    for name in INSTRUMENTS:
        out[f"{name}, rendered"], out[f"{name}, decoded"] = {}, {}
    for midi in notes:
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        x = torch.from_numpy(harmonic_tone(midi))[None]
        with torch.inference_mode():
            out["tone, decoded"][midi] = partial_cents(codec.decode(codec.encode(x, n_q=n_q))[0].numpy(), f0)
            if synth is not None:
                whole = (x.shape[1] // synth.hop) * synth.hop
                out["tone, own magnitude"][midi] = partial_cents(synth(synth.analyse(x[:, :whole]))[0].numpy(), f0)
            for name, program in INSTRUMENTS.items():
                note = soundfont_note(midi, program)
                out[f"{name}, rendered"][midi] = partial_cents(note, f0)
                y = codec.decode(codec.encode(torch.from_numpy(note)[None], n_q=n_q))[0].numpy()
                out[f"{name}, decoded"][midi] = partial_cents(y, f0)
    return out


def off_notes(cents: dict[int, list[float]], limit: float = OFF_CENTS) -> tuple[list[int], list[int]]:
    """``(white, black)``: the notes of ``cents`` (MIDI -> cents of its partials) whose fundamental or a majority of
    its partials lie more than ``limit`` cents off."""
    off = [m for m, c in cents.items() if abs(c[0]) > limit or sum(abs(v) > limit for v in c) * 2 > len(c)]
    return [m for m in off if m % 12 not in BLACK], [m for m in off if m % 12 in BLACK]


def semitone_code_split(codec, n_q: int, low: int = 36, high: int = 60) -> dict[int, float]:
    """For harmonic tones a semitone apart (MIDI ``low`` .. ``high``): codebooks used -> the share of steady frames
    whose first ``k`` codes differ between a tone and the one a semitone up (0: the tokens cannot tell the two
    notes apart), for ``k`` = 1, 2 and ``n_q``."""
    import torch

    codes = []
    for midi in range(low, high + 1):
        with torch.inference_mode():
            c = codec.encode(torch.from_numpy(harmonic_tone(midi, seconds=3.0))[None], n_q=n_q)[0]
        f = c.shape[-1]
        codes.append(c[:, f // 4 : 3 * f // 4])
    out = {}
    for k in sorted({1, min(2, n_q), n_q}):
        diff = [(a[:k] != b[:k]).any(0).float().mean().item() for a, b in itertools.pairwise(codes)]
        out[k] = float(np.mean(diff))
    return out


def decode_seconds(codec, n_q: int, seconds: float = 30.0, repeats: int = 3) -> float:
    """Median wall seconds of decoding ``seconds`` of audio's ``n_q`` codes on this process's threads."""
    import time

    import torch

    with torch.inference_mode():
        codes = codec.encode(torch.from_numpy(harmonic_tone(48, seconds))[None], n_q=n_q)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            codec.decode(codes)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def synth_with_frequencies(synth, logmag, freq):
    """A :class:`~audiogen.codec.phase.MagnitudeSynth`'s waveform ``[B, F * hop]`` for log-magnitudes ``[B, F, N]``
    with the bins' partial frequencies ``freq`` ``[B, F, N]`` (in bins) given instead of read from ``logmag``."""
    from audiogen.codec.phase import rebuild_phase

    phase, _ = rebuild_phase(logmag, synth.hop, synth.n_fft, freq=freq)
    return synth.play(logmag, phase)


LOUD_DB = 20.0  # the loud bins of a frame: within this many dB of the render frame's loudest (in each band)


def loud_bin_rows(codec) -> list[str]:
    """The names of :func:`loud_bin_swaps`' rows for a magnitude decoder."""
    two = bool(codec.cfg.bass_n_fft)
    return ["own magnitude, phase rebuilt", *(
        [f"the render's loud bins, {band} band" for band in ("main", "bass")] if two
        else ["the render's loud bins"])]  # fmt: skip


def loud_bin_swaps(codec, codes, x) -> dict[str, np.ndarray]:
    """For a magnitude decoder, waveforms ``(T,)`` by :func:`loud_bin_rows` name: the render ``x`` ``[1, T]``'s own
    log-magnitude played by the decoder's synthesiser (the ceiling of the rebuilt phase), and the decoded
    log-magnitude of ``codes`` with the render's own values in the bins within :data:`LOUD_DB` of each render frame's
    loudest (per band for a two-band head): whether the keys go with the levels of the loud partials or with the
    quiet bins between them."""
    import torch

    synth = codec.decoder.head.synthesiser
    decoded = codec.decoder.logmag(codec.quantizer.decode_frames(codes).transpose(1, 2))
    frames = min(decoded.shape[1], x.shape[1] // synth.hop)
    decoded = decoded[:, :frames]
    own = synth.analyse(x[:, : frames * synth.hop])
    names = loud_bin_rows(codec)
    out = {names[0]: synth(own)[0].numpy()}
    n_main = getattr(synth, "n_main", own.shape[-1])
    bands = [slice(0, n_main), slice(n_main, None)] if n_main < own.shape[-1] else [slice(None)]
    for name, band in zip(names[1:], bands, strict=True):
        ref = own[..., band]
        loud = ref >= ref.amax(-1, keepdim=True) - LOUD_DB / 8.686  # nats
        mixed = decoded.clone()
        mixed[..., band] = torch.where(loud, ref, decoded[..., band])
        out[name] = synth(mixed)[0].numpy()
    return out


def plan_readings(
    codec, plans: int, n_q: int, seconds: float = 30.0, detail: bool = True, first_seed: int = 0
) -> dict[str, dict]:
    """Key kept (of the render's right keys), chord accuracy and the keys lost (``(plan, the render's key, the key
    read instead)``) of ``plans`` rendered plans: ``"decoded"`` and, with
    ``detail``, every codebook, the unquantized latent, the render's own bass under the decoded rest and, for a
    one-spectrogram magnitude decoder, ``"original slopes"`` (see the module's docstring)."""
    import torch
    from scipy.signal import butter, sosfiltfilt

    from audiogen.codec.phase import bin_frequency
    from audiogen.compose.planner import compose_plan
    from audiogen.data.render import render_midi
    from audiogen.eval.bench_perform import master_to, readings
    from audiogen.eval.codec_diagnostics import EMOTIONS

    magnitude = codec.cfg.head == "magnitude" and not codec.cfg.bass_n_fft  # one spectrogram: its slopes swapped
    head = codec.cfg.head == "magnitude"
    rows: dict[str, list[dict]] = {"render": [], "decoded": []}
    if detail:
        rows.update({f"decoded, {codec.n_q} codebooks": [], "decoded, unquantized latent": [],
                     **({"original slopes": []} if magnitude else {}),
                     **{f"the original below {c} Hz": [] for c in SWAP_HZ},
                     **({name: [] for name in loud_bin_rows(codec)} if head else {})})  # fmt: skip
    for i in range(first_seed, first_seed + plans):
        plan = compose_plan("a track", emotion=EMOTIONS[i % len(EMOTIONS)], duration=seconds, seed=i)
        render = master_to(render_midi(plan.to_midi(), plan.duration), plan.duration)
        rows["render"].append(readings(render, plan))
        x = torch.from_numpy(render)[None]
        with torch.inference_mode():
            codes = codec.encode(x, n_q=n_q)
            rows["decoded"].append(readings(master_to(codec.decode(codes)[0].numpy(), seconds), plan))
            if not detail:
                continue
            every = codec.decode(codec.encode(x))[0].numpy()
            rows[f"decoded, {codec.n_q} codebooks"].append(readings(master_to(every, seconds), plan))
            coded = codec.decode(codes)[0].numpy()[: len(render)]
            for cut in SWAP_HZ:  # the render's own bass under the decoded rest: where the key is lost
                low = sosfiltfilt(butter(8, cut, "low", fs=SR, output="sos"), render)
                high = sosfiltfilt(butter(8, cut, "high", fs=SR, output="sos"), coded)
                mixed = (low + high * np.sqrt(np.mean(render**2) / max(np.mean(coded**2), 1e-12))).astype(np.float32)
                rows[f"the original below {cut} Hz"].append(readings(master_to(mixed, seconds), plan))
            latent = codec.decoder.infer(codec.encoder(codec.pad(x)).transpose(1, 2))[0].numpy()
            rows["decoded, unquantized latent"].append(readings(master_to(latent[: len(render)], seconds), plan))
            if head:
                for name, y in loud_bin_swaps(codec, codes, x).items():
                    rows[name].append(readings(master_to(y, seconds), plan))
            if magnitude:
                synth = codec.decoder.head.synthesiser
                logmag = codec.decoder.logmag(codec.quantizer.decode_frames(codes).transpose(1, 2))
                orig = synth.analyse(x[:, : logmag.shape[1] * synth.hop])
                f = min(logmag.shape[1], orig.shape[1])
                y = synth_with_frequencies(synth, logmag[:, :f], bin_frequency(orig[:, :f]))[0].numpy()
                rows["original slopes"].append(readings(master_to(y, seconds), plan))
    right = [i for i, r in enumerate(rows["render"]) if r["key"] >= 1.0]
    return {
        k: {"kept": sum(v[i]["key"] >= 1.0 for i in right), "of": len(right),
            "chord": float(np.nanmean([r["chord"] for r in v])),
            "lost": [(first_seed + i, rows["render"][i]["key_read"], v[i]["key_read"])
                     for i in right if v[i]["key"] < 1.0]}
        for k, v in rows.items()
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    import torch

    from audiogen.codec.backends import load_codec

    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.pitch_drift", description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", nargs="+", required=True, help="codec folders")
    ap.add_argument("--plans", type=int, default=8, help="rendered 30 s plans (default 8; 0: tones only)")
    ap.add_argument("--n-q", type=int, default=4, help="codebooks, as the LM uses them (default 4)")
    ap.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the plans' seeds start here (default 0): another set of plans, to confirm a choice",
    )
    ap.add_argument(
        "--chromatic",
        action="store_true",
        help="tones on every semitone from MIDI 36 to 84, counted apart on white and black keys (instead of 12 tones)",
    )
    ap.add_argument(
        "--keys-only",
        action="store_true",
        help="only the plans' keys and chords, decoded as the LM's tokens are (no tones, no swaps)",
    )
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.plans < 0 or args.n_q < 1 or args.first_seed < 0:
        ap.error("--plans and --first-seed must be >= 0 and --n-q >= 1")
    torch.set_num_threads(1)
    codecs = [load_codec(name).eval() for name in args.codec]
    if args.chromatic and not args.keys_only:
        white_n = sum(m % 12 not in BLACK for m in CHROMATIC)
        black_n = len(CHROMATIC) - white_n
        print(f"| codec | audio | white keys off by > {OFF_CENTS} cents | black keys off | mean abs cents, white / "
              "black | the notes off (cents of the fundamental) |\n|---|---|---|---|---|---|")  # fmt: skip
        for codec in codecs:
            for kind, cents in chromatic_readings(codec, args.n_q).items():
                white, black = off_notes(cents)
                mean_w = np.mean([abs(v) for m, c in cents.items() if m % 12 not in BLACK for v in c])
                mean_b = np.mean([abs(v) for m, c in cents.items() if m % 12 in BLACK for v in c])
                notes = ", ".join(f"{m}: {cents[m][0]:+.0f}" for m in sorted(white + black)) or "–"
                print(f"| `{codec.name}` | {kind} | {len(white)} / {white_n} | {len(black)} / {black_n} | "
                      f"{mean_w:.0f} / {mean_b:.0f} | {notes} |", flush=True)  # fmt: skip
    elif not args.keys_only:
        print("| codec | " + " | ".join(f"MIDI {m}" for m in TONES) + " | mean abs, below C4 / from C4 |")
        print("|---" * (len(TONES) + 2) + "|")
        for codec in codecs:
            tones = tone_readings(codec, args.n_q)
            cells = [" / ".join(f"{c:+.0f}" for c in tones[m]) for m in TONES]
            low = np.mean([abs(c) for m in TONES if m < 60 for c in tones[m]])
            high = np.mean([abs(c) for m in TONES if m >= 60 for c in tones[m]])
            print(f"| `{codec.name}` | " + " | ".join(cells) + f" | {low:.0f} / {high:.0f} |", flush=True)
        print(
            "\n| codec | frames whose codes tell a bass note (MIDI 36-60) from the one a semitone up: first 1 / 2 / "
            f"{args.n_q} codebooks |\n|---|---|"
        )
        for codec in codecs:
            split = semitone_code_split(codec, args.n_q)
            print(f"| `{codec.name}` | " + " / ".join(f"{v:.2f}" for v in split.values()) + " |", flush=True)
    for codec in codecs:
        print(
            f"\n`{codec.name}`: decoding 30 s at {args.n_q} codebooks on one thread takes "
            f"{decode_seconds(codec, args.n_q):.2f} s (median of 3)",
            flush=True,
        )
    if args.plans:
        print("\n| codec | audio | render's right keys kept | chord accuracy | keys lost (plan: render's → read) |")
        print("|---|---|---|---|---|")
        for codec in codecs:
            readings = plan_readings(codec, args.plans, args.n_q, detail=not args.keys_only, first_seed=args.first_seed)
            for k, v in readings.items():
                lost = ", ".join(f"{i}: {a} → {b}" for i, a, b in v["lost"]) or "–"
                print(f"| `{codec.name}` | {k} | {v['kept']} / {v['of']} | {v['chord']:.3f} | {lost} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
