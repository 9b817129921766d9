"""The studio never deletes a file it did not write: it only uses a folder it made (the library marker) or a library
of an earlier version (its database), and its sweep only removes the names the studio itself writes."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from audiogen.studio.library import (
    MARKER,
    SUBFOLDER,
    Library,
    NotALibraryError,
    is_library,
    library_root,
)

STEM = "000009-0-0123456789ab"  # a name as Library.new_stem makes them
DIGEST = "ab" * 32  # a name as an upload's SHA-256


def _user_files(root: Path) -> dict[Path, bytes]:
    """A user's folder with ``audio/`` and ``briefs/`` of its own, some names looking like the studio's."""
    files = {
        root / "notes.txt": b"my notes",
        root / "audio" / "mine.mp3": b"my song",
        root / "audio" / f"{STEM}.mp3": b"my file with a studio-like name",
        root / "audio" / f".{STEM}.mp3.abcdefgh.part.mp3": b"mine too",
        root / "briefs" / "poster.png": b"my poster",
        root / "briefs" / f"{DIGEST}.png": b"my picture named by its hash",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _kept(files: dict[Path, bytes]) -> bool:
    return all(path.is_file() and path.read_bytes() == data for path, data in files.items())


def _start(path: Path) -> tuple[Library, str | None, list[str]]:
    """What ``audiogen studio --library PATH`` does with the library before serving; returns the names swept."""
    root, note = library_root(path)
    library = Library(root)
    library.lock()
    library.recover()
    removed = library.sweep()
    library.unlock()
    return library, note, removed


def test_the_command_leaves_a_users_folder_alone_at_start_and_restart(tmp_path):
    pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
    pytest.importorskip("uvicorn", reason="the studio extra is not installed (pip install -e '.[dev]')")
    from audiogen.studio.testing import StudioProcess

    root = tmp_path / "music"
    files = _user_files(root)
    before = set(os.listdir(root))
    for _ in range(2):  # a start, then a restart
        with StudioProcess(root, model="debug") as proc:
            pass
        assert proc.proc.returncode is not None
        said = "".join(proc.lines)
        assert f"library {root / SUBFOLDER}" in said and "holds other files and is not a studio library" in said
        assert _kept(files), said
    assert set(os.listdir(root)) == before | {SUBFOLDER}
    assert (root / SUBFOLDER / MARKER).is_file() and is_library(root / SUBFOLDER) and not is_library(root)


def test_a_folder_with_other_files_is_never_taken_as_the_library(tmp_path):
    root = tmp_path / "music"
    files = _user_files(root)
    with pytest.raises(NotALibraryError, match="holds other files and is not an audiogen studio library"):
        Library(root)
    assert _kept(files) and not (root / MARKER).exists() and not (root / "studio.sqlite3").exists()

    for _ in range(2):  # a start and a restart: the library is the subfolder, the user's files are untouched
        library, note, removed = _start(root)
        assert library.root == root / SUBFOLDER and removed == []
        assert "is its subfolder" in note and "nothing outside it is written or deleted" in note
        assert _kept(files)


def test_a_new_or_empty_folder_becomes_a_marked_library(tmp_path):
    for root in (tmp_path / "new" / "lib", tmp_path / "empty"):
        if root.name == "empty":
            root.mkdir()
        assert library_root(root) == (root, None)
        library = Library(root)
        assert library.root == root and (root / MARKER).read_text().startswith("audiogen studio library\n")
        assert library_root(root) == (root, None)  # the next start: its own library, not a subfolder


def test_user_files_inside_a_library_survive_the_sweep(tmp_path):
    root = tmp_path / "lib"
    Library(root)
    mine = {
        root / "audio" / "mine.mp3": b"dropped in by hand",
        root / "audio" / f"{STEM}.mp3.bak": b"a copy",
        root / "audio" / f"{STEM}.flac": b"a conversion",
        root / "briefs" / "notes.txt": b"notes",
        root / "briefs" / f"{DIGEST}.txt": b"not an upload's extension",
    }
    for path, data in mine.items():
        path.write_bytes(data)
    (root / "audio" / "folder").mkdir()
    os.symlink(root / "audio" / "mine.mp3", root / "audio" / f"{STEM}.wav")
    for _ in range(2):  # a start and a restart
        _, note, removed = _start(root)
        assert note is None and removed == []
        assert _kept(mine) and (root / "audio" / "folder").is_dir() and (root / "audio" / f"{STEM}.wav").is_symlink()


_DIE = "def die(tmp, *args, **kwargs):\n    Path(str(tmp)).write_bytes(b'half')\n    os._exit(9)\n"


def _killed_write(*lines: str) -> None:
    """Run ``lines`` in a child process that dies (``os._exit``) in the middle of one of the studio's writes."""
    code = "\n".join(["import os", "from pathlib import Path", _DIE, *lines])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 9, res.stderr


