"""Token files (``.agc``): codec tokens on disk with a versioned header.

Layout: the magic ``b"AGC"`` + one format-version byte, a little-endian uint32 header length, a UTF-8 JSON header
(``model_id``, ``sample_rate``, ``frame_rate``, ``n_q``, ``codebook_size``, ``num_samples``, ``frames``), then the
codes as little-endian uint16, shape ``[n_q, frames]``, row-major. A file is only decoded by the codec whose
``model_id`` wrote it: tokens of another model would decode to noise.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MAGIC = b"AGC"
FORMAT_VERSION = 1


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


def write_tokens(path: str | os.PathLike, codes: np.ndarray, header: TokenHeader) -> Path:
    """Write ``codes`` ``[n_q, frames]`` with ``header`` to ``path`` atomically."""
    path = Path(path)
    codes = np.asarray(codes)
    if codes.shape != (header.n_q, header.frames):
        raise TokenFileError(f"codes shape {codes.shape} does not match header ({header.n_q}, {header.frames})")
    if codes.size and (codes.min() < 0 or codes.max() >= header.codebook_size):
        raise TokenFileError(f"codes must lie in [0, {header.codebook_size})")
    head = json.dumps(asdict(header)).encode()
    payload = MAGIC + bytes([FORMAT_VERSION]) + struct.pack("<I", len(head)) + head
    payload += codes.astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_tokens(path: str | os.PathLike, expect_model_id: str | None = None) -> tuple[np.ndarray, TokenHeader]:
    """Read a token file → (codes ``[n_q, frames]`` int64, header).

    Raises ``TokenFileError`` for a file that is not a token file, has an unsupported version, is truncated, or (with
    ``expect_model_id``) was written by another codec.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 8 or data[:3] != MAGIC:
        raise TokenFileError(f"{path}: not an audiogen token file (bad magic)")
    if data[3] != FORMAT_VERSION:
        raise TokenFileError(f"{path}: token file version {data[3]} is not supported (this audiogen reads version 1)")
    (hlen,) = struct.unpack("<I", data[4:8])
    try:
        header = TokenHeader(**json.loads(data[8 : 8 + hlen].decode()))
    except (ValueError, TypeError) as err:
        raise TokenFileError(f"{path}: corrupt token file header ({err})") from err
    body = data[8 + hlen :]
    if len(body) != 2 * header.n_q * header.frames:
        raise TokenFileError(
            f"{path}: truncated token file ({len(body)} bytes of codes, expected {2 * header.n_q * header.frames})"
        )
    if expect_model_id is not None and header.model_id != expect_model_id:
        raise TokenFileError(
            f"{path}: tokens were made by codec '{header.model_id}', but the loaded codec is '{expect_model_id}'; "
            "decode with the codec that encoded them"
        )
    codes = np.frombuffer(body, dtype="<u2").reshape(header.n_q, header.frames).astype(np.int64)
    return codes, header
