import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiogen.audio import load_audio, save_audio
from audiogen.codec import inference
from audiogen.codec.backends import EncodecBackend, load_codec
from audiogen.codec.cli import decode_file, encode_file
from audiogen.codec.discriminator import MultiScaleSTFTDiscriminator
from audiogen.codec.losses import MultiScaleMelLoss, feature_matching, multi_resolution_stft_distance, si_sdr
from audiogen.codec.model import Codec, CodecConfig
from audiogen.codec.modules import PHASE_REFS, ISTFTHead, phase_advance_table
from audiogen.codec.quantizer import ResidualVQ
from audiogen.codec.tokenfile import TokenFileError, read_tokens
from audiogen.train.codec import CodecTrainConfig, CodecTrainer, perplexity

TINY = dict(
    enc_dim=32,
    enc_layers=2,
    latent_dim=16,
    dec_dim=32,
    dec_layers=2,
    up_dim=16,
    up_layers=1,
    n_q=4,
    codebook_size=64,
    codebook_dim=4,
)


@pytest.fixture
def tiny_codec():
    torch.manual_seed(0)
    return Codec(CodecConfig(**TINY)).eval()


def test_config_validation_and_bitrates():
    cfg = CodecConfig()
    assert cfg.frame_rate == 50 and cfg.kbps(1) == 0.5 and cfg.kbps(8) == 4.0
    assert cfg.n_q_for_kbps(3.0) == 6 and cfg.n_q_for_kbps(2.2) == 4
    with pytest.raises(ValueError, match="below the lowest"):
        cfg.n_q_for_kbps(0.1)
    with pytest.raises(ValueError, match="n_q"):
        CodecConfig(n_q=0)
    with pytest.raises(ValueError, match="n_fft"):
        CodecConfig(n_fft=300, hop=320)


def test_shapes_and_lengths(tiny_codec):
    wav = torch.randn(2, 32000 + 100) * 0.1
    codes = tiny_codec.encode(wav)
    assert codes.shape == (2, 4, 51) and codes.dtype == torch.long
    assert tiny_codec.decode(codes).shape == (2, 51 * 640)
    assert tiny_codec.decode(codes[:, :2]).shape == (2, 51 * 640)  # fewer codebooks = lower bitrate
    out = tiny_codec.train()(wav, step=0)
    assert out["recon"].shape == out["target"].shape == (2, 51 * 640)


def _assert_close_to_max(fast: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    """Equal up to float32 rounding: max |fast - ref| within ``rel`` of max |ref| (and the same shape)."""
    assert fast.shape == ref.shape
    err = (fast - ref).abs().max().item()
    assert err <= rel * ref.abs().max().item(), f"max abs difference {err:.3g} vs reference max {ref.abs().max():.3g}"


@pytest.fixture(params=[True, False], ids=["onednn", "addmm"])
def onednn(request, monkeypatch):
    """Runs a test with oneDNN's fused linear kernels (where available) and with the plain ``addmm`` fallback."""
    monkeypatch.setattr(inference, "USE_ONEDNN", request.param)
    return request.param


def _perturbed_decoder(tiny_codec):
    dec = tiny_codec.decoder
    with torch.no_grad():
        for p in dec.parameters():  # move off the init so every term (layer scale, LayerNorm affine, biases) matters
            p.add_(0.05 * torch.randn_like(p))
    return dec


def test_fast_decoder_matches_reference(tiny_codec, onednn):
    torch.manual_seed(1)
    z = torch.randn(2, TINY["latent_dim"], 37)
    dec = _perturbed_decoder(tiny_codec)
    with torch.no_grad():
        ref = dec.reference_forward(z)
        fast = dec(z)  # without gradients: the inference path, Decoder.infer
        _assert_close_to_max(dec.infer(z.transpose(1, 2).contiguous()), ref)
    assert fast.shape == ref.shape == (2, 37 * 640)
    _assert_close_to_max(fast, ref)
    _assert_close_to_max(dec(z).detach(), ref)  # with gradients: the differentiable frames-first path
    # one block on non-contiguous frames-first input, against the plain channels-first block
    block, x = dec.blocks[0], torch.randn(2, TINY["dec_dim"], 11)
    with torch.no_grad():
        _assert_close_to_max(block.infer_frames(x.transpose(1, 2)), block(x).transpose(1, 2))
    # the head alone, with a hop that divides n_fft (shifted adds) and one that does not (fold fallback); chunks of 5
    # frames put chunk borders inside the overlap-add
    for (n_fft, hop), ref_kind, rate in itertools.product(((1280, 320), (1000, 320)), PHASE_REFS, (False, True)):
        head = ISTFTHead(16, n_fft, hop, ref_kind, rate).eval()
        with torch.no_grad():
            head.proj.weight.add_(0.05 * torch.randn_like(head.proj.weight))  # rate rows off zero too
        x = torch.randn(2, 16, 23)
        with torch.no_grad():
            out = head(x)
            ref = head.reference_forward(x)
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)
            _assert_close_to_max(head.infer_frames(x.transpose(1, 2), chunk=5), ref)
            _assert_close_to_max(head.infer_frames(x.transpose(1, 2)), ref)
        assert out.shape == (2, 23 * hop)


