"""A picture as the brief: colour and texture features, and a documented mapping to valence/arousal and style hints.

The features of an RGB picture ``(H, W, 3)`` (values in [0, 1]; the picture is read at most
:data:`ANALYSIS_SIDE` pixels on its longer side), every one in [0, 1] except ``warmth`` in [-1, 1]:

- ``brightness``: mean CIE L* / 100 (lightness, the counterpart of the Munsell value of the colour studies).
- ``saturation``: mean HSV saturation ``(max - min) / max`` (0 for greys).
- ``warmth``: saturation-weighted balance of warm hues (red to yellow, 330°–90°) against cool ones (cyan to
  violet, 150°–270°): +1 all warm, −1 all cool, 0 grey or balanced.
- ``contrast``: RMS contrast, the standard deviation of L* / 100, times 2 (so a half-black, half-white picture is 1).
- ``edge_density``: the share of pixels whose lightness gradient (Sobel) exceeds :data:`EDGE_THRESHOLD`.
- ``energy``: the mean of ``contrast`` and ``edge_density`` (visual busyness).

The mapping (:func:`emotion_point`) starts from the regression of Valdez & Mehrabian (1994, *Effects of color on
emotions*, J. Exp. Psychol. Gen. 123(4)), who had people rate Munsell colour chips on the PAD scales:
``Pleasure = .69 Brightness + .22 Saturation`` and ``Arousal = −.31 Brightness + .60 Saturation`` (standardised
coefficients; we apply them to our [0, 1] features). Both scores are centred on a mid-grey half-saturated picture
(B = S = 0.5: P = 0.455, A = 0.145) and divided by 0.455, the largest distance from that centre either score can
reach with B, S in [0, 1], so each lands in [-1, 1]. On top, our own small terms, not from that study: warm hues add
``0.10 × warmth`` to valence and ``0.15 × warmth`` to arousal (warm colours are commonly found more arousing than cool
ones, e.g. Wilms & Oberfeld 2018), and visual energy adds ``0.40 × (energy − 0.3)`` to arousal (a busy, contrasty
picture asks for more notes: arousal sets the composer's note density, loudness and tempo). Each term is reported by
:func:`read_image` so a user can see why a picture got its point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ANALYSIS_SIDE = 256  # pixels on the longer side of the analysed picture
EDGE_THRESHOLD = 0.1  # Sobel magnitude of L*/100 (per pixel, normalised by 4) above which a pixel is an edge
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGE_PIXELS = 100_000_000  # larger pictures are refused (a decompression bomb guard)

# Valdez & Mehrabian (1994) coefficients and our normalisation (see the module docstring).
PLEASURE = (0.69, 0.22)  # (brightness, saturation)
AROUSAL = (-0.31, 0.60)
CENTRE = (0.69 * 0.5 + 0.22 * 0.5, -0.31 * 0.5 + 0.60 * 0.5)  # (0.455, 0.145)
SCALE = 0.455
WARMTH_VALENCE, WARMTH_AROUSAL, ENERGY_AROUSAL, ENERGY_CENTRE = 0.10, 0.15, 0.40, 0.3


@dataclass(frozen=True)
class ImageReading:
    """What a picture says: its ``features``, the ``valence``/``arousal`` point with the ``terms`` that made it,
    and ``style_tags`` with the ``reasons`` for each."""

    features: dict[str, float]
    valence: float
    arousal: float
    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    style_tags: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready plain data."""
        return {
            "features": dict(self.features),
            "valence": self.valence,
            "arousal": self.arousal,
            "terms": {k: dict(v) for k, v in self.terms.items()},
            "style_tags": list(self.style_tags),
            "reasons": dict(self.reasons),
        }


def load_image(path: str | Path) -> np.ndarray:
    """An image file as RGB ``(H, W, 3)`` float32 in [0, 1], at most :data:`ANALYSIS_SIDE` pixels on its longer side.

    Raises ``ValueError`` (what was wrong and what is allowed) for a missing, unsupported or unreadable file."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    allowed = f"a picture file ({', '.join(IMAGE_EXTENSIONS)})"
    if not path.is_file():
        raise ValueError(f"image {path}: no such file; allowed: {allowed}")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"image {path}: unsupported file type '{path.suffix}'; allowed: {allowed}")
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"image {path}: {im.width}×{im.height} pixels is too large; at most "
                                 f"{MAX_IMAGE_PIXELS:,} pixels are allowed")  # fmt: skip
            im.draft("RGB", (ANALYSIS_SIDE, ANALYSIS_SIDE))  # JPEG: decode at a reduced size
            im = im.convert("RGB")
            im.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
            rgb = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"image {path}: cannot be read as a picture ({err}); allowed: {allowed}") from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"image {path}: holds no pixels; allowed: {allowed}")
    return rgb


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* / 100 ``(H, W)`` of sRGB pixels ``(H, W, 3)`` in [0, 1] (D65 relative luminance, then L*)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return (116 * f - 16) / 100.0


def _hue_saturation(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HSV hue in degrees [0, 360) and saturation [0, 1], each ``(H, W)``."""
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    delta = mx - mn
    sat = np.where(mx > 1e-6, delta / np.maximum(mx, 1e-6), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(delta, 1e-6)
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    return np.where(delta > 1e-6, hue, 0.0), sat


def _edge_density(light: np.ndarray) -> float:
    """Share of pixels whose Sobel gradient magnitude of ``light`` ``(H, W)`` exceeds :data:`EDGE_THRESHOLD`."""
    if min(light.shape) < 3:
        return 0.0
    p = np.pad(light, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]) / 4
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]) / 4
    return float(np.mean(np.hypot(gx, gy) > EDGE_THRESHOLD))


