"""Files in and out: atomic writes (a file appears complete under its name or not at all), one-line reasons when an
output cannot be written (a full disk, a read-only folder, a permission), and what is wrong with a path.

Every output is written to a temporary beside it, ``.NAME.XXXXXXXX.part[.EXT]``, then renamed onto ``NAME``. The
writing process holds an exclusive ``flock`` on its temporary while it writes, so the sweep that clears what a
killed run left (:func:`remove_stale_temporaries`) never deletes the temporary of a run still writing the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def public_mode() -> int:
    """The permission bits a plain ``open()`` would give a new file here (``0o666`` minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


MAX_NAME_BYTES = 255  # what Linux, macOS and Windows file systems allow for one name
LOW_SPACE_BYTES = 1 << 20  # a folder with less free space than this is taken as full when a writer hides its cause

# The causes an output can fail for that the user can act on, in words.
REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "the file is larger than this file system or process may write",
    errno.EIO: "an input/output error on the device",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "the folder no longer exists",
}


class OutputError(OSError):
    """An output that could not be written, in one line: ``cannot write PATH: REASON``. Nothing of it is left on
    disk (its temporary is removed). ``errno`` is the cause's (``ENOSPC``, ``EROFS``, ``EACCES``, ...; 0 when the
    writing library did not say), ``filename`` the output's own name, never its temporary's."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def output_error(path: str | os.PathLike, err: BaseException) -> OutputError:
    """``err``, raised while writing ``path`` (or its temporary), as an :class:`OutputError` naming ``path``.

    libsndfile reports a failed write as "System error." without the cause; the cause is then read from the C
    ``errno`` it left, else from the folder (no free space, not writable)."""
    if isinstance(err, OutputError):
        return err
    code = err.errno if isinstance(err, OSError) and err.errno else _libsndfile_errno(err)
    if not code:
        code = _folder_errno(Path(path).parent)
    if code:
        reason = REASONS.get(code) or os.strerror(code).lower()
    else:
        lines = str(err).strip().splitlines()
        reason = (lines[0][:200] if lines else type(err).__name__) or type(err).__name__
    return OutputError(code or 0, reason, str(path))


def _libsndfile_errno(err: BaseException) -> int:
    """The C ``errno`` behind a libsndfile "System error" (0 for any other error)."""
    try:
        import soundfile as sf
    except ImportError:
        return 0
    if not isinstance(err, sf.LibsndfileError) or getattr(err, "code", None) != 2:  # SFE_SYSTEM
        return 0
    ffi = getattr(sf, "_ffi", None)
    return int(getattr(ffi, "errno", 0) or 0)


def _folder_errno(folder: Path) -> int:
    """Why writing into ``folder`` may have failed, as an errno (0 when nothing is visibly wrong)."""
    try:
        fs = os.statvfs(folder if str(folder) else ".")
    except OSError:
        return 0
    if fs.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if fs.f_bavail * fs.f_frsize < LOW_SPACE_BYTES:
        return errno.ENOSPC
    if not os.access(folder if str(folder) else ".", os.W_OK | os.X_OK):
        return errno.EACCES
    return 0


def is_write_failure(err: BaseException) -> bool:
    """True for an error that means outputs cannot be written here at all (full disk, read-only, permission):
    a batch stops on it instead of failing every job the same way."""
    return isinstance(err, OSError) and err.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
    )  # fmt: skip


def path_problem(path: str | os.PathLike) -> str | None:
    """What keeps ``path`` from being read as a file, in words ("no such file", "is a folder, not a file",
    "/tmp/f.txt is a file, not a folder", "permission denied"), or None for a readable file."""
    path = Path(path)
    try:
        st = path.stat()
    except NotADirectoryError:
        return _file_on_the_way(path) or "a part of the path is a file, not a folder"
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "permission denied (a folder on the way may not be entered)"
    except OSError as err:
        return (err.strerror or str(err)).lower()
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied (the file exists but this user may not read it)"
    return None


def _file_on_the_way(path: Path) -> str | None:
    """``"X is a file, not a folder"`` for the first component of ``path``'s folders that is a file."""
    for parent in reversed(path.parents):
        if str(parent) in ("", ".") or parent == Path(parent.anchor):
            continue
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a folder"
    return None


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a readable file, else ``FileNotFoundError`` saying what is wrong (``what`` names the input,
    e.g. ``"--plan"``)."""
    problem = path_problem(path)
    if problem is not None:
        raise FileNotFoundError(f"{what} {path}: {problem}")
    return Path(path)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be written: its folder exists and is writable, it is not a folder,
    and its name fits the file system (255 bytes, with room for the temporary name written first). Returns the path;
    raises ``ValueError`` saying what is wrong."""
    path = Path(path)
    name = path.name.encode("utf-8", "surrogateescape")
    if not name:
        raise ValueError(f"{what} {path}: not a file name")
    if len(name) + 20 > MAX_NAME_BYTES:  # ".NAME.XXXXXXXX.part" is written first
        raise ValueError(f"{what} {str(path)[:80]}...: the file name is {len(name)} bytes; at most "
                         f"{MAX_NAME_BYTES - 20} are allowed")  # fmt: skip
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise ValueError(f"{what} {path}: {folder} is a file, not a folder")
        on_the_way = _file_on_the_way(folder)
        raise ValueError(f"{what} {path}: {on_the_way or f'the folder {folder} does not exist'}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise ValueError(f"{what} {path}: is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path}: the file exists and is not writable")
    return path


