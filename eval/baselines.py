"""Reference codecs for the codec benchmark: Opus and MP3 through libsndfile (the one bundled with soundfile),
and the EnCodec 24 kHz architecture (random weights) as a speed anchor.

No external tools are needed: soundfile's libsndfile 1.2 encodes Ogg/Opus (its compression level maps linearly
onto 256..6 kbps) and MPEG layer III (the level maps onto the bitrate range of the MPEG version the sample rate
selects: 320..32 kbps at 32-48 kHz, 160..8 at 16-24 kHz, 64..8 at 8-12 kHz). Every round trip reports the bitrate
actually spent, from the encoded file's size.

libopus picks the audio band it codes itself (libsndfile exposes no bandwidth setting, and ffmpeg's libopus makes
the same choice): on mono music at 12 kbps it codes 0-8 kHz (SILK wideband), at 6 kbps 0-4 kHz (SILK narrowband),
not the full band. The Opus round trip reports that band, read from the TOC byte of every packet (RFC 6716, 3.1).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

OPUS_RATE = 48000
OPUS_KBPS = (6.0, 256.0)  # libsndfile's Opus bitrate range (compression level 1 .. 0)
MP3_RANGES = {  # lowest sample rate of an MPEG version -> (max, min) kbps
    32000: (320.0, 32.0),
    16000: (160.0, 8.0),
    8000: (64.0, 8.0),
}
# Lowest MP3 bitrates benchmarked and the sample rate each is encoded at: per bitrate, the MPEG rate with the lowest
# mel distance on valid-split music (a lower rate trades bandwidth for fewer coding artefacts).
MP3_SETTINGS = ((8, 12000), (16, 11025), (24, 12000), (32, 22050))
OPUS_BANDS_HZ = (4000, 6000, 8000, 12000, 20000)  # audio bandwidth of NB, MB, WB, SWB, FB Opus packets


@dataclass
class RoundTrip:
    """Decoded audio ``(T,)`` at the caller's rate, the bitrate the encoded stream actually used and, where the
    stream says it, the widest audio band (Hz) it codes."""

    audio: np.ndarray
    kbps: float
    bandwidth_hz: int | None = None


def _ogg_packets(data: bytes) -> list[bytes]:
    """The packets of a single-stream Ogg file, in order."""
    packets, packet, pos = [], b"", 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS" or pos + 27 > len(data):
            raise ValueError(f"not an Ogg page at byte {pos}")
        lacing = data[pos + 27 : pos + 27 + data[pos + 26]]
        pos += 27 + len(lacing)
        for size in lacing:
            packet += data[pos : pos + size]
            pos += size
            if size < 255:
                packets.append(packet)
                packet = b""
    return packets


def opus_bandwidth(ogg: bytes) -> int:
    """The widest audio bandwidth (Hz: 4000 narrowband .. 20000 fullband) that any audio packet of the Ogg/Opus
    stream ``ogg`` codes, from the configuration number in each packet's TOC byte (RFC 6716, section 3.1)."""
    packets = _ogg_packets(ogg)
    if not packets or not packets[0].startswith(b"OpusHead"):
        raise ValueError("not an Ogg/Opus stream")
    widest = 0
    for packet in packets[2:]:  # after the OpusHead and OpusTags headers
        if not packet:
            continue
        config = packet[0] >> 3
        if config < 12:  # SILK only: NB, MB, WB
            band = config // 4
        elif config < 16:  # hybrid: SWB, FB
            band = 3 + (config - 12) // 2
        else:  # CELT only: NB, WB, SWB, FB
            band = (0, 2, 3, 4)[(config - 16) // 4]
        widest = max(widest, OPUS_BANDS_HZ[band])
    return widest


def _resample(audio: np.ndarray, orig: int, target: int) -> np.ndarray:
    from audiogen.audio import resample

    return resample(audio, orig, target)


def opus_roundtrip(audio: np.ndarray, sample_rate: int, kbps: float = 6.0) -> RoundTrip:
    """Encode mono ``audio`` ``(T,)`` to Ogg/Opus at about ``kbps`` (48 kHz inside) and decode it back to
    ``sample_rate``. ``kbps`` must lie in [6, 256]. The result carries the audio band the encoder chose to code
    (``bandwidth_hz``); the decoder drops the pre-skip, so the output is aligned with the input."""
    import soundfile as sf

    lo, hi = OPUS_KBPS
    if not lo <= kbps <= hi:
        raise ValueError(f"Opus bitrate must be in [{lo:g}, {hi:g}] kbps, got {kbps}")
    level = (hi - kbps) / (hi - lo)
    x = _resample(audio, sample_rate, OPUS_RATE)
    buf = io.BytesIO()
    sf.write(buf, x, OPUS_RATE, format="OGG", subtype="OPUS", compression_level=level)
    spent = len(buf.getvalue()) * 8 / (len(x) / OPUS_RATE) / 1000
    band = opus_bandwidth(buf.getvalue())
    buf.seek(0)
    y, sr = sf.read(buf, dtype="float32")
    return RoundTrip(_resample(y.reshape(len(y), -1).mean(1), sr, sample_rate), spent, band)


def mp3_roundtrip(audio: np.ndarray, sample_rate: int, kbps: float, mp3_rate: int) -> RoundTrip:
    """Encode mono ``audio`` ``(T,)`` as constant-bitrate MP3 at ``kbps``, resampled to ``mp3_rate`` first, and
    decode it back to ``sample_rate``. ``mp3_rate`` is an MPEG rate (8000..48000); ``kbps`` must be in the range of
    the MPEG version that rate selects (see :data:`MP3_RANGES`)."""
    import soundfile as sf

    allowed = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    if mp3_rate not in allowed:
        raise ValueError(f"MP3 sample rate must be one of {allowed}, got {mp3_rate}")
    hi, lo = MP3_RANGES[max(r for r in MP3_RANGES if r <= mp3_rate)]
    if not lo <= kbps <= hi:
        raise ValueError(f"MP3 at {mp3_rate} Hz allows {lo:g}..{hi:g} kbps, got {kbps}")
    level = min(max((hi - kbps - 0.5) / (hi - lo), 0.0), 0.9999)  # +0.5 kbps: libsndfile rounds the rate down
    x = _resample(audio, sample_rate, mp3_rate)
    buf = io.BytesIO()
    sf.write(buf, x, mp3_rate, format="MP3", subtype="MPEG_LAYER_III", compression_level=level, bitrate_mode="CONSTANT")
    spent = len(buf.getvalue()) * 8 / (len(x) / mp3_rate) / 1000
    buf.seek(0)
    y, sr = sf.read(buf, dtype="float32")
    return RoundTrip(_resample(y.reshape(len(y), -1).mean(1), sr, sample_rate), spent)


def encodec_24khz_random():
    """The ``encodec`` package's 24 kHz model with random weights (no download): the speed anchor.

    Returns ``(model, sample_rate, bandwidth_kbps)`` with the lowest bandwidth (1.5 kbps, 2 codebooks) set.
    """
    from encodec import EncodecModel

    model = EncodecModel.encodec_model_24khz(pretrained=False)
    model.set_target_bandwidth(1.5)
    return model.eval(), 24000, 1.5