def test_a_time_referenced_decoder_matches_its_reference(onednn):
    torch.manual_seed(2)
    dec = _perturbed_decoder(Codec(CodecConfig(**TINY, phase_ref="time")).eval())
    z = torch.randn(1, TINY["latent_dim"], 41)
    with torch.no_grad():
        ref = dec.reference_forward(z)
        _assert_close_to_max(dec(z), ref)
    _assert_close_to_max(dec(z).detach(), ref)
    with pytest.raises(ValueError, match="phase_ref"):
        CodecConfig(phase_ref="sample")
    with pytest.raises(ValueError, match="phase_rate"):
        CodecConfig(phase_rate="yes")


def _one_bin_head(phase_ref: str, k: int, rate: bool = False) -> ISTFTHead:
    """A 1280/320 head whose output spectrum is bin ``k`` alone, at phase 0, whatever its input."""
    head = ISTFTHead(4, 1280, 320, phase_ref, rate)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.zero_()
        head.proj.bias[:641] = -30.0
        head.proj.bias[k] = 0.0
    return head


@pytest.mark.parametrize("k", [21, 22, 24])
def test_a_time_referenced_head_holds_any_bin_where_a_frame_referenced_one_holds_only_multiples_of_four(k):
    # An unchanging input (as near-constant tokens give for a held note) must decode to a steady tone. Read against
    # each frame's start, the same phase in every frame cancels in the overlap-add unless the bin is a multiple of
    # n_fft / hop = 4 (multiples of 100 Hz at 32 kHz); read against a running sinusoid, every bin holds.
    sr, hz = 32000, k * 25.0
    for phase_ref in PHASE_REFS:
        with torch.no_grad():
            y = _one_bin_head(phase_ref, k)(torch.zeros(1, 4, 400))[0].numpy()[sr : 3 * sr]
        spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
        f = np.fft.rfftfreq(len(y), 1 / sr)
        share = spec[np.abs(f - hz) < 3].sum() / max(spec.sum(), 1e-30)
        if phase_ref == "time" or k % 4 == 0:
            assert share > 0.99 and y.std() > 1e-3, (phase_ref, k, share)
        else:
            assert share < 0.01 or y.std() < 1e-4, (phase_ref, k, share)


