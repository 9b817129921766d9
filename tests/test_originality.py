"""The originality check: its readings against slow references, planted copies, unrelated music, the index on disk,
the generator's strict mode and the ``audiogen check`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiogen.compose.planner import compose_plan
from audiogen.controls import layout
from audiogen.controls.from_plan import plan_controls
from audiogen.originality import features
from audiogen.originality.check import check, read_tokens
from audiogen.originality.index import OriginalityIndex
from audiogen.originality.testing import plans_index


def _plan(seed: int, text: str = "a bright pop song", duration: float = 30.0):
    return compose_plan(text, duration=duration, seed=seed, use_minilm=False)


@pytest.fixture(scope="module")
def plans():
    return [_plan(s, t) for s, t in enumerate(["a bright pop song", "sad piano", "epic battle", "calm ambient"])]


def test_longest_shared_run_matches_the_slow_reference():
    rng = np.random.default_rng(0)
    for _ in range(300):
        q = rng.integers(-1, 4, rng.integers(0, 14))
        c = rng.integers(-1, 4, rng.integers(0, 40))
        fast = features.longest_shared_run(q, c)
        slow = features.longest_shared_run_reference(list(q), list(c))
        assert fast[0] == slow[0]
        if fast[0]:
            n, qe, ce = fast
            assert (q[qe - n : qe] == c[ce - n : ce]).all() and (q[qe - n : qe] != features.SEPARATOR).all()


def test_winnowing_keeps_a_fingerprint_in_every_window():
    hashes = features.kgram_hashes(np.random.default_rng(1).integers(0, 1024, 3000), 8)
    kept = features.winnow(hashes, 24)
    assert kept[0] < 24 and np.diff(kept).max() <= 24 and kept[-1] >= len(hashes) - 24
    assert 0.05 < len(kept) / len(hashes) < 0.12  # about 2 / (w + 1)


def _transposed_and_stretched(controls: np.ndarray, steps: int, rate: float) -> np.ndarray:
    out = controls.copy()
    for group in (layout.CHORD, layout.MELODY):
        out[:, group] = np.roll(controls[:, group], steps, axis=1)
    frames = np.minimum((np.arange(int(len(out) * rate)) / rate).astype(int), len(out) - 1)
    return out[frames]


def test_symbols_ignore_transposition_and_tempo(plans):
    ctl = plan_controls(plans[0])
    moved = _transposed_and_stretched(ctl, 5, 1.1)
    assert np.array_equal(features.melody_symbols(ctl)[0], features.melody_symbols(moved)[0])
    assert np.array_equal(features.chord_symbols(ctl)[0], features.chord_symbols(moved)[0])
    assert len(features.melody_symbols(ctl)[0]) > 10 and len(features.chord_symbols(ctl)[0]) > 3


def test_a_planted_copy_is_flagged_on_its_own_item(plans):
    tokens = [np.random.default_rng(i).integers(0, 1024, 1500) for i in range(len(plans))]
    index = plans_index(plans, tokens)
    result = check(index, controls=plan_controls(plans[2]), tokens=tokens[2][200:900])
    assert result.flagged
    assert result.reading("melody").flagged and result.reading("melody").item["id"] == "plan-2"
    tok = result.reading("tokens")
    assert tok.flagged and tok.item["id"] == "plan-2" and tok.value >= 700 / 50 - (index.w + index.k) / 50
    assert "FLAGGED" in result.summary() and "Test piece 2" in result.summary()


def test_the_chords_of_the_composers_own_pieces_are_not_read(plans):
    """A plan shares every chord change with a training piece: flagged when the piece is anyone's, not when it is
    one of audiogen's own composer's (every plan is composed from the same templates); its melody still counts."""
    from audiogen.originality.check import read_symbols

    index = plans_index(plans)
    index.thresholds["chords"] = 5.0
    symbols, frames = features.chord_symbols(plan_controls(plans[1]))
    assert read_symbols(index, "chords", symbols, frames).flagged
    index.items[1]["source"] = "composer"
    chords = read_symbols(index, "chords", symbols, frames)
    assert not chords.flagged and (chords.item is None or chords.item["id"] != "plan-1")
    melody = read_symbols(index, "melody", *features.melody_symbols(plan_controls(plans[1])))
    assert melody.flagged and melody.item["id"] == "plan-1"


def test_unrelated_music_is_not_flagged(plans):
    index = plans_index(plans)
    other = _plan(1234, "a dark folk tune")
    result = check(index, controls=plan_controls(other), tokens=np.random.default_rng(99).integers(0, 1024, 1500))
    assert not result.flagged, result.summary()
    assert result.reading("tokens").value == 0.0
    assert result.reading("sound").value is None  # nothing to read it from


def test_token_runs_shorter_than_the_guarantee_may_be_missed_longer_ones_never():
    rng = np.random.default_rng(3)
    item = rng.integers(0, 1024, 2000)
    index = plans_index([_plan(0)], [item])
    for length in (31, 40, 80):
        query = np.concatenate([rng.integers(0, 1024, 100), item[500 : 500 + length], rng.integers(0, 1024, 100)])
        found = read_tokens(index, query)
        # a lower bound: the first and last fingerprints lie at most w - 1 frames inside the shared run
        assert found.value is not None and (length - 2 * (index.w - 1)) / 50 <= found.value <= length / 50
        assert 2.0 <= found.span[0] <= 2.0 + index.w / 50


def test_index_round_trip_and_tampering(tmp_path, plans):
    index = plans_index(plans)
    index.save(tmp_path / "o")
    back = OriginalityIndex.load(tmp_path / "o")
    assert back.items == index.items and back.thresholds == index.thresholds
    for name in ("melody", "melody_item", "chords", "chord_item", "fp_hash", "fp_item", "fp_frame", "sound_item"):
        assert np.array_equal(getattr(back, name), getattr(index, name)), name
    a = check(index, controls=plan_controls(plans[1]))
    b = check(back, controls=plan_controls(plans[1]))
    assert a.to_dict() == b.to_dict()
    data = bytearray((tmp_path / "o" / "index.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "o" / "index.safetensors").write_bytes(bytes(data))
    with pytest.raises(Exception, match=r"checksum|SHA|sha256"):
        OriginalityIndex.load(tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="no originality index"):
        OriginalityIndex.load(tmp_path / "missing")


@pytest.fixture(scope="module")
def generator_with_index(tmp_path_factory):
    """A debug generator whose index holds the plan it composes for "calm piano", seed 3, 16 s."""
    from audiogen.generator import MusicGenerator

    gen = MusicGenerator.debug()
    first = gen.generate("calm piano", duration=16, seed=3, originality="off", progress=False)
    folder = tmp_path_factory.mktemp("model") / "originality"
    index = plans_index([first.plan])
    index.thresholds["melody"] = 6.0  # a 16 s piano piece has 8 melody symbols
    index.save(folder)
    gen.originality_dir = folder
    return gen, first


def test_every_generated_track_carries_its_check_into_the_mp3(generator_with_index, tmp_path):
    from audiogen.track import Track

    gen, first = generator_with_index
    track = gen.generate("calm piano", duration=16, seed=3, progress=False)
    assert np.array_equal(track.audio, first.audio)  # the check reads the track; it changes nothing in it
    assert track.originality.flagged and track.originality.reading("melody").item["id"] == "plan-0"
    assert track.originality.reading("tokens").value is not None  # the LM's own tokens were read
    other = gen.generate("calm piano", duration=16, seed=40, progress=False)
    assert other.originality is not None and not other.originality.flagged
    back = Track.load(track.save(tmp_path / "t.mp3"))
    assert back.originality.to_dict() == track.originality.to_dict()
    assert track.metadata()["originality"]["flagged"] is True
    import soundfile as sf

    for ext in ("wav", "flac", "ogg"):  # the other formats say it in their comment
        with sf.SoundFile(track.save(tmp_path / f"t.{ext}")) as f:
            assert "AI-generated" in f.comment and "Originality: FLAGGED" in f.comment
    assert gen.generate("calm piano", duration=16, seed=3, originality="off", progress=False).originality is None


def test_strict_mode_makes_a_flagged_track_again_with_the_next_seed(generator_with_index):
    gen, _ = generator_with_index
    track = gen.generate("calm piano", duration=16, seed=3, originality="strict", progress=False)
    assert not track.originality.flagged and track.seed == 4
    assert track.params["originality"] == {
        "mode": "strict",
        "tried": [{"seed": 3, "flagged": True}, {"seed": 4, "flagged": False}],
    }
    again = gen.generate("calm piano", duration=16, seed=4, progress=False)
    assert np.array_equal(again.audio, track.audio)  # the retry is the track that seed makes
    once = gen.generate("calm piano", duration=16, seed=3, originality="strict", originality_tries=1, progress=False)
    assert once.originality.flagged and "originality" not in once.params
    batch = gen.generate(["calm piano", "calm piano"], duration=16, seed=3, originality="strict", progress=False)
    assert [t.originality.flagged for t in batch] == [False, False]


def test_originality_options_are_checked_before_any_work():
    from audiogen.generator import MusicGenerator

    gen = MusicGenerator.debug()
    with pytest.raises(ValueError, match="originality must be one of check, strict, off"):
        gen.generate("x", duration=2, originality="maybe")
    with pytest.raises(ValueError, match=r"originality_tries must be a whole number in \[1, 10\]"):
        gen.generate("x", duration=2, originality_tries=0)
    with pytest.raises(ValueError, match="needs a model with an originality index"):
        gen.generate("x", duration=2, originality="strict")
    with pytest.raises(ValueError, match="not for stream"):
        gen.stream("x", duration=2, originality="strict")


def test_check_command_exit_status(generator_with_index, tmp_path, capsys):
    from audiogen.cli import main

    gen, first = generator_with_index
    model = tmp_path / "model"
    gen.save_pretrained(model)
    first.plan.to_json(tmp_path / "copy.json")
    _plan(77, "a dark folk tune", 20).to_json(tmp_path / "other.json")
    assert main(["check", str(tmp_path / "copy.json"), "--model", str(model)]) == 1
    assert "FLAGGED" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "other.json"), "--model", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flagged"] is False
    first.save(tmp_path / "track.wav")
    assert main(["check", str(tmp_path / "track.wav"), "--model", str(model)]) in (0, 1)
    assert "tokens" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "short.wav").write_bytes(b"")
    for bad, message in ((tmp_path / "missing.mp3", "no such file"), (tmp_path / "bad.json", "not valid JSON"),
                         (tmp_path / "short.wav", "")):  # fmt: skip
        assert main(["check", str(bad), "--model", str(model)]) == 2
        assert message in capsys.readouterr().err
    assert main(["check", str(tmp_path / "copy.json"), "--model", str(tmp_path)]) == 2
    assert "no originality index" in capsys.readouterr().err


def test_a_new_corpus_gets_its_own_index_and_its_copies_are_found(tmp_path):
    """``audiogen originality build`` over a token cache of someone's own music (3 pieces, the shipped codec: the
    debug codec's random weights use a handful of codes, so all its k-grams are generic)."""
    import soundfile as sf

    from audiogen.codec.cli import build_token_cache
    from audiogen.codec.model import Codec
    from audiogen.compose.composer import compose, sample_params
    from audiogen.data.control_cache import add_controls
    from audiogen.data.manifest import Record, write_manifest
    from audiogen.data.render import render_midi
    from audiogen.originality.checker import OriginalityChecker
    from audiogen.pretrained import DEFAULT_DIR

    codec = Codec.from_pretrained(DEFAULT_DIR / "codec")
    records = []
    for i, (genre, emotion) in enumerate((("pop", "happy"), ("ambient", "calm"), ("rock", "angry"))):
        p = sample_params(np.random.default_rng(10 + i), genre, emotion, duration=12.0)
        sf.write(tmp_path / f"song{i}.wav", render_midi(compose(p), p.duration), 32000)
        records.append(Record(path=f"song{i}.wav", duration=12.0, sample_rate=32000, source="mine", licence="mine",
                              split="train", track=f"song{i}", title=f"My song {i}"))  # fmt: skip
    write_manifest(tmp_path / "m.jsonl", records)
    manifest = str(tmp_path / "m.jsonl")
    build_token_cache(codec, [manifest], tmp_path / "tokens")
    add_controls(tmp_path / "tokens", [manifest])
    from audiogen.cli import main

    out = tmp_path / "model" / "originality"
    assert main(["originality", "build", manifest, "--cache", str(tmp_path / "tokens"), "--style",
                 str(DEFAULT_DIR / "style"), "--out", str(out)]) == 0  # fmt: skip
    index = OriginalityIndex.load(out)
    assert [it["title"] for it in index.items] == ["My song 0", "My song 1", "My song 2"]
    assert len(index.sound) == 9 and len(index.fp_hash) > 0  # three 4 s windows per piece
    from audiogen.conditioning.style_encoder import StyleEncoder

    index.thresholds = {"tokens": 2.0, "sound": 0.995}
    checker = OriginalityChecker(index, StyleEncoder.from_pretrained(DEFAULT_DIR / "style"), codec)
    # the rock piece: the shipped codec's first codebook holds a held chord as one token, so the ambient piece (song 1)
    # has few k-grams of three distinct tokens (15 %, against 84 % here) and its copy shares only short runs
    audio, _ = sf.read(tmp_path / "song2.wav", dtype="float32")
    result = checker.check_audio(audio, 32000)
    assert result.reading("tokens").flagged and result.reading("tokens").item["title"] == "My song 2"
    assert result.reading("sound").item["title"] == "My song 2" and result.reading("sound").value > 0.95


