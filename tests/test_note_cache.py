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