def test_a_phase_rate_head_holds_a_tone_between_bin_centres():
    # 535 Hz is 0.4 of a bin above bin 21 (525 Hz): the time reference alone puts it at 525 Hz; an increment of
    # 2 pi * 0.4 * hop / n_fft per frame, summed over frames, moves it to where it belongs, across inference chunks
    sr, k, frac = 32000, 21, 0.4
    head = _one_bin_head("time", k, rate=True)
    with torch.no_grad():
        head.proj.bias[2 * 641 + k] = 2 * np.pi * frac * 320 / 1280
        y = head(torch.zeros(1, 4, 400))[0].numpy()
        chunked = head.infer_frames(torch.zeros(1, 400, 4), chunk=37)[0].numpy()
    np.testing.assert_allclose(chunked, y, atol=1e-4 * np.abs(y).max())
    seg = y[sr : 3 * sr]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
    f = np.fft.rfftfreq(len(seg), 1 / sr)
    assert spec[np.abs(f - (k + frac) * 25) < 3].sum() / spec.sum() > 0.95
    assert spec[np.abs(f - k * 25) < 3].sum() / spec.sum() < 0.02


def test_phase_advance_table_is_exact_over_its_period():
    table = phase_advance_table(1280, 320)
    assert table.shape == (4, 641)
    k = torch.arange(641, dtype=torch.float64)
    for p in range(4):
        expect = 2 * torch.pi * k * p * 320 / 1280
        got = table[p].double()
        assert ((got >= 0) & (got < 2 * torch.pi)).all()
        torch.testing.assert_close(torch.polar(torch.ones_like(got), got), torch.polar(torch.ones_like(k), expect))
    assert phase_advance_table(1000, 320).shape == (25, 501)  # 1000 / gcd(1000, 320) frames


def test_quantizer_decode_tables_match_stages():
    torch.manual_seed(0)
    rvq = ResidualVQ(16, n_q=4, codebook_size=32, codebook_dim=4).eval()
    codes = torch.randint(0, 32, (3, 4, 9))
    for k in range(1, 5):
        plain = sum(layer.decode_codes(codes[:, i]) for i, layer in enumerate(rvq.layers[:k]))  # (B, D, T)
        with torch.no_grad():
            _assert_close_to_max(rvq.decode_frames(codes[:, :k]), plain.transpose(1, 2), rel=1e-6)
        _assert_close_to_max(rvq.decode(codes[:, :k]).detach(), plain.detach(), rel=1e-6)
    rvq.decode(codes).sum().backward()  # the table path stays differentiable
    assert rvq.layers[0].codebook.weight.grad is not None
    with pytest.raises(ValueError, match="codebooks"):
        rvq.decode(torch.zeros(1, 5, 2, dtype=torch.long))


def test_inference_cache_follows_weight_changes(tiny_codec, onednn):
    """Folded weights and codebook tables are cached in eval mode; in-place updates, loaded weights and codebook
    restarts in training must all show in the next decode."""
    torch.manual_seed(2)
    codec = tiny_codec
    codes = torch.randint(0, TINY["codebook_size"], (1, TINY["n_q"], 13))

    def reference():
        with torch.no_grad():
            z = sum(layer.decode_codes(codes[:, i]) for i, layer in enumerate(codec.quantizer.layers))
            return codec.decoder.reference_forward(z)

    first = codec.decode(codes)
    _assert_close_to_max(first, reference())
    assert torch.equal(codec.decode(codes), first)  # cached path is deterministic
    with torch.no_grad():  # an optimizer-style in-place update of every decoder weight
        for p in codec.decoder.parameters():
            p.mul_(1.1).add_(0.01)
    changed = codec.decode(codes)
    assert not torch.allclose(changed, first)
    _assert_close_to_max(changed, reference())
    other = Codec(CodecConfig(**TINY)).eval()
    codec.load_state_dict(other.state_dict())
    _assert_close_to_max(codec.decode(codes), other.decode(codes))
    _assert_close_to_max(codec.decode(codes), reference())
    # training-mode codebook init/restart (data-dependent writes), then back to eval
    codec.train()(torch.randn(2, 6400) * 0.1, step=0)
    codec.eval()
    _assert_close_to_max(codec.decode(codes), reference())
    # the cache lives outside the module: a used codec deep-copies, and the copy decodes the same
    twin = copy.deepcopy(codec)
    _assert_close_to_max(twin.decode(codes), codec.decode(codes), rel=0)


