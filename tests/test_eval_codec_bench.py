import json
import re

import numpy as np
import pytest
import torch

from audiogen.audio import save_audio
from audiogen.codec.model import Codec, CodecConfig
from audiogen.data.manifest import Record, write_manifest
from audiogen.eval import codec_bench
from audiogen.eval.baselines import mp3_roundtrip, opus_roundtrip
from audiogen.eval.metrics import align, codec_distances

SR = 32000
TINY = dict(
    enc_dim=16, enc_layers=1, latent_dim=8, dec_dim=16, dec_layers=1, up_dim=8, up_layers=1, n_q=2,
    codebook_size=16, codebook_dim=4,
)  # fmt: skip


def music(seconds: float, f0: float, seed: int = 0) -> np.ndarray:
    """A tone with harmonics, a tremolo and a little noise, ``(T,)`` float32."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.2 / h * np.sin(2 * np.pi * f0 * h * t) for h in (1, 2, 3)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.01 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def corpus(root, seconds: float = 1.5):
    """Two valid-split clips and one train clip in a manifest under ``root``."""
    records = []
    for i, (f0, split) in enumerate(((220.0, "valid"), (330.0, "valid"), (440.0, "train"))):
        save_audio(root / f"clip{i}.wav", music(seconds, f0, i), SR)
        records.append(Record(f"clip{i}.wav", seconds, SR, "test", "CC0", split=split, title=f"clip {i}"))
    write_manifest(root / "manifest.jsonl", records)
    return root / "manifest.jsonl"


@pytest.fixture
def tiny_codec_dir(tmp_path):
    torch.manual_seed(0)
    return Codec(CodecConfig(**TINY)).save_pretrained(tmp_path / "codec")


def test_opus_and_mp3_round_trips_keep_length_and_report_their_bitrate():
    x = music(2.0, 220.0)
    opus = opus_roundtrip(x, SR, 6.0)
    assert opus.audio.shape[0] == pytest.approx(len(x), abs=SR // 50) and 4 < opus.kbps < 16
    mp3 = mp3_roundtrip(x, SR, 16, 11025)
    assert abs(len(mp3.audio) - len(x)) < SR // 4 and 14 < mp3.kbps < 20  # decoder delay/padding: up to ~0.15 s
    for trip in (opus, mp3):
        assert codec_distances(x[None], align(x, trip.audio)[None])["si_sdr"] > 3
    with pytest.raises(ValueError, match=r"allows 32\.\.320"):
        mp3_roundtrip(x, SR, 16, 32000)
    with pytest.raises(ValueError, match="Opus bitrate"):
        opus_roundtrip(x, SR, 2.0)


def test_codec_bench_writes_a_well_formed_section(tmp_path, tiny_codec_dir):
    manifest = corpus(tmp_path)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## Data loading\n\nsomeone else's numbers\n")
    argv = ["--codec", str(tiny_codec_dir), "--manifest", str(manifest), "--seconds", "1", "--no-visqol"]
    argv += ["--speed-seconds", "0.5", "--threads", "1", "--repeats", "1", "--out", str(out)]
    argv += ["--json", str(tmp_path / "codec.json")]
    assert codec_bench.main(argv) == 0
    text = out.read_text()
    assert "someone else's numbers" in text and text.index("## Data loading") < text.index("## Codec")
    section = text[text.index("## Codec") :]
    assert "on 2 fixed 1 s crops" in section and "Command: `python -m audiogen.eval.codec_bench --codec" in section
    tables = re.findall(r"((?:^\|.*\|\n)+)", section, flags=re.M)
    assert len(tables) == 2 and tables[0].startswith("| system | kbps | chroma cosine")
    assert tables[1].startswith("| model |")
    quality = [r.split("|")[1].strip() for r in tables[0].splitlines()[2:]]
    name = Codec.from_pretrained(tiny_codec_dir).name  # the token space's id and the decoder's
    ours = [f"audiogen codec `{name}`, {k}" for k in ("1 codebook", "2 codebooks")]
    assert quality[:3] == ["original", *ours]
    assert any(s.startswith("Opus 6 kbps") for s in quality) and any(s.startswith("Opus 12 kbps") for s in quality)
    assert sum(s.startswith("MP3") for s in quality) == 4
    for table in tables:
        for row in table.splitlines()[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert all(re.fullmatch(r"-?\d+\.\d+( \(\d+×\))?|n/a|\d+|\d+\.\d×|", c) for c in cells[1:]), row
    results = json.loads((tmp_path / "codec.json").read_text())
    assert results["meta"]["clips"] == 2 and len(results["quality"]) == 1 + 2 + 6
    assert {r["model"].split(" ")[0] for r in results["speed"]} == {"audiogen", "EnCodec"}
    original, ours = results["quality"][:2]
    assert 0 < original["harmonic"] <= 1
    # the token file's size: the nominal bitrate plus its header (34 bytes + the id, here over 1 s clips)
    assert ours["nominal_kbps"] == pytest.approx(CodecConfig(**TINY).kbps(1)) and np.isnan(ours["visqol"])
    assert ours["nominal_kbps"] < ours["kbps"] < ours["nominal_kbps"] + 0.5
    assert -1 <= ours["chroma"] <= 1 and 0 <= ours["harmonic"] <= 1
    assert all(r["encode_rtf"] > 0 and r["decode_rtf"] > 0 for r in results["speed"])
    ours_speed, encodec_speed = results["speed"][:2]  # per thread count: ours, then EnCodec, timed in rounds
    assert (
        ours_speed["decode_speedup"] > 0 and ours_speed["encode_speedup"] > 0 and "decode_speedup" not in encodec_speed
    )


def test_codec_bench_rejects_bad_options(tmp_path, tiny_codec_dir):
    with pytest.raises(SystemExit):
        codec_bench.main(["--codec", str(tiny_codec_dir), "--manifest", "m.jsonl", "--clips", "0"])


def test_chroma_cosine_sees_the_notes_and_harmonic_share_the_sustain():
    from audiogen.eval.metrics import chroma_cosine, harmonic_share

    a, b = music(2.0, 220.0), music(2.0, 220.0 * 2 ** (4 / 12), seed=1)  # A3 and the C#4 a major third above
    assert chroma_cosine(a, a) > 0.99
    assert chroma_cosine(a, b) < chroma_cosine(a, a) - 0.3  # the envelope is the same, the note is not
    noise = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.1
    assert harmonic_share(a) > 0.8 > 0.6 > harmonic_share(noise)


def test_codec_bench_heldout_compare_and_spectrogram(tmp_path, tiny_codec_dir):
    manifest = corpus(tmp_path)
    argv = ["--codec", str(tiny_codec_dir), "--compare", str(tiny_codec_dir), "--manifest", str(manifest)]
    argv += ["--heldout", str(manifest), "--seconds", "1", "--no-visqol", "--speed-seconds", "0", "--out", ""]
    argv += ["--json", str(tmp_path / "c.json"), "--spectrogram", str(tmp_path / "spec.png")]
    assert codec_bench.main(argv) == 0
    results = json.loads((tmp_path / "c.json").read_text())
    assert len(results["quality"]) == 1 + 2 * 2 + 6 and len(results["heldout"]) == 1 + 2 * 2 + 6
    assert results["meta"]["heldout_clips"] == 3  # every track of the held-out manifest, whatever its split
    assert (tmp_path / "spec.png").stat().st_size > 10_000


def test_codec_diagnostics_writes_its_section(tmp_path, tiny_codec_dir):
    from audiogen.eval import codec_diagnostics

    manifest = corpus(tmp_path, seconds=7.0)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n")
    argv = ["--codec", str(tiny_codec_dir), "--manifest", str(manifest), "--crops", "1", "--plans", "1"]
    argv += ["--n-q", "2", "--out", str(out)]
    assert codec_diagnostics.main(argv) == 0
    section = out.read_text().split("## Codec diagnostics", 1)[1]
    rows = [r for r in section.splitlines() if r.startswith("| ")]
    residual = rows[1].split("|")[2].split(" / ")
    assert len(residual) == 2 and all(float(x) >= 0 for x in residual)  # one value per stage of the tiny codec
    assert any(r.startswith("| render |") for r in rows) and any("render through" in r for r in rows)


def test_chord_probe_reads_chords_from_features_that_hold_them_and_not_from_noise():
    from audiogen.eval.codec_diagnostics import chord_probe

    rng = np.random.default_rng(0)
    names = ["C:maj", "A:min", "F:maj", "G:maj"]
    labels = [[names[k] for k in rng.integers(0, 4, 200)] for _ in range(8)]
    holding = [np.eye(4)[[names.index(x) for x in lab]] + 0.3 * rng.normal(size=(200, 4)) for lab in labels]
    noise = [rng.normal(size=(200, 4)) for _ in labels]
    held = chord_probe(holding, labels)
    blind = chord_probe(noise, labels)
    assert held["accuracy"] > 0.95
    assert blind["accuracy"] < held["chance"] + 0.1 and 0.2 < blind["chance"] < 0.4
    with pytest.raises(ValueError, match="at least 2 plans"):
        chord_probe(holding[:1], labels[:1])
