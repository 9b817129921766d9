"""``audiogen generate``: a request in words, emotion and style → a finished MP3 (or WAV/FLAC)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from audiogen.audio import MP3_BITRATES, WRITABLE_FORMATS
from audiogen.request_fields import BY_NAME, COMPOSE, FIELDS, GENERATE, add_arguments


def _request_kwargs(args: argparse.Namespace) -> dict:
    """The parsed request fields that :func:`~audiogen.request.make_requests` takes (the seed included: it is
    checked with them)."""
    import inspect

    from audiogen.request import make_requests

    taken = inspect.signature(make_requests).parameters
    return {f.name: getattr(args, f.name, None) for f in FIELDS if f.name in taken and f.name != "text"}


def _check_midi(path: str | None) -> Path | None:
    from audiogen.fileio import check_writable

    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise ValueError(f"--midi {out}: a MIDI file name must end in .mid or .midi")
    return check_writable(out, "--midi")


def _check_output(path: str, bitrate: int) -> Path:
    from audiogen.fileio import check_writable

    out = check_writable(path, "output")
    if out.suffix.lower() not in WRITABLE_FORMATS:
        raise ValueError(f"output {out}: unsupported extension; allowed: {', '.join(WRITABLE_FORMATS)}")
    if out.suffix.lower() == ".mp3" and bitrate not in MP3_BITRATES:
        raise ValueError(f"--bitrate {bitrate} is not an MP3 bitrate; allowed: {MP3_BITRATES}")
    return out


def _given_plan(args: argparse.Namespace):
    """The ``--plan`` to perform, checked whole and against the other flags before the model loads (None without
    one): a plan is performed as it is, so a ``--duration``, ``--tempo``, ``--key``, ``--genre`` or ``--ending`` that
    disagrees with it is refused (:func:`audiogen.plans.given_plan`), and so is ``--melody-from`` beside it."""
    if args.plan is None:
        return None
    from audiogen.fileio import check_readable
    from audiogen.plans import given_plan

    if args.melody_from is not None:
        raise ValueError("--melody-from makes a plan from a clip; it cannot be combined with --plan")
    path = args.plan if args.plan.lstrip().startswith("{") else check_readable(args.plan, "--plan")
    return given_plan(path, duration=args.duration, tempo=args.tempo, key=args.key, genre=args.genre,
                      ending=args.ending)  # fmt: skip


STREAM_STDOUT = "-"  # --stream's only destination: raw PCM on standard output
PIPE_CLOSED_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away


def _check_stream(args: argparse.Namespace) -> None:
    """Refuse a ``--stream`` that cannot be honoured, before the model loads (one track, played as it is made)."""
    if args.stream is None:
        return
    if args.stream != STREAM_STDOUT:
        raise ValueError(f"--stream {args.stream!r}: the only destination is '-' (raw 16-bit PCM on standard "
                         "output, for a player reading a pipe)")  # fmt: skip
    if sys.stdout.isatty():
        raise ValueError("--stream - writes raw audio to standard output, which is a terminal here; pipe it into a "
                         "player: ... --stream - | ffplay -f s16le -ar 32000 -ac 1 -nodisp -")  # fmt: skip
    why = {"--prompt-audio": "the prompt's audio would come first", "--video": "a video is performed shot by shot"}
    for flag, value in (("--prompt-audio", args.prompt_audio), ("--video", args.video)):
        if value is not None:
            raise ValueError(f"--stream plays one track while it is generated; it cannot be combined with {flag} "
                             f"({why[flag]}; generate without --stream)")  # fmt: skip


def _stream_to_stdout(gen, text, request: dict, progress: bool):
    """Generate one track, writing each chunk to standard output as it comes, as raw signed 16-bit little-endian
    mono PCM at 32 kHz (flushed chunk by chunk); everything else printed meanwhile goes to stderr. Returns the
    mastered track, or None when the reader closed the pipe (the generation is then cancelled)."""
    from audiogen.stream import pcm16

    out = sys.stdout.buffer
    try:
        with contextlib.redirect_stdout(sys.stderr), gen.stream(text, progress=progress, **request) as stream:
            for chunk in stream:
                out.write(pcm16(chunk))
                out.flush()
            return stream.track
    except BrokenPipeError:
        _discard_stdout()
        return None


def _discard_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's last flush of what the closed pipe did
    not take raises nothing at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture): nothing is flushed to a pipe
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _run(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before the model loads or any audio is made.
    from audiogen.fileio import check_readable, remove_stale_temporaries, written_together
    from audiogen.generator import MusicGenerator, make_requests
    from audiogen.lm.sampling import GenerationParams
    from audiogen.mastering.spec import MasteringSpec

    out = _check_output(args.output, args.bitrate)
    midi = _check_midi(args.midi)
    _check_stream(args)
    for target in (out, midi):
        if target is not None:
            remove_stale_temporaries(target)  # what a killed earlier run left (never a running one's)
    plan = _given_plan(args)
    for flag, path in (("--melody-from", args.melody_from), ("--prompt-audio", args.prompt_audio)):
        if path is not None:
            check_readable(path, flag)
    if args.prompt_audio is not None and (plan is not None or args.melody_from is not None):
        raise ValueError("--prompt-audio continues a clip; it cannot be combined with --plan or --melody-from")
    mux_out = _check_brief(args, plan)
    loudness = float(args.loudness) if args.loudness.lstrip("-").replace(".", "", 1).isdigit() else args.loudness
    ending = args.ending or ("loop" if plan is not None and plan.ending == "loop" else "fade")
    spec = MasteringSpec(loudness=loudness, true_peak_db=args.true_peak, ending=ending)
    kwargs = _request_kwargs(args)
    checked = dict(kwargs)
    if plan is not None:  # the plan's own length, tempo and key (flags that differ were refused above)
        checked.update(duration=plan.duration, tempo=plan.tempo, key=plan.key_name)
    if args.video is not None:  # the video's length (a given --duration must match it; checked above)
        from audiogen.brief.video import read_video

        checked["duration"] = read_video(args.video).duration
    elif args.image is not None:
        from audiogen.brief.request import image_fill

        e, v, a, s = image_fill(args.text, args.image, args.emotion, args.valence, args.arousal, args.style)
        checked.update(emotion=e, valence=v, arousal=a, style=s)
    checked["duration"] = BY_NAME["duration"].default if checked["duration"] is None else checked["duration"]
    requests = make_requests(args.text, **checked)  # fails before the model loads
    params = GenerationParams(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        cfg_scale=args.cfg,
        emotion_scale=args.emotion_cfg,
        seed=args.seed,
        beat_scale=args.beat_guidance,
        sketch_strength=args.sketch_strength,
    )
    if args.genre is not None:
        from audiogen.compose.genres import GENRE_TEMPLATES

        if args.genre not in GENRE_TEMPLATES:
            raise ValueError(f"--genre {args.genre!r}: allowed: {', '.join(GENRE_TEMPLATES)}")
    from audiogen.threads import apply_threads, pick_threads

    pick_threads(args.threads)  # a bad --threads or AUDIOGEN_THREADS fails here, before the model loads
    gen = MusicGenerator.debug() if args.model == "debug" else MusicGenerator.from_pretrained(args.model)
    apply_threads(args.threads)
    request = dict(kwargs, params=params, mastering=spec, plan=plan, melody_from=args.melody_from, genre=args.genre,
                   image=args.image, originality=args.originality,
                   originality_tries=args.originality_tries)  # fmt: skip
    if args.stream is not None:
        track = _stream_to_stdout(gen, args.text, request, progress=not args.no_progress)
        if track is None:
            print("audiogen generate: stopped: the reader of --stream closed the pipe (the player quit); the "
                  "generation was cancelled and no file was written", file=sys.stderr)  # fmt: skip
            return PIPE_CLOSED_STATUS
    else:
        track = gen.generate(args.text, **request, prompt=args.prompt_audio, video=args.video,
                             progress=not args.no_progress)  # fmt: skip
    with written_together(out, midi, mux_out):  # a failed write (a full disk, Ctrl+C) leaves no partial set
        if midi is not None:
            track.save_midi(midi)
        track.save(out, bitrate=args.bitrate)
        if mux_out is not None:
            from audiogen.brief.mux import mux

            mux(args.video, track.audio, track.sample_rate, mux_out)
    summary = f", {track.plan.summary()}" if track.plan is not None else ""
    said = sys.stderr if args.stream == STREAM_STDOUT else sys.stdout  # standard output carries only the audio
    print(f"{out}: {track.duration:.2f} s, seed {track.seed}, emotion {requests[0].attributes.emotion or '-'}{summary}",
          file=said)  # fmt: skip
    if mux_out is not None:
        print(f"{mux_out}: the video with this track as its sound (video stream copied)", file=said)
    for line in originality_lines(track):
        print(f"{out}: {line}", file=said)
    return 0


def originality_lines(track) -> list[str]:
    """What the CLI says of a track's originality: the seeds a strict check tried, then the verdict line."""
    lines = []
    tried = (track.params.get("originality") or {}).get("tried") or []
    if len(tried) > 1:
        steps = ", ".join(f"seed {t['seed']} {'flagged' if t['flagged'] else 'original'}" for t in tried)
        lines.append(f"--originality strict made {len(tried)} tracks: {steps}")
    if track.originality is not None:
        lines.append(f"originality: {track.originality.summary()}")
    return lines


