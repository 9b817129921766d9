"""``audiogen analyze-image`` and ``audiogen analyze-video``: what a picture or a video brief reads as, and the
musical choices it leads to, without generating anything."""

from __future__ import annotations

import json
import sys


def choices(valence: float, arousal: float, style_tags: tuple[str, ...], text: str | None = None) -> dict:
    """What the composer makes of a brief's point and tags (seed 0): genre (and why), mode, tempo, loudness, note
    density, register and tension."""
    from audiogen.compose.planner import PlanRequest, piece_params

    p, why = piece_params(PlanRequest(text=text, valence=valence, arousal=arousal, style_tags=style_tags))
    return {"genre": p.genre, "genre_reason": why["genre"], "mode": p.mode, "tempo": p.tempo,
            "dynamics": p.dynamics, "density": p.density, "register": p.register, "tension": p.tension,
            "emotion": p.emotion}  # fmt: skip


def _format_choices(c: dict) -> str:
    return (f"choices: {c['genre']} ({c['genre_reason']}), {c['mode']}, {c['tempo']:g} BPM, velocity "
            f"{c['dynamics']}, {c['density']:g} melody notes per beat, register {c['register']:+d}, tension "
            f"{c['tension']:.2f}, nearest emotion {c['emotion']}")  # fmt: skip


def _analyze_image(args) -> int:
    from audiogen.brief.image import describe, read_image

    results, failed = [], 0
    for path in args.files:
        try:
            reading = read_image(path)
        except ValueError as err:
            failed += 1
            print(f"audiogen analyze-image: error: {err}", file=sys.stderr, flush=True)
            continue
        c = choices(reading.valence, reading.arousal, reading.style_tags, args.text)
        results.append({"file": str(path), **reading.to_dict(), "choices": c})
        if not args.json:
            print(f"{path}\n{describe(reading)}\n{_format_choices(c)}\n", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 2 if failed else 0


def _analyze_video(args) -> int:
    from audiogen.brief.align import aligned_plan
    from audiogen.brief.video import describe, read_video

    reading = read_video(args.file)
    shots = [(s.start, s.end, s.valence, s.arousal) for s in reading.shots]
    plan = aligned_plan(args.text, shots, reading.duration, seed=0)
    c = choices(reading.valence, reading.arousal, reading.style_tags, args.text)
    if args.json:
        print(json.dumps({"file": str(args.file), **reading.to_dict(), "choices": c, "plan": plan.summary(),
                          "plan_shots": plan.request["shots"]}, indent=2))  # fmt: skip
        return 0
    print(f"{args.file}\n{describe(reading)}\n{_format_choices(c)}\nplan: {plan.summary()}")
    for i, s in enumerate(plan.request["shots"], start=1):
        grid = {"bar": "cut on a bar line", "beat": "cut on a beat", "end": "ends on the last frame"}[s["grid"]]
        print(f"  section {i}: {s['start']:.3f}–{s['end']:.3f} s at {s['tempo']:.2f} BPM, {s['mode']}, {grid}")
    kept = {s["start"] for s in plan.request["shots"]}
    joined = [t for t in reading.cuts if round(t, 4) not in kept]
    if joined:
        print("cuts joined to a neighbouring section (shot too short): " + ", ".join(f"{t:.3f}" for t in joined))
    return 0


def register(subparsers) -> None:
    """Add ``audiogen analyze-image`` and ``audiogen analyze-video`` to the CLI."""
    p = subparsers.add_parser(
        "analyze-image",
        help="what a picture brief reads as: colour features, valence/arousal, style hints, musical choices",
        description="Read pictures as music briefs: brightness, saturation, warmth, contrast and edge density, the "
        "valence/arousal point they map to (Valdez & Mehrabian 1994 colour-emotion coefficients, term by term), "
        "the style hints and what the composer chooses from them. Unreadable files are reported (exit status 2).",
    )
    p.add_argument("files", nargs="+", metavar="IMAGE", help="picture files (jpg, png, webp, ...)")
    p.add_argument("--text", default=None, help="the request's words, as generate would get them")
    p.add_argument("--json", action="store_true", help="print a JSON list of results instead of text")
    p.set_defaults(func=_analyze_image)
    v = subparsers.add_parser(
        "analyze-video",
        help="what a video brief reads as: length, cuts, each shot's mood, the plan's sections",
        description="Read a video as a music brief: its exact length, the hard cuts found in its frames, each "
        "shot's valence/arousal, and the plan's sections aligned to the cuts (seed 0).",
    )
    v.add_argument("file", metavar="VIDEO", help="a video file (mp4, mov, mkv, webm, ...)")
    v.add_argument("--text", default=None, help="the request's words, as generate would get them")
    v.add_argument("--json", action="store_true", help="print JSON instead of text")
    v.set_defaults(func=_analyze_video)