def test_quantizer_round_trip_and_dropout():
    torch.manual_seed(0)
    rvq = ResidualVQ(16, n_q=4, codebook_size=32, codebook_dim=4, dropout=1.0)
    z = torch.randn(8, 16, 10)
    rvq.train()
    out = rvq(z, step=0)  # first step initialises codebooks from data
    assert bool(rvq.layers[0].initialized)
    assert out["codes"].shape == (8, 4, 10)
    assert (out["n_q"] >= 1).all() and (out["n_q"] <= 4).all() and (out["n_q"] < 4).any()
    rvq.eval()
    full = rvq(z)
    # decoding the codes gives back exactly the quantized latent
    torch.testing.assert_close(rvq.decode(full["codes"]), full["z_q"], atol=1e-5, rtol=1e-5)
    # the first k codebooks of a full encoding decode to the k-codebook latent (one model, every bitrate)
    torch.testing.assert_close(rvq.decode(full["codes"][:, :2]), rvq(z, n_q=2)["z_q"], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="n_q"):
        rvq(z, n_q=5)


def test_dead_codes_are_restarted():
    torch.manual_seed(0)
    rvq = ResidualVQ(8, n_q=1, codebook_size=16, codebook_dim=4, dropout=0.0, restart_after=2).train()
    z = torch.randn(4, 8, 20)
    rvq(z, step=0)
    layer = rvq.layers[0]
    layer.codebook.weight.data[:] = layer.codebook.weight.data[0]  # collapse: every code the same
    before = layer.codebook.weight.detach().clone()
    for step in range(1, 6):
        rvq(z, step=step)
    assert not torch.equal(before, layer.codebook.weight)
    assert perplexity(rvq(z)["codes"], 16)[0] > 1.5


def test_discriminator_and_losses():
    disc = MultiScaleSTFTDiscriminator((512, 256), filters=4)
    x = torch.randn(2, 8000)
    logits, feats = disc(x)
    assert len(logits) == 2 and all(lg.shape[0] == 2 and lg.shape[1] == 1 for lg in logits)
    assert len(feats[0]) == 5
    mel = MultiScaleMelLoss()
    assert mel(x, x).item() == 0 and mel(x, 0.5 * x).item() > 0
    assert multi_resolution_stft_distance(x, x).item() < 1e-4
    assert si_sdr(x, x).min().item() > 60 and si_sdr(torch.randn(2, 8000), x).max().item() < 0
    assert feature_matching(feats, feats).item() == 0


def test_training_lowers_loss_and_resumes(tmp_path, tone):
    t = np.arange(64000) / 32000
    clips = []
    for i, f in enumerate((220, 330, 440, 550)):
        y = 0.4 * np.sin(2 * np.pi * f * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
        clips.append(save_audio(tmp_path / f"c{i}.wav", y.astype(np.float32)))
    man = tmp_path / "m.jsonl"
    from audiogen.data.manifest import Record, write_manifest

    write_manifest(
        man,
        [Record(str(p), 2.0, 32000, "test", "CC0", split="valid" if i == 0 else "train") for i, p in enumerate(clips)],
    )
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"),
        manifests=[str(man)],
        model=CodecConfig(**TINY),
        segment_seconds=0.5,
        batch_size=4,
        lr=3e-3,
        warmup_steps=1,
        max_steps=30,
        gan_start=25,
        disc_n_ffts=[256],
        disc_filters=4,
        log_every=5,
        ckpt_every=10,
        valid_every=1000,
        valid_crops=2,
        num_workers=0,
    )
    CodecTrainer(cfg).fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    mels = [r["mel"] for r in log if "mel" in r]
    assert mels[-1] < mels[0]
    assert any("disc" in r for r in log)  # the adversarial phase ran
    # resume: a new trainer continues from the checkpoint instead of starting over
    cfg.max_steps = 35
    trainer = CodecTrainer(cfg)
    assert trainer.step == 30
    trainer.fit()
    assert trainer.step == 35


