"""The page's request form → a validated request, with every error tied to the field it is about.

The checks are the API's own (:func:`audiogen.request.make_requests`, :func:`~audiogen.request.check_duration`, the
request's table :mod:`audiogen.request_fields` for the seed, :class:`~audiogen.master.MasteringSpec`), so the page says
exactly what ``MusicGenerator.generate`` would. Each field
is checked on its own first (so each message lands beside its field), then the whole request together.

A brief (an uploaded picture or video, :mod:`audiogen.studio.briefs`) is named by its id; the request keeps
``{"id", "kind", "name"}`` from the library's row, so a track's request brings its brief along when it is sent again.
With a video the duration field is not used: the track lasts the video's length.

Sizes are bounded before any check runs, so a message never quotes more than a short value back: the text at most
:data:`MAX_TEXT_CHARS` characters, at most :data:`MAX_STYLE_TAGS` style tags of at most :data:`MAX_TAG_CHARS`
characters each, every other field one value of at most :data:`MAX_FIELD_CHARS` characters.
"""

from __future__ import annotations

import secrets

from audiogen.request_fields import BY_NAME, SEED_RANGE, STUDIO, check_whole, names

# the text box, the request's fields the form shows (audiogen/request_fields.py), then the page's own settings
FIELDS = ("text", *names(STUDIO), "ending", "loudness", "variants", "seed", "brief")
MAX_VARIANTS = 8
MAX_SEED = SEED_RANGE[1]
MAX_TEXT_CHARS = 2000
MAX_STYLE_TAGS = 12
MAX_TAG_CHARS = 32  # the longest tag of the vocabulary has 15
MAX_FIELD_CHARS = 64  # any other field given as text (an emotion, a key, a number typed into the page)


class FormError(ValueError):
    """A request with errors: ``errors`` maps each field name (or ``"form"``) to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value):
    """Numbers typed into the page may arrive as text: ``"120"`` → 120.0; anything else is passed on unchanged
    (so the API's check reports it)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _whole(name: str, value, low: int, high: int) -> int:
    return check_whole(name, _number(value), low, high)


def _style_size(value) -> None:
    """Refuse a style of more than :data:`MAX_STYLE_TAGS` tags or a tag longer than :data:`MAX_TAG_CHARS` characters
    (the vocabulary's own check comes after)."""
    tags = value.replace(";", ",").split(",") if isinstance(value, str) else value
    if not isinstance(tags, (list, tuple)):
        return
    tags = [t for t in tags if not (isinstance(t, str) and not t.strip())]
    if len(tags) > MAX_STYLE_TAGS:
        raise ValueError(f"style must be at most {MAX_STYLE_TAGS} tags, got {len(tags)}")
    for tag in tags:
        if not isinstance(tag, str):
            raise ValueError(f"style tags must be text, got a {type(tag).__name__}")
        if len(tag.strip()) > MAX_TAG_CHARS:
            raise ValueError(f"a style tag must be at most {MAX_TAG_CHARS} characters, got one of {len(tag.strip())}")
    if isinstance(value, str) and len(value) > MAX_STYLE_TAGS * (MAX_TAG_CHARS + 2):  # blanks between the tags
        raise ValueError(f"style must be at most {MAX_STYLE_TAGS * (MAX_TAG_CHARS + 2)} characters, got {len(value)}")


def _sizes(get: dict) -> dict[str, str]:
    """Messages for fields too large to check (see the module's notes), by field."""
    errors = {}
    for name, value in get.items():
        try:
            if name == "style":
                _style_size(value)
            elif name in ("text", "brief"):
                continue  # the text has its own limit; a brief is looked up by its id only
            elif isinstance(value, (list, tuple, dict)):
                raise ValueError(f"{name} must be one value, got a {type(value).__name__}")
            elif isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"{name} must be at most {MAX_FIELD_CHARS} characters, got {len(value)}")
        except ValueError as err:
            errors[name] = str(err)
    return errors


def _brief(value, lookup) -> tuple[dict | None, dict | None]:
    """``(the request's brief, its library row)`` for the form's ``brief`` (an id, or a request's brief dict)."""
    if value is None:
        return None, None
    ident = value.get("id") if isinstance(value, dict) else value
    row = lookup(ident) if lookup is not None and isinstance(ident, str) else None
    if row is None:
        raise ValueError("brief: no such upload in the library (it may have been removed); upload the picture or "
                         "video again")  # fmt: skip
    return {"id": row["hash"], "kind": row["kind"], "name": row["name"]}, row


