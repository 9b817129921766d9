import zipfile

import numpy as np

from audiogen.audio import save_audio
from audiogen.cli import main
from audiogen.data import debian
from audiogen.data.manifest import read_manifest

SR = 32000
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-2+

Files: data/music/special.ogg
Copyright: someone else
License: CC-BY-SA-3.0
"""


def _tone(seconds, freq=220.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _unpacked_package(work, pkg="game-music"):
    """A folder laid out like ``dpkg-deb -x`` output: music, sound effects, a .pk3 archive and a copyright file."""
    root = work / "extract" / pkg
    music = root / "usr/share/games/game/data/music"
    save_audio(music / "battle_theme.ogg", _tone(3.0))
    save_audio(music / "battle_theme_fast.ogg", _tone(2.5))  # sped-up duplicate: skipped
    save_audio(music / "special.ogg", _tone(2.5, 330))
    save_audio(music / "jingle.ogg", _tone(0.5))  # too short: skipped
    save_audio(root / "usr/share/games/game/data/sounds/explosion.ogg", _tone(3.0))  # sound effect: skipped
    save_audio(work / "tmp_track.ogg", _tone(2.2, 440))
    arc = root / "usr/share/games/game/data/music.pk3"
    with zipfile.ZipFile(arc, "w") as z:
        z.write(work / "tmp_track.ogg", "sound/cdtracks/NightCity.ogg")
        z.writestr("maps/readme.txt", "not audio")
    (work / "tmp_track.ogg").unlink()
    doc = root / "usr/share/doc" / pkg
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return root


def test_find_music_filters_and_licences(tmp_path):
    root = _unpacked_package(tmp_path)
    found = debian.find_music("game-music", root, min_duration=2.0)
    names = sorted(m.path.name for m in found)
    assert names == ["NightCity.ogg", "battle_theme.ogg", "special.ogg"]
    by_name = {m.path.name: m for m in found}
    assert by_name["battle_theme.ogg"].licence == "GPL-2+"
    assert by_name["special.ogg"].licence == "CC-BY-SA-3.0"
    assert by_name["battle_theme.ogg"].title == "Battle Theme"
    assert by_name["NightCity.ogg"].title == "Night City"
    assert abs(by_name["battle_theme.ogg"].duration - 3.0) < 0.05
    assert (root / "usr/share/games/game/data/music.pk3.d/sound/cdtracks/NightCity.ogg").is_file()


def test_build_debian_cli_reuses_unpacked_layout(tmp_path, capsys):
    _unpacked_package(tmp_path / "work")
    out = tmp_path / "corpus" / "manifest.jsonl"
    argv = ["data", "build-debian", "--work", str(tmp_path / "work"), "--out", str(out)]
    argv += ["--packages", "game-music", "--no-analysis", "--min-duration", "2"]
    assert main(argv) == 0
    recs = read_manifest(out)
    assert len(recs) == 3
    assert {r.source for r in recs} == {"debian/game-music"}
    assert all(r.split in ("train", "valid") and r.track.startswith("debian/game-music/") for r in recs)
    for r in recs:
        assert r.resolve_path(out.parent).is_file() and not r.path.startswith("/")
    assert "3 tracks" in capsys.readouterr().out
    # A second run finds the same tracks with the same splits (no download, no re-extraction).
    assert main(argv) == 0
    assert [(r.path, r.split) for r in read_manifest(out)] == [(r.path, r.split) for r in recs]


def test_missing_package_without_fetch_is_skipped(tmp_path, capsys):
    recs = debian.build_records(tmp_path, tmp_path / "m.jsonl", ["not-there"], fetch=False)
    assert recs == [] and "not-there" in capsys.readouterr().err


def test_licence_parsing_free_form_and_titles(tmp_path):
    p = tmp_path / "copyright"
    p.write_text(
        "This program is free software; you can redistribute it under the terms of the GNU General Public "
        "License as published by the Free Software Foundation; either version 2 of the License, or (at your "
        "option) any later version.\n"
    )
    stanzas, fallback = debian.read_licences(p)
    assert stanzas == [] and fallback == "GPL-2+"
    assert debian.title_from_filename("HellFortressEntrance") == "Hell Fortress Entrance"
    assert debian.title_from_filename("battle-epic_02") == "Battle Epic 02"
