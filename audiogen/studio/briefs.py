"""Uploaded briefs: one picture or one video sent to the studio as ``multipart/form-data``, streamed to disk under a
size limit, checked with the API's own readers (:func:`~audiogen.brief.image.read_image`,
:func:`~audiogen.brief.video.read_video`, :func:`~audiogen.brief.request.check_brief`) and kept in the library under
the SHA-256 of its bytes, with a thumbnail and what it reads as.

The name the browser sends is display text only (its last path component, control characters dropped); on disk an
upload is ``briefs/HASH.EXT``, where EXT is the name's extension only if it is one of the allowed picture or video
extensions. Every message names the file as the user called it, never a path of the library.

The whole body is bounded too (the file's limit plus a little multipart framing), by its Content-Length and as it
streams, and one upload is read at a time (:data:`READING`): a big picture takes a GB or more while it is decoded.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from audiogen.brief.image import IMAGE_EXTENSIONS
from audiogen.brief.video import VIDEO_EXTENSIONS

MAX_UPLOAD_BYTES = 1_000_000_000  # 1 GB: a few minutes of high-bitrate video
THUMB_SIDE = 320  # pixels on the longer side of a brief's thumbnail
MAX_NAME_CHARS = 120
_MULTIPART_SLACK = 16 * 1024  # bytes of multipart framing allowed on top of the file itself
READING = threading.Lock()  # held while an upload is decoded: one at a time, whatever the number of uploads


class UploadError(ValueError):
    """An upload that is refused; ``status`` is the HTTP status to answer with (413 for too large, else 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def allowed_text() -> str:
    """What an upload may be, for messages."""
    return f"one picture ({', '.join(IMAGE_EXTENSIONS)}) or one video ({', '.join(VIDEO_EXTENSIONS)})"


def display_name(filename: str | None) -> str:
    """The browser's file name as display text: its last path component, printable, at most
    :data:`MAX_NAME_CHARS` characters (``"upload"`` when nothing is left)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[-MAX_NAME_CHARS:] or "upload"


def brief_kind(name: str) -> tuple[str, str]:
    """``(kind, ext)`` of an upload called ``name``: ``"image"`` or ``"video"`` by its extension, and the extension
    (lower case, no dot) it is stored under. Raises :class:`UploadError` for any other extension."""
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image", suffix[1:]
    if suffix in VIDEO_EXTENSIONS:
        return "video", suffix[1:]
    what = f"unsupported file type '{suffix}'" if suffix else "a file name without an extension"
    raise UploadError(f"{name}: {what}; allowed: {allowed_text()}")


def megabytes(n: int) -> str:
    """``n`` bytes for a person: ``"12.3 MB"``."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _too_big(max_bytes: int, name: str | None = None, size: int | None = None) -> UploadError:
    what = f"{name}: " if name else "the upload: "
    got = f"{megabytes(size)}" if size is not None else f"more than {megabytes(max_bytes)}"
    return UploadError(f"{what}{got} is too large; a brief may be at most {megabytes(max_bytes)} "
                       f"({allowed_text()})", status=413)  # fmt: skip


@dataclass(frozen=True)
class Received:
    """A file streamed in by :func:`receive`: the temporary ``path``, the display ``name``, ``size`` in bytes, the
    ``kind`` (``"image"`` or ``"video"``) and stored extension ``ext`` its name implies, and its SHA-256 ``digest``."""

    path: Path
    name: str
    size: int
    kind: str
    ext: str
    digest: str


class _Receiver:
    """The callbacks of a streaming multipart parse: the one file part goes to ``tmp`` (hashed as it is written)."""

    def __init__(self, tmp: Path, max_bytes: int) -> None:
        self.tmp, self.max_bytes = tmp, max_bytes
        self.header: list[bytes] = [b"", b""]
        self.headers: dict[bytes, bytes] = {}
        self.names: list[str] = []  # display names of the file parts, in order
        self.size, self.sha = 0, hashlib.sha256()
        self.out = None
        self.error: UploadError | None = None
        self.kind: tuple[str, str] | None = None

    def callbacks(self) -> dict:
        def field(data, start, end):
            self.header[0] += data[start:end]

        def value(data, start, end):
            self.header[1] += data[start:end]

        def header_end():
            self.headers[self.header[0].strip().lower()] = self.header[1].strip()
            self.header = [b"", b""]

        return {"on_part_begin": self._begin, "on_header_field": field, "on_header_value": value,
                "on_header_end": header_end, "on_headers_finished": self._headers_done,
                "on_part_data": self._data, "on_part_end": self._end}  # fmt: skip

    def _begin(self) -> None:
        self.headers = {}

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"filename" not in params:
            return  # a plain form field: ignored
        name = display_name(params[b"filename"].decode("utf-8", "replace"))
        self.names.append(name)
        if len(self.names) > 1:
            self.error = _several(self.names)
            return
        try:
            self.kind = brief_kind(name)
        except UploadError as err:
            self.error = err
            return
        self.out = open(self.tmp, "wb")  # noqa: SIM115 - closed in _end or by receive()

    def _data(self, data, start, end) -> None:
        if self.out is None or self.error is not None:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.error = _too_big(self.max_bytes, self.names[0])
            return
        self.sha.update(chunk)
        self.out.write(chunk)

    def _end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


def _several(names: list[str]) -> UploadError:
    from audiogen.brief.request import check_brief

    kinds = set()
    for name in names:
        try:
            kinds.add(brief_kind(name)[0])
        except UploadError:
            kinds.add("other")
    if {"image", "video"} <= kinds:
        try:
            check_brief("image", "video", batch=False)  # the API's own message for a picture and a video at once
        except ValueError as err:
            return UploadError(f"{', '.join(names)}: {err}")
    return UploadError(f"{len(names)} files were sent ({', '.join(names)}); a brief is {allowed_text()}")


async def receive(request, folder: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> Received:
    """Stream the one file of a multipart ``request`` (a Starlette request) into a temporary file in ``folder``,
    refusing it as soon as it is over ``max_bytes`` (or its name's extension is not allowed, or a second file
    follows). Raises :class:`UploadError`; nothing stays on disk then."""
    from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadError(f"send the brief as multipart/form-data with one file field; allowed: {allowed_text()}")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + _MULTIPART_SLACK:
        raise _too_big(max_bytes, size=int(length))
    tmp = folder / f".upload-{secrets.token_hex(8)}.part"
    rx = _Receiver(tmp, max_bytes)
    parser = MultipartParser(params[b"boundary"], rx.callbacks())
    streamed = 0
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if rx.error is not None:
                raise rx.error
            streamed += len(chunk)
            if streamed > max_bytes + _MULTIPART_SLACK:  # form fields that are not the file count too
                raise _too_big(max_bytes, rx.names[0] if rx.names else None)
        parser.finalize()
        if rx.error is not None:
            raise rx.error
        if not rx.names:
            raise UploadError(f"the upload holds no file; allowed: {allowed_text()}")
        if rx.size == 0:
            raise UploadError(f"{rx.names[0]}: the file is empty; allowed: {allowed_text()}")
    except BaseException as err:  # a refusal, a malformed body, the browser gone: no file is left
        rx._end()
        tmp.unlink(missing_ok=True)
        if isinstance(err, MultipartParseError):
            raise UploadError(f"the upload is not well-formed multipart/form-data ({err})") from None
        raise
    rx._end()
    kind, ext = rx.kind
    return Received(tmp, rx.names[0], rx.size, kind, ext, rx.sha.hexdigest())


def store(library, upload: Received) -> dict:
    """Check a received file with the API's readers and keep it (file, thumbnail, then row) under its digest;
    returns the library row. The temporary file is gone afterwards, whatever happens. Raises :class:`UploadError`
    with the reader's message (naming the file as the user called it)."""
    tmp, name, size, kind, ext, digest = (upload.path, upload.name, upload.size, upload.kind, upload.ext,
                                          upload.digest)  # fmt: skip
    try:
        existing = library.brief(digest)
        if existing is not None and library.brief_path(digest, existing["ext"]).is_file():
            return library.add_brief(digest, existing["kind"], existing["ext"], name, size, existing["reading"])
        final = library.brief_path(digest, ext)
        os.replace(tmp, final)
        try:
            with READING:
                reading = read_brief(kind, final)
                write_thumbnail(kind, final, library.brief_path(digest, "thumb.jpg"))
        except ValueError as err:
            final.unlink(missing_ok=True)
            raise UploadError(str(err).replace(str(final), name)) from None
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        return library.add_brief(digest, kind, ext, name, size, reading)
    finally:
        tmp.unlink(missing_ok=True)


def read_brief(kind: str, path: Path) -> dict:
    """What a picture or a video reads as, as ``audiogen analyze-image`` / ``analyze-video --json`` report it
    (the reading, the composer's choices, the nearest emotion). Raises ``ValueError`` for an unreadable file."""
    from audiogen.brief.cli import choices
    from audiogen.conditioning.emotions import nearest_label

    if kind == "image":
        from audiogen.brief.image import read_image

        r = read_image(path)
    else:
        from audiogen.brief.video import read_video

        r = read_video(path)
    out = r.to_dict()
    out["nearest"] = nearest_label(r.valence, r.arousal)
    out["choices"] = choices(r.valence, r.arousal, r.style_tags)
    return out


def write_thumbnail(kind: str, path: Path, out: Path) -> bool:
    """Write a JPEG of at most :data:`THUMB_SIDE` pixels a side at ``out`` (atomically): the picture, or the video's
    first frame that decodes. Returns False (and writes nothing) for a video none of whose first frames decode."""
    from PIL import Image, ImageOps

    from audiogen.fileio import atomic_write

    if kind == "image":
        with Image.open(path) as im:
            im.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
            picture = ImageOps.exif_transpose(im).convert("RGB")
    else:
        picture = _first_frame(path)
        if picture is None:
            return False
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    atomic_write(out, lambda tmp: picture.save(tmp, format="JPEG", quality=85))
    return True


def _first_frame(path: Path):
    """The first frame of a video that decodes, as a PIL image (None if none of the first packets decode)."""
    from audiogen.brief.video import decoded_frames, open_video

    container, stream = open_video(path)
    try:
        for frame in decoded_frames(container, stream):
            return frame.to_image()
    finally:
        container.close()
    return None


def public(row: dict) -> dict:
    """An upload as the page sees it: its id (the digest), kind, display name, size, reading and thumbnail URL."""
    return {"id": row["hash"], "kind": row["kind"], "name": row["name"], "size": row["size"],
            "reading": row["reading"], "thumb": f"/api/briefs/{row['hash']}/thumb"}  # fmt: skip
