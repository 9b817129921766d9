"""Conditioners (text, emotion, style, tempo/key, timing) and music emotion analysis.

The torch-based classes are exported lazily, so importing the emotion or style vocabularies stays cheap.
"""

from audiogen.conditioning.emotions import EMOTIONS, Emotion, EmotionError, nearest_label, quadrant, resolve

_LAZY = {
    "Attributes": "base",
    "Conditions": "base",
    "GROUPS": "base",
    "ConditionConfig": "config",
    "ConditionProvider": "provider",
    "condition_dropout": "provider",
    "attributes_from_record": "records",
    "normalize_attributes": "validate",
    "STYLE_TAGS": "styles",
    "StyleError": "styles",
}

__all__ = ["EMOTIONS", "Emotion", "EmotionError", "nearest_label", "quadrant", "resolve", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"audiogen.conditioning.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'audiogen.conditioning' has no attribute {name!r}")
