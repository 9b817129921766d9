"""Audio input/output in one place.

Inside audiogen, audio is 32 kHz mono float32 in [-1, 1], shaped ``(T,)`` for one clip. Everything that reads a file
goes through :func:`load_audio`; everything that writes one goes through :func:`save_audio`, which writes to a
temporary name in the destination folder and renames it only once the file is complete, so an interrupted or failed
write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogen.fileio import output_error, path_problem, public_mode, temporary_beside

SAMPLE_RATE = 32000
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
WRITABLE_FORMATS = (".wav", ".flac", ".mp3", ".ogg")


class AudioError(ValueError):
    """Raised when an audio file cannot be read or written, or its content is unusable."""


def _to_mono(data: np.ndarray) -> np.ndarray:
    """``(T, C)`` or ``(T,)`` → ``(T,)`` by averaging channels."""
    if data.ndim == 2:
        return data.mean(axis=1)
    return data


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``audio`` of shape ``(..., T)`` from ``orig_sr`` to ``target_sr`` (polyphase, anti-aliased).

    Returns float32 of shape ``(..., round(T * target_sr / orig_sr))``.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    audio = np.asarray(audio, dtype=np.float32)
    if orig_sr == target_sr:
        return audio
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(orig_sr), int(target_sr))
    out = resample_poly(audio, target_sr // g, orig_sr // g, axis=-1)
    return out.astype(np.float32, copy=False)


def _check_readable(path: Path) -> None:
    """Raise :class:`AudioError` for a path that is not there, not a file, or not readable by this process, saying
    which (a folder, a file on the way, a permission: :func:`audiogen.fileio.path_problem`)."""
    problem = path_problem(path)
    if problem is not None:
        raise AudioError(f"{path}: {problem}")


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """Return ``(duration_seconds, sample_rate, channels)`` of a file without decoding it."""
    _check_readable(Path(path))
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"{path}: cannot read audio header ({err})") from err
    return info.frames / info.samplerate, info.samplerate, info.channels


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = None,
    allow_silent: bool = False,
) -> np.ndarray:
    """Load any file libsndfile reads (wav, flac, ogg/vorbis, opus, mp3) as mono float32 at ``sample_rate``.

    Args:
        path: the audio file.
        sample_rate: the rate to return (default 32 kHz, the models' rate).
        offset: start reading this many seconds into the file.
        duration: read at most this many seconds (all of the rest if None).
        allow_silent: accept an all-zero signal instead of raising.

    Returns:
        ``(T,)`` float32 in [-1, 1].

    Raises:
        AudioError: the file is missing, corrupt, empty, silent (unless allowed) or holds non-finite samples;
            the message names the file.
    """
    path = Path(path)
    _check_readable(path)
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if offset > 0:
                start = int(round(offset * sr))
                if f.seekable():
                    f.seek(min(start, f.frames))
                else:
                    f.read(start, dtype="float32", always_2d=True)
            frames = -1 if duration is None else int(round(duration * sr))
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if data.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the audio holds NaN or infinite samples")
    mono = _to_mono(data)
    if not allow_silent and float(np.max(np.abs(mono))) == 0.0:
        raise AudioError(f"{path}: the audio is entirely silent")
    mono = resample(mono, sr, sample_rate)
    return np.clip(mono, -1.0, 1.0)


def _check_writable(audio: np.ndarray, path: Path) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise AudioError(f"{path}: expected mono audio of shape (T,), got {tuple(audio.shape)}")
    if audio.size == 0:
        raise AudioError(f"{path}: refusing to write an empty signal")
    if not np.isfinite(audio).all():
        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
    return np.clip(audio, -1.0, 1.0)


_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def _mp3_options(bitrate: int) -> dict:
    """libsndfile's options for constant-bitrate MPEG layer III at ``bitrate`` kbps (its LAME tag makes decoders
    drop the padding, so the decoded length equals the written one)."""
    level = min((320 - bitrate) / 288, 0.9999)  # libsndfile maps compression level linearly onto 320..32 kbps
    return dict(format="MP3", subtype="MPEG_LAYER_III", compression_level=level, bitrate_mode="CONSTANT")


def _encode_mp3(audio: np.ndarray, sample_rate: int, bitrate: int, out: Path) -> None:
    """Constant-bitrate MPEG layer III through libsndfile."""
    sf.write(str(out), audio, sample_rate, **_mp3_options(bitrate))


def _check_format(path: Path, bitrate: int) -> str:
    """The lower-case extension of ``path`` if audiogen writes it (and ``bitrate`` fits an MP3), else AudioError."""
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_FORMATS:
        raise AudioError(f"{path}: cannot write '{suffix or 'no extension'}'; allowed: {', '.join(WRITABLE_FORMATS)}")
    if suffix == ".mp3" and bitrate not in MP3_BITRATES:
        raise AudioError(f"{path}: MP3 bitrate {bitrate} kbps is not allowed; choose one of {MP3_BITRATES}")
    return suffix


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(path, err) from None


FILE_STRINGS = ("title", "artist", "comment", "software")  # what WAV, FLAC and OGG files carry of the tags


def save_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    bitrate: int = 192,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write mono ``audio`` of shape ``(T,)`` to ``path``; the extension picks the format.

    WAV is 16-bit PCM, FLAC 16-bit, OGG Vorbis, MP3 constant bitrate ``bitrate`` kbps (one of
    :data:`MP3_BITRATES`). MP3 ``tags`` (title, artist, comment, ...) are written as ID3v2; the other formats keep
    those of :data:`FILE_STRINGS` (title, artist, comment, software) as libsndfile's string metadata. The file
    appears under its final name only once complete.

    Returns the path written. Raises :class:`AudioError` for audio or options that cannot be written, and
    :class:`~audiogen.fileio.OutputError` (one line: the file and the cause) when the disk is full or the folder
    read-only or not writable; nothing is left on disk then.
    """
    path = Path(path)
    suffix = _check_format(path, bitrate)
    audio = _check_writable(audio, path)
    _make_folder(path)
    with temporary_beside(path, suffix=f".part{suffix}") as tmp:
        try:
            if suffix == ".mp3":
                _encode_mp3(audio, sample_rate, bitrate, tmp)
                if tags:
                    from audiogen.id3 import write_id3

                    write_id3(tmp, tags)
            else:
                fmt = _FORMATS[suffix]
                strings = {k: tags[k] for k in FILE_STRINGS if tags and tags.get(k)}
                if not strings:
                    sf.write(str(tmp), audio, sample_rate, format=fmt[0], subtype=fmt[1])
                else:  # WAV: a LIST/INFO chunk; FLAC and OGG: Vorbis comments
                    with sf.SoundFile(str(tmp), "w", sample_rate, 1, format=fmt[0], subtype=fmt[1]) as f:
                        for name, value in strings.items():
                            setattr(f, name, value)
                        f.write(audio)
            os.chmod(tmp, public_mode())  # mkstemp makes 0600; deliverables get the usual permissions
            os.replace(tmp, path)
        except (OSError, sf.SoundFileError) as err:  # a full disk, a read-only folder: one line naming the file
            raise output_error(path, err) from None
    return path


