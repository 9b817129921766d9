import json

import numpy as np
import pytest
import torch
from test_eval_codec_bench import TINY, corpus

from audiogen.codec.model import Codec, CodecConfig
from audiogen.eval.__main__ import main as eval_main
from audiogen.eval.generation import EvalConfig, evaluate
from audiogen.eval.judge import MSD_TAGS, JudgeOutput, patches, to_judge_rate
from audiogen.eval.prompts import Request, balanced_subset, load_prompts, pairs
from audiogen.track import Track

SR = 32000


class ToneGenerator:
    """The facade's ``generate`` signature; the requested valence sets the loudness, the tempo the pulse rate."""

    def generate(self, *, duration, seed, progress=False, text=None, emotion=None, valence=None, arousal=None,
                 style=None, tempo=None, key=None) -> Track:  # fmt: skip
        from audiogen.conditioning.emotions import EMOTIONS

        v = EMOTIONS[emotion][0] if emotion else (valence or 0.0)
        t = np.arange(int(duration * SR)) / SR
        pulse = 0.5 + 0.5 * np.cos(2 * np.pi * (tempo or 120) / 60 * t) ** 8
        noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
        audio = (0.1 + 0.08 * v) * np.sin(2 * np.pi * 330 * t) * pulse + noise
        return Track(audio.astype(np.float32), SR, prompt=text, seed=seed, model_version="tones")