def _temporary_pattern(path: Path):
    import re

    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.part(\.[A-Za-z0-9]{1,8})?")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries an interrupted (killed) write of ``path`` left beside it: ``.NAME.XXXXXXXX.part*``
    for exactly this ``NAME``, nothing else, and never one that a running write still holds (its ``flock``).
    Returns the paths removed."""
    path = Path(path)
    pattern = _temporary_pattern(path)
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    for candidate in folder.glob(f".{path.name}.*.part*"):
        if not pattern.fullmatch(candidate.name) or candidate.is_symlink() or not candidate.is_file():
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # another run is writing it
        except OSError:
            pass  # a file system without locks: as before locks, the name alone decides
        try:
            if os.fstat(fd).st_ino == os.stat(candidate).st_ino:
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def temporary_beside(path: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """A fresh temporary file beside ``path`` (``.NAME.XXXXXXXX`` + ``suffix``), held under an exclusive ``flock``
    for as long as the block runs (so no other run's sweep deletes it), and removed when the block ends unless it
    was renamed away. Raises :class:`OutputError` when it cannot even be created."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    while True:
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
        except OSError as err:
            raise output_error(path, err) from None
        with contextlib.suppress(OSError):  # a file system without locks: the temporary is merely unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(name).st_ino
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # swept away between its creation and the lock: take another name
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                tmp.unlink()
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``: the package's one
    atomic writer (:func:`atomic_write_text` for text; the older helpers are names for it).

    The file gets the usual permissions (not ``mkstemp``'s private 0600); on any failure the temporary file is removed
    and ``path`` is left as it was. An ``OSError`` while writing (a full disk, a read-only folder) is raised as an
    :class:`OutputError` naming ``path``. Returns ``path``.
    """
    path = Path(path)
    with temporary_beside(path) as tmp:
        try:
            write(str(tmp))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # on disk before the rename: a crash leaves the old file or the new one, whole
            finally:
                os.close(fd)
            os.chmod(tmp, public_mode())
            os.replace(tmp, path)
        except OSError as err:
            raise output_error(path, err) from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8, newlines as given). Returns ``path``."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""))


@contextlib.contextmanager
def written_together(*paths: str | os.PathLike | None) -> Iterator[None]:
    """The outputs of one command, as a set: if the block fails (an error, Ctrl+C), the ones among ``paths`` that
    it created are removed again, so a failed command leaves no partial set (a file that was there before is left:
    it was replaced only by a complete one)."""
    targets = [Path(p) for p in paths if p is not None]
    existed = {p: p.exists() for p in targets}
    try:
        yield
    except BaseException:
        for p in targets:
            if not existed[p]:
                with contextlib.suppress(OSError):
                    p.unlink()
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