def _check_brief(args: argparse.Namespace, plan) -> Path | None:
    """Check --image, --video and --mux before the model loads (the files are read now); returns the --mux path."""
    from audiogen.brief.request import check_brief

    check_brief(args.image, args.video, batch=False, plan=plan, melody_from=args.melody_from,
                prompt=args.prompt_audio, ending=args.ending)  # fmt: skip
    if args.mux is not None and args.video is None:
        raise ValueError("--mux writes a copy of the video with the track as its sound; it needs --video")
    if args.video is not None:
        from audiogen.brief.request import check_video_duration
        from audiogen.brief.video import read_video
        from audiogen.request import check_duration

        if args.duration is not None:
            check_duration(args.duration)
        check_video_duration(args.duration, read_video(args.video))
    if args.mux is None:
        return None
    from audiogen.brief.mux import check_mux_target
    from audiogen.fileio import remove_stale_temporaries

    target = check_mux_target(args.mux, args.video)
    remove_stale_temporaries(target)
    return target


def _compose(args: argparse.Namespace) -> int:
    from audiogen.compose.genres import GENRE_TEMPLATES
    from audiogen.compose.planner import compose_plan
    from audiogen.fileio import check_readable, check_writable, remove_stale_temporaries, written_together
    from audiogen.request import composer_key, make_requests

    out = Path(args.output)
    if out.suffix.lower() != ".json":
        raise ValueError(f"-o {out}: a plan is written as JSON; the name must end in .json")
    check_writable(out, "-o")
    midi = _check_midi(args.midi)
    for target in (out, midi):
        if target is not None:
            remove_stale_temporaries(target)
    if args.genre is not None and args.genre not in GENRE_TEMPLATES:
        raise ValueError(f"--genre {args.genre!r}: allowed: {', '.join(GENRE_TEMPLATES)}")
    if args.melody_from is not None:
        check_readable(args.melody_from, "--melody-from")
    a = make_requests(args.text, **_request_kwargs(args))[0].attributes
    seed = 0 if args.seed is None else args.seed
    kwargs = dict(
        valence=a.valence, arousal=a.arousal, emotion=a.emotion, style_tags=a.style_tags or (), tempo=a.tempo,
        key=composer_key(a.key), mode=a.mode, genre=args.genre, duration=a.duration,
        ending="loop" if args.ending == "loop" else "cadence", seed=seed,
    )  # fmt: skip
    if args.melody_from is not None:
        from audiogen.compose.transfer import plan_from_clip

        plan = plan_from_clip(args.melody_from, text=a.text, **kwargs)
    else:
        plan = compose_plan(a.text, **kwargs)
    with written_together(out, midi):
        plan.to_json(out)
        if midi is not None:
            plan.to_midi(midi)
    print(f"{out}: {plan.summary()}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate a track from a text prompt, emotion and style")
    p.add_argument("text", help="what the music should be, in words")
    g = p.add_argument_group("request")
    add_arguments(g, GENERATE)  # audiogen/request_fields.py
    g.add_argument("--prompt-audio", help="an audio file to continue from")
    g.add_argument(
        "--plan",
        help="perform this plan (JSON from `audiogen compose`, possibly edited) as it is, instead of composing one: "
        "its duration, tempo, key and ending are the track's, and a --duration, --tempo, --key, --genre or --ending "
        "that differs from the plan's is refused (compose a new plan, or edit the plan's JSON, to change them)",
    )
    s = p.add_argument_group("sampling")
    add_arguments(s, GENERATE, part="sampling")  # --seed
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
    s.add_argument(
        "--sketch-strength",
        type=float,
        default=None,
        help="how far the performance leans on the plan's sketch (the plan played by the soundfont, as codec "
        "tokens): 0 = the LM plays from the plan's controls alone, large = the sketch itself; default: the model's",
    )
    m = p.add_argument_group("output")
    m.add_argument("-o", "--output", default="out.mp3", help="output file (.mp3, .wav, .flac, .ogg)")
    m.add_argument("--bitrate", type=int, default=192, help="MP3 bitrate in kbps")
    m.add_argument(
        "--loudness", default="streaming", help="'streaming' (-14), 'ebu-r128' (-23), 'atsc-a85' (-24) or LUFS"
    )
    m.add_argument("--true-peak", type=float, default=-1.0, help="true-peak ceiling in dBTP")
    m.add_argument(
        "--ending",
        default=None,
        choices=["fade", "none", "loop"],
        help="how the track ends (default: fade; with --plan, the plan's: loop for a loop's plan, else fade)",
    )
    m.add_argument("--midi", help="also write the composition as a MIDI file (.mid)")
    m.add_argument(
        "--stream", metavar="DEST",
        help="play the track while it is generated: DEST '-' writes raw signed 16-bit little-endian mono PCM at "
        "32 kHz to standard output as the model makes it (the first chunk after about half a second of generation; "
        "at a provisional level, without the file's ending), e.g. `... --stream - | ffplay -f s16le -ar 32000 -ac 1 "
        "-nodisp -`; -o (and --midi) are still written at the end, and messages go to stderr. A closed pipe (the "
        "player quit) cancels the generation and writes no file (exit status 141). Not with --prompt-audio or --video",
    )  # fmt: skip
    m.add_argument("--mux", help="with --video: also write a copy of the video with the track as its sound (.mp4, "
                   ".mov, .mkv; the video stream is copied, not re-encoded)")  # fmt: skip
    p.add_argument("--model", default=None, help="model folder (default: the shipped model; 'debug' = tiny random)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--originality", default="check", choices=["check", "strict", "off"],
        help="check the track against the model's training corpus (melody, chords, tokens, sound; the result is "
        "printed and written into the MP3): 'check' (default), 'strict' (a flagged track is made again with the next "
        "seed, up to --originality-tries tracks in all) or 'off'",
    )  # fmt: skip
    p.add_argument("--originality-tries", type=int, default=3, help="with --originality strict: tracks at most (1-10)")
    p.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads (default: AUDIOGEN_THREADS, else the cores not busy with other work right now; at most the "
        "cores this process may use: a larger number is lowered to that, with a warning)",
    )  # fmt: skip
    p.set_defaults(func=_run)

    c = sub.add_parser("compose", help="compose a plan (form, chords, melody, drums; JSON, MIDI) without performing it")
    c.add_argument("text", help="what the music should be, in words")
    add_arguments(c, COMPOSE, defaults={"duration": BY_NAME["duration"].default})
    c.add_argument("--ending", default="cadence", choices=["cadence", "loop"])
    add_arguments(c, COMPOSE, part="sampling")  # --seed (default 0: the same plan for the same request)
    c.add_argument("-o", "--output", default="plan.json", help="the plan (.json)")
    c.add_argument("--midi", help="also write the plan as a MIDI file (.mid)")
    c.set_defaults(func=_compose, reference=None)
