"""Codec diagnostics, ``--pitch-path``: where the pitch goes (decoder magnitude + Griffin-Lim, phase-rebuild
ceilings, the chord probe from two codebooks), on a tiny random codec."""

import pytest
import torch

from audiogen.codec.model import Codec, CodecConfig
from audiogen.eval import codec_diagnostics as cd

SR = 32000
TINY = dict(
    enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16, up_layers=1, n_q=4,
    codebook_size=64, codebook_dim=4,
)  # fmt: skip


@pytest.fixture
def tiny_codec():
    torch.manual_seed(0)
    return Codec(CodecConfig(**TINY)).eval()


def tone(seconds: float = 2.0, freqs=(220.0, 277.2, 329.6)) -> torch.Tensor:
    """``[1, T]``: a held chord of harmonic tones (A major), T a multiple of the codec's frame size."""
    x = cd.steady_chord(freqs, seconds, SR)
    return torch.from_numpy(x[: len(x) - len(x) % 640])[None]


def test_predicted_magnitude_is_what_the_head_reads(tiny_codec, monkeypatch):
    dec, head = tiny_codec.decoder, tiny_codec.decoder.head
    z = torch.randn(2, TINY["latent_dim"], 13)
    seen = {}
    real = head.infer_frames

    def capture(x, chunk=256, mag_bias=None):
        seen["x"] = x.clone()
        return real(x, chunk=chunk, mag_bias=mag_bias)

    monkeypatch.setattr(head, "infer_frames", capture)
    with torch.no_grad():
        wav = dec(z)  # the inference path: Decoder.infer
    x, bias = cd.head_input(dec, z)
    assert bias is None and x.shape == (2, 26, TINY["up_dim"])
    torch.testing.assert_close(x, seen["x"])
    logmag = cd.predicted_logmag(tiny_codec, z)
    assert logmag.shape == (2, 26, CodecConfig().n_fft // 2 + 1)
    full = torch.nn.functional.conv1d(x.transpose(1, 2), head.proj.weight, head.proj.bias)  # (B, 2N or 3N, 2F)
    torch.testing.assert_close(logmag, full[:, : logmag.shape[-1]].transpose(1, 2), rtol=1e-4, atol=1e-4)
    gl = cd.head_griffin_lim(tiny_codec, z, n_iter=4)
    assert gl.shape == wav.shape == (2, 13 * 640) and torch.isfinite(gl).all()


def test_griffin_lim_rebuilds_a_held_chord_from_its_magnitude():
    x = tone(1.0)
    n_fft, hop = 1280, 320
    mag = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()  # (1, N, T/hop + 1)
    y = cd.griffin_lim(mag.transpose(1, 2), n_fft, hop, n_iter=16)
    assert y.shape == x.shape
    spec_x = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    spec_y = torch.stft(y, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    assert float((spec_y - spec_x).norm() / spec_x.norm()) < 0.3  # a consistent spectrogram: close to its target


def test_oracle_ceilings_keep_the_pitch_of_a_harmonic_tone():
    wav = torch.cat([tone(1.5), tone(1.5, (196.0, 246.9, 293.7))])  # A major, G major
    out = cd.oracle_readings(wav, n_iter=32, synth_sizes=(2048,))
    assert set(out) == {"griffin-lim", "synth 2048"}
    for reading in out.values():
        assert reading["chroma"] > 0.9
        assert 0 < reading["seconds_per_10s"] < 60 and 0 < reading["cpu_seconds_per_10s"] < 60


def test_pitch_path_readings_of_a_tiny_codec(tiny_codec):
    wav = torch.cat([tone(1.0), 0.1 * torch.randn(1, SR)])
    out = cd.pitch_path_readings(tiny_codec, wav, n_q=2, n_iter=4)
    assert out["head"] == "istft" and out["phase"] == "frame"
    for key in ("quantized", "unquantized", "quantized_gl", "unquantized_gl"):
        assert 0.0 <= out[key] <= 1.0 + 1e-6, key
    lines = cd.pitch_summary({"tiny": out}, {}, {}, 2)
    assert len(lines) == 1 and lines[0].startswith("- `tiny`")


def test_chord_probe_from_the_first_two_codebooks(tiny_codec):
    pytest.importorskip("sklearn")
    plans = cd.plan_readings({"tiny": tiny_codec}, plans=2, n_q=4, seconds=4.0)
    probe = plans.pop("probe")
    assert set(probe) == {"tiny", "tiny|latent", "tiny|q2"}
    right = plans["render"]["key_right"]
    assert 0 <= right <= 2 and all(v["key_right"] == right for v in plans.values())
    if right:  # the render keeps its own right keys; a codec keeps a share of them
        assert plans["render"]["key_kept"] == 1.0 and 0.0 <= plans["tiny"]["key_kept"] <= 1.0
    assert "render's right keys kept" in cd.plan_table(plans)[0]
    for reading in probe.values():
        assert 0.0 <= reading["accuracy"] <= 1.0 and 0.0 <= reading["best_constant"] <= 1.0
    table = cd.probe_table(probe, {"tiny": tiny_codec}, 4)
    assert "first 2 codebooks" in table[0] and table[2].startswith("| `tiny` |")


def test_pitch_path_writes_only_its_section(tmp_path, tiny_codec):
    from audiogen.audio import save_audio
    from audiogen.data.manifest import Record, write_manifest

    records = []
    for i, f0 in enumerate((220.0, 330.0)):
        save_audio(tmp_path / f"clip{i}.wav", cd.steady_chord((f0, 1.25 * f0), 3.0, SR), SR)
        records.append(Record(f"clip{i}.wav", 3.0, SR, "test", "CC0", split="valid", title=f"clip {i}"))
    write_manifest(tmp_path / "manifest.jsonl", records)
    codec_dir = tiny_codec.save_pretrained(tmp_path / "codec")
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## Codec diagnostics\n\nkept as it was\n")
    argv = ["--pitch-path", "--codec", str(codec_dir), "--manifest", str(tmp_path / "manifest.jsonl"), "--crops", "2",
            "--crop-seconds", "2", "--plans", "1", "--gl-iters", "4", "--out", str(out)]  # fmt: skip
    assert cd.main(argv) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\n## Codec diagnostics\n\nkept as it was\n\n" + cd.PITCH_HEADING)
    rows = [r for r in text.split(cd.PITCH_HEADING, 1)[1].splitlines() if r.startswith("| `")]
    chroma = [float(x) for x in rows[0].split("|")[3:7]]  # output and magnitude + Griffin-Lim, quantized and not
    assert len(chroma) == 4 and all(0.0 <= x <= 1.0 for x in chroma)
    assert "What the numbers show:" in text and "- In short:" in text
