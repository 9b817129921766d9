"""The facade composes, then performs: track.plan, MIDI export, performing an edited plan, transfer, the CLI."""

import json

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from audiogen.cli import main
from audiogen.compose.plan import Plan
from audiogen.controls.layout import CONTROL_FEATURES
from audiogen.generator import MusicGenerator
from audiogen.lm.config import LMConfig
from audiogen.lm.model import MusicLM


def control_generator() -> MusicGenerator:
    from audiogen.conditioning.config import ConditionConfig

    g = MusicGenerator.debug()
    cond = ConditionConfig(text_backend="hash", number_hidden=32, number_freqs=4).to_dict()
    torch.manual_seed(0)
    lm = MusicLM(LMConfig.preset("debug", conditioning=cond, control_features=CONTROL_FEATURES, control_layers=(1,)))
    for lin in (lm.controls.input, *lm.controls.again):
        torch.nn.init.normal_(lin.weight, std=0.3)
    return MusicGenerator(g.codec, lm, name="audiogen-debug", version="debug")


def test_generate_composes_then_performs_the_plan(tmp_path, controls_seen):
    g = control_generator()
    track = g.generate("calm piano", emotion="calm", duration=3.0, seed=5, progress=False)
    assert isinstance(track.plan, Plan) and track.plan.duration == 3.0 and track.plan.mode == "major"
    assert len(track.audio) == 3 * 32000
    (ctl,) = controls_seen[-1]
    assert ctl.shape == (150 + 4, CONTROL_FEATURES) and ctl[:150, 12].all()  # the plan's chords reach the LM
    track.save_midi(tmp_path / "t.mid")
    assert pretty_midi.PrettyMIDI(str(tmp_path / "t.mid")).instruments
    with pytest.raises(ValueError, match=r"\.mid"):
        track.save_midi(tmp_path / "t.mp3")
    again = g.generate("calm piano", emotion="calm", duration=3.0, seed=5, progress=False)
    assert np.array_equal(again.audio, track.audio) and again.plan == track.plan
    batch = g.generate(["a", "b"], emotion="happy", duration=2.0, seed=1, progress=False)
    assert batch[0].plan != batch[1].plan  # variants of a batch are composed with their own seeds


def test_a_decoder_that_reads_plans_is_given_the_plans_chords_and_melody(monkeypatch):
    from audiogen.codec.model import Codec
    from audiogen.controls.from_plan import plan_controls

    g = control_generator()
    cfg = g.codec.cfg
    torch.manual_seed(1)
    codec = Codec(type(cfg)(**{**cfg.__dict__, "decoder_controls": 26})).eval()
    codec.load_state_dict(g.codec.state_dict(), strict=False)
    torch.nn.init.normal_(codec.decoder.ctrl.weight, std=0.5)
    g = MusicGenerator(codec, g.lm, name="audiogen-debug", version="debug")
    seen = []
    real = codec.decode

    def spy(codes, controls=None):
        seen.append(controls)
        return real(codes, controls)

    monkeypatch.setattr(codec, "decode", spy)
    track = g.generate("calm piano", emotion="calm", duration=2.0, seed=3, progress=False)
    (ctl,) = seen[-1]
    expect = plan_controls(track.plan, ctl.shape[0], codec.frame_rate)[: ctl.shape[0], :26]
    assert ctl.shape[1] == 26 and np.array_equal(ctl.numpy(), expect) and ctl[:, 12].all()
    codes = torch.randint(0, codec.codebook_size, (1, 4, 100))
    assert not np.allclose(g.decode(codes, [track.plan]), g.decode(codes))  # the plan changes what is heard
    assert np.array_equal(g.decode(codes, [None]), g.decode(codes))


def test_an_edited_plan_is_performed_as_given(tmp_path, controls_seen):
    g = control_generator()
    plan = g.generate("x", emotion="happy", duration=2.0, seed=2, progress=False).plan
    d = plan.to_dict()
    for c in d["chords"]:
        c["root"], c["quality"] = 9, "min"  # everything in A minor now
    edited = Plan.from_dict(d)
    edited.to_json(tmp_path / "edited.json")
    track = g.generate("x", plan=tmp_path / "edited.json", seed=2, progress=False)
    assert track.plan == edited and track.duration == pytest.approx(plan.duration)
    ctl = controls_seen[-1][0]
    frame = int(round((edited.chords[0].start + edited.chords[0].end) * 25))
    assert set(np.flatnonzero(ctl[frame, :12])) == {9, 0, 4}
    with pytest.raises(ValueError, match="at most one of"):
        g.generate("x", plan=edited, prompt=np.zeros(32000, dtype=np.float32), progress=False)


def test_melody_from_a_clip_through_the_facade(tmp_path):
    from audiogen.compose.planner import compose_plan
    from audiogen.data.render import render_midi

    src = compose_plan("x", valence=0.8, arousal=0.5, genre="pop", tempo=120, key="C", duration=12, seed=3,
                       use_minilm=False)  # fmt: skip
    sf.write(tmp_path / "clip.wav", render_midi(src.to_midi(), src.duration), 32000)
    g = control_generator()
    track = g.generate("x", melody_from=tmp_path / "clip.wav", emotion="sad", style="piano", duration=4.0,
                       seed=0, progress=False)  # fmt: skip
    assert track.plan.mode == "minor" and track.plan.request["melody_from"] == "clip.wav"
    sf.write(tmp_path / "short.wav", np.zeros(3200, dtype=np.float32), 32000)
    with pytest.raises(ValueError, match="at least 4 s"):
        g.generate("x", melody_from=tmp_path / "short.wav", duration=4.0, progress=False)