def test_what_the_studio_left_half_written_is_still_swept(tmp_path):
    root = tmp_path / "lib"
    library = Library(root)
    wav, mid = library.file_path(STEM, "wav"), library.file_path(STEM, "mid")
    thumb = library.brief_path(DIGEST, "thumb.jpg")
    _killed_write(  # a track's audio, written by audiogen.audio.save_audio
        "import numpy as np, soundfile",
        "from audiogen.audio import save_audio",
        "soundfile.write = lambda tmp, *args, **kwargs: die(tmp)",
        f"save_audio({str(wav)!r}, np.zeros(4800, dtype=np.float32), 48000)",
    )
    for path in (mid, thumb):  # the MIDI file and a thumbnail are written by atomic_write
        _killed_write("from audiogen.fileio import atomic_write", f"atomic_write({str(path)!r}, die)")
    upload = library.briefs_dir / f".upload-{'0' * 16}.part"  # an upload cut off by a stop (briefs.receive)
    upload.write_bytes(b"half")
    orphans = [library.file_path("000010-1-00000000000a", "mp3"), library.brief_path(DIGEST, "png")]
    for path in orphans:  # complete files whose row was never committed
        path.write_bytes(b"no row")
    left = sorted(p.name for p in (*library.audio_dir.iterdir(), *library.briefs_dir.iterdir()))
    assert len(left) == 6 and any(n.startswith(f".{wav.name}.") and n.endswith(".part.wav") for n in left)
    assert not wav.exists() and not mid.exists() and not thumb.exists()

    _, _, removed = _start(root)
    assert sorted(removed) == left
    assert list(library.audio_dir.iterdir()) == [] and list(library.briefs_dir.iterdir()) == []


def _old_library(root: Path) -> tuple[int, Path]:
    """A library as the first studio version left it: no marker, no ``briefs`` table; one track and its file."""
    library = Library(root)
    row = dict(job_id=1, variant=0, title="t", prompt="p", seed=0, duration=1.0, request={}, params={}, plan=None,
               peaks=[0.0], stem=STEM, kinds=["mp3"])  # fmt: skip
    track_id = library.add_track(row)
    kept = library.file_path(STEM, "mp3")
    kept.write_bytes(b"a kept track")
    with sqlite3.connect(library.db_path) as con:
        con.execute("DROP TABLE briefs")
    con.close()
    (root / MARKER).unlink()
    return track_id, kept


def test_a_library_of_an_earlier_version_keeps_working_and_gets_the_marker(tmp_path):
    root = tmp_path / "lib"
    track_id, kept = _old_library(root)
    orphan = root / "audio" / "000011-0-00000000000b.wav"
    orphan.write_bytes(b"left by a delete cut short")
    mine = root / "audio" / "mine.mp3"
    mine.write_bytes(b"mine")
    assert is_library(root) and not (root / MARKER).exists()

    library, note, removed = _start(root)
    assert library.root == root and note is None and (root / MARKER).is_file()
    assert removed == [orphan.name] and kept.read_bytes() == b"a kept track" and mine.read_bytes() == b"mine"
    assert library.track(track_id)["stem"] == STEM and library.brief(DIGEST) is None  # the briefs table is back
    library, note, removed = _start(root)  # and the restart
    assert library.root == root and note is None and removed == [] and library.tracks()[1] == 1


def test_a_file_only_named_like_the_database_does_not_make_a_library(tmp_path):
    for content in ("text", "other tables"):
        root = tmp_path / content.replace(" ", "-")
        root.mkdir()
        db = root / "studio.sqlite3"
        if content == "text":
            db.write_text("not a database")
        else:
            with sqlite3.connect(db) as con:
                con.execute("CREATE TABLE tracks (id INTEGER)")
            con.close()
        data = db.read_bytes()
        assert not is_library(root)
        with pytest.raises(NotALibraryError):
            Library(root)
        library, _, _ = _start(root)
        assert library.root == root / SUBFOLDER and db.read_bytes() == data
        assert sorted(os.listdir(root)) == sorted(["studio.sqlite3", SUBFOLDER])


def test_the_command_refuses_in_one_line_when_no_folder_may_be_used(tmp_path):
    pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
    pytest.importorskip("uvicorn", reason="the studio extra is not installed (pip install -e '.[dev]')")
    root = tmp_path / "music"
    files = _user_files(root)
    files.update(_user_files(root / SUBFOLDER))  # the subfolder is the user's too
    cmd = [sys.executable, "-m", "audiogen.cli", "studio", "--model", "debug", "--port", "0", "--library", str(root)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)  # (a server that starts would time out)
    assert res.returncode == 2 and res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("audiogen studio: error: --library")
    assert "is not an audiogen studio library" in res.stderr and "name a new or empty folder" in res.stderr
    assert _kept(files) and not any(p.name in (MARKER, "studio.sqlite3", ".lock") for p in root.rglob("*"))


def test_the_sweep_deletes_nothing_once_the_marker_is_gone(tmp_path):
    library = Library(tmp_path / "lib")
    orphan = library.file_path(STEM, "mp3")
    orphan.write_bytes(b"no row")
    (library.root / MARKER).unlink()
    with pytest.raises(NotALibraryError, match="marker"):
        library.sweep()
    assert orphan.is_file()
