"""A picture or a video as part of a request: checks before any work, and what they fill in.

What the brief fills is only what the request leaves open (explicit arguments always win): the valence/arousal
point when no emotion and no point is given, the style tags when none are given; a video also sets the duration
(its length, exactly) and the form (a plan aligned to its cuts, :mod:`audiogen.brief.align`).
"""

from __future__ import annotations

from pathlib import Path

ALLOWED = "give image= (a picture) or video= (a video), not both"


def check_brief(image, video, *, batch: bool, plan=None, melody_from=None, prompt=None, ending: str = "fade"):
    """Raise ``ValueError`` for a brief that cannot be combined with the rest of the request."""
    if image is not None and video is not None:
        raise ValueError(f"image and video were both given; {ALLOWED}")
    if image is None and video is None:
        return
    which = "image=" if image is not None else "video="
    if any(x is not None for x in (plan, melody_from, prompt)):
        raise ValueError(f"{which} cannot be combined with plan=, melody_from= or prompt= (each sets what is played)")
    if video is not None:
        if batch:
            raise ValueError("video= scores one request: give one text prompt (call generate once per video)")
        if isinstance(video, (list, tuple)):
            raise ValueError("video= takes one video file path")
        if ending == "loop":
            raise ValueError("a video brief ends on the video's last frame; allowed endings with video=: fade, none")


def read_images(image, n: int) -> list:
    """One :class:`~audiogen.brief.image.ImageReading` (or None) per request of a batch of ``n``: ``image`` is one
    path for all, or a list of ``n`` paths (None for a request without one). Reads every file now."""
    from audiogen.brief.image import read_image

    paths = list(image) if isinstance(image, (list, tuple)) else [image] * n
    if len(paths) != n:
        raise ValueError(f"image has {len(paths)} files for a batch of {n} prompts")
    cache: dict[str, object] = {}
    out = []
    for p in paths:
        if p is None:
            out.append(None)
            continue
        key = str(Path(p))
        if key not in cache:
            cache[key] = read_image(p)
        out.append(cache[key])
    return out


def fill(reading, emotion, valence, arousal, style) -> tuple:
    """``(emotion, valence, arousal, style)`` with what ``reading`` (an image or video reading) suggests filled in
    where the request left them open."""
    if reading is None:
        return emotion, valence, arousal, style
    if emotion is None and valence is None and arousal is None:
        valence, arousal = reading.valence, reading.arousal
    if style is None and reading.style_tags:
        style = list(reading.style_tags)
    return emotion, valence, arousal, style


def check_video_duration(duration, reading) -> float:
    """The track's duration for a video: the video's length; a given ``duration`` must agree to within half a frame."""
    if duration is not None:
        frame = 1.0 / reading.fps if reading.fps else 0.04
        if abs(float(duration) - reading.duration) > frame / 2:
            raise ValueError(f"duration {duration:g} s differs from the video's length ({reading.duration:.3f} s); a "
                             "video brief lasts as long as the video: leave duration out")  # fmt: skip
    return reading.duration


def image_fill(text, image, emotion, valence, arousal, style) -> tuple:
    """``(emotion, valence, arousal, style)`` with what the picture(s) suggest filled in where the request left them
    open (per request of a batch when ``text`` is a list)."""
    from audiogen.request import listify, style_tags

    batch = isinstance(text, (list, tuple))
    n = len(text) if batch else 1
    readings = read_images(image, n)  # every file is read now: an unreadable picture fails before any work
    if not batch:
        return fill(readings[0], emotion, valence, arousal, style)
    cols = [listify(v, n, k) for k, v in (("emotion", emotion), ("valence", valence), ("arousal", arousal),
                                          ("style", style))]  # fmt: skip
    rows = [fill(r, *(c[i] for c in cols)) for i, r in enumerate(readings)]
    emotion, valence, arousal, style = (list(col) for col in zip(*rows, strict=True))
    style = [style_tags(s) or () for s in style]  # a list of tag lists: one per request
    return emotion, valence, arousal, style


def video_plan(gen, text, video, *, emotion, valence, arousal, style, duration, seed: int, genre, **rest):
    """Read a video brief (every check before any generation) and compose the plan aligned to its cuts for
    ``gen`` (a :class:`~audiogen.generator.MusicGenerator`); the other arguments are those of its ``generate``
    (``seed`` drawn already).
    Returns ``(plan, duration, valence, arousal, style)`` of the request (what the video filled in)."""
    from audiogen.brief.align import aligned_plan
    from audiogen.brief.video import read_video
    from audiogen.request import check_duration, composer_key

    if duration is not None:
        check_duration(duration)
    reading = read_video(video)
    duration = check_video_duration(duration, reading)
    given = {"emotion": emotion, "valence": valence, "arousal": arousal}
    _, valence, arousal, style = fill(reading, emotion, valence, arousal, style)
    a = gen.make_requests(text, emotion=emotion, valence=valence, arousal=arousal, style=style,
                          duration=duration, **rest)[0].attributes  # fmt: skip
    if given["emotion"] is not None:
        given["valence"], given["arousal"] = a.valence, a.arousal
    shots = [(s.start, s.end, s.valence, s.arousal) for s in reading.shots]
    plan = aligned_plan(
        a.text, shots, duration, **given, style_tags=a.style_tags or (), tempo=a.tempo, key=composer_key(a.key),
        mode=a.mode, genre=genre, seed=seed,
    )  # fmt: skip
    plan.request["video"] = {"duration": reading.duration, "fps": reading.fps, "frames": reading.frames}
    return plan, duration, valence, arousal, style
