import numpy as np
import pytest
import torch

from audiogen.audio import save_audio
from audiogen.data.dataset import AudioDataset, collate_segments, normalise_rms, rms_db
from audiogen.data.manifest import Record, write_manifest

SR = 32000


def _tone(seconds, freq, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    """Three wav files (6 s ramp-amplitude tone, 3 s tone, 0.5 s tone) and a manifest of them."""
    long = _tone(6, 220) * np.linspace(0.1, 1.0, 6 * SR, dtype=np.float32)
    save_audio(tmp_path / "a.wav", long)
    save_audio(tmp_path / "b.wav", _tone(3, 330))
    save_audio(tmp_path / "c.wav", _tone(0.5, 440))
    recs = [
        Record("a.wav", 6.0, SR, "debian/pkg1", "GPL-2+", "train", valence=0.5, arousal=-0.2, tags=["calm"]),
        Record("b.wav", 3.0, SR, "debian/pkg2", "GPL-2+", "train", emotion="happy", tempo=120.0),
        Record("c.wav", 0.5, SR, "user/x", "user", "valid", key="C", mode="major"),
    ]
    write_manifest(tmp_path / "m.jsonl", recs)
    return tmp_path / "m.jsonl"


def test_random_crops_are_deterministic_per_seed_index_epoch(corpus):
    ds = AudioDataset([corpus], 1.0, seed=3, segments_per_epoch=8)
    assert len(ds) == 8
    a = [ds[i] for i in range(8)]
    again = AudioDataset([corpus], 1.0, seed=3, segments_per_epoch=8)
    for i in range(8):
        assert torch.equal(a[i]["audio"], again[i]["audio"]) and a[i]["offset"] == again[i]["offset"]
    ds.set_epoch(1)
    assert any(ds[i]["offset"] != a[i]["offset"] for i in range(8))
    other = AudioDataset([corpus], 1.0, seed=4, segments_per_epoch=8)
    assert any(other[i]["offset"] != a[i]["offset"] for i in range(8))


def test_crop_shape_offset_and_loudness(corpus):
    ds = AudioDataset([corpus], 1.0, seed=0, segments_per_epoch=20, loudness_db=-20.0)
    for i in range(20):
        it = ds[i]
        assert it["audio"].shape == (1, SR) and it["audio"].dtype == torch.float32
        assert it["length"] == SR
        room = 6.0 - 1.0 if it["track"] == "a.wav" else 3.0 - 1.0
        assert 0.0 <= it["offset"] <= room
        assert abs(rms_db(it["audio"].numpy()[0]) - (-20.0)) < 0.1
    # Duration weighting: the 6 s track is drawn about twice as often as the 3 s one.
    many = AudioDataset([corpus], 1.0, seed=0, segments_per_epoch=300, loudness_db=None)
    share = np.mean(
        [many.records[many._draw(np.random.default_rng([0, 0, i]))[0]][0].path == "a.wav" for i in range(300)]
    )
    assert 0.55 < share < 0.78


def test_crop_reads_the_right_part_of_the_file(corpus):
    """With loudness untouched, the crop's level matches the ramp's amplitude at the crop's offset."""
    ds = AudioDataset([corpus], 0.5, sources=["debian/pkg1"], loudness_db=None, segments_per_epoch=5)
    for i in range(5):
        it = ds[i]
        centre = it["offset"] + 0.25
        expected = 0.3 * (0.1 + 0.9 * centre / 6.0) / np.sqrt(2)
        got = float(it["audio"].pow(2).mean().sqrt())
        assert abs(got - expected) / expected < 0.05


def test_filters_labels_and_padding(corpus):
    ds = AudioDataset([corpus], 1.0, sources=["debian"])
    assert {r.path for r, _ in ds.records} == {"a.wav", "b.wav"}
    assert {r.path for r, _ in AudioDataset([corpus], 1.0, min_duration=4.0).records} == {"a.wav"}
    assert {r.path for r, _ in AudioDataset([corpus], 1.0, sources=["debian/pkg2"]).records} == {"b.wav"}
    with pytest.raises(ValueError, match="no records"):
        AudioDataset([corpus], 1.0, sources=["nothing"])
    with pytest.raises(ValueError, match="split"):
        AudioDataset([corpus], 1.0, split="dev")
    valid = AudioDataset([corpus], 1.0, split="valid")
    assert valid.deterministic and len(valid) == 1
    it = valid[0]
    assert it["audio"].shape == (1, SR) and it["length"] == SR // 2
    assert float(it["audio"][0, SR // 2 + 10 :].abs().max()) == 0.0  # zero-padded tail
    assert it["key"] == "C" and it["mode"] == "major" and np.isnan(it["valence"])


def test_fixed_mode_evenly_spaced_and_collate(corpus):
    ds = AudioDataset([corpus], 1.0, split="train", deterministic=True, crops_per_track=2)
    # a (6 s) gets 2 crops, b (3 s) gets 2 crops.
    assert len(ds) == 4
    offsets = [ds[i]["offset"] for i in range(4)]
    assert offsets == pytest.approx([5 / 3, 10 / 3, 2 / 3, 4 / 3])
    batch = collate_segments([ds[0], ds[2]])
    assert batch["audio"].shape == (2, 1, SR)
    assert batch["valence"][0].item() == pytest.approx(0.5) and torch.isnan(batch["valence"][1])
    assert batch["tempo"][1].item() == 120.0 and batch["emotion"] == ["", "happy"]
    assert batch["tags"] == [["calm"], []]


def test_normalise_rms_limits_peak():
    x = np.zeros(1000, dtype=np.float32)
    x[0] = 0.5
    y = normalise_rms(x, -3.0)
    assert float(np.max(np.abs(y))) <= 1.0 + 1e-6
    assert normalise_rms(np.zeros(10, np.float32), -20.0).max() == 0.0


def test_silent_crops_are_redrawn(tmp_path):
    save_audio(tmp_path / "quiet.wav", np.zeros(3 * SR, np.float32))
    save_audio(tmp_path / "tone.wav", _tone(3, 220))
    recs = [Record("quiet.wav", 3.0, SR, "s", "CC0"), Record("tone.wav", 3.0, SR, "s", "CC0")]
    write_manifest(tmp_path / "m.jsonl", recs)
    ds = AudioDataset([tmp_path / "m.jsonl"], 1.0, segments_per_epoch=40)
    tracks = [ds[i]["track"] for i in range(40)]
    # Half the first draws land on the silent file; with 4 redraws almost every item ends on the tone.
    assert tracks.count("tone.wav") >= 36


def _peak_hz(audio):
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / SR)[np.argmax(spec)])


def test_transposed_crops_move_the_pitch_by_their_semitones(tmp_path):
    save_audio(tmp_path / "tone.wav", _tone(6, 330))
    write_manifest(tmp_path / "m.jsonl", [Record("tone.wav", 6.0, SR, "s", "CC0")])
    ds = AudioDataset([tmp_path / "m.jsonl"], 1.0, segments_per_epoch=60, pitch_shift=6, pitch_shift_share=1.0)
    items = [ds[i] for i in range(60)]
    shifts = {it["shift"] for it in items}
    assert shifts <= set(range(-6, 7)) and len(shifts) >= 10  # drawn from the whole range, 0 included
    for it in items:
        audio = it["audio"][0].numpy()
        assert audio.shape == (SR,) and it["length"] == SR  # the crop's length, whatever its speed
        cents = 1200 * np.log2(_peak_hz(audio) / (330 * 2 ** (it["shift"] / 12)))
        assert abs(cents) < 5, (it["shift"], cents)  # 1 Hz bins: a semitone here is about 20 Hz
    again = AudioDataset([tmp_path / "m.jsonl"], 1.0, segments_per_epoch=60, pitch_shift=6, pitch_shift_share=1.0)
    assert [again[i]["shift"] for i in range(60)] == [it["shift"] for it in items]  # fixed by (seed, epoch, index)
    assert collate_segments(items[:4])["shift"].tolist() == [it["shift"] for it in items[:4]]


def test_a_share_of_zero_draws_the_same_crops_as_no_transposition(corpus):
    plain = AudioDataset([corpus], 1.0, seed=3, segments_per_epoch=8)
    none = AudioDataset([corpus], 1.0, seed=3, segments_per_epoch=8, pitch_shift=6, pitch_shift_share=0.0)
    for i in range(8):
        assert plain[i]["offset"] == none[i]["offset"] and none[i]["shift"] == 0
        assert torch.equal(plain[i]["audio"], none[i]["audio"])


@pytest.mark.parametrize("kwargs", [{"pitch_shift": 13}, {"pitch_shift": -1}, {"pitch_shift": 1.5},
                                    {"pitch_shift": 2, "pitch_shift_share": 1.5}])  # fmt: skip
def test_bad_transposition_settings_say_what_is_allowed(corpus, kwargs):
    with pytest.raises(ValueError, match="pitch_shift"):
        AudioDataset([corpus], 1.0, **kwargs)
