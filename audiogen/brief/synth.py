"""Synthetic pictures and videos with known content, for the tests and the benchmark: colour fields with cuts at
known times (written with PyAV), and pairs of contrasting pictures (bright and saturated vs dark and muted)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def colour_field_video(
    path: str | Path,
    cuts: Sequence[float],
    duration: float,
    fps: int = 25,
    colours: Sequence[tuple[int, int, int]] | None = None,
    size: tuple[int, int] = (64, 36),
    noise: int = 6,
    seed: int = 0,
    codec: str = "libx264",
) -> list[float]:
    """Write an H.264 video of ``duration`` seconds at ``fps``: one flat colour per shot (``colours``, or random
    ones) with a little pixel noise (±``noise``), changing at ``cuts`` (seconds, each rounded to a frame). Returns
    the cut times as written (frame starts)."""
    import av

    rng = np.random.default_rng(seed)
    n = round(duration * fps)
    bounds = [0, *sorted(round(t * fps) for t in cuts), n]
    cols = list(colours) if colours is not None else [tuple(int(x) for x in rng.integers(0, 256, 3)) for _ in bounds]
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(len(bounds) - 1):
            for _ in range(bounds[k], bounds[k + 1]):
                img = np.empty((h, w, 3), dtype=np.int32)
                img[:] = cols[k % len(cols)]
                img += rng.integers(-noise, noise + 1, img.shape)
                frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return [b / fps for b in bounds[1:-1]]


def contrast_pair(index: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``index`` of contrasting pictures, RGB ``(size, size, 3)`` float32 in [0, 1]: the same layout of soft
    blobs and stripes (drawn from ``index``) in a bright, saturated palette and in a dark, muted one. Hues and
    layouts differ from pair to pair; the first member is always the brighter, more saturated one."""
    rng = np.random.default_rng([index, 0xB1E])
    yy, xx = np.mgrid[0:size, 0:size] / size
    field = np.zeros((size, size))
    for _ in range(int(rng.integers(3, 8))):  # soft blobs
        cx, cy, r = rng.random(), rng.random(), 0.1 + 0.3 * rng.random()
        field += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * rng.uniform(-1, 1)
    angle = rng.uniform(0, np.pi)
    field += 0.3 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(4, 20) * np.pi)
    field = (field - field.min()) / max(1e-6, np.ptp(field))  # (size, size) in [0, 1]
    hue0 = rng.random()
    hue = (hue0 + 0.25 * (field - 0.5)) % 1.0

    def paint(v_range: tuple[float, float], s_range: tuple[float, float]) -> np.ndarray:
        v = v_range[0] + (v_range[1] - v_range[0]) * field
        s = s_range[0] + (s_range[1] - s_range[0]) * (1 - field)
        rgb = [colorsys.hsv_to_rgb(h, ss, vv) for h, ss, vv in zip(hue.ravel(), s.ravel(), v.ravel(), strict=True)]
        return np.asarray(rgb, dtype=np.float32).reshape(size, size, 3)

    return paint((0.75, 1.0), (0.6, 0.95)), paint((0.08, 0.35), (0.05, 0.3))


def save_rgb(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an RGB picture ``(H, W, 3)`` in [0, 1] as an image file (format from the extension)."""
    from PIL import Image

    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return Path(path)
