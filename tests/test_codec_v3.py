"""Codec v3: a magnitude decoder with a rebuilt phase, the pitch teacher, exact resumption, v3 token files."""

import json
import math

import numpy as np
import pytest
import torch

from audiogen.audio import load_audio, save_audio
from audiogen.codec.backends import load_codec
from audiogen.codec.cli import decode_file, encode_file
from audiogen.codec.model import Codec, CodecConfig
from audiogen.codec.phase import MagnitudeSynth, bin_frequency, rebuild_phase
from audiogen.codec.teacher import SEMITONES, semitone_labels
from audiogen.codec.tokenfile import FORMAT_VERSION, read_tokens, write_tokens_v1
from audiogen.train.codec import CodecTrainConfig, CodecTrainer
from tests.test_codec import TINY, sine_manifest

SR = 32000
TINY_V3 = dict(TINY, head="magnitude", synth_n_fft=1024, head_hidden=24)


def _tone(freqs, seconds=2.0, amp=0.2):
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return sum(amp * torch.sin(2 * math.pi * f * t + i) for i, f in enumerate(freqs)).float()[None]


def _share_near(y: torch.Tensor, freqs, cents: float = 50.0) -> float:
    """Share of the energy of ``y`` ``[T]`` (a long-window spectrum of its steady middle) within ``cents`` of
    ``freqs``."""
    mid = y[SR // 4 : -SR // 4]
    spec = torch.fft.rfft(mid * torch.hann_window(len(mid), dtype=mid.dtype)).abs().square()
    f = torch.fft.rfftfreq(len(mid), 1 / SR)
    near = torch.zeros_like(f, dtype=torch.bool)
    for f0 in freqs:
        near |= (f - f0).abs() <= f0 * (2 ** (cents / 1200) - 1)
    return float(spec[near].sum() / spec.sum())


def test_a_steady_tone_comes_back_as_its_partials_not_a_smear():
    # a low note with harmonics, between bin centres of a 2048-point STFT (15.6 Hz bins): what v1 smeared
    partials = [110.0 * k for k in (1, 2, 3, 4)]
    x = _tone(partials)
    synth = MagnitudeSynth(2048, 320)
    y = synth(synth.analyse(x))
    assert y.shape == x.shape
    assert _share_near(y[0].double(), partials) > 0.97
    # each bin of a partial's lobe reads the partial's frequency
    lm = synth.analyse(_tone([440.0]))
    k0 = 440.0 * 2048 / SR  # 28.16 bins
    freq = bin_frequency(lm)[0, 50]
    assert torch.allclose(freq[27:30], torch.full((3,), k0), atol=0.08)  # the three bins of the lobe


def test_the_phase_rebuilt_in_chunks_equals_one_piece():
    synth = MagnitudeSynth(1024, 320)
    lm = synth.analyse(_tone([220.0, 331.0], seconds=1.0))
    whole, _ = rebuild_phase(lm, 320, 1024)
    a, carry = rebuild_phase(lm[:, :37], 320, 1024)
    b, _ = rebuild_phase(lm[:, 37:], 320, 1024, carry)
    assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-5)
    assert torch.allclose(synth(lm, chunk=37), synth(lm), atol=1e-5)


def test_the_teacher_labels_a_synthetic_chord_with_its_notes():
    # C major triad C4 E4 G4 (MIDI 60, 64, 67): semitones 36, 40, 43 above C1
    notes = [60, 64, 67]
    x = _tone([440.0 * 2 ** ((m - 69) / 12) for m in notes], seconds=1.0)
    labels = semitone_labels(x, SR, 320)  # (1, 84, 50)
    assert labels.shape == (1, SEMITONES, 50)
    middle = labels[0, :, 10:40].mean(1)
    top = set(middle.topk(3).indices.tolist())
    assert top == {m - 24 for m in notes}
    others = torch.ones(SEMITONES, dtype=torch.bool)
    others[[m - 24 for m in notes]] = False
    assert middle[~others].min() > -1.0 and middle[others].max() < -2.0  # the notes stand well above the rest


