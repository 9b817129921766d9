"""The studio's HTTP app (FastAPI): the page, its JSON API, progress as Server-Sent Events, and the downloads.

```
GET    /                              the page (static files of this package; nothing from the network)
GET    /api/options                   what the form offers (emotions, tags, keys, presets, ranges) and the page's token
POST   /api/jobs                      queue a request (application/json) → 201 {job} | 422 {"errors": {field: message}}
                                      | 415 (another content type) | 429 (the queue is full)
GET    /api/jobs                      the queue and the recent jobs
DELETE /api/jobs/{id}                 cancel a job: a queued one at once, a running one at its next progress report
GET    /api/jobs/{id}/live            the variant being generated, as it is made: audio/wav of unknown length, 16-bit
                                      PCM chunks as they come (404 unless the job is making its live variant now)
GET    /api/events                    text/event-stream: {"status", "jobs", "rev", "live"} whenever one changes
GET    /api/tracks?q=&emotion=&starred=   the library, newest first
GET    /api/tracks/{id}               one track
PATCH  /api/tracks/{id}               {"starred": bool} (application/json)
DELETE /api/tracks/{id}               delete a track and its files
GET    /api/tracks/{id}/file/{kind}   kind mp3 | wav | mid | mp4 (``?download=1``: as an attachment)
POST   /api/briefs                    multipart/form-data, one picture or video → 201 {brief} | 413/422/429 {"errors"}
GET    /api/briefs/{id}               an upload: kind, name, what it reads as (valence/arousal, style hints; cuts)
GET    /api/briefs/{id}/thumb         its thumbnail (JPEG: the picture, or the video's first frame)
```

Every request first passes :mod:`audiogen.studio.guard` (the Host, the Origin and token of state-changing requests,
the body's size; the security headers of every response). Error answers never quote a request's body back.

A download is found by the track's integer id and one of four kinds, a brief by the SHA-256 of its bytes; file names
come from the library's own records, so nothing a request says reaches the file system.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from audiogen.originality.check import Originality
from audiogen.studio import briefs
from audiogen.studio.form import FormError, clean
from audiogen.studio.guard import BodyTooLarge, Guard, GuardMiddleware
from audiogen.studio.library import MAX_ID, Library, QueueFullError
from audiogen.studio.live import live_body
from audiogen.studio.worker import Worker

STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {
    "app.js": "text/javascript", "brief.js": "text/javascript", "live.js": "text/javascript", "app.css": "text/css",
    "favicon.svg": "image/svg+xml",
}  # fmt: skip
_MEDIA = {"mp3": "audio/mpeg", "wav": "audio/wav", "mid": "audio/midi", "mp4": "video/mp4"}
EVENT_POLL_S = 0.05  # how often the event stream looks for a change (in memory; the database only on a change)
_RESYNC_S = 2.0  # ... and reads the database anyway this often
_KEEPALIVE_S = 15.0
MAX_WAITING_JOBS = 50  # queued and running jobs at once; one more is refused (429)
MAX_UPLOADS_AT_ONCE = 2  # uploads being received or read at once; one more is refused (429)
MAX_MESSAGE_CHARS = 2000  # an error message is cut here (the API's own messages are shorter; a value quoted is cut)
_OWN_LIMIT = frozenset({("POST", "/api/briefs")})  # routes that bound their bodies themselves (uploads, larger)


class _StudioApp(FastAPI):
    """FastAPI with the guard outside everything else, so that even the framework's own answer to a crash (500)
    carries the security headers."""

    def build_middleware_stack(self):
        return GuardMiddleware(super().build_middleware_stack(), self.state.guard, _OWN_LIMIT)


def create_app(
    library: Library, worker: Worker, start_worker: bool = True, max_upload_bytes: int = briefs.MAX_UPLOAD_BYTES,
    host: str = "127.0.0.1", port: int | None = None,
) -> FastAPI:  # fmt: skip
    """The app over ``library``; ``worker`` is started with the app (``start_worker``) and stopped with it. Uploaded
    briefs may be at most ``max_upload_bytes``. ``host`` and ``port`` are where the server listens (the Host names it
    answers to, besides the loopback ones; ``port`` None: any port), see :class:`~audiogen.studio.guard.Guard`."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start_worker:
            worker.start()
        yield
        app.state.stopping = True
        await asyncio.to_thread(worker.stop, 2.0)

    app = _StudioApp(title="audiogen studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.stopping = False
    app.state.max_upload_bytes = max_upload_bytes
    app.state.library, app.state.worker = library, worker
    app.state.guard = Guard(host, port)
    app.state.uploads = 0  # in progress (the event loop's own count: no lock needed)
    _error_handlers(app)
    _page_routes(app)
    _job_routes(app, library, worker)
    _track_routes(app, library)
    _brief_routes(app, library)
    return app


def _page_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=_STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    @app.get("/api/options")
    def options() -> dict:
        return dict(form_options(), max_upload_bytes=app.state.max_upload_bytes, token=app.state.guard.token)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> Response:
        """FastAPI's own answer quotes the input back (a whole body, if that was it): here, where and what only."""
        detail = [{"loc": list(e.get("loc", ())), "msg": _short(str(e.get("msg", "")), 200)} for e in err.errors()[:5]]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_request: Request, _err: BodyTooLarge) -> Response:
        limit = app.state.guard.max_body
        return JSONResponse({"detail": f"the request body is too large: at most {limit:,} bytes are accepted here"},
                            status_code=413)  # fmt: skip


