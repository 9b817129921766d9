"""Analysis against audio whose tempo and key are known by construction."""

import numpy as np
import pytest

from audiogen import analysis
from audiogen.audio import save_audio
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.data.manifest import Record, read_manifest, write_manifest

SR = 22050


def click_track(bpm: float, seconds: float = 12.0) -> np.ndarray:
    """Decaying 1 kHz clicks every beat, shape (T,)."""
    y = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(int(0.03 * SR)) / SR
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 150)).astype(np.float32)
    for k in range(int(seconds * bpm / 60)):
        i = int(round(k * 60 / bpm * SR))
        n = min(len(click), len(y) - i)
        y[i : i + n] += click[:n]
    return 0.5 * y


def chord_progression(chords: list[list[int]], seconds_per_chord: float = 1.0, repeats: int = 2) -> np.ndarray:
    """Additive sine tones of MIDI-note chords, with short fades, shape (T,)."""
    t = np.arange(int(seconds_per_chord * SR)) / SR
    env = np.minimum(1, np.minimum(t / 0.02, (seconds_per_chord - t) / 0.05))
    out = []
    for _ in range(repeats):
        for chord in chords:
            y = sum(
                np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) * (0.6 if i == 0 else 0.4)
                for i, m in enumerate(chord)
            )
            out.append(y * env)
    return (0.2 * np.concatenate(out)).astype(np.float32)


C_MAJOR = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [48, 60, 64, 67]]  # I-IV-V-I
A_MINOR = [[45, 57, 60, 64], [50, 57, 62, 65], [52, 56, 59, 64], [45, 57, 60, 64]]  # i-iv-V-i
G_MAJOR = [[43, 55, 59, 62], [48, 55, 60, 64], [50, 54, 57, 62], [43, 55, 59, 62]]


@pytest.mark.parametrize("bpm", [75.0, 100.0, 128.0])
def test_tempo_of_click_track_within_two_percent(bpm):
    tempo = analysis.describe(click_track(bpm), SR)["tempo"]
    assert abs(tempo - bpm) / bpm < 0.02


@pytest.mark.parametrize(
    ("chords", "key", "mode"), [(C_MAJOR, "C", "major"), (A_MINOR, "A", "minor"), (G_MAJOR, "G", "major")]
)
def test_key_and_mode_of_chord_progressions(chords, key, mode):
    d = analysis.describe(chord_progression(chords), SR)
    assert (d["key"], d["mode"]) == (key, mode)
    assert (d["mode_score"] > 0) == (mode == "major")


def test_key_from_chroma_profiles_and_rotation():
    for tonic in range(12):
        assert analysis.key_from_chroma(np.roll(analysis.MAJOR_PROFILE, tonic))["key"] == analysis.PITCHES[tonic]
        got = analysis.key_from_chroma(np.roll(analysis.MINOR_PROFILE, tonic))
        assert (got["key"], got["mode"]) == (analysis.PITCHES[tonic], "minor")


def test_valence_arousal_follow_the_cues():
    base = {
        "tempo": 120.0,
        "loudness_lufs": -18.0,
        "onset_rate": 2.5,
        "centroid_hz": 1800.0,
        "percussive_ratio": 0.25,
        "mode_score": 0.0,
    }
    v0, a0 = analysis.valence_arousal(base)
    assert (
        analysis.valence_arousal({**base, "mode_score": 0.2})[0]
        > v0
        > analysis.valence_arousal({**base, "mode_score": -0.2})[0]
    )
    fast_loud = {**base, "tempo": 170.0, "loudness_lufs": -10.0, "onset_rate": 6.0}
    slow_soft = {**base, "tempo": 70.0, "loudness_lufs": -28.0, "onset_rate": 0.8}
    assert analysis.valence_arousal(fast_loud)[1] > a0 > analysis.valence_arousal(slow_soft)[1]
    for d in (base, fast_loud, slow_soft):
        v, a = analysis.valence_arousal(d)
        assert -1 <= v <= 1 and -1 <= a <= 1
    # A title word pulls the point a quarter of the way to its emotion.
    v, a = analysis.valence_arousal(base, title_emotions=["sad"])
    assert v == pytest.approx(v0 + 0.25 * (EMOTIONS["sad"][0] - v0), abs=1e-3)
    assert analysis.title_cues("BattleTheme_victory", "game-menu")[0] == ["battle", "victory", "menu"]


def test_analyze_audio_labels_and_manifest_labelling_is_resumable(tmp_path):
    out = analysis.analyze_audio(chord_progression(C_MAJOR), SR, title="Peaceful Night")
    assert out["label_method"] == analysis.LABEL_METHOD and out["key"] == "C" and out["mode"] == "major"
    assert out["emotion"] in EMOTIONS and "calm" in out["tags"] and "C major" in out["caption"]
    save_audio(tmp_path / "a.wav", chord_progression(A_MINOR), SR)
    save_audio(tmp_path / "b.wav", click_track(100.0, 6.0), SR)
    recs = [Record("a.wav", 8.0, SR, "test", "CC0"), Record("b.wav", 6.0, SR, "test", "CC0")]
    write_manifest(tmp_path / "m.jsonl", recs)
    counts = analysis.label_manifest(tmp_path / "m.jsonl", progress=False)
    assert counts == {"analysed": 2, "cached": 0, "failed": 0}
    labelled = {r.path: r for r in read_manifest(tmp_path / "m.jsonl")}
    assert labelled["a.wav"].mode == "minor" and labelled["a.wav"].key == "A"
    assert abs(labelled["b.wav"].tempo - 100.0) < 2.0
    assert all(r.label_method == analysis.LABEL_METHOD and r.descriptors for r in labelled.values())
    assert len((tmp_path / "m.analysis.jsonl").read_text().splitlines()) == 2
    # Second run: everything comes from the cache.
    write_manifest(tmp_path / "m.jsonl", recs)
    assert analysis.label_manifest(tmp_path / "m.jsonl", progress=False)["cached"] == 2
    assert read_manifest(tmp_path / "m.jsonl")[0].key == "A"
