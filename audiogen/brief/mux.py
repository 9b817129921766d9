"""A copy of a video with a track as its sound: the video stream's packets copied as they are (not re-encoded), the
track encoded as AAC, written atomically (a temporary name, then a rename).

The video's own sound, if any, is left out. The audio stream lasts exactly as many samples as the track (the last
AAC packet's duration is cut to the track's end), and the track made for a video lasts the video's length, so the
copy lasts as long as the original to the frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MUX_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AAC_BITRATE = 192_000
FRAME_SAMPLES = 1024  # samples per AAC frame


def check_mux_target(path: str | Path, video: str | Path | None = None) -> Path:
    """Check before any work that ``path`` can take a muxed copy: a writable place, a supported container
    (:data:`MUX_FORMATS`), not the video itself. Returns the path; raises ``ValueError``."""
    from audiogen.fileio import check_writable

    path = Path(path)
    if path.suffix.lower() not in MUX_FORMATS:
        raise ValueError(f"--mux {path}: unsupported container '{path.suffix}'; allowed: {', '.join(MUX_FORMATS)}")
    if video is not None and Path(video).exists() and path.exists() and path.resolve() == Path(video).resolve():
        raise ValueError(f"--mux {path}: is the video itself; write the copy to another file")
    return check_writable(path, "--mux")


def _audio_frames(audio: np.ndarray, sample_rate: int):
    """``av.AudioFrame`` objects of :data:`FRAME_SAMPLES` samples of mono float ``audio`` ``(T,)``."""
    import av

    for start in range(0, len(audio), FRAME_SAMPLES):
        chunk = np.ascontiguousarray(audio[start : start + FRAME_SAMPLES], dtype=np.float32)[None]  # (1, n)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        yield frame


def _write(video: Path, audio: np.ndarray, sample_rate: int, tmp: str, fmt: str) -> None:
    import av

    with av.open(str(video)) as src, av.open(tmp, "w", format=fmt) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=sample_rate, layout="mono")
        aout.bit_rate = AAC_BITRATE
        total = len(audio)
        packets = []
        for frame in _audio_frames(audio, sample_rate):
            packets += aout.encode(frame)
        packets += aout.encode(None)
        for packet in src.demux(vin):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = vout
            dst.mux(packet)
        tb = aout.time_base
        for packet in packets:
            if packet.pts is not None and packet.duration:
                end = int(round(total / sample_rate / tb)) if tb else None
                if end is not None and packet.pts + packet.duration > end:
                    packet.duration = max(1, end - packet.pts)  # the last frame's padding is not played
            dst.mux(packet)


def mux(video: str | Path, audio: np.ndarray, sample_rate: int, out: str | Path) -> Path:
    """Write ``out``: the video stream of ``video`` copied packet for packet, with mono ``audio`` ``(T,)`` at
    ``sample_rate`` Hz as its AAC sound. Nothing is left under ``out`` if writing fails. Returns ``out``."""
    import av

    from audiogen.fileio import atomic_write

    out = check_mux_target(out, video)
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise ValueError("the track to mux must be finite mono samples (T,) with T > 0")
    fmt = MUX_FORMATS[out.suffix.lower()]
    try:
        atomic_write(out, lambda tmp: _write(Path(video), audio, int(sample_rate), tmp, fmt))
    except av.FFmpegError as err:
        raise ValueError(f"--mux {out}: the video stream cannot be copied into a {out.suffix} file ({err}); "
                         f"try another container ({', '.join(MUX_FORMATS)})") from None  # fmt: skip
    return out


def stream_summary(path: str | Path) -> dict:
    """The streams of a media file: per stream its type, codec, packet count, start and end (seconds: the pts of
    its first packet and the pts plus duration of its last; an AAC stream starts before 0 by its encoder delay) and
    packet sizes, and the file's duration; what the mux tests and the benchmark compare."""
    import av

    out: dict = {"streams": []}
    with av.open(str(path)) as c:
        out["duration"] = c.duration / 1e6 if c.duration is not None else None
        ends: dict[int, float] = {}
        starts: dict[int, float] = {}
        counts: dict[int, int] = {}
        sizes: dict[int, list[int]] = {}
        for packet in c.demux():
            if packet.dts is None or packet.pts is None:
                continue
            i, tb = packet.stream.index, packet.time_base
            t0, t1 = float(packet.pts * tb), float((packet.pts + (packet.duration or 0)) * tb)
            starts[i] = min(starts.get(i, t0), t0)
            ends[i] = max(ends.get(i, t1), t1)
            counts[i] = counts.get(i, 0) + 1
            sizes.setdefault(i, []).append(packet.size)
        for s in c.streams:
            i = s.index
            out["streams"].append({
                "type": s.type, "codec": s.codec_context.name, "packets": counts.get(i, 0),
                "start": starts.get(i, 0.0), "end": ends.get(i, 0.0), "sizes": sizes.get(i, []),
            })  # fmt: skip
    return out