def test_save_load_identical(tmp_path, tiny_codec):
    wav = torch.randn(1, 6400) * 0.1
    tiny_codec.save_pretrained(tmp_path / "c", half=False)
    back = Codec.from_pretrained(tmp_path / "c")
    assert back.model_id == tiny_codec.model_id and back.model_id.startswith("audiogen-codec-")
    torch.testing.assert_close(back.decode(back.encode(wav)), tiny_codec.decode(tiny_codec.encode(wav)))
    assert list((tmp_path / "c").iterdir()) and not list((tmp_path / "c").glob("*.part"))


def test_token_file_round_trip_and_wrong_model(tmp_path, tiny_codec, tone):
    tiny_codec.save_pretrained(tmp_path / "a")
    codec = load_codec(tmp_path / "a")
    src = save_audio(tmp_path / "in.wav", np.tile(tone, 2))
    header = encode_file(codec, src, tmp_path / "x.agc", n_q=3)
    codes, h2 = read_tokens(tmp_path / "x.agc")
    assert h2 == header and codes.shape == (3, 100) and header.num_samples == 64000
    assert torch.equal(torch.from_numpy(codes), codec.encode(torch.from_numpy(load_audio(src))[None], n_q=3)[0])
    out = decode_file(codec, tmp_path / "x.agc", tmp_path / "y.mp3")
    assert len(load_audio(out, allow_silent=True)) == 64000
    other = Codec(CodecConfig(**TINY))
    other.save_pretrained(tmp_path / "b")
    with pytest.raises(TokenFileError, match="decode with the codec that encoded them"):
        decode_file(load_codec(tmp_path / "b"), tmp_path / "x.agc", tmp_path / "z.wav")
    assert not (tmp_path / "z.wav").exists()
    (tmp_path / "bad.agc").write_bytes(b"RIFF0000")
    with pytest.raises(TokenFileError, match="not an audiogen token file"):
        read_tokens(tmp_path / "bad.agc")


