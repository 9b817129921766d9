"""Live audio: a running job's first variant, heard while it is generated.

The worker generates that variant with :meth:`MusicGenerator.stream <audiogen.generator.MusicGenerator.stream>` and
adds each chunk to a :class:`LiveAudio` as it comes; ``GET /api/jobs/{id}/live`` (:func:`live_body`) serves it as a
WAV whose header declares an unknown length (``0xFFFFFFFF``, as streamed WAV does) followed by 16-bit mono PCM at
32 kHz, each chunk sent as soon as it is added. A browser's ``<audio>`` element plays such a response while it
arrives. Every listener gets the variant from its start; the response ends when the variant's last chunk is sent (or
the job was cancelled or failed). The chunks are kept in memory while the variant is made (2 bytes a sample: 3.8 MB a
minute) and dropped with the :class:`LiveAudio` once its track is in the library.

The stream plays at a provisional gain, without the file's ending (see :mod:`audiogen.stream`); the saved track
replaces it on the page.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable

import numpy as np

from audiogen.audio import SAMPLE_RATE
from audiogen.stream import pcm16

UNKNOWN_LENGTH = 0xFFFFFFFF  # the RIFF and data sizes of a WAV whose end is not known yet
POLL_S = 0.02  # how often a listener looks for new chunks


def wav_header(sample_rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV of unknown length."""
    block = 2 * channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", UNKNOWN_LENGTH, b"WAVE", b"fmt ", 16, 1, channels, sample_rate,
        sample_rate * block, block, 16, b"data", UNKNOWN_LENGTH,
    )  # fmt: skip


class LiveAudio:
    """The PCM of variant ``variant`` of job ``job_id`` so far. The worker's thread calls :meth:`add` and
    :meth:`end`; listeners (the event loop) read with :meth:`parts` and :attr:`ended`. Appending to a list and
    slicing it are atomic in CPython, so no lock is needed."""

    def __init__(self, job_id: int, variant: int, sample_rate: int = SAMPLE_RATE) -> None:
        self.job_id, self.variant, self.sample_rate = job_id, variant, sample_rate
        self._parts: list[bytes] = []
        self.ended = False

    def add(self, chunk: np.ndarray) -> None:
        """Append a chunk ``(T,)`` of float samples."""
        self._parts.append(pcm16(chunk))

    def end(self) -> None:
        """No chunk comes after this: listeners end their responses once they have sent what there is."""
        self.ended = True

    def parts(self, start: int = 0) -> list[bytes]:
        """The PCM chunks from number ``start`` on."""
        return self._parts[start:]

    @property
    def seconds(self) -> float:
        """The audio added so far, in seconds."""
        return sum(len(p) for p in self._parts) / (2 * self.sample_rate)

    def public(self) -> dict:
        """What the page is told: the job, the variant and the URL to play."""
        return {"job": self.job_id, "variant": self.variant, "url": f"/api/jobs/{self.job_id}/live"}


async def live_body(live: LiveAudio, stopping: Callable[[], bool]) -> AsyncIterator[bytes]:
    """The body of the live route: the WAV header, then each chunk as soon as it is added, until the variant's end
    (or the server's, ``stopping()``)."""
    yield wav_header(live.sample_rate)
    sent = 0
    while True:
        ended = live.ended  # read before the parts: every part added before the end is then sent
        new = live.parts(sent)
        if new:
            sent += len(new)
            yield b"".join(new)
        elif ended or stopping():
            return
        else:
            await asyncio.sleep(POLL_S)
