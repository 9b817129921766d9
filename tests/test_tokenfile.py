"""Token files: bit packing, the file size is the bitrate, old files still read, damaged files refused cleanly."""

import numpy as np
import pytest

from audiogen.codec.tokenfile import (
    TokenFileError,
    TokenHeader,
    pack_codes,
    read_tokens,
    unpack_codes,
    write_tokens,
    write_tokens_v1,
)


def header(n_q=4, frames=500, card=1024) -> TokenHeader:
    return TokenHeader("audiogen-codec-0123456789ab", 32000, 50.0, n_q, card, frames * 640, frames)


@pytest.mark.parametrize("card", [2, 64, 1000, 1024, 4096, 65536])
def test_packing_round_trips_at_the_information_size(card):
    rng = np.random.default_rng(card)
    codes = rng.integers(0, card, (3, 77))
    bits = header(card=card).bits
    data = pack_codes(codes, bits)
    assert len(data) == -(-3 * 77 * bits // 8) and bits == int(np.ceil(np.log2(card)))
    assert np.array_equal(unpack_codes(data, 3, 77, bits), codes)


@pytest.mark.parametrize("n_q,seconds", [(2, 10), (4, 10), (8, 10), (1, 20), (4, 60)])
def test_file_size_matches_the_nominal_bitrate_within_three_percent(tmp_path, n_q, seconds):
    h = header(n_q=n_q, frames=50 * seconds)
    codes = np.random.default_rng(0).integers(0, 1024, (n_q, h.frames))
    path = write_tokens(tmp_path / "t.agc", codes, h)
    kbps = path.stat().st_size * 8 / seconds / 1000
    nominal = 50 * n_q * 10 / 1000
    assert abs(kbps - nominal) / nominal < 0.03
    back, h2 = read_tokens(path)
    assert np.array_equal(back, codes) and h2 == h
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # the usual permissions, like the audio files


def test_version_1_files_still_read(tmp_path):
    h = header(frames=40)
    codes = np.random.default_rng(1).integers(0, 1024, (4, 40))
    back, h2 = read_tokens(write_tokens_v1(tmp_path / "old.agc", codes, h))
    assert np.array_equal(back, codes) and h2 == h


def test_damaged_and_hostile_files_end_in_a_clear_error(tmp_path):
    h = header(frames=100)
    codes = np.random.default_rng(2).integers(0, 1024, (4, 100))
    good = write_tokens(tmp_path / "good.agc", codes, h).read_bytes()
    flipped = bytearray(good)
    flipped[-10] ^= 0xFF
    cases = {
        "flip": (bytes(flipped), "checksum"),
        "cut": (good[:-7], "truncated"),
        "version": (good[:3] + b"\x09" + good[4:], "version 9"),
        "magic": (b"RIFF" + good[4:], "bad magic"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / f"{name}.agc").write_bytes(data)
        with pytest.raises(TokenFileError, match=message):
            read_tokens(tmp_path / f"{name}.agc")
    huge = TokenHeader("x", 32000, 50.0, 4, 1024, 0, 10**9)  # a header asking for 10^9 frames
    with pytest.raises(TokenFileError, match="frames"):
        write_tokens(tmp_path / "huge.agc", np.zeros((4, 0)), huge)
    zero = header(n_q=1, frames=0)
    old = write_tokens_v1(tmp_path / "zero.agc", np.zeros((1, 0)), zero).read_bytes()
    (tmp_path / "zero.agc").write_bytes(old.replace(b'"n_q": 1', b'"n_q": 0'))
    with pytest.raises(TokenFileError, match="n_q"):
        read_tokens(tmp_path / "zero.agc")
    big_code = header(n_q=1, frames=4, card=1000)
    path = write_tokens(tmp_path / "ok.agc", np.array([[0, 1, 2, 999]]), big_code)
    data = bytearray(path.read_bytes())
    data[-2:] = b"\xff\xff"  # a code of 1023 in a 1000-entry codebook (and a checksum mismatch)
    path.write_bytes(bytes(data))
    with pytest.raises(TokenFileError):
        read_tokens(path)


def test_fuzzed_token_files_end_in_a_result_or_a_clear_error(tmp_path):
    """A seeded corpus of mutated files: every one is read or refused with TokenFileError, quickly."""
    import time

    rng = np.random.default_rng(7)
    seeds = [write_tokens(tmp_path / "a.agc", rng.integers(0, 1024, (4, 60)), header(frames=60)).read_bytes(),
             write_tokens_v1(tmp_path / "b.agc", rng.integers(0, 1024, (2, 30)), header(n_q=2, frames=30)).read_bytes()]
    t0 = time.perf_counter()
    for i in range(400):
        data = bytearray(seeds[i % 2])
        for _ in range(int(rng.integers(1, 6))):
            op = rng.integers(0, 3)
            pos = int(rng.integers(0, len(data)))
            if op == 0:
                data[pos] = int(rng.integers(0, 256))
            elif op == 1:
                del data[pos : pos + int(rng.integers(1, 40))]
            else:
                data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
        (tmp_path / "f.agc").write_bytes(bytes(data))
        try:
            codes, h = read_tokens(tmp_path / "f.agc")
            assert codes.shape == (h.n_q, h.frames) and (codes.size == 0 or codes.max() < h.codebook_size)
        except TokenFileError:
            pass
    assert time.perf_counter() - t0 < 60