def test_cli_encode_decode(tmp_path, tiny_codec, tone):
    from audiogen.cli import main

    tiny_codec.save_pretrained(tmp_path / "c")
    save_audio(tmp_path / "in.wav", tone)
    assert (
        main(
            [
                "codec",
                "encode",
                str(tmp_path / "in.wav"),
                str(tmp_path / "t.agc"),
                "--bitrate",
                "0.6",
                "--codec",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert read_tokens(tmp_path / "t.agc")[1].n_q == 2  # 0.3 kbps per 64-entry codebook
    assert (
        main(["codec", "decode", str(tmp_path / "t.agc"), str(tmp_path / "o.wav"), "--codec", str(tmp_path / "c")]) == 0
    )
    assert (
        main(
            [
                "codec",
                "encode",
                str(tmp_path / "in.wav"),
                str(tmp_path / "t.agc"),
                "--bitrate",
                "0.1",
                "--codec",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )


def test_encodec_backend_random_weights():
    torch.manual_seed(0)
    codec = EncodecBackend()
    wav = torch.randn(1, 24000) * 0.1
    codes = codec.encode(wav, n_q=codec.n_q_for_kbps(6.0))
    assert codes.shape == (1, 8, 75)
    assert codec.decode(codes).shape == (1, 24000)
    with pytest.raises(FileNotFoundError):
        EncodecBackend("missing-weights.th")


def test_frozen_token_space_trains_decoder_only(tmp_path, tiny_codec):
    x = torch.randn(2, 6400) * 0.1
    tiny_codec.save_pretrained(tmp_path / "before", half=False)
    token_space = {k: v.clone() for k, v in tiny_codec.state_dict().items() if k.startswith(("encoder.", "quantizer."))}
    dec = {k: v.clone() for k, v in tiny_codec.state_dict().items() if k.startswith("decoder.")}
    tiny_codec.train()
    opt = torch.optim.SGD(tiny_codec.parameters(), lr=0.1)
    out = tiny_codec(x, step=5, train_encoder=False)
    (out["recon"] - out["target"]).pow(2).mean().backward()
    opt.step()
    state = tiny_codec.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in token_space.items())
    assert any(not torch.equal(v, state[k]) for k, v in dec.items())
    # the model id names the token space, so it survives decoder training
    tiny_codec.save_pretrained(tmp_path / "after", half=False)
    assert Codec.from_pretrained(tmp_path / "after").model_id == Codec.from_pretrained(tmp_path / "before").model_id


def test_with_the_latent_loss_every_stage_reduces_the_residual():
    """Trained on its own, a tiny RVQ with the full-space latent loss leaves less of the latent after every stage;
    with the cosine commitment alone (the v1 recipe) the stages do not approximate their residuals."""

    def train(lambda_latent: float) -> list[float]:
        torch.manual_seed(0)
        rvq = ResidualVQ(dim=16, n_q=4, codebook_size=32, codebook_dim=4, dropout=0.0)
        opt = torch.optim.Adam(rvq.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        for step in range(300):
            z = torch.randn(8, 16, 20, generator=g) * torch.linspace(2, 0.2, 16)[None, :, None]
            out = rvq(z, step=step)
            loss = 0.25 * out["commit"] + out["codebook"] + lambda_latent * out["latent"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        rvq.eval()
        return rvq.residual_errors(torch.randn(16, 16, 20, generator=g) * torch.linspace(2, 0.2, 16)[None, :, None])

    errors = train(1.0)
    assert all(b < a for a, b in itertools.pairwise(errors)) and errors[0] < 0.9
    assert errors[-1] < 0.8 * errors[0]  # four stages carry clearly more than one
    plain = train(0.0)
    assert errors[-1] < plain[-1]


def test_pitch_loss_hears_a_semitone_that_the_mel_loss_barely_sees():
    """A chord moved up a semitone costs the mel loss less than the same chord 6 dB quieter; the chroma term tells
    the two apart."""
    from audiogen.codec.losses import PitchLoss

    t = torch.arange(32000) / 32000
    env = torch.exp(-3 * (t % 0.5))
    a = (sum(torch.sin(2 * torch.pi * f * t) for f in (110.0, 138.6, 164.8)) * env)[None]  # A2 C#3 E3
    up = (sum(torch.sin(2 * torch.pi * f * t) for f in (116.5, 146.8, 174.6)) * env)[None]  # a semitone up
    pitch, mel = PitchLoss(), MultiScaleMelLoss()
    assert float(pitch(a, a)[0]) == 0 and float(pitch(a, a)[1]) < 1e-6
    assert float(mel(up, a)) < float(mel(0.5 * a, a))  # the mel loss: the wrong notes are the smaller error
    assert float(pitch(up, a)[1]) > 0.3 and float(pitch(0.5 * a, a)[1]) < 1e-4  # chroma: only the notes count


def test_period_discriminators_join_the_stft_scales():
    from audiogen.codec.discriminator import CodecDiscriminator

    d = CodecDiscriminator((256,), filters=4, periods=(2, 3, 5))
    wav = torch.randn(2, 4001, requires_grad=True)
    logits, feats = d(wav)
    assert len(logits) == 4 and len(feats) == 4 and all(x.shape[0] == 2 for x in logits)
    sum(x.mean() for x in logits).backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all()


def sine_manifest(tmp_path) -> Path:
    """Three 1 s sines (220, 330, 440 Hz), the first held out, as a manifest: a corpus for tiny training runs."""
    from audiogen.data.manifest import Record, write_manifest

    t = np.arange(32000) / 32000
    clips = [save_audio(tmp_path / f"c{i}.wav", (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32))
             for i, f in enumerate((220, 330, 440))]  # fmt: skip
    man = tmp_path / "m.jsonl"
    write_manifest(man, [Record(str(p), 1.0, 32000, "t", "CC0", split="valid" if i == 0 else "train")
                         for i, p in enumerate(clips)])  # fmt: skip
    return man


def test_the_v2_recipe_terms_train(tmp_path):
    man = sine_manifest(tmp_path)
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(man)], model=CodecConfig(**TINY), segment_seconds=0.5,
        batch_size=2, lr=3e-3, warmup_steps=1, max_steps=6, gan_start=3, disc_n_ffts=[256], disc_filters=4,
        disc_periods=[2, 3], lambda_latent=1.0, lambda_pitch=1.0, lambda_chroma=1.0, log_every=1, ckpt_every=3,
        valid_every=1000, valid_crops=1, num_workers=0,
    )  # fmt: skip
    CodecTrainer(cfg).fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    last = [r for r in log if "mel" in r][-1]  # the last training line (validation lines follow)
    assert all(k in last for k in ("pitch", "chroma", "latent", "disc"))


def test_a_new_decoder_for_the_same_token_space(tmp_path, tiny_codec):
    """init_from + freeze_encoder_at=0: only the decoder learns, so the model id (the token space) is unchanged."""
    man = sine_manifest(tmp_path)
    tiny_codec.save_pretrained(tmp_path / "start", half=False)
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(man)], model=CodecConfig(**TINY), segment_seconds=0.5,
        batch_size=2, lr=3e-3, warmup_steps=1, max_steps=4, gan_start=100, freeze_encoder_at=0,
        init_from=str(tmp_path / "start"), lambda_chroma=1.0, log_every=2, ckpt_every=2, valid_every=1000,
        valid_crops=1, num_workers=0,
    )  # fmt: skip
    trainer = CodecTrainer(cfg)
    trainer.fit()
    model = trainer.acc.unwrap_model(trainer.model)
    model.save_pretrained(tmp_path / "out", half=False)
    new, old = Codec.from_pretrained(tmp_path / "out"), Codec.from_pretrained(tmp_path / "start")
    assert new.model_id == old.model_id  # the same token space
    assert new.cfg.decoder_id and new.name != old.name  # a new decoder, named apart in benchmarks
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("valid_chroma_cos_q4" in r for r in log)


def test_a_phase_rate_decoder_starts_as_the_codec_it_is_initialised_from(tmp_path):
    torch.manual_seed(3)
    start = Codec(CodecConfig(**TINY, phase_ref="time")).eval()
    start.save_pretrained(tmp_path / "start", half=False)
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(sine_manifest(tmp_path))],
        model=CodecConfig(**TINY, phase_ref="time", phase_rate=True), max_steps=1, freeze_encoder_at=0,
        init_from=str(tmp_path / "start"), num_workers=0,
    )  # fmt: skip
    trainer = CodecTrainer(cfg)
    grown = trainer.acc.unwrap_model(trainer.model).eval()
    assert grown.decoder.head.proj.weight.shape[0] == 3 * 641
    codes = torch.randint(0, TINY["codebook_size"], (1, TINY["n_q"], 30))
    torch.testing.assert_close(grown.decode(codes), start.decode(codes))


