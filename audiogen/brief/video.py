"""A video as the brief: frames read with PyAV, hard cuts found from the frames, and each shot's mood.

Frames are decoded with PyAV (the ``av`` package, which bundles FFmpeg: no system packages) and scaled to a
``THUMB_W``-pixel-wide thumbnail. Per frame we keep a colour histogram (:data:`HIST_BINS` bins per RGB channel) and
the picture features of :mod:`audiogen.brief.image`. A **cut** starts frame ``t`` when the histogram distance
(half the L1 distance of the normalised histograms, in [0, 1]) between frames ``t - 1`` and ``t`` exceeds
:data:`CUT_THRESHOLD` and is at least :data:`CUT_RATIO` times the median distance in the second around it (so a
moving camera's steady churn does not count), and the previous cut is at least :data:`MIN_CUT_GAP` s before. Only
hard cuts are found; dissolves and fades are read as one shot. A **shot** runs from one cut to the next; its
features are the mean of its frames' features, and its valence/arousal come from them through the picture mapping.

The video's length is the end of its last frame minus the start of its first (frame times from the container),
which is what a track for it must last. A video longer than a track may last is refused as soon as a decoded frame
says so (its stated length, when the container gives one, is checked before anything is decoded).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiogen.brief import image

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
THUMB_W = 96  # pixels: frames are analysed at this width (height by the aspect ratio)
HIST_BINS = 16
CUT_THRESHOLD = 0.3
CUT_RATIO = 3.0
MIN_CUT_GAP = 0.25  # seconds
FEATURE_EVERY = 2  # picture features of every n-th frame (cut detection sees every frame)
MIN_SECONDS, MAX_SECONDS = 1.0, 600.0  # what a track may last (audiogen.request.check_duration)


@dataclass(frozen=True)
class Shot:
    """One shot, ``[start, end)`` seconds from the video's start, with its mean picture ``features`` and the
    ``valence``/``arousal`` they map to."""

    start: float
    end: float
    features: dict[str, float]
    valence: float
    arousal: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "valence": self.valence, "arousal": self.arousal,
                "features": dict(self.features)}  # fmt: skip


@dataclass(frozen=True)
class VideoReading:
    """What a video says: its length, frame rate and size, the cut times, the shots, the whole video's mood
    (shots weighted by duration) and style hints."""

    duration: float
    fps: float
    frames: int
    width: int
    height: int
    codec: str
    cuts: tuple[float, ...]
    shots: tuple[Shot, ...]
    valence: float
    arousal: float
    style_tags: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)
    scores: np.ndarray | None = None  # histogram distance per frame ``(frames,)`` (0 for the first)

    def to_dict(self) -> dict:
        """JSON-ready plain data (without the per-frame scores)."""
        return {
            "duration": self.duration, "fps": self.fps, "frames": self.frames, "width": self.width,
            "height": self.height, "codec": self.codec, "cuts": list(self.cuts),
            "shots": [s.to_dict() for s in self.shots], "valence": self.valence, "arousal": self.arousal,
            "style_tags": list(self.style_tags), "reasons": dict(self.reasons),
        }  # fmt: skip


def _allowed() -> str:
    return f"a video file ({', '.join(VIDEO_EXTENSIONS)}) with a video stream, 1–{MAX_SECONDS:g} s long"


def open_video(path: str | Path):
    """``(container, stream)`` of a video file; raises ``ValueError`` for a missing, unsupported or unreadable file,
    one without a video stream, or one whose stated length is outside what a track may last."""
    import av

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"video {path}: no such file; allowed: {_allowed()}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"video {path}: unsupported file type '{path.suffix}'; allowed: {_allowed()}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"video {path}: cannot be read as a video ({err}); allowed: {_allowed()}") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"video {path}: holds no video stream; allowed: {_allowed()}")
    stream = container.streams.video[0]
    stated = None
    if stream.duration is not None and stream.time_base is not None:
        stated = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        stated = container.duration / 1e6
    if stated is not None and stated > MAX_SECONDS + 0.5:
        container.close()
        raise ValueError(f"video {path}: {stated:.1f} s is longer than a track may last; allowed: {_allowed()}")
    return container, stream


def decoded_frames(container, stream):
    """Yield the ``av.VideoFrame`` of every packet of ``stream`` that decodes (damaged packets are skipped)."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue
        yield from frames


def _frames(path: Path):
    """Yield ``(start s, end s, thumbnail (h, THUMB_W, 3) uint8)`` for every decodable frame (packets that fail to
    decode are skipped: a few damaged packets do not spoil a video; one with none decodable has no frames)."""

    container, stream = open_video(path)
    stream.thread_type = "AUTO"
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    height = max(2, round(THUMB_W * stream.height / max(stream.width, 1) / 2) * 2)
    try:
        for frame in decoded_frames(container, stream):
            if frame.time is None:
                continue
            step = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 1 / rate
            rgb = frame.to_ndarray(format="rgb24", width=THUMB_W, height=height)
            yield float(frame.time), float(frame.time) + step, rgb
    finally:
        container.close()


def histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised colour histogram ``(3 * HIST_BINS,)`` of a uint8 picture ``(H, W, 3)`` (each channel sums to 1)."""
    idx = (rgb.reshape(-1, 3).astype(np.int32) * HIST_BINS) // 256  # (N, 3)
    counts = np.stack([np.bincount(idx[:, c], minlength=HIST_BINS) for c in range(3)])
    return (counts / max(1, idx.shape[0])).reshape(-1).astype(np.float32)


def detect_cuts(times: np.ndarray, hists: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Frame indices that start a new shot, and the per-frame distance ``(F,)``.

    Args:
        times: frame start times ``(F,)`` in seconds.
        hists: per-frame histograms ``(F, 3 * HIST_BINS)`` from :func:`histogram`.
    """
    n = len(times)
    dist = np.zeros(n, dtype=np.float32)
    if n > 1:
        dist[1:] = 0.5 * np.abs(np.diff(hists, axis=0)).sum(axis=1) / 3.0
    cuts: list[int] = []
    for t in range(1, n):
        if dist[t] <= CUT_THRESHOLD:
            continue
        near = (np.abs(times - times[t]) <= 0.5) & (np.arange(n) != t)
        local = float(np.median(dist[near])) if near.any() else 0.0
        if dist[t] < CUT_RATIO * local:
            continue
        if cuts and times[t] - times[cuts[-1]] < MIN_CUT_GAP:
            if dist[t] > dist[cuts[-1]]:
                cuts[-1] = t  # the stronger of two changes close together
            continue
        cuts.append(t)
    return cuts, dist


def _mean_features(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}


def read_video(path: str | Path) -> VideoReading:
    """Decode a video and read its length, cuts and shots (see the module docstring). The last few readings are
    kept, keyed by the file's path, size and modification time, so checking a brief and then scoring it decodes once.

    Raises ``ValueError`` naming what is wrong and what is allowed: missing or unsupported file, unreadable
    stream, no video stream, no frames, shorter than 1 s or longer than a track may last."""
    path = Path(path)
    open_video(path)[0].close()  # the checks that need no decoding, before the cache is consulted
    st = path.stat()
    return _read_video(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_video(path_text: str, _size: int, _mtime_ns: int) -> VideoReading:
    path = Path(path_text)
    container, stream = open_video(path)
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    width, height, codec = int(stream.width), int(stream.height), stream.codec_context.name
    container.close()
    starts, ends, hists, feats = [], [], [], {}
    with contextlib.closing(_frames(path)) as frames:
        for i, (start, end, rgb) in enumerate(frames):
            if end - (starts[0] if starts else start) > MAX_SECONDS + 0.5:  # too long already: decode no further
                raise ValueError(f"video {path}: lasts more than {MAX_SECONDS:g} s; allowed: {_allowed()}")
            starts.append(start)
            ends.append(end)
            hists.append(histogram(rgb))
            if i % FEATURE_EVERY == 0:
                feats[i] = image.image_features(rgb.astype(np.float32) / 255.0)
    if not starts:
        raise ValueError(f"video {path}: has no frames that can be decoded; allowed: {_allowed()}")
    times = np.asarray(starts, dtype=np.float64)
    t0 = float(times[0])
    duration = round(float(max(ends)) - t0, 6)
    if duration < MIN_SECONDS or duration > MAX_SECONDS:
        raise ValueError(f"video {path}: lasts {duration:.2f} s; allowed: {_allowed()}")
    cut_frames, dist = detect_cuts(times, np.stack(hists))
    bounds = [0, *cut_frames, len(times)]
    shots = []
    for a, b in itertools.pairwise(bounds):
        rows = [feats[i] for i in range(a, b) if i in feats] or [image.image_features(np.zeros((2, 2, 3)))]
        f = _mean_features(rows)
        v, ar, _ = image.emotion_point(f)
        end = duration if b == len(times) else round(float(times[b]) - t0, 6)
        shots.append(Shot(round(float(times[a]) - t0, 6) if a else 0.0, end, f, v, ar))
    weights = np.array([s.duration for s in shots])
    valence = round(float(np.average([s.valence for s in shots], weights=weights)), 3)
    arousal = round(float(np.average([s.arousal for s in shots], weights=weights)), 3)
    overall = {k: float(np.average([s.features[k] for s in shots], weights=weights)) for k in shots[0].features}
    tags, reasons = image.style_hints(overall, valence, arousal)
    cuts = tuple(s.start for s in shots[1:])
    return VideoReading(duration, fps, len(times), width, height, codec, cuts, tuple(shots), valence, arousal,
                        tags, reasons, dist)  # fmt: skip


def describe(reading: VideoReading) -> str:
    """A few lines for a person: the video, its cuts and each shot's mood."""
    from audiogen.conditioning.emotions import nearest_label

    r = reading
    lines = [
        f"video: {r.duration:.3f} s, {r.frames} frames at {r.fps:.3f} fps, {r.width}×{r.height}, {r.codec}",
        f"cuts ({len(r.cuts)}): " + (", ".join(f"{c:.3f}" for c in r.cuts) or "none"),
        f"whole video: valence {r.valence:+.2f}, arousal {r.arousal:+.2f} ({nearest_label(r.valence, r.arousal)})",
    ]
    for i, s in enumerate(r.shots, start=1):
        mood = nearest_label(s.valence, s.arousal)
        lines.append(f"  shot {i}: {s.start:7.3f}–{s.end:7.3f} s  valence {s.valence:+.2f} arousal {s.arousal:+.2f}"
                     f" ({mood}; brightness {s.features['brightness']:.2f}, saturation "
                     f"{s.features['saturation']:.2f})")  # fmt: skip
    lines.append("style hints: " + ("; ".join(f"{t} ({why})" for t, why in r.reasons.items()) or "none"))
    return "\n".join(lines)
