import json

import numpy as np
import pytest

from audiogen.audio import save_audio
from audiogen.cli import main
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.data.manifest import read_manifest
from audiogen.data.scan import scan_folder, sidecar_labels

SR = 32000


def _chords(seconds=3.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))).astype(np.float32)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "my music"
    save_audio(d / "song_one.wav", _chords())
    save_audio(d / "sub" / "song_two.flac", _chords(2.0))
    save_audio(d / "song_three.ogg", _chords(2.0))
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    (d / "notes.txt").write_text("not audio, ignored")
    (d / "metadata.csv").write_text(
        "file,caption,emotion,tags,valence,arousal\n"
        "song_one.wav,a gentle piano piece,calm,piano;soft,,\n"
        "sub/song_two.flac,,,,0.9,0.8\n"
        "song_three.ogg,,no-such-emotion,,,\n"
    )
    (d / "song_three.ogg.json").write_text(json.dumps({"title": "Third", "valence": 2.0, "arousal": 0.0}))
    return d


def test_scan_reports_corrupt_file_and_applies_sidecars(folder, tmp_path, capsys):
    out = tmp_path / "index" / "manifest.jsonl"
    indexed, bad = scan_folder(folder, out, analyse=False)
    assert (indexed, bad) == (3, 1)
    err = capsys.readouterr().err
    assert "broken.wav" in err and "no-such-emotion" in err.lower() and "valence must lie in [-1, 1]" in err
    recs = {r.track.split("/", 2)[-1]: r for r in read_manifest(out)}
    assert set(recs) == {"song_one.wav", "sub/song_two.flac", "song_three.ogg"}
    one = recs["song_one.wav"]
    assert one.source == "user/my music" and one.caption == "a gentle piano piece"
    assert one.emotion == "calm" and (one.valence, one.arousal) == EMOTIONS["calm"]
    assert one.tags == ["piano", "soft"] and one.label_method == "sidecar"
    assert recs["sub/song_two.flac"].emotion == "joyful"  # nearest label to (0.9, 0.8)
    three = recs["song_three.ogg"]
    assert three.title == "Third" and three.emotion is None and three.valence is None
    for r in recs.values():
        assert r.resolve_path(out.parent).is_file()


def test_scan_with_analysis_fills_missing_labels(folder, tmp_path):
    out = tmp_path / "m.jsonl"
    assert main(["data", "scan", str(folder), "--out", str(out), "--source", "mine"]) == 0
    recs = {r.title: r for r in read_manifest(out)}
    one = recs["song one"]
    assert one.emotion == "calm" and one.caption == "a gentle piano piece"  # sidecar wins
    assert one.key == "C" and one.mode == "major" and one.descriptors  # analysis fills the rest
    assert one.label_method == "sidecar+audio-analysis-v1"
    third = recs["Third"]
    assert third.emotion in EMOTIONS and -1 <= third.valence <= 1 and third.label_method == "audio-analysis-v1"
    assert all(r.source == "mine" for r in recs.values())


def test_per_file_json_overrides_folder_entry(folder):
    (folder / "song_one.json").write_text(json.dumps({"emotion": "sad"}))
    labels = sidecar_labels(folder, [folder / "song_one.wav"])
    assert labels[folder / "song_one.wav"]["emotion"] == "sad"
    assert labels[folder / "song_one.wav"]["caption"] == "a gentle piano piece"


def test_scan_of_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "scan", str(tmp_path / "nope"), "--out", str(tmp_path / "m.jsonl")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_stats_reports_hours_labels_and_writes_plots(folder, tmp_path, capsys):
    out = tmp_path / "m.jsonl"
    scan_folder(folder, out, source="mine", analyse=False, valid_fraction=0.0)
    plots = tmp_path / "plots"
    assert main(["data", "stats", str(out), "--plots", str(plots)]) == 0
    text = capsys.readouterr().out
    total = next(line for line in text.splitlines() if line.startswith("total")).split()
    assert total[1] == "3" and any(line.startswith("mine ") for line in text.splitlines())
    assert "calm" in text and "joyful" in text and "labelled: 2/3" in text
    for name in ("tempo_hist.png", "key_hist.png", "emotion_counts.png"):
        assert (plots / name).read_bytes()[:4] == b"\x89PNG"
