"""The Opus baseline of the codec benchmark: aligned with its input, and honest about the band it codes.

libopus picks its coded band itself: at 12 kbps on mono music it codes 0-8 kHz only. The benchmark's mel distance
weighs every mel band up to 16 kHz alike, so the missing bands dominated the Opus rows while the tables called them
full band; these tests pin the band read from the stream, the alignment and the in-band distance."""

import numpy as np
import pytest

from audiogen.eval import codec_bench
from audiogen.eval.baselines import OPUS_BANDS_HZ, opus_bandwidth, opus_roundtrip
from audiogen.eval.metrics import align, codec_distances

SR = 32000


def music(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Notes with harmonics up to 14 kHz, a changing envelope and a little noise, ``(T,)`` float32 at -20 dBFS RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    for k, f0 in enumerate((220.0, 277.18, 329.63, 440.0)):
        env = np.clip(np.sin(2 * np.pi * (0.5 + 0.2 * k) * t + k), 0, None)
        x += env * sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in range(1, int(14000 / f0)))
    x += 0.02 * rng.standard_normal(t.size)
    return (x * 0.1 / np.sqrt(np.mean(x**2))).astype(np.float32)


def lag(reference: np.ndarray, estimate: np.ndarray, max_lag: int = 2000) -> int:
    """The shift (samples) of ``estimate`` against ``reference`` that maximises their cross-correlation."""
    lags = np.arange(-max_lag, max_lag + 1)
    n = len(reference) - 2 * max_lag
    ref = reference[max_lag : max_lag + n]
    return int(lags[np.argmax([np.dot(ref, estimate[max_lag + k : max_lag + k + n]) for k in lags])])


def band_energy(audio: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def ogg_page(packets: list[bytes], serial: int = 1, seq: int = 0) -> bytes:
    """One Ogg page holding ``packets`` (each under 255 bytes; the CRC is not checked by the parser)."""
    lacing = bytes(len(p) for p in packets)
    header = b"OggS" + bytes(2) + bytes(8) + serial.to_bytes(4, "little") + seq.to_bytes(4, "little") + bytes(4)
    return header + bytes([len(lacing)]) + lacing + b"".join(packets)


def test_opus_bandwidth_reads_the_toc_of_every_packet():
    head = ogg_page([b"OpusHead" + bytes(11)]) + ogg_page([b"OpusTags" + bytes(8)], seq=1)
    for config, band in ((1, 4000), (5, 6000), (9, 8000), (12, 12000), (15, 20000), (17, 4000), (22, 8000),
                         (26, 12000), (31, 20000)):  # fmt: skip
        assert opus_bandwidth(head + ogg_page([bytes([config << 3, 0])], seq=2)) == band
    # the widest packet counts; an empty (DTX) packet has no TOC
    assert opus_bandwidth(head + ogg_page([bytes([1 << 3]), b"", bytes([9 << 3]), bytes([2 << 3])], seq=2)) == 8000
    with pytest.raises(ValueError, match="not an Ogg"):
        opus_bandwidth(b"RIFF" + bytes(40))


@pytest.mark.parametrize("kbps", [6.0, 12.0])
def test_opus_round_trip_is_aligned_and_reports_the_band_it_codes(kbps):
    x = music()
    trip = opus_roundtrip(x, SR, kbps)
    assert len(trip.audio) == len(x)
    assert abs(lag(x, trip.audio)) <= 3  # the decoder drops the 312-sample pre-skip: no delay left to undo
    band = trip.bandwidth_hz
    assert band in OPUS_BANDS_HZ and band < SR // 2  # libopus does not code the full band at these rates
    # the band it reports is the band it codes: (almost) nothing above it, most of the input's energy below it
    above = band_energy(trip.audio, band + 500, SR / 2) / band_energy(x, band + 500, SR / 2)
    below = band_energy(trip.audio, 50, band - 500) / band_energy(x, 50, band - 500)
    assert above < 0.02 and 0.5 < below < 1.5
    # inside its band Opus is close; over the whole band the bands it leaves out dominate the mel distance
    low = codec_bench.LOW_BAND_RATE
    if band >= low // 2:
        from audiogen.audio import resample

        y = align(x, trip.audio)
        inband = codec_distances(resample(x, SR, low)[None], resample(y, SR, low)[None], low)["mel"]
        full = codec_distances(x[None], y[None])["mel"]
        assert inband < 0.5 and full > inband + 0.2  # 0.38 and 0.68 here


def test_benchmark_rows_name_the_opus_band_and_score_the_low_band():
    clips = np.stack([music(2.0, seed) for seed in (0, 1)])
    rows = codec_bench.quality_rows(None, clips, None, log=lambda *_: None)
    opus = [r for r in rows if r["system"].startswith("Opus")]
    assert [r["system"] for r in opus] == [
        "Opus 6 kbps (libopus, 48 kHz), codes 0-4 kHz",
        "Opus 12 kbps (libopus, 48 kHz), codes 0-8 kHz",
    ]
    assert all(0 <= r["mel_8k"] < r["mel"] for r in opus)
    assert not any("codes" in r["system"] for r in rows if r["system"].startswith("MP3"))
    text = "\n".join(
        codec_bench.section_lines(
            {"model_id": "m", "clips": 2, "seconds": 2.0, "date": "d", "machine": "m", "command": "c", "took_s": 1.0},
            rows,
            [],
        )
    )
    assert "full band" not in text.replace("not the full band", "") and "mel distance 0-8 kHz" in text
