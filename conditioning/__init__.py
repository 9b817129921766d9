"""Conditioners (text, emotion, style, tempo/key, timing) and music emotion analysis."""

from audiogen.conditioning.emotions import EMOTIONS, Emotion, EmotionError, nearest_label, quadrant, resolve

__all__ = ["EMOTIONS", "Emotion", "EmotionError", "nearest_label", "quadrant", "resolve"]