def test_a_magnitude_decoder_shapes_and_its_fast_path():
    torch.manual_seed(0)
    codec = Codec(CodecConfig(**TINY_V3)).eval()
    wav = torch.randn(2, SR + 100) * 0.1
    codes = codec.encode(wav)
    assert codes.shape == (2, 4, 51)
    out = codec.decode(codes)
    assert out.shape == (2, 51 * 640) and torch.isfinite(out).all()
    z = codec.quantizer.decode(codes)
    with torch.enable_grad():
        slow = codec.decoder(z)
    assert torch.allclose(out, slow, atol=1e-4)
    train = codec.train()(wav, step=0, first=2)
    assert train["logmag"].shape == train["target_logmag"].shape == (2, 102, 513)
    assert train["z_first"].shape == z.shape


def _v3_config(tmp_path, **kw) -> CodecTrainConfig:
    base = dict(
        run_dir=str(tmp_path / "run"), manifests=[str(sine_manifest(tmp_path))], model=CodecConfig(**TINY_V3),
        segment_seconds=0.5, batch_size=2, lr=3e-3, warmup_steps=1, max_steps=6, gan_start=10**9,
        lambda_latent=1.0, lambda_teacher=1.0, teacher_codebooks=2, lambda_semitone=1.0, lambda_mag_mel=1.0,
        log_every=1,
        ckpt_every=1000, valid_every=1000,
        valid_crops=1, num_workers=0,
    )  # fmt: skip
    base.update(kw)
    return CodecTrainConfig(**base)