def test_pitch_features_tell_a_semitone_apart_where_the_codec_stft_cannot():
    """Two notes a semitone apart (A3, Bb3: 220 / 233 Hz, 13 Hz apart) peak in the same 25 Hz bin of the codec's
    1280-point STFT and look alike there, while the pitch front end puts them 3 bins (one semitone) apart."""
    from audiogen.codec.modules import PitchFeatures, STFTFeatures, log_frequency_filterbank

    fb = log_frequency_filterbank(4096, 32000)
    assert fb.shape == (252, 2049) and torch.allclose(fb.sum(1), torch.ones(252), atol=1e-5)
    t = torch.arange(32000) / 32000
    a, b = (torch.sin(2 * torch.pi * f * t)[None] for f in (220.0, 220.0 * 2 ** (1 / 12)))
    pitch, stft = PitchFeatures(32000, 320, 252), STFTFeatures(1280, 320)

    def look(m, x):  # the magnitude profile of the middle frame
        return m(x)[0, :, 50].exp()

    assert [int(look(pitch, x).argmax()) for x in (a, b)] == [99, 102]  # A3 is 33 semitones above C1
    assert int(look(stft, a).argmax()) == int(look(stft, b).argmax())
    similarity = [torch.nn.functional.cosine_similarity(look(m, a), look(m, b), dim=0) for m in (pitch, stft)]
    assert similarity[0] < 0.7 < 0.85 < similarity[1]
    with pytest.raises(ValueError, match="multiple of 12"):
        CodecConfig(pitch_bins=100)


