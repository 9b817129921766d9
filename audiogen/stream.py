"""Streaming: the audio of a track while it is being generated, the mastered track at the end.

:meth:`MusicGenerator.stream <audiogen.generator.MusicGenerator.stream>` returns a :class:`TrackStream`. Iterating it
yields float32 chunks ``(T_i,)`` at :data:`~audiogen.audio.SAMPLE_RATE` as the LM completes frames; after the last
one, :attr:`TrackStream.track` is the same :class:`~audiogen.track.Track` that ``generate`` returns for the same
request and seed. The first chunk comes as soon as its frames, and the few after them that the decoder's
convolutions reach (:attr:`~audiogen.codec.model.Decoder.context_frames`), are sampled: well under a second of
generation, where the whole track takes several.

How it works: ``generate`` runs in a background thread with this stream as its frame sink (:data:`FRAMES_SINK`);
the LM reports each frame as soon as its last codebook is sampled (``on_frames`` of
:func:`audiogen.lm.generate.generate`), and the consumer's thread decodes windows of them exactly as a whole
decode would (:meth:`~audiogen.codec.model.Decoder.infer_span`: each window with its context, the head's phase
carried). The LM's steps and the decoding run on two threads at once.

What the listener hears before the file exists: the mastering chain runs on the whole track (its high-pass, run
forwards and backwards for zero phase; its loudness; its limiter; its fade-out), so the stream plays the decoded
audio with the same fade-in at a **provisional gain**: the mastering target minus the loudness of the first chunk,
corrected by the plan's dynamics there (a plan that starts 4 dB under its mean starts 4 dB under the target). The
mastered file differs from the stream by the final gain (the gain the whole track needs, and the limiter's work on
its peaks), by the sub-sonic high-pass (which cannot run with zero phase on audio that is still arriving) and by the
ending (the file's fade-out, or a loop's crossfade); a test measures that difference. Chunks are clipped to [-1, 1].

Closing a stream before its end (``close()``, or leaving a ``for`` loop over it and letting it go) cancels the
generation at its next LM step. An error in the generation is raised by the iteration.
"""

from __future__ import annotations

import contextvars
import math
import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from audiogen.audio import SAMPLE_RATE

FRAMES_SINK: contextvars.ContextVar = contextvars.ContextVar("audiogen_frames_sink", default=None)
_DONE, _FRAMES, _BEGIN, _ERROR = "done", "frames", "begin", "error"


class StreamCancelled(Exception):
    """Raised inside the generation thread when the stream's consumer closed it."""


