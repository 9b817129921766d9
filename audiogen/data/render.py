"""MIDI → 32 kHz mono audio through a SoundFont synthesizer, trimmed to an exact length and levelled.

The default renderer needs nothing outside PyPI: ``midirenderer`` (a Rust SoundFont synthesizer, rustysynth) with
the General MIDI SoundFont that ``pretty_midi`` ships (TimGM6mb, GPL-2.0). Any other SF2 file can be passed instead,
e.g. FluidR3_GM (MIT), which Debian's ``fluid-soundfont-gm`` package holds and which ``apt-get download`` +
``dpkg-deb -x`` extract without installing anything. SF3 (compressed) SoundFonts are not supported.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from audiogen.audio import SAMPLE_RATE, resample

# Licences of SoundFonts we know, by file name (lower case).
SOUNDFONT_LICENCES = {
    "timgm6mb.sf2": "GPL-2.0 (TimGM6mb SoundFont, shipped with pretty_midi)",
    "fluidr3_gm.sf2": "MIT (FluidR3_GM SoundFont)",
}
_END_CONTROLLER = 110  # an undefined MIDI controller: a harmless event that makes the synth render to the end


def default_soundfont() -> Path:
    """The General MIDI SoundFont inside the ``pretty_midi`` package (TimGM6mb.sf2)."""
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def soundfont_licence(path: str | os.PathLike) -> str:
    """Licence text for a SoundFont we know; unknown files are reported as such (record their licence yourself)."""
    return SOUNDFONT_LICENCES.get(Path(path).name.lower(), f"unknown ({Path(path).name}: check its licence)")


def check_soundfont(path: str | os.PathLike) -> Path:
    """Check ``path`` is a readable SF2 file; return it as a Path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SoundFont {path} not found; pass an .sf2 file (default: {default_soundfont()})")
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ValueError(f"{path} is not an SF2 SoundFont (RIFF 'sfbk' header missing)")
    return path


@lru_cache(maxsize=4)
def _soundfont_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def midi_bytes(pm: pretty_midi.PrettyMIDI, until: float) -> bytes:
    """Standard MIDI file bytes of ``pm`` with a silent controller event at ``until`` seconds.

    The synthesizer stops at the file's last event, so the marker makes it render the release of the last notes
    up to ``until``. ``pm`` is left unchanged.
    """
    if not pm.instruments:
        raise ValueError("the MIDI holds no instruments; nothing to render")
    marker = pretty_midi.ControlChange(_END_CONTROLLER, 0, float(until))
    inst = pm.instruments[0]
    inst.control_changes.append(marker)
    try:
        buf = io.BytesIO()
        pm.write(buf)
    finally:
        inst.control_changes.remove(marker)
    return buf.getvalue()


def render_midi(
    midi: pretty_midi.PrettyMIDI | bytes,
    duration: float,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = SAMPLE_RATE,
    fade: float = 0.05,
) -> np.ndarray:
    """Synthesize ``midi`` to mono float32 of exactly ``round(duration * sample_rate)`` samples.

    Args:
        midi: a PrettyMIDI (a marker at ``duration`` is added so release tails are rendered) or MIDI file bytes.
        duration: the length of the result in seconds; longer renders are cut, shorter ones padded with silence.
        soundfont: an SF2 file (default: :func:`default_soundfont`).
        sample_rate: output rate (the synthesizer runs at 48 kHz; the result is resampled).
        fade: seconds of raised-cosine fade-out at the end, so a cut never clicks.

    Returns:
        ``(T,)`` float32, the synthesizer's level (not normalised; see :func:`normalise`).
    """
    import midirenderer

    if duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    sf_path = check_soundfont(soundfont or default_soundfont())
    data = midi_bytes(midi, duration) if isinstance(midi, pretty_midi.PrettyMIDI) else bytes(midi)
    try:
        wav = midirenderer.render_wave_from(_soundfont_bytes(str(sf_path)), data)
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"the synthesizer could not render this MIDI with {sf_path.name}: {err}") from err
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    audio = resample(audio.mean(axis=1), sr, sample_rate)
    n = int(round(duration * sample_rate))
    audio = np.pad(audio[:n], (0, max(0, n - len(audio))))
    k = min(n, int(fade * sample_rate))
    if k > 1:
        audio[n - k :] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, k))).astype(np.float32)
    return audio.astype(np.float32, copy=False)


def loudness_target(velocity: float) -> float:
    """Integrated loudness (LUFS) for a piece of mean MIDI velocity ``velocity``: -25 LUFS at 30 to -15 at 110.

    Keeping soft pieces quieter than loud ones preserves loudness as the arousal cue it is in real music, while
    every file still lands in a usable range.
    """
    return float(np.clip(-25.0 + (velocity - 30.0) / 8.0, -25.0, -15.0))


def normalise(audio: np.ndarray, target_lufs: float, sample_rate: int = SAMPLE_RATE, ceiling: float = 0.89):
    """Scale ``audio`` ``(T,)`` to ``target_lufs`` integrated loudness, then down so its peak stays <= ``ceiling``.

    Returns ``(audio (T,) float32, info)`` with ``info`` = measured loudness before/after, gain (dB), peak.
    Raises ``ValueError`` when the audio is silent.
    """
    import pyloudnorm

    peak_in = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak_in < 1e-5:
        raise ValueError("the rendered audio is silent")
    meter = pyloudnorm.Meter(sample_rate)
    before = float(meter.integrated_loudness(audio.astype(np.float64)))
    gain_db = target_lufs - before if np.isfinite(before) else 0.0
    out = audio * np.float32(10 ** (gain_db / 20))
    peak = float(np.max(np.abs(out)))
    if peak > ceiling:
        out *= np.float32(ceiling / peak)
        gain_db += 20 * np.log10(ceiling / peak)
        peak = ceiling
    after = float(meter.integrated_loudness(out.astype(np.float64)))
    info = {
        "lufs_raw": round(before, 2),
        "lufs": round(after, 2),
        "gain_db": round(float(gain_db), 2),
        "peak": round(peak, 4),
        "raw_peak": round(peak_in, 4),
    }
    return out.astype(np.float32, copy=False), info
