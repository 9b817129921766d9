"""The music language model: delay-pattern Transformer over codec tokens, its sampling and generation."""

from audiogen.lm.beat_prior import BeatPrior
from audiogen.lm.config import LMConfig
from audiogen.lm.generate import generate
from audiogen.lm.model import MusicLM
from audiogen.lm.sampling import GenerationParams

__all__ = ["BeatPrior", "GenerationParams", "LMConfig", "MusicLM", "generate"]
