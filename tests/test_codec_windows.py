"""Token files decode in windows: the same audio as one piece, with memory bounded by the window, not the length."""

import struct
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.audio import resample
from audiogen.cli import main
from audiogen.codec.cli import StreamResampler, crossfaded_windows, decode_file
from audiogen.codec.model import Codec, CodecConfig, Decoder
from audiogen.codec.tokenfile import MAGIC, TokenFileError, TokenHeader, open_tokens, read_tokens, write_tokens

SMALL = dict(enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16, up_layers=1, n_q=4,
             codebook_size=64, codebook_dim=4)  # fmt: skip
HEADS = {
    "v1 (frame phase)": {},
    "v2.1 (time phase, running rate)": dict(phase_ref="time", phase_rate=True),
    "v1.2 (reads the plan's controls)": dict(phase_ref="time", phase_rate=True, decoder_controls=5),
    "v3 (magnitude, rebuilt phase)": dict(head="magnitude", synth_n_fft=1024),
}


def tiny(**kw) -> Codec:
    """A tiny codec whose decoder weights are shaken, so every layer (and the running phase) matters."""
    torch.manual_seed(0)
    codec = Codec(CodecConfig(**SMALL, **kw)).eval()
    with torch.no_grad():
        for p in codec.decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return codec


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("window", [1, 7, 40, 400])
def test_windowed_decode_equals_the_whole_decode(head, window):
    codec = tiny(**HEADS[head])
    frames = 173
    codes = torch.randint(0, 64, (2, 3, frames), generator=torch.Generator().manual_seed(1))
    controls = torch.rand(2, frames, 5) if "controls" in head else None
    whole = codec.decode(codes, controls)
    calls = []

    def read(a, b):
        calls.append(b - a)
        return codes[..., a:b]

    pieces = list(codec.decode_windows(read, frames, window, controls))
    assert [p.shape[-1] for p in pieces[:-1]] == [window * 640] * (len(pieces) - 1)
    out = torch.cat(pieces, -1)
    assert out.shape == whole.shape
    assert (out - whole).abs().max() <= 1e-5 * whole.abs().max()
    assert max(calls) <= window + 2 * codec.decoder.context_frames  # never more than a window and its context


def test_the_context_is_what_makes_windows_exact(monkeypatch):
    codec = tiny(phase_ref="time", phase_rate=True)
    codes = torch.randint(0, 64, (1, 4, 120), generator=torch.Generator().manual_seed(2))
    whole = codec.decode(codes)
    monkeypatch.setattr(Decoder, "context_frames", property(lambda self: 2))  # too little context: seams
    out = torch.cat(list(codec.decode_windows(lambda a, b: codes[..., a:b], 120, 30)), -1)
    assert (out - whole).abs().max() > 1e-3 * whole.abs().max()


def write_codes(path, codec, codes: np.ndarray, num_samples=None):
    header = TokenHeader(codec.model_id, 32000, 50.0, codes.shape[0], codec.codebook_size,
                         codes.shape[1] * 640 if num_samples is None else num_samples, codes.shape[1])  # fmt: skip
    return write_tokens(path, codes, header)


def test_decode_file_writes_window_by_window_what_the_whole_decode_gives(tmp_path, monkeypatch):
    codec = tiny(phase_ref="time", phase_rate=True)
    codes = np.random.default_rng(3).integers(0, 64, (4, 523))
    src = write_codes(tmp_path / "t.agc", codec, codes, num_samples=523 * 640 - 100)
    whole = codec.decode(torch.from_numpy(codes)[None])[0, : 523 * 640 - 100].numpy()
    seen = []
    real = Decoder.infer_features

    def spy(self, z, controls=None):
        seen.append(z.shape[1])
        return real(self, z, controls)

    monkeypatch.setattr(Decoder, "infer_features", spy)
    out = decode_file(codec, src, tmp_path / "t.wav", window=50)
    assert len(seen) == 11 and max(seen) <= 50 + 2 * codec.decoder.context_frames  # the decoder saw windows only
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 32000 and audio.shape == whole.shape
    assert np.abs(audio - np.clip(whole, -1, 1)).max() < 2e-4  # 16-bit rounding
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.agc", "t.wav"]  # no temporary left


def test_token_files_longer_than_three_hours_are_refused_before_any_work(tmp_path):
    # a 21.6 MB file of 24 h at 4 codebooks of 1024 used to pass every check and ask for tens of GB
    frames, n_q, bits = 50 * 3600 * 24, 4, 10
    fixed = struct.pack("<IfBHII", 32000, 50.0, n_q, 1023, frames * 640 % 2**32, frames)
    body = bytes((frames * n_q * bits + 7) // 8)
    path = tmp_path / "day.agc"
    path.write_bytes(MAGIC + b"\x02" + b"\x00" + bytes(6) + fixed + struct.pack("<I", zlib.crc32(body)) + body)
    assert 21e6 < path.stat().st_size < 22e6
    with pytest.raises(TokenFileError, match=r"holds 24\.0 h of audio; token files hold at most 3 h"):
        open_tokens(path)
    rc = main(["codec", "decode", str(path), str(tmp_path / "day.wav")])
    assert rc == 2 and not (tmp_path / "day.wav").exists()


def test_a_stretch_of_a_token_file_unpacks_as_the_whole_does(tmp_path):
    codec = tiny()
    codes = np.random.default_rng(4).integers(0, 64, (3, 301))
    tokens = open_tokens(write_codes(tmp_path / "s.agc", codec, codes))
    for a, b in ((0, 301), (0, 1), (17, 18), (5, 250), (300, 301), (120, 120)):
        assert np.array_equal(tokens.codes(a, b), codes[:, a:b])
    assert np.array_equal(read_tokens(tmp_path / "s.agc")[0], codes)


def test_stream_resampling_equals_resampling_at_once():
    x = np.random.default_rng(5).standard_normal(24000 * 3).astype(np.float32)
    for orig, target in ((24000, 32000), (44100, 32000), (32000, 32000)):
        y = resample(x[: orig * 2], orig, target)
        stream = StreamResampler(orig, target)
        pieces = [stream(x[a : min(a + 7001, orig * 2)]) for a in range(0, orig * 2, 7001)] + [stream.flush()]
        out = np.concatenate(pieces)
        assert out.shape == y.shape and np.abs(out - y).max() < 1e-4


class WholeOnly:
    """A codec backend with only ``decode`` (like EnCodec): decoded in crossfaded windows."""

    def __init__(self, codec: Codec):
        self.codec, self.sample_rate, self.frame_rate = codec, codec.sample_rate, codec.frame_rate

    def decode(self, codes):
        return self.codec.decode(codes)


def test_a_codec_without_its_own_windows_is_crossfaded_window_by_window():
    codec = tiny()
    codes = torch.randint(0, 64, (1, 4, 260), generator=torch.Generator().manual_seed(6))
    whole = codec.decode(codes)
    calls = []

    def read(a, b):
        calls.append(b - a)
        return codes[..., a:b]

    out = torch.cat(list(crossfaded_windows(WholeOnly(codec), read, 260, 60)), -1)
    assert out.shape == whole.shape and max(calls) <= 60 + 2 * 50
    assert (out - whole).abs().max() <= 1e-5 * whole.abs().max()  # a convolutional decoder: one second is plenty