def _lines(run) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_a_resumed_run_takes_the_same_steps_as_an_uninterrupted_one(tmp_path, monkeypatch):
    CodecTrainer(_v3_config(tmp_path / "a")).fit()
    straight = torch.load(tmp_path / "a" / "run" / "last.pt", weights_only=True)

    cfg = _v3_config(tmp_path / "b", ckpt_every=3)
    trainer = CodecTrainer(cfg)
    real_step = trainer.train_step

    def dies_after_three(wav, notes=None):
        if trainer.step == 3:
            raise KeyboardInterrupt  # killed right after the step-3 checkpoint
        return real_step(wav, notes)

    monkeypatch.setattr(trainer, "train_step", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    resumed = CodecTrainer(cfg)
    assert resumed.step == 3
    resumed.fit()
    again = torch.load(tmp_path / "b" / "run" / "last.pt", weights_only=True)
    for k, v in straight["model"].items():
        assert torch.equal(v, again["model"][k]), k
    a = [r for r in _lines(tmp_path / "a" / "run") if "logmag" in r]
    b = [r for r in _lines(tmp_path / "b" / "run") if "logmag" in r]
    assert [r["logmag"] for r in a] == [r["logmag"] for r in b] and len(a) == 6
    assert all("teacher" in r and "semitone" in r and "mag_mel" in r for r in a)


def test_a_v3_run_starts_from_a_v2_codec_with_a_fresh_head(tmp_path):
    torch.manual_seed(1)
    source = Codec(CodecConfig(**TINY))
    source.save_pretrained(tmp_path / "v2")
    trainer = CodecTrainer(_v3_config(tmp_path, init_from=str(tmp_path / "v2")))
    model = trainer.acc.unwrap_model(trainer.model)
    for k, v in source.state_dict().items():
        if k.startswith(("encoder.", "quantizer.")) and v.is_floating_point():
            assert torch.allclose(v.half().float(), model.state_dict()[k]), k
    assert model.decoder.head.hidden.weight.shape == (24, TINY["up_dim"])
    assert model.decoder.head.proj.weight.shape == (513, 24)


def test_v3_tokens_in_a_token_file_and_older_files_still_read(tmp_path):
    torch.manual_seed(2)
    Codec(CodecConfig(**TINY_V3)).save_pretrained(tmp_path / "v3")
    codec = load_codec(tmp_path / "v3")
    y = _tone([262.0], seconds=2.0)[0].numpy()
    src = save_audio(tmp_path / "in.wav", y)
    header = encode_file(codec, src, tmp_path / "x.agc", n_q=2)
    codes, h2 = read_tokens(tmp_path / "x.agc")
    assert h2 == header and codes.shape == (2, 100)
    assert (tmp_path / "x.agc").read_bytes()[3] == FORMAT_VERSION
    out = decode_file(codec, tmp_path / "x.agc", tmp_path / "y.wav")
    assert len(load_audio(out, allow_silent=True)) == 64000
    write_tokens_v1(tmp_path / "old.agc", codes, header)
    old, h1 = read_tokens(tmp_path / "old.agc")
    assert np.array_equal(old, codes) and h1.model_id == header.model_id == codec.model_id


def test_sigterm_ends_a_run_after_its_step_with_a_checkpoint(tmp_path, monkeypatch):
    import os
    import signal

    cfg = _v3_config(tmp_path, ckpt_every=1000)
    trainer = CodecTrainer(cfg)
    real_step = trainer.train_step

    def terminated_at_two(wav, notes=None):
        out = real_step(wav, notes)
        if trainer.step == 1:  # this is the second step: the counter moves after it
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(trainer, "train_step", terminated_at_two)
    before = signal.getsignal(signal.SIGTERM)
    trainer.fit()
    assert trainer.step == 2
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


@pytest.mark.parametrize("to_encoder", [True, False])
def test_the_latent_loss_reaches_the_encoder_only_when_asked(to_encoder):
    from audiogen.codec.quantizer import ResidualVQ

    torch.manual_seed(3)
    vq = ResidualVQ(16, n_q=3, codebook_size=32, codebook_dim=4, dropout=0.0)
    vq.latent_to_encoder = to_encoder
    z = torch.randn(2, 16, 10, requires_grad=True)
    vq(z, step=0)  # data init
    vq(z)["latent"].backward()
    assert (z.grad is not None and z.grad.abs().sum() > 0) == to_encoder
    grads = [p.grad for p in vq.layers[0].parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0  # the stages still learn from it


def test_the_resynthesis_loss_hears_the_pitch_and_passes_gradients_through_the_phase():
    from audiogen.train.codec import resynth_semitone_loss

    chord = _tone([130.81, 164.81, 196.0], seconds=1.0)  # C3 E3 G3: below where a 2048-point bin holds a semitone
    synth = MagnitudeSynth(2048, 320)
    logmag = synth.analyse(chord).requires_grad_(True)
    right = resynth_semitone_loss(synth(logmag), chord, SR, 320)
    right.backward()
    assert torch.isfinite(logmag.grad).all() and logmag.grad.abs().sum() > 0
    sharp = synth(synth.analyse(_tone([138.59, 174.61, 207.65], seconds=1.0)))  # the same chord a semitone up
    assert float(right) < 0.5 * float(resynth_semitone_loss(sharp, chord, SR, 320))


def test_the_phase_can_be_left_out_of_the_gradient():
    synth = MagnitudeSynth(2048, 320)
    logmag = synth.analyse(_tone([220.0, 330.0], seconds=0.5))
    grads = []
    for phase_grad in (True, False):
        lm = logmag.clone().requires_grad_(True)
        y = synth(lm, phase_grad=phase_grad)
        (y[:, 2000:6000] ** 2).sum().backward()
        grads.append(lm.grad)
    assert torch.equal(synth(logmag, phase_grad=False), synth(logmag))  # the same waveform either way
    assert torch.isfinite(grads[1]).all() and grads[1].abs().sum() > 0
    assert not torch.allclose(grads[0], grads[1])


def test_the_gradient_measure_splits_magnitudes_from_phase():
    from audiogen.eval.resynth_gradient import gradients

    torch.manual_seed(0)
    codec = Codec(CodecConfig(**TINY_V3)).train()
    g = gradients(codec, 0.3 * torch.randn(2, 16000))
    assert g["full"] > 0 and g["magnitudes"] > 0 and -1.0 <= g["cosine"] <= 1.0


def test_a_model_on_a_v3_codec_generates_streams_and_reloads(tmp_path):
    """The whole path with a magnitude decoder: a sketched request generates the asked length, the stream ends with
    the same track, and the saved folder loads back as a v3 model that generates."""
    from audiogen.generator import MusicGenerator

    gen = MusicGenerator.debug(head="magnitude")
    gen.sketch_strength = 8.0
    req = dict(emotion="calm", tempo=100, key="D", duration=3.0, seed=4, progress=False)
    track = gen.generate("calm piano", **req)
    assert track.audio.shape == (3 * SR,) and np.isfinite(track.audio).all() and np.abs(track.audio).max() > 0.01
    with gen.stream("calm piano", chunk_seconds=0.5, **req) as stream:
        chunks = list(stream)
    assert sum(c.size for c in chunks) == 3 * SR
    np.testing.assert_array_equal(stream.track.audio, track.audio)
    again = MusicGenerator.from_pretrained(gen.save_pretrained(tmp_path / "model"))
    assert again.codec.cfg.head == "magnitude" and again.sketch_strength == 8.0
    reloaded = again.generate("calm piano", **req).audio  # fp16 weights: a sample of the same model, not the same bytes
    assert reloaded.shape == track.audio.shape and np.isfinite(reloaded).all()
    with pytest.raises(ValueError, match="allowed 'istft' or 'magnitude'"):
        MusicGenerator.debug(head="mel")


def test_the_frequency_loss_reads_where_inside_a_bin_a_partial_lies():
    """A bass partial at C3 (8.37 bins of 2048 points) against the same lobe on the bin centre 8 (125 Hz): the loss
    is that 0.79-semitone shift, nothing for the original itself, and a few gradient steps on the centred lobe move
    it back."""
    from audiogen.train.codec import frequency_loss

    synth = MagnitudeSynth(2048, 320)
    target = synth.analyse(_tone([130.81]))  # (1, F, 1025)
    centred = synth.analyse(_tone([125.0]))  # bin 8 exactly
    gap = float(frequency_loss(centred, target, SR))
    assert float(frequency_loss(target, target, SR)) == 0.0
    assert 0.6 < gap < 0.95
    pred = centred.clone().requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        frequency_loss(pred, target, SR).backward()
        opt.step()
    assert float(frequency_loss(pred.detach(), target, SR)) < gap / 3
    played = synth(pred.detach())[0]  # the rebuilt phase now plays the partial near C3, not on the bin centre
    assert _share_near(played, [130.81], cents=40) > _share_near(synth(centred)[0], [130.81], cents=40)


TINY_BASS = dict(TINY_V3, bass_n_fft=4096, bass_hz=300.0)


def test_the_two_band_synth_plays_bass_notes_at_their_pitch_and_keeps_the_level():
    """Harmonic tones from C2 to A4, analysed and played back by the two-band synth: the first three partials within
    10 cents, the level within 2 %; and its bass spectrogram puts B2 and C3 on different peak bins, where the
    2048-point one puts both on the same (what a decoder must draw to play the right one)."""
    from audiogen.codec.phase import TwoBandSynth

    two, one = TwoBandSynth(2048, 8192, 320, SR, 300.0), MagnitudeSynth(2048, 320)
    assert two.bins == 1025 + two.n_bass and two.context >= MagnitudeSynth(8192, 320).context > one.context
    for f0 in (65.41, 130.81, 196.0, 440.0):
        x = _tone([f0 * k for k in (1, 2, 3)], seconds=3.0)
        y = two(two.analyse(x))[0]
        assert abs(float(y.square().mean().sqrt() / x.square().mean().sqrt()) - 1) < 0.02
        assert _share_near(y, [f0, 2 * f0, 3 * f0], cents=10) > 0.95, f0
    b2, c3 = (two.analyse(_tone([f]))[0, 40] for f in (123.47, 130.81))
    assert b2[two.n_main :].argmax() != c3[two.n_main :].argmax()
    assert b2[: two.n_main].argmax() == c3[: two.n_main].argmax()
    with pytest.raises(ValueError, match="bass_n_fft must be larger"):
        TwoBandSynth(2048, 2048, 320, SR, 300.0)


def test_a_two_band_decoder_decodes_in_windows_as_in_one_piece_and_trains_from_a_one_band_codec(tmp_path):
    torch.manual_seed(3)
    codec = Codec(CodecConfig(**TINY_BASS)).eval()
    wav = torch.randn(1, 3 * SR) * 0.1
    codes = codec.encode(wav)
    whole = codec.decode(codes)
    parts = torch.cat(list(codec.decode_windows(lambda a, b: codes[..., a:b], codes.shape[-1], window=40)), -1)
    assert torch.allclose(whole, parts, atol=1e-4)
    with torch.enable_grad():
        assert torch.allclose(codec.decoder(codec.quantizer.decode(codes)), whole, atol=1e-4)
    out = codec.train()(wav, step=0)
    assert out["logmag"].shape[-1] == out["target_logmag"].shape[-1] == CodecConfig(**TINY_BASS).out_bins
    # a run of the two-band decoder from a one-band v3 codec: same tokens, the bass head fresh (starting silent)
    Codec(CodecConfig(**TINY_V3)).save_pretrained(tmp_path / "one")
    cfg = _v3_config(tmp_path, model=CodecConfig(**TINY_BASS), init_from=str(tmp_path / "one"), freeze_encoder_at=0,
                     max_steps=2, lambda_teacher=0.0)  # fmt: skip
    trainer = CodecTrainer(cfg)
    trainer.fit()
    logs = [r for r in _lines(tmp_path / "run") if "bass" in r]
    assert len(logs) == 2 and all(np.isfinite(r["bass"]) and np.isfinite(r["bass_sc"]) for r in logs)
    model = trainer.acc.unwrap_model(trainer.model)
    one = Codec.from_pretrained(tmp_path / "one")
    for k, v in one.state_dict().items():  # the token space as it was
        if k.startswith(("encoder.", "quantizer.")) and v.is_floating_point():
            assert torch.equal(v, model.state_dict()[k]), k


def test_the_bass_band_played_at_a_sixteenth_of_the_rate_is_the_full_rate_synthesis():
    """The 8192-point bass band up to 375 Hz, synthesised as a 512-point spectrogram at 2 kHz and brought back up,
    equals the full-rate synthesis of the same bins (correlation > 0.9999, level within 0.1 %), and in windows it
    equals one piece."""
    from audiogen.codec.phase import DecimatedSynth

    full, low = MagnitudeSynth(8192, 320), DecimatedSynth(8192, 320, 16)
    x = _tone([65.41, 130.81, 196.2, 261.6], seconds=3.0, amp=0.1)
    logmag = full.analyse(x)
    band = logmag.clone()
    band[..., low.bins :] = math.log(1e-5)
    a, b = full(band), low(logmag)
    assert float((a * b).sum() / (a.norm() * b.norm())) > 0.9999
    assert abs(float(b.norm() / a.norm()) - 1) < 1e-3
    n, c, parts, carry = logmag.shape[1], low.context, [], None
    for s in range(0, n, 70):
        e = min(n, s + 70)
        lo, hi = max(0, s - c), min(n, e + c)
        y, carry = low.infer_span(logmag[:, lo:hi], (s - lo, e - lo), carry)
        parts.append(y)
    assert torch.allclose(torch.cat(parts, -1), b, atol=1e-5)


def _extended(tmp_path, cfg: CodecConfig, new: str) -> tuple[Codec, Codec]:
    """A two-band codec saved in ``tmp_path / "base"`` (its bass projection as if trained: a fresh one starts
    silent, whatever it reads) and a codec of ``cfg`` loaded from it, which may lack only the weights under
    ``new``."""
    base = Codec(CodecConfig(**TINY_BASS)).eval()
    with torch.no_grad():
        base.decoder.head.bass_proj.weight.normal_(0, 0.3)
    base.save_pretrained(tmp_path / "base")
    codec = Codec(cfg).eval()
    missing, unexpected = codec.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(new) for k in missing)
    return base, codec


def test_a_bass_branch_with_context_starts_as_the_decoder_it_extends_and_decodes_in_windows_exactly(tmp_path):
    """``bass_context``: dilated blocks before the bass projection. From a two-band codec without them it decodes
    the same at first (each block starts as the identity); trained (here: random residual scales), windowed decoding
    still equals one piece, its reach counted in the decoder's context; a run may start from the codec without it."""
    torch.manual_seed(4)
    ctx_cfg = CodecConfig(**dict(TINY_BASS, bass_context=3))
    base, codec = _extended(tmp_path, ctx_cfg, "decoder.head.bass_context.")
    wav = torch.randn(1, 3 * SR) * 0.1
    codes = base.encode(wav)
    assert torch.allclose(codec.decode(codes), base.decode(codes), atol=1e-5)
    assert codec.decoder.head.reach == 1 + 2 + 4
    assert codec.decoder.context_frames > base.decoder.context_frames
    with torch.no_grad():
        for block in codec.decoder.head.bass_context:
            block.gamma.normal_(0, 0.5)
    whole = codec.decode(codes)
    before = base.decode(codes)
    assert float((whole - before).norm() / before.norm()) > 0.01  # the branch now changes the bass
    parts = torch.cat(list(codec.decode_windows(lambda a, b: codes[..., a:b], codes.shape[-1], window=40)), -1)
    assert torch.allclose(whole, parts, atol=1e-4)
    with torch.enable_grad():
        assert torch.allclose(codec.decoder(codec.quantizer.decode(codes)), whole, atol=1e-4)
    with pytest.raises(ValueError, match="bass_context"):
        CodecConfig(**dict(TINY_V3, bass_context=2))  # no bass band to draw
    cfg = _v3_config(tmp_path, model=ctx_cfg, init_from=str(tmp_path / "base"), freeze_encoder_at=0, max_steps=1,
                     lambda_teacher=0.0)  # fmt: skip
    CodecTrainer(cfg).fit()
    assert any("bass" in r for r in _lines(tmp_path / "run"))


def test_the_bass_pitch_input_tells_bass_semitones_apart_and_starts_as_the_codec_it_extends(tmp_path):
    """``bass_pitch_n_fft``: a 16384-point spectrum of C1..B3 on thirds of semitones. B1 and C2 (3.7 Hz apart) peak a
    semitone (3 bins) apart on it, each a nat above the other at its peak; on the encoder's 4096-point pitch input
    they differ there by under a tenth of that (one lobe, barely shifted). Added to a codec it starts as that codec
    (zero input layer: the same tokens), and a run may start from the codec without it."""
    from audiogen.codec.modules import PitchFeatures

    bass, wide = PitchFeatures(SR, 320, 108, 16384, octaves=3), PitchFeatures(SR, 320, 252)
    assert bass.keep < 16384 // 2 + 1 and wide.keep == 4096 // 2 + 1  # the default reads every bin, as before
    b1, c2 = (_tone([f], seconds=2.0) for f in (61.74, 65.41))
    peaks = [int(bass(x)[0, :, 100].argmax()) for x in (b1, c2)]
    assert peaks[1] - peaks[0] == 3 and peaks[1] == 12 * 3  # C2: the first bin of the second octave
    for features, low, high in ((bass, 0.8, 9.0), (wide, 0.0, 0.1)):
        a, b = features(b1)[0, :, 100], features(c2)[0, :, 100]
        assert low < float(a[peaks[0]] - b[peaks[0]]) < high and low < float(b[peaks[1]] - a[peaks[1]]) < high
    torch.manual_seed(5)
    cfg = CodecConfig(**dict(TINY_BASS, bass_pitch_n_fft=16384))
    base, codec = _extended(tmp_path, cfg, "encoder.bass_pitch_inp.")
    wav = torch.randn(1, 2 * SR) * 0.1
    assert torch.equal(codec.encode(wav), base.encode(wav))
    with pytest.raises(ValueError, match="bass_pitch_n_fft"):
        CodecConfig(**dict(TINY_BASS, bass_pitch_n_fft=2000))
    run = _v3_config(tmp_path, model=cfg, init_from=str(tmp_path / "base"), max_steps=1, lambda_teacher=0.0,
                     segment_seconds=1.0, bass_pitch_lr=0.01)  # fmt: skip
    trainer = CodecTrainer(run)
    own = [g for g in trainer.opt_g.param_groups if g["base_lr"] == 0.01]  # the new layer learns at its own rate
    layer = trainer.acc.unwrap_model(trainer.model).encoder.bass_pitch_inp
    assert len(own) == 1 and {id(p) for p in own[0]["params"]} == {id(p) for p in layer.parameters()}
    trainer.fit()
    assert _lines(tmp_path / "run") and float(layer.weight.abs().sum()) > 0


def test_a_decoder_run_on_transposed_crops(tmp_path):
    """pitch_shift reaches the training crops (not the validation ones), and such a run trains; cached note
    posteriors, which belong to the crops as recorded, are refused with it."""
    Codec(CodecConfig(**TINY_BASS)).save_pretrained(tmp_path / "start")
    cfg = _v3_config(tmp_path, model=CodecConfig(**TINY_BASS), init_from=str(tmp_path / "start"), freeze_encoder_at=0,
                     max_steps=2, lambda_teacher=0.0, pitch_shift=6, pitch_shift_share=1.0)  # fmt: skip
    trainer = CodecTrainer(cfg)
    train, valid = trainer.loaders()
    assert train.pitch_shift == 6 and {train[i]["shift"] for i in range(len(train))} != {0}
    assert {b for batch in valid for b in batch["shift"].tolist()} == {0}
    trainer.fit()
    assert [r["step"] for r in _lines(tmp_path / "run") if "logmag" in r] == [1, 2]
    with pytest.raises(ValueError, match="lambda_notes cannot be used with pitch_shift"):
        _v3_config(tmp_path, lambda_notes=1.0, notes_dir=str(tmp_path), pitch_shift=3, pitch_shift_share=0.5)


def test_the_magnitude_chroma_loss_sees_a_semitone_and_not_a_level(tmp_path):
    """A two-band head's chroma: an A2 (110 Hz) tone read from the bass spectrogram below bass_hz and the main one
    above lands on A; the loss is 0 for the crop itself, stays near 0 for the crop 12 dB quieter, and is large for the
    crop a semitone up. A run with it logs it."""
    from audiogen.train.codec import chroma_loss

    cfg = _v3_config(tmp_path, model=CodecConfig(**TINY_BASS), max_steps=2, lambda_teacher=0.0, lambda_mag_chroma=1.0)
    trainer = CodecTrainer(cfg)
    synth = trainer.acc.unwrap_model(trainer.model).decoder.head.synthesiser
    t = torch.arange(SR * 2) / SR

    def chroma(f0, level=0.2):
        wav = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 5))[None] * level
        return trainer._magnitude_chroma(synth.analyse(wav), synth.n_main)

    a, quiet, up = chroma(110.0), chroma(110.0, 0.05), chroma(110.0 * 2 ** (1 / 12))
    assert int(a.mean(1)[0].argmax()) == 9  # A
    assert chroma_loss(a, a).item() < 1e-6 and chroma_loss(quiet, a).item() < 1e-4
    assert chroma_loss(up, a).item() > 0.5
    trainer.fit()
    logs = [r for r in _lines(tmp_path / "run") if "logmag" in r]
    assert len(logs) == 2 and all(np.isfinite(r["mag_chroma"]) for r in logs)


def test_a_decoder_run_for_the_lm_bitrate_decodes_from_that_many_codebooks(tmp_path):
    """train_n_q: every crop's codes stop at train_n_q codebooks (dropout draws below it); the value is checked."""
    Codec(CodecConfig(**TINY_BASS)).save_pretrained(tmp_path / "start")
    cfg = _v3_config(tmp_path, model=CodecConfig(**TINY_BASS), init_from=str(tmp_path / "start"), freeze_encoder_at=0,
                     max_steps=2, lambda_teacher=0.0, train_n_q=2)  # fmt: skip
    trainer = CodecTrainer(cfg)
    trainer.fit()
    assert trainer._codes.shape[1] == 2 < TINY_BASS["n_q"]
    with pytest.raises(ValueError, match="train_n_q must be in"):
        _v3_config(tmp_path, train_n_q=TINY_BASS["n_q"] + 1)
    with pytest.raises(ValueError, match="at least teacher_codebooks"):
        _v3_config(tmp_path, lambda_teacher=1.0, teacher_codebooks=2, train_n_q=1)
