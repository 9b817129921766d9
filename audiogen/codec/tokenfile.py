"""Token files (``.agc``): codec tokens on disk, packed at their information size, with a versioned header.

Version 2 (written now), all integers little-endian::

    b"AGC" 0x02                       magic and format version
    u8 0, 6 bytes                     model_id "audiogen-codec-<12 hex digits>" as its 6 raw bytes, or
    u8 len (1..255), len bytes        any other model_id in UTF-8: the codec whose token space these are
    u32 sample_rate, f32 frame_rate, u8 n_q, u16 codebook_size - 1, u32 num_samples, u32 frames
    u32 crc32                         of the packed codes
    packed codes                      [n_q, frames] row-major, ceil(log2(codebook_size)) bits each, MSB first

so the file's size is the bitrate: a 34-byte header, then 10 s at 4 codebooks of 1024 (2 kbps) is 2,500 bytes of
codes (1.4 % over the nominal rate; 0.7 % at 4 kbps, 2.7 % at 1 kbps, 5.4 % at 0.5 kbps for 10 s and 2.7 % for
20 s). Version 1 (a JSON header, then every code as uint16) is still read. A file is only decoded by
the codec whose ``model_id`` wrote it: tokens of another model would decode to noise. Everything in a header is
bounded and checked against the file's length before anything is allocated, so a damaged or hostile file ends in a
:class:`TokenFileError`, never in a huge allocation or a traceback.

A file holds at most :data:`MAX_SECONDS` (3 hours) of audio. :func:`open_tokens` reads the (small) packed codes and
unpacks them a stretch of frames at a time (:meth:`TokenFile.codes`), so a long file is decoded in windows with
bounded memory (``audiogen codec decode``, :meth:`audiogen.codec.model.Codec.decode_windows`).
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MAGIC = b"AGC"
FORMAT_VERSION = 2
READS = (1, 2)
MAX_FILE_BYTES = 256 * 1024 * 1024  # ~12 days of 8 codebooks: far more than any track
MAX_FRAMES = 50 * 3600 * 24  # a day at 50 frames/s
MAX_SECONDS = 3 * 3600.0  # the longest audio a token file may hold: decoding more would take hours and fill a disk
MAX_N_Q = 64
MAX_CODEBOOK = 1 << 16
_FIXED = struct.Struct("<IfBHII")  # sample_rate, frame_rate, n_q, codebook_size - 1, num_samples, frames
_COMPACT_ID = re.compile(r"audiogen-codec-([0-9a-f]{12})")


class TokenFileError(ValueError):
    """A token file that is malformed, of an unknown version, or from an incompatible codec."""


@dataclass(frozen=True)
class TokenHeader:
    model_id: str
    sample_rate: int
    frame_rate: float
    n_q: int
    codebook_size: int
    num_samples: int
    frames: int

    @property
    def bits(self) -> int:
        """Bits per code: ``ceil(log2(codebook_size))``."""
        return max(1, math.ceil(math.log2(self.codebook_size)))

    def check(self, where: str = "token file") -> None:
        """Raise :class:`TokenFileError` naming the first field out of its range."""
        ints = ("sample_rate", "n_q", "codebook_size", "num_samples", "frames")
        if not isinstance(self.model_id, str) or not 0 < len(self.model_id.encode()) <= 255:
            raise TokenFileError(f"{where}: model_id must be a string of 1..255 bytes")
        if any(isinstance(getattr(self, k), bool) or not isinstance(getattr(self, k), int) for k in ints):
            raise TokenFileError(f"{where}: header fields {', '.join(ints)} must be integers")
        for name, lo, hi in (
            ("sample_rate", 1, 1_000_000), ("n_q", 1, MAX_N_Q), ("codebook_size", 2, MAX_CODEBOOK),
            ("frames", 0, MAX_FRAMES), ("num_samples", 0, 2**32 - 1),
        ):  # fmt: skip
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise TokenFileError(f"{where}: {name} = {v} is outside [{lo}, {hi}]")
        if not isinstance(self.frame_rate, (int, float)) or not 0 < self.frame_rate <= 10_000:
            raise TokenFileError(f"{where}: frame_rate = {self.frame_rate!r} is outside (0, 10000]")
        seconds = max(self.frames / self.frame_rate, self.num_samples / self.sample_rate)
        if seconds > MAX_SECONDS:
            raise TokenFileError(f"{where}: holds {seconds / 3600:.1f} h of audio; token files hold at most "
                                 f"{MAX_SECONDS / 3600:g} h (split the audio and encode the parts)")  # fmt: skip


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Codes ``[n_q, frames]`` (values < 2**bits) → bytes, ``bits`` per code, MSB first, row-major."""
    flat = np.asarray(codes, dtype=np.uint32).reshape(-1)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    return np.packbits(((flat[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)).tobytes()


def unpack_codes(data: bytes, n_q: int, frames: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``[n_q, frames]`` int64."""
    return unpack_range(data, n_q, frames, bits, 0, frames)


def unpack_range(data: bytes, n_q: int, frames: int, bits: int, start: int, stop: int) -> np.ndarray:
    """Frames ``start .. stop - 1`` of packed codes ``[n_q, frames]`` (:func:`pack_codes`) → ``[n_q, stop - start]``
    int64, unpacking only their bits (a block at a time: memory ~ 9 bytes per bit of the block)."""
    out = np.empty((n_q, stop - start), dtype=np.int64)
    weights = np.left_shift(1, np.arange(bits - 1, -1, -1, dtype=np.int64))
    block = max(1, (1 << 20) // bits)
    for q in range(n_q):
        for a in range(start, stop, block):
            b = min(stop, a + block)
            first, last = (q * frames + a) * bits, (q * frames + b) * bits
            raw = np.frombuffer(data, dtype=np.uint8, count=(last + 7) // 8 - first // 8, offset=first // 8)
            out[q, a - start : b - start] = np.unpackbits(raw)[first % 8 :][: last - first].reshape(-1, bits) @ weights
    return out


def write_tokens(path: str | os.PathLike, codes: np.ndarray, header: TokenHeader) -> Path:
    """Write ``codes`` ``[n_q, frames]`` with ``header`` to ``path`` atomically (version 2, bit-packed)."""
    from audiogen.fileio import atomic_write

    path = Path(path)
    codes = np.asarray(codes)
    header.check(str(path))
    if codes.shape != (header.n_q, header.frames):
        raise TokenFileError(f"codes shape {codes.shape} does not match header ({header.n_q}, {header.frames})")
    if codes.size and (codes.min() < 0 or codes.max() >= header.codebook_size):
        raise TokenFileError(f"codes must lie in [0, {header.codebook_size})")
    body = pack_codes(codes, header.bits)
    compact = _COMPACT_ID.fullmatch(header.model_id)
    name = header.model_id.encode()
    ident = b"\x00" + bytes.fromhex(compact[1]) if compact else bytes([len(name)]) + name
    fixed = _FIXED.pack(header.sample_rate, float(header.frame_rate), header.n_q, header.codebook_size - 1,
                        header.num_samples, header.frames)  # fmt: skip
    payload = MAGIC + bytes([FORMAT_VERSION]) + ident + fixed + struct.pack("<I", zlib.crc32(body)) + body
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


@dataclass(frozen=True)
class TokenFile:
    """An open token file: its checked ``header`` and its codes, unpacked a stretch at a time by :meth:`codes`."""

    path: Path
    header: TokenHeader
    body: bytes
    version: int

    def codes(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Codes ``[n_q, stop - start]`` int64 of frames ``start .. stop - 1`` (default: all); a code outside the
        codebook is a :class:`TokenFileError` (a damaged file)."""
        h = self.header
        stop = h.frames if stop is None else stop
        if not 0 <= start <= stop <= h.frames:
            raise ValueError(f"frames {start}..{stop} are outside the file's 0..{h.frames}")
        if self.version == 1:
            codes = np.frombuffer(self.body, dtype="<u2").reshape(h.n_q, h.frames)[:, start:stop].astype(np.int64)
        else:
            codes = unpack_range(self.body, h.n_q, h.frames, h.bits, start, stop)
        if codes.size and int(codes.max()) >= h.codebook_size:
            raise TokenFileError(f"{self.path}: a code exceeds the codebook size {h.codebook_size} (damaged file)")
        return codes


def open_tokens(path: str | os.PathLike, expect_model_id: str | None = None) -> TokenFile:
    """Open a token file (version 1 or 2): its header is read and checked, and its packed codes (a few MB at most)
    checked against their length and checksum; nothing is unpacked yet (:meth:`TokenFile.codes`).

    Raises ``TokenFileError`` for a file that is not a token file, has an unsupported version, is damaged (bad
    lengths, checksum, out-of-range header fields) or truncated, holds more than :data:`MAX_SECONDS` of audio, or
    (with ``expect_model_id``) was written by another codec.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise TokenFileError(f"{path}: cannot read the token file ({err.strerror or err})") from None
    if size > MAX_FILE_BYTES:
        raise TokenFileError(f"{path}: {size} bytes is larger than any token file ({MAX_FILE_BYTES} at most)")
    try:
        data = path.read_bytes()
    except OSError as err:
        from audiogen.fileio import path_problem

        raise TokenFileError(f"{path}: cannot read the token file ({path_problem(path) or err.strerror})") from None
    if len(data) < 8 or data[:3] != MAGIC:
        raise TokenFileError(f"{path}: not an audiogen token file (bad magic)")
    if data[3] not in READS:
        raise TokenFileError(f"{path}: token file version {data[3]} is not supported (this audiogen reads {READS})")
    body, header = (_read_v1 if data[3] == 1 else _read_v2)(path, data)
    if expect_model_id is not None and header.model_id != expect_model_id:
        raise TokenFileError(
            f"{path}: tokens were made by codec '{header.model_id}', but the loaded codec is '{expect_model_id}'; "
            "decode with the codec that encoded them"
        )
    return TokenFile(path, header, body, data[3])


def read_tokens(path: str | os.PathLike, expect_model_id: str | None = None) -> tuple[np.ndarray, TokenHeader]:
    """Read a whole token file (version 1 or 2) → (codes ``[n_q, frames]`` int64, header). Raises
    ``TokenFileError`` as :func:`open_tokens` does, and for out-of-range codes. A long file is better decoded a
    stretch at a time: :func:`open_tokens`."""
    tokens = open_tokens(path, expect_model_id)
    return tokens.codes(), tokens.header


def _read_v2(path: Path, data: bytes) -> tuple[bytes, TokenHeader]:
    """The packed codes and the checked header of a version-2 file."""
    n = data[4]
    start = 5 + (6 if n == 0 else n)
    if len(data) < start + _FIXED.size + 4:
        raise TokenFileError(f"{path}: truncated token file header")
    try:
        model_id = f"audiogen-codec-{data[5:11].hex()}" if n == 0 else data[5:start].decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileError(f"{path}: corrupt token file header (model id is not UTF-8)") from None
    fields = _FIXED.unpack_from(data, start)
    header = TokenHeader(model_id, fields[0], fields[1], fields[2], fields[3] + 1, fields[4], fields[5])
    header.check(str(path))
    (crc,) = struct.unpack_from("<I", data, start + _FIXED.size)
    body = data[start + _FIXED.size + 4 :]
    expected = math.ceil(header.n_q * header.frames * header.bits / 8)
    if len(body) != expected:
        raise TokenFileError(f"{path}: truncated or padded token file ({len(body)} bytes of codes, not {expected})")
    if zlib.crc32(body) != crc:
        raise TokenFileError(f"{path}: the codes do not match their checksum (damaged file)")
    return body, header


def _read_v1(path: Path, data: bytes) -> tuple[bytes, TokenHeader]:
    """The uint16 codes (as bytes) and the checked header of a version-1 file."""
    (hlen,) = struct.unpack("<I", data[4:8])
    if hlen > 65536 or 8 + hlen > len(data):
        raise TokenFileError(f"{path}: corrupt token file header (length {hlen})")
    try:
        raw = json.loads(data[8 : 8 + hlen].decode())
        header = TokenHeader(**raw)
    except (ValueError, TypeError, RecursionError) as err:
        raise TokenFileError(f"{path}: corrupt token file header ({str(err)[:200]})") from None
    header.check(str(path))
    body = data[8 + hlen :]
    if len(body) != 2 * header.n_q * header.frames:
        raise TokenFileError(
            f"{path}: truncated token file ({len(body)} bytes of codes, expected {2 * header.n_q * header.frames})"
        )
    return body, header


def write_tokens_v1(path: str | os.PathLike, codes: np.ndarray, header: TokenHeader) -> Path:
    """Write the old version-1 layout (JSON header, uint16 codes): for tests of backward reading only."""
    head = json.dumps(asdict(header)).encode()
    payload = MAGIC + bytes([1]) + struct.pack("<I", len(head)) + head + np.asarray(codes).astype("<u2").tobytes()
    Path(path).write_bytes(payload)
    return Path(path)