async def json_body(request: Request):
    """The request's JSON body (a FastAPI dependency): 415 unless it is sent as ``application/json``, 400 when it is
    not JSON; its size is bounded by the guard."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(415, f"send the body as application/json, not {ctype[:60] or 'without a content type'}")
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise HTTPException(400, "the body is not valid JSON (or is nested too deeply)") from None


def _job_routes(app: FastAPI, library: Library, worker: Worker) -> None:
    @app.post("/api/jobs", status_code=201)
    def add_job(form=Depends(json_body)) -> Response:  # noqa: B008 - FastAPI's way of declaring a dependency
        try:
            req = clean(form, briefs=library.brief)
        except FormError as err:
            return JSONResponse({"errors": {k: _short(v) for k, v in err.errors.items()}}, status_code=422)
        try:
            job_id = library.add_job(req, req["variants"], req["seed"], max_waiting=MAX_WAITING_JOBS)
        except QueueFullError as err:
            return JSONResponse({"detail": str(err), "errors": {"form": str(err)}}, status_code=429)
        worker.wake()
        return JSONResponse(library.job(job_id), status_code=201)

    @app.get("/api/jobs")
    def jobs() -> dict:
        return {"status": worker.status, "jobs": library.jobs(), "live": _live(worker)}

    @app.get("/api/jobs/{job_id}/live")
    def live_audio(job_id: int) -> Response:
        live = worker.live
        if live is None or live.job_id != job_id:
            if library.job(job_id) is None:
                raise HTTPException(404, f"no job {job_id}")
            raise HTTPException(404, f"job {job_id} is not making its live variant now (a running job's first variant "
                                "is heard while it is generated; finished ones are in the library)")  # fmt: skip
        return StreamingResponse(
            live_body(live, lambda: app.state.stopping),
            media_type="audio/wav",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.delete("/api/jobs/{job_id}")
    def cancel_job(job_id: int) -> dict:
        was = library.cancel_job(job_id)
        if was is None:
            if library.job(job_id) is None:
                raise HTTPException(404, f"no job {job_id}")
            raise HTTPException(409, f"job {job_id} has already ended (only queued and running jobs can be cancelled)")
        if was == "running":
            worker.cancel(job_id)
        return {"cancelled": job_id}

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        return StreamingResponse(
            _event_stream(app),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _track_routes(app: FastAPI, library: Library) -> None:
    @app.get("/api/tracks")
    def tracks(
        q: str = Query("", max_length=200),
        emotion: str = Query("", max_length=40),
        starred: bool = False,
        limit: int = Query(100, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_ID),
    ) -> dict:
        page, total = library.tracks(q, emotion, starred, limit, offset)
        return {"tracks": [_public(t) for t in page], "total": total, "rev": library.revision()}

    @app.get("/api/tracks/{track_id}")
    def track(track_id: int) -> dict:
        return _public(_get(library, track_id))

    @app.patch("/api/tracks/{track_id}")
    def update_track(track_id: int, body=Depends(json_body)) -> dict:  # noqa: B008
        if not isinstance(body, dict) or set(body) != {"starred"} or not isinstance(body["starred"], bool):
            raise HTTPException(422, 'send {"starred": true} or {"starred": false}')
        if not library.set_starred(track_id, body["starred"]):
            raise HTTPException(404, f"no track {track_id} in the library")
        return _public(_get(library, track_id))

    @app.delete("/api/tracks/{track_id}")
    def delete_track(track_id: int) -> dict:
        if not library.delete_track(track_id):
            raise HTTPException(404, f"no track {track_id} in the library")
        return {"deleted": track_id}

    @app.get("/api/tracks/{track_id}/file/{kind}")
    def download(track_id: int, kind: Literal["mp3", "wav", "mid", "mp4"], download: bool = False) -> Response:
        t = _get(library, track_id)
        if kind not in t["kinds"]:
            raise HTTPException(404, f"track {track_id} has no {kind.upper()} file")
        path = library.file_path(t["stem"], kind)
        if not path.is_file():
            raise HTTPException(404, f"the {kind.upper()} file of track {track_id} is missing from the library")
        name = f"audiogen-{track_id}-{_slug(t['title'])}.{kind}"
        disposition = "attachment" if download else "inline"
        return FileResponse(path, media_type=_MEDIA[kind], filename=name, content_disposition_type=disposition)


def _brief_routes(app: FastAPI, library: Library) -> None:
    @app.post("/api/briefs", status_code=201)
    async def upload(request: Request) -> Response:
        if app.state.uploads >= MAX_UPLOADS_AT_ONCE:
            busy = (f"{app.state.uploads} uploads are being received or read already (at most {MAX_UPLOADS_AT_ONCE} "
                    "at once); try again when they are done")  # fmt: skip
            return JSONResponse({"errors": {"brief": busy}}, status_code=429)
        app.state.uploads += 1
        try:
            received = await briefs.receive(request, library.briefs_dir, app.state.max_upload_bytes)
            row = await asyncio.to_thread(briefs.store, library, received)
        except briefs.UploadError as err:
            return JSONResponse({"errors": {"brief": _short(str(err))}}, status_code=err.status)
        finally:
            app.state.uploads -= 1
        return JSONResponse(briefs.public(row), status_code=201)

    @app.get("/api/briefs/{digest}")
    def brief(digest: str) -> dict:
        return briefs.public(_get_brief(library, digest))

    @app.get("/api/briefs/{digest}/thumb")
    def thumb(digest: str) -> Response:
        row = _get_brief(library, digest)
        path = library.brief_path(row["hash"], "thumb.jpg")
        if not path.is_file():
            raise HTTPException(404, "this brief has no thumbnail (none of the video's first frames decode)")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


def _get_brief(library: Library, digest: str) -> dict:
    row = library.brief(digest)
    if row is None:
        raise HTTPException(404, "no such brief in the library (upload the picture or video again)")
    return row


def _get(library: Library, track_id: int) -> dict:
    t = library.track(track_id)
    if t is None:
        raise HTTPException(404, f"no track {track_id} in the library")
    return t


def _public(t: dict) -> dict:
    """A track as the page sees it: no file names, a URL per file kind instead; ``originality`` (None: not checked)
    is the check's ``to_dict()`` with its one-line ``summary``."""
    out = {k: v for k, v in t.items() if k != "stem"}
    out["files"] = {kind: f"/api/tracks/{t['id']}/file/{kind}" for kind in t["kinds"]}
    if t.get("originality"):
        out["originality"] = dict(t["originality"], summary=Originality.from_dict(t["originality"]).summary())
    brief = (t.get("request") or {}).get("brief")
    if brief:
        out["brief"] = dict(brief, thumb=f"/api/briefs/{brief['id']}/thumb")
    return out