class LoudnessJudge:
    """Stands in for musicnn: 1 s patches; the embedding and the "happy" tag follow the loudness."""

    def __call__(self, clips, sample_rate):
        out = []
        for clip in clips:
            frames = np.asarray(clip)[: len(clip) // sample_rate * sample_rate].reshape(-1, sample_rate)
            rms = np.sqrt((frames**2).mean(axis=1, keepdims=True))
            emb = rms * np.linspace(-1, 1, 200)[None] + 0.01 * np.random.default_rng(len(out)).standard_normal(
                (len(rms), 200)
            )
            tags = np.full((len(rms), len(MSD_TAGS)), 0.2)
            tags[:, MSD_TAGS.index("happy")] = 4 * rms[:, 0]
            out.append(JudgeOutput(emb.astype(np.float32), tags.astype(np.float32)))
        return out


def test_prompt_set_v1_is_large_paired_and_accepted_by_the_generator():
    requests = load_prompts()
    assert len(requests) >= 100 and len({r.id for r in requests}) == len(requests)
    groups = pairs(requests)
    emotions = {tuple(sorted(m.emotion for m in members)) for members in groups.values()}
    assert ("happy", "sad") in emotions and ("calm", "energetic") in emotions
    assert {m[0].contrast for m in groups.values()} == {"valence", "arousal"}
    assert len({r.duration for r in requests}) >= 3 and len({r.key for r in requests if r.key}) >= 12
    assert sum(r.tempo is not None for r in requests) >= 40 and sum(r.valence is not None for r in requests) >= 5
    from audiogen.generator import MusicGenerator

    gen = MusicGenerator.debug()
    for r in requests:
        kwargs = r.generate_kwargs(seed=0)
        kwargs.pop("seed"), kwargs.pop("progress")
        gen.make_requests(**kwargs)  # raises on anything the facade does not accept


def test_limited_runs_take_a_balanced_prefix_of_the_prompt_set():
    requests = load_prompts()
    first = balanced_subset(requests, 12)
    assert len(first) == 12 and sorted(r.id for r in balanced_subset(requests, None)) == sorted(r.id for r in requests)
    assert {r.contrast for r in first} == {"valence", "arousal", None}
    assert all(len(m) == 2 for m in pairs(first).values())  # 12 = 2 rounds of (pair, single, pair, single)
    assert sum(r.tempo is not None for r in first) >= 2


def test_prompt_pairs_must_differ_only_in_emotion(tmp_path):
    path = tmp_path / "p.jsonl"
    a = {"id": "a", "text": "x", "emotion": "happy", "duration": 5, "pair": "p", "contrast": "valence"}
    b = {**a, "id": "b", "emotion": "sad", "tempo": 100}
    path.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n")
    with pytest.raises(ValueError, match="differ in the emotion and in nothing else"):
        load_prompts(path)
    with pytest.raises(ValueError, match="unknown emotion"):
        Request(id="c", duration=5, emotion="hapy")


def test_evaluate_with_a_stand_in_judge_ranks_pairs_and_measures_distances():
    requests = [r for r in load_prompts() if r.pair in ("v01", "a01")]
    requests.append(Request(id="t", duration=4, tempo=120.0, key="C major", emotion="happy"))
    real = np.stack([ToneGenerator().generate(duration=4, seed=s, emotion="happy").audio for s in range(3)])
    cfg = EvalConfig(seeds=(0,), diversity_requests=1, diversity_seeds=2, duration=None)
    results, tracks = evaluate(ToneGenerator(), requests, cfg, LoudnessJudge(), {"real": real}, log=lambda *_: None)
    assert len(tracks) == 6 and results["requests"] == 5
    judge = results["judge"]
    assert judge["valence_pairs"] == {"accuracy": 1.0, "n": 1}  # louder = happier, as the requests asked
    assert judge["arousal_pairs"] == {"accuracy": 0.0, "n": 1}  # this judge hears no arousal: a tie is a miss
    assert judge["fd"]["generated"] > 0 and judge["patches"]["real"] == 3 * 4
    assert results["diversity"]["embedding"] == "musicnn" and results["diversity"]["groups"] == 1
    assert results["tempo"]["n"] == 1 and results["key"]["n"] == 1
    assert results["levels"]["tracks_with_clipping"] == 0.0 and results["speed"]["rtf"] > 0


def test_judge_input_is_musicnn_patches():
    x = np.random.default_rng(0).standard_normal(SR * 7).astype(np.float32) * 0.1
    p = patches(to_judge_rate(x, SR))
    assert p.shape == (2, 187, 96) and np.isfinite(p).all()  # 7 s: two whole 3 s patches
    assert patches(to_judge_rate(x[: SR // 2], SR)).shape == (1, 187, 96)  # short clips are repeat-padded
    out = JudgeOutput(np.ones((2, 200)), np.tile(np.linspace(0, 1, 50), (2, 1)))
    assert out.tag("HAPPY") == pytest.approx(1.0) and out.embedding.shape == (200,)


@pytest.mark.slow
def test_tiny_eval_writes_both_sections_and_plots(tmp_path):
    torch.manual_seed(0)
    codec_dir = Codec(CodecConfig(**TINY)).save_pretrained(tmp_path / "codec")
    manifest = corpus(tmp_path, seconds=2.5)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## LM\n\nnot ours\n")
    argv = ["--tiny", "--codec", str(codec_dir), "--manifest", str(manifest), "--out", str(out)]
    argv += ["--plots-dir", str(tmp_path / "plots"), "--json", str(tmp_path / "eval.json")]
    assert eval_main(argv) == 0
    text = out.read_text()
    assert "not ours" in text and text.count("## Codec") == 1 and text.count("## Generation") == 1
    gen = text[text.index("## Generation") :]
    assert "Tiny smoke run" in gen and "Model `audiogen-debug debug`" in gen
    assert "n/a: musicnn judge not used in this run" in gen and "Tempo within 4 % / 8 %" in gen
    for name in ("tempo.png", "emotion_confusion.png", "spectrograms.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000 and f"plots/{name}" in gen
    results = json.loads((tmp_path / "eval.json").read_text())
    assert results["generation"]["tracks"] == 7 and results["codec"]["meta"]["clips"] == 2
    assert results["generation"]["judge"] is None


def test_audiogen_cli_has_an_eval_command():
    from audiogen.cli import build_parser

    args = build_parser().parse_args(["eval", "--tiny", "--skip-codec", "--limit", "2"])
    assert args.tiny and args.skip_codec and args.limit == 2 and callable(args.func)
