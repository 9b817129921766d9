"""The style-tag vocabulary: genres, instruments and production descriptors a request may name.

Tags are lower-case words with hyphens (``"lo-fi"``, ``"hip-hop"``). Input is normalised first (case, spaces and
underscores become hyphens) and common spellings are mapped through :data:`ALIASES` (``"lofi"`` -> ``"lo-fi"``,
``"violin"`` -> ``"strings"``). A word that is in none of the lists raises :class:`StyleError` with the nearest tag.

The order of :data:`STYLE_TAGS` is part of trained checkpoints (the style conditioner stores the vocabulary it was
built with in its config), so new tags are appended, never inserted or renamed.
"""

from __future__ import annotations

import difflib
import re

GENRE_TAGS: tuple[str, ...] = (
    "pop", "rock", "metal", "punk", "ambient", "cinematic", "orchestral", "classical", "jazz", "blues", "funk",
    "soul", "electronic", "techno", "house", "trance", "drum-and-bass", "dubstep", "synthwave", "hip-hop", "lo-fi",
    "folk", "country", "celtic", "world", "latin", "reggae", "chiptune", "game", "march", "waltz", "choral",
    "chamber", "piano-solo", "new-age", "industrial", "experimental",
)  # fmt: skip

INSTRUMENTS: tuple[str, ...] = (
    "piano", "strings", "guitar", "acoustic-guitar", "electric-guitar", "bass", "drums", "percussion", "synth",
    "pad", "organ", "brass", "woodwinds", "flute", "clarinet", "saxophone", "trumpet", "horn", "choir", "vocals",
    "harp", "bells", "harpsichord", "accordion", "marimba",
)  # fmt: skip

PRODUCTION: tuple[str, ...] = (
    "acoustic", "electric", "lo-fi", "cinematic", "minimal", "layered", "sparse", "dense", "live", "loop",
    "retro", "8-bit", "atmospheric", "epic", "intimate", "upbeat", "slow", "fast",
)  # fmt: skip

# Every tag once, in a fixed order (genres, then instruments, then production words not already listed).
GENRES = GENRE_TAGS  # the earlier name (not the composer's templates: audiogen.compose.genres.GENRE_TEMPLATES)
STYLE_TAGS: tuple[str, ...] = tuple(dict.fromkeys(GENRE_TAGS + INSTRUMENTS + PRODUCTION))

ALIASES: dict[str, str] = {
    "lofi": "lo-fi", "8bit": "8-bit", "chip": "chiptune", "chiptunes": "chiptune",
    "video-game": "game", "videogame": "game", "soundtrack": "cinematic", "film": "cinematic", "score": "cinematic",
    "orchestra": "orchestral", "symphonic": "orchestral", "hiphop": "hip-hop", "rap": "hip-hop",
    "edm": "electronic", "electronica": "electronic", "dnb": "drum-and-bass", "drum-n-bass": "drum-and-bass",
    "violin": "strings", "violins": "strings", "cello": "strings", "viola": "strings", "string": "strings",
    "drum": "drums", "drum-kit": "drums", "synthesizer": "synth", "synths": "synth", "keys": "piano",
    "trumpets": "trumpet", "horns": "horn", "french-horn": "horn", "trombone": "brass", "tuba": "brass",
    "sax": "saxophone", "voice": "vocals", "vocal": "vocals", "singing": "vocals", "choirs": "choir",
    "woodwind": "woodwinds", "flutes": "flute", "guitars": "guitar", "bass-guitar": "bass", "pads": "pad",
    "classic": "classical", "baroque": "classical", "newage": "new-age",
    "retrowave": "synthwave", "outrun": "synthwave", "atmosphere": "atmospheric",
}  # fmt: skip


class StyleError(ValueError):
    """A style tag that is not in the vocabulary."""


def normalize_tag(tag: str) -> str:
    """Lower-case, trim, and turn runs of spaces/underscores into single hyphens (no vocabulary check)."""
    return re.sub(r"[\s_]+", "-", str(tag).strip().lower()).strip("-")


def canonical_tag(tag: str) -> str | None:
    """The vocabulary tag ``tag`` stands for (through normalisation and aliases), or None if there is none."""
    key = normalize_tag(tag)
    key = ALIASES.get(key, key)
    if key in STYLE_TAGS:
        return key
    squashed = key.replace("-", "")  # "lo fi", "lofi", "Lo-Fi" all land here
    for t in STYLE_TAGS:
        if t.replace("-", "") == squashed:
            return t
    return None


def check_tag(tag: str) -> str:
    """The canonical form of ``tag``; raises :class:`StyleError` naming the nearest tag and the allowed list."""
    found = canonical_tag(tag)
    if found is not None:
        return found
    key = normalize_tag(tag)
    near = difflib.get_close_matches(key, list(STYLE_TAGS) + list(ALIASES), n=1, cutoff=0.6)
    hint = f" Did you mean '{ALIASES.get(near[0], near[0])}'?" if near else ""
    raise StyleError(
        f"unknown style tag '{tag}'.{hint} Allowed tags — genres: {', '.join(GENRE_TAGS)}; "
        f"instruments: {', '.join(INSTRUMENTS)}; production: {', '.join(PRODUCTION)}"
    )


def check_tags(tags: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Canonical, de-duplicated tags (order kept). A single string may hold several tags separated by commas."""
    if isinstance(tags, str):
        tags = [t for t in tags.split(",") if t.strip()]
    return tuple(dict.fromkeys(check_tag(t) for t in tags))


def filter_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Keep only the tags that map to the vocabulary (canonical, de-duplicated); others are dropped silently.

    For manifest tags, which also hold source names and other free words.
    """
    return tuple(dict.fromkeys(t for t in (canonical_tag(x) for x in tags) if t is not None))