def test_copy_encoder_pairs_and_training_resume(tmp_path):
    """The copy encoder's pairs (a crop and its altered copy, as log-mels) and a few steps of training that stop,
    resume from the saved state and end in a loadable encoder."""
    import soundfile as sf

    from audiogen.conditioning.style_encoder import StyleEncoder
    from audiogen.data.manifest import Record, write_manifest
    from audiogen.originality import encoder as copy_encoder
    from audiogen.pretrained import DEFAULT_DIR

    rng = np.random.default_rng(0)
    records = []
    for i in range(3):
        t = np.arange(10 * 32000) / 32000
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * (1 + i) * t))
        sf.write(tmp_path / f"s{i}.wav", (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32), 32000)
        records.append(Record(path=f"s{i}.wav", duration=10.0, sample_rate=32000, source="mine", licence="mine",
                              split="train", track=f"s{i}"))  # fmt: skip
    write_manifest(tmp_path / "m.jsonl", records)
    style = StyleEncoder.from_pretrained(DEFAULT_DIR / "style")
    pairs = copy_encoder.make_pairs([str(tmp_path / "m.jsonl")], style, items=3, crops=2, share=10)
    assert pairs["a"].shape == pairs["b"].shape and pairs["a"].shape[0] == 6 and pairs["a"].shape[1] == 64
    assert sorted(set(pairs["item"].tolist())) == [0, 1, 2]
    np.savez(tmp_path / "pairs.npz", **pairs)
    out = tmp_path / "run"
    first = copy_encoder.train(str(tmp_path / "pairs.npz"), str(DEFAULT_DIR / "style"), str(out), steps=2, batch=3,
                               save_every=2)  # fmt: skip
    assert first["step"] == 2 and (out / copy_encoder.STATE_NAME).is_file()
    more = copy_encoder.train(str(tmp_path / "pairs.npz"), str(DEFAULT_DIR / "style"), str(out), steps=3, batch=3)
    assert more["step"] == 3  # resumed at step 2, one more step
    assert StyleEncoder.from_pretrained(out).config.dim == style.config.dim
    assert 0 <= copy_encoder.encoder_bucket("anything@0") < 10