def test_a_codec_with_the_pitch_input_starts_as_the_codec_it_is_initialised_from(tmp_path, tiny_codec):
    man = sine_manifest(tmp_path)
    tiny_codec.save_pretrained(tmp_path / "start", half=False)
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(man)], model=CodecConfig(**TINY, pitch_bins=84),
        segment_seconds=0.5, batch_size=2, lr=3e-3, warmup_steps=1, max_steps=2, gan_start=100,
        init_from=str(tmp_path / "start"), log_every=1, ckpt_every=100, valid_every=1000, valid_crops=1,
        num_workers=0,
    )  # fmt: skip
    trainer = CodecTrainer(cfg)
    model = trainer.acc.unwrap_model(trainer.model).eval()
    x = torch.randn(2, 6400) * 0.1
    with torch.no_grad():
        assert torch.equal(model.encoder(x), tiny_codec.encoder(x))
    trainer.fit()  # and the new input learns
    assert trainer.acc.unwrap_model(trainer.model).encoder.pitch_inp.weight.abs().sum() > 0
    out = trainer.acc.unwrap_model(trainer.model).save_pretrained(tmp_path / "out", half=False)
    again = Codec.from_pretrained(out)
    assert again.cfg.pitch_bins == 84 and again.encode(x).shape == (2, 4, 10)


def test_a_decoder_reading_the_plans_chords_starts_as_the_one_it_is_initialised_from_and_learns_them(tmp_path):
    torch.manual_seed(4)
    start = Codec(CodecConfig(**TINY)).eval()
    start.save_pretrained(tmp_path / "start", half=False)
    cfg = CodecTrainConfig(
        run_dir=str(tmp_path / "run"), manifests=[str(sine_manifest(tmp_path))],
        model=CodecConfig(**TINY, decoder_controls=26), segment_seconds=0.5, batch_size=2, lr=3e-3, warmup_steps=1,
        max_steps=3, gan_start=100, freeze_encoder_at=0, init_from=str(tmp_path / "start"), lambda_chroma=1.0,
        log_every=1, ckpt_every=10, valid_every=3, valid_crops=1, num_workers=0,
    )  # fmt: skip
    trainer = CodecTrainer(cfg)
    model = trainer.acc.unwrap_model(trainer.model)
    codes = torch.randint(0, TINY["codebook_size"], (1, TINY["n_q"], 30))
    chords = torch.zeros(1, 30, 35)
    chords[:, :, [0, 4, 7, 12]] = 1.0  # C major, present
    model.eval()
    torch.testing.assert_close(model.decode(codes, chords), start.decode(codes))  # zero-initialised: no change yet
    with torch.no_grad():
        _perturbed_decoder(model)
        ref = model.decoder.reference_forward(model.quantizer.decode_frames(codes).transpose(1, 2), chords)
        _assert_close_to_max(model.decode(codes, chords), ref)
        assert not torch.allclose(model.decode(codes, chords), model.decode(codes))
        _assert_close_to_max(model.decode(codes, chords[:, :20]), model.decode(codes, torch.cat([chords[:, :20],
                             torch.zeros(1, 10, 35)], 1)))  # fmt: skip
    with pytest.raises(ValueError, match="decoder controls"):
        model.decode(codes, torch.zeros(1, 30, 5))
    model.train()
    trainer.fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("valid_chroma_cos_q4_controls" in r for r in log)
    assert trainer.crop_controls(torch.zeros(2, 16000), dropout=1.0).abs().sum() == 0
    with pytest.raises(ValueError, match="decoder_controls"):
        CodecConfig(decoder_controls=36)