@contextlib.contextmanager
def audio_writer(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, bitrate: int = 192
) -> Iterator[Callable[[np.ndarray], None]]:
    """Write mono audio to ``path`` piece by piece, for output too long to hold in memory::

        with audio_writer("long.wav") as write:
            for chunk in chunks:   # each (T,) float32
                write(chunk)

    Formats as :func:`save_audio` (no tags). The pieces go to a temporary beside ``path``, which is renamed onto it
    only when the block ends without an error; on any error or interrupt it is removed and ``path`` is left as it
    was. Raises :class:`AudioError` for non-finite samples or when nothing was written, and
    :class:`~audiogen.fileio.OutputError` for a full disk or a folder that cannot be written.
    """
    path = Path(path)
    suffix = _check_format(path, bitrate)
    _make_folder(path)
    fmt = _FORMATS.get(suffix, ("MP3", None))
    options = _mp3_options(bitrate) if suffix == ".mp3" else {"format": fmt[0], "subtype": fmt[1]}
    written = 0

    with temporary_beside(path, suffix=f".part{suffix}") as tmp:
        try:
            with sf.SoundFile(str(tmp), "w", sample_rate, 1, **options) as out:

                def write(chunk: np.ndarray) -> None:
                    nonlocal written
                    chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
                    if not np.isfinite(chunk).all():
                        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
                    out.write(np.clip(chunk, -1.0, 1.0))
                    written += chunk.size

                yield write
            if not written:
                raise AudioError(f"{path}: refusing to write an empty signal")
            os.chmod(tmp, public_mode())
            os.replace(tmp, path)
        except (OSError, sf.SoundFileError) as err:
            raise output_error(path, err) from None
