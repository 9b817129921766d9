"""``audiogen generate``: a request in words, emotion and style → a finished MP3 (or WAV/FLAC)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audiogen.audio import MP3_BITRATES, WRITABLE_FORMATS


def _request_kwargs(args: argparse.Namespace) -> dict:
    return dict(
        emotion=args.emotion,
        valence=args.valence,
        arousal=args.arousal,
        style=args.style,
        reference=args.reference,
        tempo=args.tempo,
        key=args.key,
        duration=args.duration,
    )


def _check_output(path: str, bitrate: int) -> Path:
    out = Path(path)
    if out.suffix.lower() not in WRITABLE_FORMATS:
        raise ValueError(f"output {out}: unsupported extension; allowed: {', '.join(WRITABLE_FORMATS)}")
    if out.suffix.lower() == ".mp3" and bitrate not in MP3_BITRATES:
        raise ValueError(f"--bitrate {bitrate} is not an MP3 bitrate; allowed: {MP3_BITRATES}")
    return out


def _run(args: argparse.Namespace) -> int:
    from audiogen.generator import MusicGenerator, make_requests
    from audiogen.lm.sampling import GenerationParams
    from audiogen.mastering.spec import MasteringSpec

    # Everything the user typed is checked before the model loads or any audio is made.
    out = _check_output(args.output, args.bitrate)
    params = GenerationParams(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        cfg_scale=args.cfg,
        emotion_scale=args.emotion_cfg,
        seed=args.seed,
        beat_scale=args.beat_guidance,
    )
    loudness = float(args.loudness) if args.loudness.lstrip("-").replace(".", "", 1).isdigit() else args.loudness
    spec = MasteringSpec(loudness=loudness, true_peak_db=args.true_peak, ending=args.ending)
    requests = make_requests(args.text, **_request_kwargs(args))  # fails before the model loads
    if args.prompt_audio is not None and not Path(args.prompt_audio).is_file():
        raise FileNotFoundError(f"--prompt-audio {args.prompt_audio}: no such file")
    gen = MusicGenerator.debug() if args.model == "debug" else MusicGenerator.from_pretrained(args.model)
    track = gen.generate(
        args.text,
        **_request_kwargs(args),
        params=params,
        mastering=spec,
        prompt=args.prompt_audio,
        progress=not args.no_progress,
    )
    track.save(out, bitrate=args.bitrate)
    print(f"{out}: {track.duration:.2f} s, seed {track.seed}, emotion {requests[0].attributes.emotion or '-'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate a track from a text prompt, emotion and style")
    p.add_argument("text", help="what the music should be, in words")
    g = p.add_argument_group("request")
    g.add_argument("--emotion", help="an emotion label, e.g. happy, sad, calm, tense, epic (see docs)")
    g.add_argument("--valence", type=float, help="valence in [-1, 1] (negative ↔ positive); needs --arousal")
    g.add_argument("--arousal", type=float, help="arousal in [-1, 1] (calm ↔ excited); needs --valence")
    g.add_argument("--style", help="comma-separated style tags, e.g. 'cinematic, strings, piano'")
    g.add_argument("--reference", help="an audio clip whose tempo, key and mood fill what the request leaves open")
    g.add_argument("--tempo", type=float, help="beats per minute, 40–220")
    g.add_argument("--key", help="e.g. 'C', 'F# minor', 'Bb major', 'Am'")
    g.add_argument("--duration", type=float, default=30.0, help="seconds, 1–600 (default 30)")
    g.add_argument("--prompt-audio", help="an audio file to continue from")
    s = p.add_argument_group("sampling")
    s.add_argument("--seed", type=int, default=None, help="makes the result reproducible")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int, default=250)
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance scale (1 = off)")
    s.add_argument("--emotion-cfg", type=float, default=None, help="a separate guidance scale for the emotion")
    s.add_argument(
        "--beat-guidance",
        type=float,
        default=None,
        help="how hard sampling is pushed onto the requested beat (0 = off; default: the model's own, 3 for the "
        "shipped model); acts only with --tempo or --prompt-audio",
    )
    m = p.add_argument_group("output")
    m.add_argument("-o", "--output", default="out.mp3", help="output file (.mp3, .wav, .flac, .ogg)")
    m.add_argument("--bitrate", type=int, default=192, help="MP3 bitrate in kbps")
    m.add_argument(
        "--loudness", default="streaming", help="'streaming' (-14), 'ebu-r128' (-23), 'atsc-a85' (-24) or LUFS"
    )
    m.add_argument("--true-peak", type=float, default=-1.0, help="true-peak ceiling in dBTP")
    m.add_argument("--ending", default="fade", choices=["fade", "none", "loop"])
    p.add_argument("--model", default=None, help="model folder (default: the shipped model; 'debug' = tiny random)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run)