def clean(form: dict, briefs=None) -> dict:
    """Validate the page's form (a JSON object) and return the request to queue.

    Blank fields mean "let the composer choose" (tempo, key, emotion, style) or their default (duration 30 s,
    ending ``fade``, loudness ``streaming``, 1 variant, a random seed, no brief). ``briefs`` looks an upload's row
    up by its id (:meth:`~audiogen.studio.library.Library.brief`). Raises :class:`FormError`.
    """
    from audiogen.brief.request import check_brief
    from audiogen.mastering.spec import MasteringSpec, resolve_loudness
    from audiogen.request import check_duration, make_requests

    if not isinstance(form, dict):
        raise FormError({"form": "the request must be a JSON object of form fields"})
    unknown = sorted(set(form) - set(FIELDS))
    if unknown:
        named = ", ".join(name[:24] for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise FormError({"form": f"unknown field(s) {named}; allowed: {', '.join(FIELDS)}"})
    get = {k: (None if _blank(form.get(k)) else form.get(k)) for k in FIELDS}
    too_large = _sizes(get)
    if too_large:
        raise FormError(too_large)
    req: dict = {}
    errors: dict[str, str] = {}

    def check(field: str, fn) -> None:
        try:
            req[field] = fn()
        except ValueError as err:
            errors[field] = str(err)

    def text():
        if get["text"] is not None and not isinstance(get["text"], str):
            raise ValueError(f"text must be a string, got {type(get['text']).__name__}")
        if get["text"] and len(get["text"]) > MAX_TEXT_CHARS:
            raise ValueError(f"text must be at most {MAX_TEXT_CHARS} characters, got {len(get['text'])}")
        return get["text"].strip() if get["text"] else None

    def api(**one):  # the API's check of one argument; returns its value as given
        make_requests(None, **one)
        return next(iter(one.values()))

    def loudness():
        value = _number(get["loudness"] or "streaming")
        resolve_loudness(value)
        return value

    check("text", text)
    row = None
    try:
        req["brief"], row = _brief(get["brief"], briefs)
    except ValueError as err:
        errors["brief"] = str(err)
    video = row is not None and row["kind"] == "video"
    check("emotion", lambda: api(emotion=get["emotion"]))
    va = {"valence": _number(get["valence"]), "arousal": _number(get["arousal"])}
    try:
        make_requests(None, **va)
        req.update(va)
    except ValueError as err:
        msg = str(err)
        errors["arousal" if msg.startswith("arousal") else "valence"] = msg
    check("style", lambda: api(style=get["style"]))
    check("tempo", lambda: api(tempo=_number(get["tempo"])))
    check("key", lambda: api(key=get["key"]))
    if video:  # the video's length, whatever the field says
        req["duration"] = row["reading"]["duration"]
    else:
        duration = BY_NAME["duration"].default if get["duration"] is None else get["duration"]
        check("duration", lambda: check_duration(_number(duration)))
    check("ending", lambda: MasteringSpec(ending=get["ending"] or "fade").ending)
    if video and "ending" in req:
        check("ending", lambda: check_brief(None, "video", batch=False, ending=req["ending"]) or req["ending"])
    check("loudness", loudness)
    check("variants", lambda: _whole("variants", 1 if get["variants"] is None else get["variants"], 1, MAX_VARIANTS))
    seed = get["seed"]
    check("seed", lambda: secrets.randbits(31) if seed is None else BY_NAME["seed"].checked(_number(seed)))
    if errors:
        raise FormError(errors)
    try:  # what only the whole request can say (a key's mode against the emotion's, ...)
        make_requests(req["text"], **api_kwargs(req))
    except ValueError as err:
        raise FormError({"form": str(err)}) from None
    return req


def api_kwargs(req: dict) -> dict:
    """The :meth:`MusicGenerator.generate` request arguments of a cleaned request (without seed, mastering and the
    brief's file; with a video brief, ``duration`` is the video's length)."""
    return {k: req[k] for k in names(STUDIO)}
