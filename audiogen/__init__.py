"""audiogen: emotion- and style-controllable music generation that writes finished MP3s."""

__version__ = "0.1.0"

from audiogen.audio import SAMPLE_RATE, AudioError, load_audio, save_audio

__all__ = ["SAMPLE_RATE", "AudioError", "__version__", "load_audio", "save_audio"]
