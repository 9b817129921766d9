"""Real-music corpus from Debian's game-music packages.

``apt-get download PKG`` fetches a package without installing it and ``dpkg-deb -x`` unpacks it; both run once per
package and are skipped when their output already exists. The layout under the work folder is::

    WORK/debs/PKG_VERSION_all.deb        downloaded packages
    WORK/extract/PKG/usr/...             unpacked packages
    WORK/extract/PKG/.../NAME.pk3.d/...  audio members of game archives (.pk3 are zip files)

Music is told apart from sound effects by its folder (a path component containing "music", a ``cdtracks`` folder,
or a folder listed for the package in :data:`PACKAGES`) and by its length (at least ``min_duration`` seconds, 30 by
default). Each package's licence comes from ``usr/share/doc/PKG/copyright``: in machine-readable (DEP-5) files the
last ``Files:`` stanza matching the track decides; free-form files are matched against known licence phrases.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from audiogen.audio import AudioError, audio_info
from audiogen.data.manifest import Record, split_for_track

AUDIO_EXTENSIONS = (".ogg", ".opus", ".flac", ".wav", ".mp3")
ARCHIVE_EXTENSIONS = (".pk3",)

# Package -> extra folder names (besides any containing "music") that hold its music.
PACKAGES: dict[str, tuple[str, ...]] = {
    "wesnoth-1.16-music": (),
    "ufoai-music": (),
    "warzone2100-music": (),
    "naev-data": (),
    "nexuiz-music": ("cdtracks",),
    "colobot-common-sounds": (),
    "freedroidrpg-data": (),
    "drascula-music": ("audio",),
    "flare-game": (),
    "supertuxkart-data": (),
    "planetblupi-music-ogg": (),
}

# Sped-up duplicates some games ship next to a track (SuperTuxKart's "_fast" variants).
_DUPLICATE_SUFFIXES = ("_fast", "_f")


class DebianError(RuntimeError):
    """A package could not be downloaded or unpacked."""


@dataclass
class MusicFile:
    """One music file found in an unpacked package."""

    package: str
    path: Path
    relpath: str  # relative to the package's extract folder
    duration: float
    sample_rate: int
    title: str
    licence: str


# ---------------------------------------------------------------------------------------------------------------
# Download and unpack


def find_deb(debs_dir: Path, package: str) -> Path | None:
    """The downloaded ``.deb`` of ``package`` in ``debs_dir``, or None."""
    hits = sorted(Path(debs_dir).glob(f"{package}_*.deb"))
    return hits[-1] if hits else None


def download(package: str, debs_dir: Path) -> Path:
    """``apt-get download`` ``package`` into ``debs_dir`` unless a ``.deb`` of it is already there."""
    debs_dir = Path(debs_dir)
    debs_dir.mkdir(parents=True, exist_ok=True)
    deb = find_deb(debs_dir, package)
    if deb is not None:
        return deb
    proc = subprocess.run(["apt-get", "download", package], cwd=debs_dir, capture_output=True, text=True)
    deb = find_deb(debs_dir, package)
    if proc.returncode != 0 or deb is None:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise DebianError(
            f"apt-get download {package} failed: {detail} (is the package name right? after a fresh install, "
            "run 'apt-get update' once so apt knows the archive)"
        )
    return deb


def extract(deb: Path, dest: Path) -> Path:
    """Unpack ``deb`` into ``dest`` with ``dpkg-deb -x`` (into a temporary folder, then renamed); skipped if
    ``dest`` already holds an unpacked tree."""
    dest = Path(dest)
    if (dest / "usr").is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise DebianError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def unpack_archives(root: Path) -> list[Path]:
    """Unpack the audio members of every game archive (``.pk3``, a zip) under ``root`` into ``ARCHIVE.d/``.

    Members already unpacked are skipped. Returns the ``.d`` folders.
    """
    out = []
    for arc in sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in ARCHIVE_EXTENSIONS and p.is_file()):
        dest = arc.with_name(arc.name + ".d")
        with zipfile.ZipFile(arc) as z:
            for info in z.infolist():
                name = info.filename
                if info.is_dir() or not name.lower().endswith(AUDIO_EXTENSIONS) or ".." in Path(name).parts:
                    continue
                target = dest / name
                if target.is_file() and target.stat().st_size == info.file_size:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
                with os.fdopen(fd, "wb") as f, z.open(info) as src:
                    shutil.copyfileobj(src, f)
                os.replace(tmp, target)
        out.append(dest)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Licences


def _parse_dep5(text: str) -> list[tuple[list[str], str]]:
    """``[(file patterns, licence short name)]`` of a machine-readable copyright file's ``Files:`` stanzas."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current] += "\n" + line.strip()
            elif ":" in line:
                current, _, value = line.partition(":")
                current = current.strip().lower()
                fields[current] = value.strip()
        if "files" in fields and "license" in fields:
            patterns = fields["files"].split()
            licence = fields["license"].split("\n")[0].strip()
            if patterns and licence:
                stanzas.append((patterns, licence))
    return stanzas


