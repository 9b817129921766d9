"""The note-posterior cache: one file per record, the notes where they sound, resumable."""

import numpy as np
import pytest

from audiogen.audio import save_audio
from audiogen.data.manifest import Record, read_manifest, write_manifest
from audiogen.data.note_cache import KEYS, LOWEST_MIDI, build, frame_rate, record_key
from audiogen.eval.note_f1 import basic_pitch_available

pytestmark = pytest.mark.skipif(basic_pitch_available() is not None, reason=str(basic_pitch_available()))
SR = 32000


def test_each_record_gets_the_posteriors_of_its_own_notes_once(tmp_path):
    t = np.arange(2 * SR) / SR
    tones = {}
    for midi in (57, 64):  # A3 and E4, with a few harmonics
        f = 440.0 * 2 ** ((midi - 69) / 12)
        wave = 0.3 * sum(np.sin(2 * np.pi * k * f * t) / k for k in (1, 2, 3))
        tones[midi] = save_audio(tmp_path / f"n{midi}.wav", wave.astype(np.float32))
    man = tmp_path / "m.jsonl"
    write_manifest(man, [Record(str(p), 2.0, SR, f"t{m}", "CC0") for m, p in tones.items()])
    logs = []
    counts = build([str(man)], tmp_path / "notes", log=logs.append)
    assert counts["done"] == 2 and counts["failed"] == 0
    for record, midi in zip(read_manifest(man), tones, strict=True):
        post = np.load(tmp_path / "notes" / f"{record_key(record)}.npy")
        assert post.dtype == np.float16 and post.shape[1] == KEYS
        assert abs(post.shape[0] - 2.0 * frame_rate()) <= 2
        loudest = int(post[20:-20].astype(np.float32).mean(0).argmax()) + LOWEST_MIDI
        assert loudest == midi
    again = build([str(man)], tmp_path / "notes", log=logs.append)
    assert again["done"] == 0 and again["skipped"] == 2  # resumes: nothing is computed twice


def test_crops_read_the_mean_posterior_of_each_token_frame(tmp_path):
    from audiogen.data.note_cache import NoteReader

    rate = frame_rate()
    post = np.zeros((int(10 * rate), KEYS), dtype=np.float16)
    post[int(2.0 * rate) : int(3.0 * rate), 40] = 1.0  # key 40 sounds from 2 s to 3 s into the record
    np.save(tmp_path / "abc.npy", post)
    reader = NoteReader(tmp_path, frame_seconds=0.02, frames=100)  # 2 s crops of 50 Hz token frames
    got, known = reader.crops(["abc", "missing"], [1.5, 0.0])
    assert known.tolist() == [True, False] and got.shape == (2, KEYS, 100)
    assert not got[1].any()
    on = got[0, 40]
    assert on[:24].max() < 0.05 and on[26:74].min() > 0.95 and on[76:].max() < 0.05  # 2.0-3.0 s = frames 25-75


def test_a_record_cached_after_the_reader_started_is_taken_on(tmp_path):
    from audiogen.data.note_cache import NoteReader

    post = np.ones((int(4 * frame_rate()), KEYS), dtype=np.float16)
    waiting = NoteReader(tmp_path, frame_seconds=0.02, frames=50, recheck_s=0.0)
    patient = NoteReader(tmp_path, frame_seconds=0.02, frames=50, recheck_s=3600.0)
    assert waiting.crops(["late"], [0.0])[1].tolist() == [False]
    assert patient.crops(["late"], [0.0])[1].tolist() == [False]
    np.save(tmp_path / "late.npy", post)  # the cache builder finishes this record while the run trains
    assert waiting.crops(["late"], [0.0])[1].tolist() == [True]
    assert patient.crops(["late"], [0.0])[1].tolist() == [False]  # looked for again only after recheck_s


def test_a_codec_run_learns_from_the_note_teacher(tmp_path):
    import json

    from audiogen.codec.model import CodecConfig
    from audiogen.train.codec import CodecTrainConfig, CodecTrainer
    from tests.test_codec import TINY, sine_manifest

    man = sine_manifest(tmp_path)
    counts = build([str(man)], tmp_path / "notes", log=lambda line: None)
    assert counts["done"] == 3
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(man)], model=CodecConfig(**TINY), segment_seconds=0.5,
        batch_size=2, lr=3e-3, warmup_steps=1, max_steps=4, gan_start=100, lambda_notes=1.0,
        notes_dir=str(tmp_path / "notes"), log_every=1, ckpt_every=2, valid_every=1000, valid_crops=1, num_workers=0,
    )  # fmt: skip
    CodecTrainer(cfg).fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("notes" in r for r in log if "mel" in r)
    cfg.max_steps = 6  # resumes with the note teacher's read-out and its optimizer
    CodecTrainer(cfg).fit()
    with pytest.raises(ValueError, match="lambda_notes needs notes_dir"):
        CodecTrainConfig(run_dir=str(tmp_path / "r2"), manifests=[str(man)], model=CodecConfig(**TINY),
                         lambda_notes=1.0)  # fmt: skip