class TrackStream:
    """Chunks of one track's audio as it is generated; :attr:`track` is the mastered track once it is done.

    Made by :meth:`MusicGenerator.stream <audiogen.generator.MusicGenerator.stream>`; ``run`` is the call that
    generates the track (it must generate exactly one, and report to :data:`FRAMES_SINK`). ``chunk_seconds``: the
    length of each chunk (the last may be shorter)."""

    def __init__(self, gen, run, chunk_seconds: float = 0.5) -> None:
        if not (isinstance(chunk_seconds, (int, float)) and 0.02 <= chunk_seconds <= 10):
            raise ValueError(f"chunk_seconds must lie in [0.02, 10] seconds, got {chunk_seconds!r}")
        self.sample_rate = SAMPLE_RATE
        self._gen, self._run_fn = gen, run
        self._window = max(1, round(chunk_seconds * gen.codec.frame_rate))
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._track = None
        self._iterated = False
        self.provisional_gain_db: float | None = None
        self.first_chunk_seconds: float | None = None  # wall time from the start to the first chunk

    # -- the generation thread's side (the frame sink) ------------------------------------------------------------

    def begin(self, plans: list, n_frames: int, decoder_controls: torch.Tensor | None, spec) -> None:
        """Called by ``generate`` before sampling: the plan(s), the frame count, the decoder's controls ``[1,
        n_frames, N]`` (or None) and the :class:`~audiogen.master.MasteringSpec`."""
        if len(plans) != 1:
            raise ValueError("a stream makes one track; give one request (not a batch)")
        self._queue.put((_BEGIN, (plans[0], n_frames, decoder_controls, spec)))

    def frames(self, first: int, codes: torch.Tensor) -> None:
        """Called by the LM with completed frames ``[1, K, n]`` starting at frame ``first``."""
        if self._cancel.is_set():
            raise StreamCancelled
        self._queue.put((_FRAMES, (first, codes)))

    def _run(self) -> None:
        FRAMES_SINK.set(self)
        try:
            track = self._run_fn()
            self._queue.put((_DONE, track))
        except BaseException as exc:  # handed to the consumer's thread, which raises it
            self._queue.put((_ERROR, exc))

    # -- the consumer's side ---------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeError("a TrackStream can be iterated once")
        self._iterated = True
        return self._chunks()

    def _chunks(self) -> Iterator[np.ndarray]:
        import time

        start = time.perf_counter()
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,), daemon=True)
        self._thread.start()
        try:
            yield from self._decode_loop(start)
        finally:
            self.close()

    def _decode_loop(self, start: float) -> Iterator[np.ndarray]:
        import time

        codec = self._gen.codec
        n_frames, controls, codes, done = None, None, [], 0
        post: _Post | None = None
        next_start, carry, margin = 0, None, codec.decoder.context_frames
        while True:
            kind, payload = self._queue.get()
            if kind == _ERROR:
                raise payload
            if kind == _BEGIN:
                plan, n_frames, controls, spec = payload
                post = _Post(self._gen, plan, n_frames, spec)
                continue
            if kind == _FRAMES:
                first, new = payload
                if first != done:
                    raise RuntimeError(f"frames arrived out of order: {first} after {done}")
                codes.append(new)
                done += new.shape[-1]
            finished = kind == _DONE
            if finished:
                self._track = payload
            while post is not None and next_start < post.frames:
                end = min(post.frames, next_start + self._window)
                if not (finished or done >= n_frames or done >= end + margin):
                    break
                a, b = max(0, next_start - margin), min(done, end + margin)
                with torch.inference_mode():
                    z = codec.quantizer.decode_frames(torch.cat(codes, -1)[..., a:b])
                    ctl = None if controls is None else controls[:, a:b]
                    wav, carry = codec.decoder.infer_span(z, a, (next_start - a, end - a), carry, ctl)
                chunk = post(wav[0].numpy())
                if self.first_chunk_seconds is None:
                    self.first_chunk_seconds = time.perf_counter() - start
                self.provisional_gain_db = post.gain_db
                next_start = end
                if chunk.size:
                    yield chunk
            if finished:
                return

    @property
    def track(self):
        """The mastered :class:`~audiogen.track.Track` (iterates the rest of the stream first if needed)."""
        if self._track is None:
            if not self._iterated:
                for _ in self:
                    pass
            elif self._thread is not None:
                raise RuntimeError("the stream was closed before its end: it has no track")
        return self._track

    def close(self) -> None:
        """Stop the generation (at its next LM step) if it is still running, and wait for its thread."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()  # the queue is unbounded: the thread never waits on it

    def __enter__(self) -> TrackStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Post:
    """The stream's stand-in for mastering: the same fade-in, then the provisional gain, then a clip to [-1, 1];
    only the track's own length is played (a loop's extra tail is the file's to crossfade)."""

    def __init__(self, gen, plan, n_frames: int, spec) -> None:
        self.spec = spec
        self.plan, self.sr = plan, gen.codec.sample_rate
        duration = plan.duration if plan is not None else n_frames / gen.codec.frame_rate
        self.frames = min(n_frames, math.ceil(duration * gen.codec.frame_rate))
        self.samples_total = round(duration * self.sr)
        self.fade = round(self.spec.fade_in_s * self.sr)
        self.pos = 0
        self.gain_db: float | None = None
        self.pending: list[np.ndarray] = []

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        wav = wav[: max(0, self.samples_total - self.pos)].astype(np.float64)
        if self.fade and self.pos < self.fade:
            n = np.arange(self.pos, self.pos + wav.size)
            ramp = np.where(n < self.fade, np.sin(0.5 * np.pi * np.minimum(n, self.fade) / self.fade) ** 2, 1.0)
            wav = wav * ramp
        self.pos += wav.size
        if self.gain_db is None:
            self._set_gain(wav)
        gain = 10 ** ((self.gain_db or 0.0) / 20)
        return np.clip(wav * gain, -1.0, 1.0).astype(np.float32)

    def _set_gain(self, wav: np.ndarray) -> None:
        from audiogen.mastering.measure import integrated_loudness

        target = self.spec.target_lufs
        if target is None:
            self.gain_db = 0.0
            return
        self.pending.append(wav)
        heard = np.concatenate(self.pending)
        lufs = integrated_loudness(heard.astype(np.float32), self.sr)
        if not math.isfinite(lufs):
            return  # silence so far: any gain plays it as silence; decide on the first sound
        seconds = (self.pos - heard.size / 2) / self.sr  # the middle of what was measured
        self.gain_db = min(target - (lufs - planned_level_db(self.plan, seconds)), self.spec.max_gain_db)
        self.pending = []


def planned_level_db(plan, seconds: float) -> float:
    """The plan's dynamics (dB relative to the piece's mean) at ``seconds``; 0 without a plan or dynamics."""
    dyn = getattr(plan, "dynamics", None) or []
    level = 0.0
    for t, db in dyn:
        if t <= seconds:
            level = float(db)
        else:
            break
    return level


def pcm16(chunk: np.ndarray) -> bytes:
    """A chunk ``(T,)`` of float samples as signed 16-bit little-endian PCM (``2 T`` bytes; clipped to [-1, 1])."""
    return (np.clip(chunk, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