def _pattern_matches(pattern: str, relpath: str) -> bool:
    """Compare the last (at most two) components of a DEP-5 pattern with the same trailing components of a path.

    Installed paths differ from the source tree's (``usr/share/games/X/data/music/a.ogg`` vs ``data/music/a.ogg``),
    so only the tail is compared; ``*`` alone matches everything.
    """
    pat = [p for p in pattern.strip("./").split("/") if p and p != "."]
    parts = relpath.split("/")
    if not pat:
        return False
    if pat == ["*"]:
        return True
    k = min(len(pat), 2)
    if len(parts) < k:
        return False
    return fnmatch.fnmatchcase("/".join(parts[-k:]), "/".join(pat[-k:]))


_FREEFORM_LICENCES = (
    (r"Creative Commons Attribution[- ]Share ?Alike[^\n]*4\.0|CC[- ]BY[- ]SA[- ]4\.0", "CC-BY-SA-4.0"),
    (r"Creative Commons Attribution[- ]Share ?Alike[^\n]*3\.0|CC[- ]BY[- ]SA[- ]3\.0", "CC-BY-SA-3.0"),
    (r"GNU General Public License[^.]*version 3[^.]*any later", "GPL-3+"),
    (r"GNU General Public License[^.]*version 2[^.]*any later", "GPL-2+"),
    (r"GNU General Public License[^.]*version 3", "GPL-3"),
    (r"GNU General Public License[^.]*version 2", "GPL-2"),
    (r"/usr/share/common-licenses/GPL-3", "GPL-3"),
    (r"/usr/share/common-licenses/GPL-2", "GPL-2"),
)


def read_licences(copyright_path: Path) -> tuple[list[tuple[list[str], str]], str]:
    """Parse a package's copyright file: ``(DEP-5 stanzas, fallback licence)``.

    The fallback is the ``Files: *`` licence of a DEP-5 file or, for a free-form file, the first known licence
    phrase found in it (``"unknown"`` if none).
    """
    try:
        text = Path(copyright_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], "unknown"
    stanzas = _parse_dep5(text) if text.lstrip().startswith("Format:") else []
    for patterns, licence in stanzas:
        if patterns == ["*"]:
            return stanzas, licence
    flat = re.sub(r"\s+", " ", text)
    for regex, name in _FREEFORM_LICENCES:
        if re.search(regex, flat, flags=re.IGNORECASE):
            return stanzas, name
    return stanzas, "unknown"


def licence_for(relpath: str, stanzas: list[tuple[list[str], str]], fallback: str) -> str:
    """The licence of one file: the last matching DEP-5 stanza wins (as the format specifies), else ``fallback``."""
    found = fallback
    for patterns, licence in stanzas:
        if any(_pattern_matches(p, relpath) for p in patterns):
            found = licence
    return found


# ---------------------------------------------------------------------------------------------------------------
# Finding music and titles


def title_from_filename(stem: str) -> str:
    """``"battle-epic_02"`` -> ``"Battle Epic 02"``; ``"HellFortressEntrance"`` -> ``"Hell Fortress Entrance"``."""
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    s = re.sub(r"([A-Za-z])(\d)", r"\1 \2", s)
    s = re.sub(r"[_\-.]+", " ", s).strip()
    return " ".join(w[:1].upper() + w[1:] for w in s.split())