def _live(worker: Worker) -> dict | None:
    """The variant heard live now (``{"job", "variant", "url"}``), or None."""
    live = worker.live
    return None if live is None else live.public()


def _short(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to at most ``limit`` characters."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "track"


async def _event_stream(app: FastAPI):
    """Snapshots of the worker's status, the queue, the library revision and the live variant, sent when they change.
    While the database cannot be read, the status still goes out, with the queue and revision last read."""
    library, worker = app.state.library, app.state.worker
    last, seen, quiet, sent_at = None, None, _RESYNC_S, 0.0
    jobs, rev = None, None
    yield "retry: 1000\n\n"
    while not app.state.stopping:
        now = (library.changes, worker.status, worker.live)
        if now != seen or quiet >= _RESYNC_S:
            seen, quiet = now, 0.0
            try:
                jobs = await asyncio.to_thread(library.jobs)
                rev = await asyncio.to_thread(library.revision)
            except sqlite3.OperationalError:  # the worker's status says so; read again at the next change or resync
                pass
            snapshot = json.dumps({"status": worker.status, "jobs": jobs, "rev": rev, "live": _live(worker)})
            if jobs is not None and rev is not None and snapshot != last:
                last, sent_at = snapshot, 0.0
                yield f"data: {snapshot}\n\n"
        if sent_at >= _KEEPALIVE_S:
            sent_at = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(EVENT_POLL_S)
        quiet += EVENT_POLL_S
        sent_at += EVENT_POLL_S


def form_options() -> dict:
    """What the form offers, from the API's own vocabularies and ranges."""
    from audiogen.conditioning.emotions import EMOTIONS
    from audiogen.conditioning.styles import GENRE_TAGS, INSTRUMENTS, PRODUCTION
    from audiogen.conditioning.validate import DURATION_RANGE, TEMPO_RANGE
    from audiogen.mastering.spec import ENDINGS, LOUDNESS_PRESETS
    from audiogen.studio.form import MAX_VARIANTS

    tonics = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return {
        "emotions": {k: list(v) for k, v in EMOTIONS.items()},
        "style_tags": {"genres": list(GENRE_TAGS), "instruments": list(INSTRUMENTS), "production": list(PRODUCTION)},
        "keys": [f"{t} {m}" for m in ("major", "minor") for t in tonics],
        "loudness": LOUDNESS_PRESETS,
        "endings": list(ENDINGS),
        "tempo": list(TEMPO_RANGE),
        "duration": list(DURATION_RANGE),
        "max_variants": MAX_VARIANTS,
    }
