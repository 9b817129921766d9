"""The studio's worker: one thread that drains the job queue of a :class:`~audiogen.studio.library.Library`.

Jobs live in the database, not in memory: the page can close, a second tab can watch, and a server stop loses
nothing (a job it interrupted is queued again at the next start, :meth:`Library.recover`). One job runs at a time.
Variant ``i`` of a job with seed ``s`` is its own ``generate`` call with seed ``s + i``, so "again with this seed"
(seed ``s + i``, one variant) gives the same track bit for bit; each variant joins the library as soon as its files
are complete, and a failure removes the failed variant's files and says why on the job. A request with a brief
passes its stored file as ``image=`` or ``video=``; a video's results also get the video with the track as its sound
(``.mp4``, :func:`audiogen.brief.mux.mux`), written beside the track's other files before its row.

A running job can be cancelled (:meth:`Worker.cancel`): it stops at its next progress report, the variant it was
making is dropped (no file of it stays) and the variants it had kept stay in the library. A job resumed after a stop
makes only the variants it never made (:meth:`Library.variants_done`), not those the user deleted meanwhile.

The database failing (a lock held past its timeout, a full disk) never ends the thread: the error goes to stderr in
one line and to the page as the status ``"error: ..."``, and the worker tries again after a backoff (1 s doubling up
to 30 s) until the database works again. A job such an error interrupts is run again (the variants it had kept stay
kept), and a job's end that could not be stored is stored then; only a job's own failure marks it failed.

The first variant a job makes is generated with ``stream`` (:mod:`audiogen.studio.live`): its audio is heard while
it is made, from :attr:`Worker.live`, and its track is the one ``generate`` makes for the same seed. The other
variants, and a video brief's (performed shot by shot), are generated with ``generate``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback

import numpy as np

from audiogen.generator import MusicGenerator
from audiogen.request_fields import SEED_RANGE
from audiogen.studio.form import api_kwargs
from audiogen.studio.library import Library
from audiogen.studio.live import LiveAudio
from audiogen.studio.plan_view import plan_view

log = logging.getLogger("audiogen.studio")
PEAKS = 600  # waveform columns stored per track
_PROGRESS_EVERY_S = 0.2
_SAMPLING_SHARE = 0.9  # of a variant's progress bar; decoding, mastering and writing the files take the rest
RETRY_S = (1.0, 30.0)  # after a database error: the first wait before trying again, doubling up to the second
LIVE_CHUNK_S = 0.5  # the live stream's chunks (the first comes after about this much of generation)


class _Stopped(Exception):
    """The server is stopping between two variants: the job stays ``running`` and is resumed at the next start."""


class _Cancelled(Exception):
    """The job was cancelled while it ran: it stays ``cancelled``, the variant in the making is dropped."""


def load_generator(model: str | None) -> MusicGenerator:
    """``"debug"``: the tiny random test model; None: the shipped default; else a model folder."""
    if model == "debug":
        return MusicGenerator.debug()
    return MusicGenerator.from_pretrained(model)


def waveform_peaks(audio: np.ndarray, columns: int = PEAKS) -> list[float]:
    """The largest absolute sample in each of ``columns`` equal slices of ``audio`` ``(T,)``, 3 decimals."""
    n = max(1, min(columns, audio.size))
    edges = np.linspace(0, audio.size, n + 1).astype(int)
    peaks = np.maximum.reduceat(np.abs(audio), edges[:-1])
    return [round(float(p), 3) for p in peaks]


class Worker:
    """Loads the model, then runs queued jobs one at a time until :meth:`stop`.

    ``status`` is ``"loading"``, ``"ready"``, ``"busy"`` or ``"error: ..."`` (the model could not be loaded, or the
    database failed and is tried again after a wait of ``retry_s[0]`` s, doubling up to ``retry_s[1]`` s)."""

    def __init__(
        self,
        library: Library,
        model: str | None = None,
        generator: MusicGenerator | None = None,
        retry_s: tuple[float, float] = RETRY_S,
    ):
        self.library, self.model = library, model
        self.generator = generator
        self.retry_s = retry_s
        self.status = "loading" if generator is None else "ready"
        self._resume: dict | None = None  # a job a database error cut short: run again before claiming another
        self._ending: tuple[int, str | None] | None = None  # a job's end the database did not store yet
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cancelled: set[int] = set()  # jobs cancelled while they run (checked at each progress report)
        self._thread: threading.Thread | None = None
        self.live: LiveAudio | None = None  # the variant heard while it is generated, until its track is kept

    def start(self) -> None:
        """Run the worker in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="audiogen-studio-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop after the current job and wait up to ``timeout`` s; an unfinished job stays
        ``running`` in the database and is queued again at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        """Job ``job_id`` was cancelled in the library while it ran: stop it at its next progress report (or before
        its next variant)."""
        self._cancelled.add(job_id)

    def _loop(self) -> None:
        if self.generator is None:
            try:
                self.generator = load_generator(self.model)
                self.status = "ready"
            except Exception as err:  # said on the page; the server stays up to show it
                self.status = f"error: the model could not be loaded: {err}"
                log.error("%s", self.status)
                return
        delay = 0.0
        while not self._stop.is_set():
            try:
                found = self.run_once()
            except Exception as err:  # the database (locked, disk full, ...): said, waited for, tried again
                delay = min(self.retry_s[1], 2 * delay) if delay else self.retry_s[0]
                self.status = f"error: the queue's database failed: {_one_line(err)}; trying again in {delay:g} s"
                log.error("audiogen studio: %s", self.status)
                self._stop.wait(delay)
                continue
            if delay:
                delay = 0.0
                log.warning("audiogen studio: the queue's database works again")
            self.status = "ready"
            if not found:
                self._wake.wait(0.5)
                self._wake.clear()

    def run_once(self) -> bool:
        """Run the oldest queued job, if any; returns whether there was one.

        A database error is raised (the caller waits and calls again): a job it cut short is run again by the next
        call (its kept variants stay kept), and a job's end it kept from being stored is stored by the next call."""
        if self._ending is not None:
            self.library.finish_job(*self._ending)
            self._ending = None
            return True
        job = self._resume or self.library.claim_job()
        if job is None:
            return False
        self._resume = job
        self.status = "busy"
        error = None
        try:
            self._run(job)
        except _Stopped:
            log.info("job %d left for the next start", job["id"])
            self._resume, self.status = None, "ready"
            return True
        except _Cancelled:
            log.info("job %d cancelled while it ran", job["id"])
            self._cancelled.discard(job["id"])
            self._resume, self.status = None, "ready"
            return True
        except sqlite3.OperationalError:  # the database, not the job: the job is run again once it works
            raise
        except Exception as err:
            log.error("job %d failed:\n%s", job["id"], traceback.format_exc())
            error = _reason(err)
        self._resume, self._ending = None, (job["id"], error)
        self._cancelled.discard(job["id"])
        self.library.finish_job(job["id"], error=error)
        self._ending, self.status = None, "ready"
        return True

    def _run(self, job: dict) -> None:
        req, n = job["request"], job["variants"]
        done = self.library.variants_done(job["id"])  # a job resumed after a stop keeps what it had made
        progress = [1.0 if i in done else 0.0 for i in range(n)]
        last = [0.0]

        def report(i: int, fraction: float, force: bool = False) -> None:
            if job["id"] in self._cancelled:
                raise _Cancelled
            progress[i] = round(min(1.0, fraction), 3)
            now = time.monotonic()
            if force or now - last[0] >= _PROGRESS_EVERY_S:
                last[0] = now
                try:
                    self.library.set_progress(job["id"], progress)
                except sqlite3.OperationalError as err:  # only shown: the job goes on, and tries again later
                    log.error("audiogen studio: job %d: progress not stored: %s", job["id"], _one_line(err))
                    last[0] = now + self.retry_s[1]  # a try can wait out the lock's timeout: none for a while

        brief = self.brief_kwargs(req)
        kwargs = api_kwargs(req)
        if "video" in brief:
            kwargs["duration"] = None  # the video's length, read from the file again by generate
        streamed = "video" in brief  # a video is performed shot by shot: no stream
        for i in range(n):
            if i in done:
                continue
            if self._stop.is_set():
                raise _Stopped
            if job["id"] in self._cancelled or self.library.job_state(job["id"]) == "cancelled":
                raise _Cancelled
            seed = (job["seed"] + i) % (SEED_RANGE[1] + 1)  # kept in the request's range, 0 ≤ seed < 2**32
            call = dict(
                kwargs, **brief, seed=seed, mastering=_mastering(req),
                progress=lambda step, total, i=i: report(i, _SAMPLING_SHARE * step / max(total, 1)),
            )  # fmt: skip
            try:
                if not streamed:
                    streamed = True
                    track = self._stream(job, i, req["text"], call)
                else:
                    track = self.generator.generate(req["text"], **call)
                self._keep(job, i, seed, track, brief.get("video"))
            finally:
                self.live = None
            if job["id"] not in self._cancelled:
                report(i, 1.0, force=True)

    def _stream(self, job: dict, variant: int, text: str | None, call: dict):
        """Generate one variant with ``stream``, each chunk added to :attr:`live` as it comes; returns its track."""
        live = self.live = LiveAudio(job["id"], variant)
        try:
            with self.generator.stream(text, chunk_seconds=LIVE_CHUNK_S, **call) as stream:
                for chunk in stream:
                    if job["id"] in self._cancelled:
                        raise _Cancelled
                    live.add(chunk)
                return stream.track
        finally:
            live.end()

    def brief_kwargs(self, req: dict) -> dict:
        """``{"image": path}``, ``{"video": path}`` or ``{}``: the ``generate`` argument of a request's brief."""
        brief = req.get("brief")
        if not brief:
            return {}
        row = self.library.brief(brief["id"])
        path = None if row is None else self.library.brief_path(row["hash"], row["ext"])
        if path is None or not path.is_file():
            raise ValueError(f"the brief {brief['name']} is no longer in the library; upload it again")
        return {row["kind"]: str(path)}

    def _keep(self, job: dict, variant: int, seed: int, track, video: str | None = None) -> int:
        """Write the variant's files (with ``video``: also the video with the track as its sound), then its library
        row; on any failure, no file of it stays."""
        lib = self.library
        stem = lib.new_stem(job["id"], variant)
        try:
            track.save(lib.file_path(stem, "mp3"))
            track.save(lib.file_path(stem, "wav"))
            kinds = ["mp3", "wav"]
            if track.plan is not None:
                track.save_midi(lib.file_path(stem, "mid"))
                kinds.append("mid")
            if video is not None:
                from audiogen.brief.mux import mux

                mux(video, track.audio, track.sample_rate, lib.file_path(stem, "mp4"))
                kinds.append("mp4")
            request = dict(job["request"], seed=seed, variants=1)
            return lib.add_track(
                dict(
                    job_id=job["id"], variant=variant, title=track.display_title, prompt=track.prompt,
                    emotion=track.emotion, valence=track.valence, arousal=track.arousal, style=track.style,
                    tempo=track.tempo, key=track.key, seed=seed, duration=track.duration, request=request,
                    params=track.params, plan=plan_view(track.plan), peaks=waveform_peaks(track.audio), stem=stem,
                    kinds=kinds, model=track.model_version, originality=_originality(track),
                )
            )  # fmt: skip
        except BaseException:
            lib.remove_files(stem)
            raise


def _originality(track) -> dict | None:
    """The track's check against the training corpus (``Originality.to_dict()``), or None when it was not checked."""
    return None if track.originality is None else track.originality.to_dict()


def _mastering(req: dict):
    from audiogen.mastering.spec import MasteringSpec

    return MasteringSpec(loudness=req["loudness"], ending=req["ending"])


def _one_line(err: Exception) -> str:
    """``err`` in one line: its first line and its type."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{text} ({type(err).__name__})" if text else type(err).__name__


def _reason(err: Exception) -> str:
    """One line for the page: what failed."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, (ValueError, FileNotFoundError)):
        return text
    if isinstance(err, OSError):
        return f"could not write the track: {err.strerror or text}"
    return f"generation failed: {text} ({type(err).__name__})"