def test_cli_compose_then_generate_with_the_plan_and_midi(tmp_path, capsys):
    plan_path, mid = tmp_path / "plan.json", tmp_path / "plan.mid"
    assert main(["compose", "tense chase", "--emotion", "tense", "--duration", "6", "--seed", "3",
                 "-o", str(plan_path), "--midi", str(mid)]) == 0  # fmt: skip
    plan = Plan.from_json(plan_path)
    assert plan.mode == "minor" and plan.duration == 6 and mid.is_file()
    out = tmp_path / "t.mp3"
    assert main(["generate", "x", "--plan", str(plan_path), "--model", "debug", "-o", str(out),
                 "--midi", str(tmp_path / "t.mid"), "--no-progress"]) == 0  # fmt: skip
    info = sf.info(str(out))
    assert abs(info.duration - 6.0) < 0.1 and (tmp_path / "t.mid").is_file()
    assert "minor" in capsys.readouterr().out
    for argv, message in (
        (["compose", "x", "-o", str(tmp_path / "p.txt")], "must end in .json"),
        (["compose", "x", "--genre", "polka", "-o", str(plan_path)], "allowed"),
        (["generate", "x", "--midi", str(tmp_path / "m.wav"), "--model", "debug"], ".mid"),
        (["generate", "x", "--plan", str(tmp_path / "none.json"), "--model", "debug"], "none.json: no such file"),
    ):
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert json.loads(plan_path.read_text())["request"]["emotion"] == "tense"


def test_output_locations_are_checked_before_any_generation(tmp_path, capsys, monkeypatch):
    import audiogen.generator as gen

    def boom(*a, **k):
        raise AssertionError("generation started")

    monkeypatch.setattr(gen.MusicGenerator, "generate", boom)
    ro = tmp_path / "ro"
    ro.mkdir()
    real = __import__("os").access
    monkeypatch.setattr("os.access", lambda p, m: False if str(p) == str(ro) else real(p, m))
    long_name = "a" * 248 + ".mp3"
    for argv, message in (
        (["generate", "x", "--model", "debug", "-o", str(ro / "t.mp3")], "not writable"),
        (["generate", "x", "--model", "debug", "-o", str(tmp_path / long_name)], "bytes"),
        (["generate", "x", "--model", "debug", "-o", str(tmp_path / "no" / "t.mp3")], "does not exist"),
        (["generate", "x", "--model", "debug", "--midi", str(ro / "t.mid")], "not writable"),
        (["compose", "x", "-o", str(ro / "p.json")], "not writable"),
    ):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err


def test_a_killed_runs_temporary_is_cleared_by_the_next_run(tmp_path):
    out = tmp_path / "t.mp3"
    stale = tmp_path / ".t.mp3.ab12cd34.part.mp3"  # what a killed save left
    stale.write_bytes(b"half")
    mine = tmp_path / ".t.mp3.notes"
    mine.write_text("keep")
    assert main(["generate", "x", "--model", "debug", "--duration", "1", "-o", str(out), "--no-progress"]) == 0
    assert out.is_file() and not stale.exists() and mine.read_text() == "keep"


def test_cli_a_plan_is_performed_as_it_is_and_disagreeing_flags_are_refused(tmp_path, capsys, monkeypatch):
    from audiogen.id3 import read_id3

    plan_path, loop_path = tmp_path / "plan.json", tmp_path / "loop.json"
    assert main(["compose", "x", "--duration", "2", "--tempo", "100", "--key", "E minor", "--seed", "1",
                 "-o", str(plan_path)]) == 0  # fmt: skip
    assert main(["compose", "x", "--duration", "2", "--ending", "loop", "-o", str(loop_path)]) == 0
    plan = Plan.from_json(plan_path)
    capsys.readouterr()
    out = tmp_path / "t.mp3"
    base = ["generate", "x", "--model", "debug", "--no-progress", "-o", str(out), "--plan"]
    for flags, message in (
        (["--duration", "20"], "duration 20.0 differs from the plan's 2 s"),
        (["--tempo", "90"], "tempo 90.0 differs from the plan's 100.0 BPM"),
        (["--key", "D"], "key 'D' differs from the plan's E minor"),
        (["--ending", "loop"], "ending 'loop' contradicts the plan's ending (cadence)"),
        (["--genre", "rock"], "the plan is composed already"),
        (["--melody-from", str(plan_path)], "cannot be combined with --plan"),
    ):
        assert main([*base, str(plan_path), *flags]) == 2, flags
        assert message in capsys.readouterr().err
    assert main([*base, str(loop_path), "--ending", "fade"]) == 2
    assert "contradicts the plan's ending (loop)" in capsys.readouterr().err
    assert not out.exists()
    # flags that agree with the plan are fine; the tags say what is played: the plan's tempo and key
    assert main([*base, str(plan_path), "--tempo", "100", "--duration", "2", "--key", "E minor", "--seed", "1"]) == 0
    tags = read_id3(out)
    assert float(tags["tempo"]) == plan.tempo and tags["key"] == "E minor"
    import audiogen.generator as gen

    seen = []
    monkeypatch.setattr(gen.MusicGenerator, "generate", lambda self, *a, **k: seen.append(k["mastering"]) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main([*base, str(loop_path)])
    assert seen[0].ending == "loop"  # a loop's plan ends as a loop without being told
