"""audiogen: emotion- and style-controllable music generation that writes finished MP3s.

``from audiogen import MusicGenerator`` loads the generation facade (and torch) on first use.
"""

__version__ = "0.1.0"

from audiogen.audio import SAMPLE_RATE, AudioError, load_audio, save_audio

_LAZY = {
    "MusicGenerator": ("audiogen.generator", "MusicGenerator"),
    "GenerationParams": ("audiogen.lm.sampling", "GenerationParams"),
    "MasteringSpec": ("audiogen.mastering.spec", "MasteringSpec"),
    "Track": ("audiogen.track", "Track"),
    "analyze": ("audiogen.analyze_cli", "analyze"),
}

__all__ = ["SAMPLE_RATE", "AudioError", "__version__", "load_audio", "save_audio", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'audiogen' has no attribute {name!r}")
