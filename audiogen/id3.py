"""A minimal ID3v2.3 tag writer and reader for the MP3 files audiogen writes.

Known keys map to standard frames (title → TIT2, artist → TPE1, album → TALB, comment → COMM, genre → TCON,
date → TYER); any other key is written as a user-defined text frame (TXXX) with the key as its description.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

_STANDARD = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON", "date": "TYER"}
_FROM_FRAME = {v: k for k, v in _STANDARD.items()}


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def _unsyncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _text(s: str) -> bytes:
    return b"\x01" + s.encode("utf-16")  # encoding 1: UTF-16 with BOM


def _frame(frame_id: str, payload: bytes) -> bytes:
    return frame_id.encode("ascii") + struct.pack(">I", len(payload)) + b"\x00\x00" + payload


def build_id3(tags: Mapping[str, str]) -> bytes:
    """Serialise ``tags`` into an ID3v2.3 tag (header + frames)."""
    frames = b""
    for key, value in tags.items():
        value = str(value)
        if key == "comment":
            frames += _frame("COMM", b"\x01" + b"eng" + "".encode("utf-16") + b"\x00\x00" + value.encode("utf-16"))
        elif key in _STANDARD:
            frames += _frame(_STANDARD[key], _text(value))
        else:
            frames += _frame("TXXX", b"\x01" + key.encode("utf-16") + b"\x00\x00" + value.encode("utf-16"))
    return b"ID3\x03\x00\x00" + _syncsafe(len(frames)) + frames


def write_id3(path: str | Path, tags: Mapping[str, str]) -> None:
    """Prepend an ID3v2.3 tag holding ``tags`` to the MP3 file at ``path`` (in place)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(build_id3(tags) + data)


def _decode_utf16_fields(payload: bytes) -> list[str]:
    parts, i = [], 0
    while i < len(payload):
        j = i
        while j + 1 < len(payload) and payload[j : j + 2] != b"\x00\x00":
            j += 2
        parts.append(payload[i:j].decode("utf-16") if j > i else "")
        i = j + 2
    return parts


def read_id3(path: str | Path) -> dict[str, str]:
    """Read the text frames of an ID3v2.3 tag written by :func:`write_id3` (empty dict if there is none)."""
    data = Path(path).read_bytes()
    if data[:3] != b"ID3":
        return {}
    size = _unsyncsafe(data[6:10])
    body, tags, i = data[10 : 10 + size], {}, 0
    while i + 10 <= len(body):
        fid = body[i : i + 4].decode("ascii", "replace")
        flen = struct.unpack(">I", body[i + 4 : i + 8])[0]
        payload = body[i + 10 : i + 10 + flen]
        i += 10 + flen
        if fid == "COMM":
            tags["comment"] = _decode_utf16_fields(payload[4:])[-1]
        elif fid == "TXXX":
            key, value = _decode_utf16_fields(payload[1:])[:2]
            tags[key] = value
        elif fid in _FROM_FRAME:
            tags[_FROM_FRAME[fid]] = payload[1:].decode("utf-16")
    return tags
