import argparse
import collections
import json

import numpy as np
import pytest

from audiogen.audio import load_audio
from audiogen.compose.genres import GENRE_TEMPLATES
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.data.manifest import read_manifest
from audiogen.data.symbolic_cli import BuildConfig, composer_cells, music21_record, register


def main(argv: list[str]) -> int:
    """Run ``audiogen data build-symbolic`` through this module's own ``register`` (as audiogen.cli does)."""
    parser = argparse.ArgumentParser(prog="audiogen data")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_build_command_writes_a_loadable_manifest_and_resumes(tmp_path, capsys):
    out = tmp_path / "sym"
    args = ["build-symbolic", "--out", str(out), "--pieces", "3", "--duration", "4", "--seed", "3"]
    assert main(args) == 0
    records = read_manifest(out / "manifest.jsonl")
    assert len(records) == 3
    for r in records:
        audio = load_audio(r.resolve_path(out))
        assert audio.shape == (4 * 32000,) and r.duration == 4.0 and r.sample_rate == 32000
        assert r.source == "composer" and r.label_method == "composer-parameters"
        assert r.emotion in EMOTIONS and -1 <= r.valence <= 1 and -1 <= r.arousal <= 1
        assert r.mode in ("major", "minor") and r.key and r.tempo > 0
        assert r.descriptors["genre"] in r.tags and r.emotion in r.tags
        assert r.descriptors["genre"].replace("lofi", "lo-fi") in r.caption and str(round(r.tempo)) in r.caption
        assert r.licence.startswith("CC0-1.0") and "GPL-2.0" in r.licence
    first = (out / "manifest.jsonl").read_text()
    mtimes = {r.path: r.resolve_path(out).stat().st_mtime_ns for r in records}
    assert main(args) == 0  # a rerun reuses everything
    assert "rendered 0, reused 3" in capsys.readouterr().out
    assert (out / "manifest.jsonl").read_text() == first
    assert {r.path: r.resolve_path(out).stat().st_mtime_ns for r in records} == mtimes


def test_same_seed_same_corpus_labels(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["build-symbolic", "--out", str(out), "--pieces", "2", "--duration", "3"]) == 0
    la = [json.loads(x) for x in (a / "manifest.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (b / "manifest.jsonl").read_text().splitlines()]
    assert la == lb


def test_bad_arguments_are_reported(tmp_path):
    with pytest.raises(ValueError, match="--jobs"):
        main(["build-symbolic", "--out", str(tmp_path), "--jobs", "0"])
    with pytest.raises(FileNotFoundError, match="SoundFont"):
        main(["build-symbolic", "--out", str(tmp_path), "--soundfont", str(tmp_path / "x.sf2")])
    with pytest.raises(ValueError, match="format"):
        BuildConfig(tmp_path, fmt="mp4")


def test_composer_cells_are_balanced():
    cells = composer_cells(2 * len(GENRE_TEMPLATES) * len(EMOTIONS), seed=0)
    counts = collections.Counter(cells)
    assert len(counts) == len(GENRE_TEMPLATES) * len(EMOTIONS) and set(counts.values()) == {2}
    assert composer_cells(10, seed=0) == cells[:10]
    assert composer_cells(10, seed=1) != cells[:10]


def test_music21_piece_is_rendered_and_labelled(tmp_path):
    pytest.importorskip("music21")
    from audiogen.data import symbolic

    works = symbolic.list_works()
    flat = [w for ws in works.values() for w in ws]
    assert "bach/bwv66.6.mxl" in works["chorale"]
    assert not any(w.startswith(("palestrina/", "essenFolksong/", "monteverdi/")) or w.endswith(".krn") for w in flat)
    cfg = BuildConfig(tmp_path, seed=0, duration=6.0)
    rec = music21_record(0, "chorale", "bach/bwv66.6.mxl", cfg)
    assert not isinstance(rec, str), rec
    assert rec.source == "music21" and rec.label_method == "score-analysis"
    assert rec.key == "F#" and rec.mode == "minor" and rec.tempo == 96.0  # key analysis; the score's metronome mark
    assert rec.valence < 0 and rec.emotion in EMOTIONS and "public domain" in rec.licence
    assert len(rec.descriptors["programs"]) == 4 and not rec.descriptors["complete"]  # cut at a bar line
    audio = load_audio(rec.resolve_path(tmp_path))
    assert 3.0 < len(audio) / 32000 <= 6.0
    assert isinstance(music21_record(1, "folk", "ryansMammoth/NoSuchTune.abc", cfg), str)  # skipped, not raised


def test_emotion_from_score():
    from audiogen.data.symbolic import emotion_from_score

    v, a, label = emotion_from_score("major", 0.9, 150, 7.0)
    assert v > 0 and a > 0.5 and EMOTIONS[label][0] > 0
    v, a, label = emotion_from_score("minor", 0.9, 60, 1.5)
    assert v < 0 and a < -0.3 and EMOTIONS[label][0] < 0 and EMOTIONS[label][1] < 0
    assert np.isfinite([v, a]).all()


def test_opening_rests_are_dropped_and_long_silences_rejected():
    pytest.importorskip("music21")
    import pretty_midi

    from audiogen.data.symbolic import ScoreError, _skip_silences

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60, 2.0, 3.0), pretty_midi.Note(80, 62, 3.0, 4.0)]
    pm.instruments.append(inst)
    assert _skip_silences(pm, 30.0) == pytest.approx(1.75)
    assert inst.notes[0].start == pytest.approx(0.25) and inst.notes[1].end == pytest.approx(2.25)
    inst.notes.append(pretty_midi.Note(80, 64, 10.0, 11.0))  # 6 s of nothing before it
    with pytest.raises(ScoreError, match="silence"):
        _skip_silences(pm, 30.0)
    assert _skip_silences(pm, 5.0) == 0.0  # the gap lies beyond the part that is played