def _side_titles(folder: Path) -> dict[str, str]:
    """Titles the games ship next to their music: Warzone 2100's ``album.json``, SuperTuxKart's ``*.music``."""
    titles: dict[str, str] = {}
    album = folder / "album.json"
    if album.is_file():
        try:
            for t in json.loads(album.read_text(encoding="utf-8")).get("tracks", []):
                if t.get("filename") and t.get("title"):
                    titles[t["filename"]] = str(t["title"])
        except (ValueError, AttributeError):
            pass
    for music in folder.glob("*.music"):
        text = music.read_text(encoding="utf-8", errors="replace")
        t, f = re.search(r'title\s*=\s*"([^"]*)"', text), re.search(r'file\s*=\s*"([^"]*)"', text)
        if t and f:
            titles[f.group(1)] = t.group(1)
    return titles


def _is_music_path(relpath: str, extra_dirs: tuple[str, ...]) -> bool:
    dirs = [d.lower() for d in relpath.split("/")[:-1]]
    if "doc" in dirs:
        return False
    return any("music" in d or d == "cdtracks" or d in extra_dirs for d in dirs)


def _is_duplicate(path: Path) -> bool:
    stem = path.stem
    for suf in _DUPLICATE_SUFFIXES:
        if stem.endswith(suf) and any(path.with_name(stem[: -len(suf)] + e).is_file() for e in AUDIO_EXTENSIONS):
            return True
    return False


def find_music(package: str, root: Path, min_duration: float = 30.0) -> list[MusicFile]:
    """The music files of one unpacked package under ``root`` (its extract folder), sorted by path.

    Unpacks game archives first. Files shorter than ``min_duration`` seconds, sound-effect folders, sped-up
    duplicates and unreadable files are left out (the unreadable ones are reported on stderr).
    """
    root = Path(root)
    unpack_archives(root)
    stanzas, fallback = read_licences(root / "usr/share/doc" / package / "copyright")
    extra = PACKAGES.get(package, ())
    found = []
    titles_by_dir: dict[Path, dict[str, str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()):
        rel = path.relative_to(root).as_posix()
        if not _is_music_path(rel, extra) or _is_duplicate(path):
            continue
        try:
            duration, sr, _ = audio_info(path)
        except AudioError as err:
            print(f"skipping {err}", file=sys.stderr)
            continue
        if duration < min_duration:
            continue
        titles = titles_by_dir.setdefault(path.parent, _side_titles(path.parent))
        title = titles.get(path.name) or title_from_filename(path.stem)
        found.append(MusicFile(package, path, rel, duration, sr, title, licence_for(rel, stanzas, fallback)))
    return found


# ---------------------------------------------------------------------------------------------------------------
# Records


def make_record(m: MusicFile, manifest_dir: Path, valid_fraction: float = 0.1) -> Record:
    """A manifest :class:`Record` for one music file (path relative to the manifest's folder, split per track)."""
    track = f"debian/{m.package}/{m.relpath}"
    return Record(
        path=os.path.relpath(m.path.resolve(), Path(manifest_dir).resolve()),
        duration=round(m.duration, 3),
        sample_rate=m.sample_rate,
        source=f"debian/{m.package}",
        licence=m.licence,
        split=split_for_track(track, valid_fraction),
        track=track,
        title=m.title,
        tags=[],
        label_method="",
    )


def build_records(
    work: Path,
    manifest_path: Path,
    packages: list[str] | None = None,
    min_duration: float = 30.0,
    valid_fraction: float = 0.1,
    fetch: bool = True,
) -> list[Record]:
    """Download (if ``fetch``), unpack and index ``packages`` under ``work``; returns one record per music track.

    A package that cannot be fetched is reported on stderr and skipped.
    """
    work = Path(work)
    records = []
    for pkg in packages or list(PACKAGES):
        root = work / "extract" / pkg
        try:
            if not (root / "usr").is_dir():
                if not fetch:
                    raise DebianError(f"{root} is not unpacked and fetching is off")
                extract(download(pkg, work / "debs"), root)
        except (DebianError, OSError) as err:
            print(f"skipping {pkg}: {err}", file=sys.stderr)
            continue
        for m in find_music(pkg, root, min_duration):
            records.append(make_record(m, Path(manifest_path).parent, valid_fraction))
    return records


def hours_by(records: list[Record], key: str = "source") -> dict[str, float]:
    """Total hours per value of ``key`` (a Record attribute)."""
    out: dict[str, float] = {}
    for r in records:
        out[getattr(r, key)] = out.get(getattr(r, key), 0.0) + r.duration / 3600
    return dict(sorted(out.items()))