def image_features(rgb: np.ndarray) -> dict[str, float]:
    """The features of the module docstring for an RGB picture ``(H, W, 3)`` in [0, 1] (rounded to 4 places)."""
    rgb = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.size == 0:
        raise ValueError(f"a picture must be RGB (H, W, 3), got shape {rgb.shape}")
    light = lightness(rgb)
    hue, sat = _hue_saturation(rgb)
    warm = (hue >= 330) | (hue < 90)
    cool = (hue >= 150) & (hue < 270)
    total = float(sat.sum())
    warmth = float((sat * warm).sum() - (sat * cool).sum()) / total if total > 1e-6 else 0.0
    contrast = float(min(1.0, 2 * light.std()))
    edges = _edge_density(light)
    feats = {
        "brightness": float(light.mean()),
        "saturation": float(sat.mean()),
        "warmth": warmth,
        "contrast": contrast,
        "edge_density": edges,
        "energy": (contrast + edges) / 2,
    }
    return {k: round(v, 4) for k, v in feats.items()}


def emotion_point(features: dict[str, float]) -> tuple[float, float, dict[str, dict[str, float]]]:
    """``(valence, arousal, terms)`` of a picture's features (the mapping of the module docstring); ``terms`` gives
    each axis's contributions: ``{"valence": {"brightness": ..., ...}, "arousal": {...}}``."""
    b, s = features["brightness"], features["saturation"]
    terms = {
        "valence": {
            "brightness": PLEASURE[0] * (b - 0.5) / SCALE,
            "saturation": PLEASURE[1] * (s - 0.5) / SCALE,
            "warmth": WARMTH_VALENCE * features["warmth"],
        },
        "arousal": {
            "brightness": AROUSAL[0] * (b - 0.5) / SCALE,
            "saturation": AROUSAL[1] * (s - 0.5) / SCALE,
            "warmth": WARMTH_AROUSAL * features["warmth"],
            "energy": ENERGY_AROUSAL * (features["energy"] - ENERGY_CENTRE),
        },
    }  # (b - .5) and (s - .5) terms sum to (P - CENTRE) / SCALE: the centring is folded into each
    terms = {axis: {k: round(v, 4) for k, v in t.items()} for axis, t in terms.items()}
    v = float(np.clip(sum(terms["valence"].values()), -1, 1))
    a = float(np.clip(sum(terms["arousal"].values()), -1, 1))
    return round(v, 3), round(a, 3), terms


def style_hints(features: dict[str, float], valence: float, arousal: float) -> tuple[tuple[str, ...], dict[str, str]]:
    """Style-vocabulary tags a picture suggests, and the reason for each (rules on the features, ours)."""
    tags: dict[str, str] = {}
    if arousal >= 0.35 and features["energy"] >= 0.3:
        tags["upbeat"] = "busy, arousing picture"
    if arousal >= 0.35 and valence >= 0.2:
        tags["pop"] = "bright, saturated, lively colours"
    elif arousal >= 0.2 and valence < 0:
        tags["cinematic"] = "dark yet arousing picture (tension)"
    elif arousal < -0.1 and valence >= 0.1:
        tags["ambient"] = "light, muted, calm picture"
    elif valence < -0.2:
        tags["cinematic"] = "dark, muted picture"
    if features["warmth"] >= 0.4 and arousal < 0.35:
        tags["acoustic"] = "warm hues"
    elif features["warmth"] <= -0.4:
        tags["pad"] = "cool hues"
    if features["energy"] < 0.12:
        tags["sparse"] = "little contrast and few edges"
    elif features["energy"] >= 0.45:
        tags["dense"] = "strong contrast and many edges"
    if features["brightness"] < 0.3:
        tags["atmospheric"] = "a dark picture"
    return tuple(tags), tags


def read_rgb(rgb: np.ndarray) -> ImageReading:
    """:class:`ImageReading` of an RGB picture ``(H, W, 3)`` in [0, 1]."""
    feats = image_features(rgb)
    v, a, terms = emotion_point(feats)
    tags, reasons = style_hints(feats, v, a)
    return ImageReading(feats, v, a, terms, tags, reasons)


def read_image(path: str | Path) -> ImageReading:
    """:class:`ImageReading` of an image file (raises ``ValueError`` for a file that is not a readable picture)."""
    return read_rgb(load_image(path))


def describe(reading: ImageReading) -> str:
    """A few lines for a person: the features, the point with its terms, and the style hints with their reasons."""
    from audiogen.conditioning.emotions import nearest_label

    f = reading.features
    lines = ["features: " + ", ".join(f"{k} {v:.2f}" for k, v in f.items())]
    for axis in ("valence", "arousal"):
        value = getattr(reading, axis)
        parts = " ".join(f"{'+' if t >= 0 else '-'} {abs(t):.2f} ({k})" for k, t in reading.terms[axis].items())
        lines.append(f"{axis} {value:+.2f} = {parts.lstrip('+ ')}" + (" (clipped)" if abs(value) >= 1 else ""))
    lines.append(f"nearest emotion: {nearest_label(reading.valence, reading.arousal)}")
    if reading.style_tags:
        lines.append("style hints: " + "; ".join(f"{t} ({r})" for t, r in reading.reasons.items()))
    else:
        lines.append("style hints: none")
    return "\n".join(lines)

