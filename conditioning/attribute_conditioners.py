"""The conditioners for the short attributes: emotion, style, music (tempo/key/mode) and timing.

Each returns a fixed number of tokens per item (one per attribute slot), each slot with its own learned null
embedding for an absent value, so the mask is all True:

============  ======  ===========================================================================
conditioner   tokens  slots
============  ======  ===========================================================================
emotion       1       valence/arousal point (Fourier features + MLP) + optional label embedding
style         2       bag of style tags (mean of tag embeddings); reference-clip style vector
music         3       tempo (number embedding over 40–220 BPM); tonic (12 rows); mode (2 rows)
timing        2       duration (over 1–600 s); position (over 0–600 s)
============  ======  ===========================================================================
"""

from __future__ import annotations

import torch
from torch import nn

from audiogen.conditioning.base import Attributes
from audiogen.conditioning.conditioner import (
    Conditioner,
    NumberEmbedding,
    Prepared,
    null_parameter,
    unit_range,
    with_null,
)
from audiogen.conditioning.config import ConditionConfig
from audiogen.conditioning.emotions import resolve
from audiogen.conditioning.styles import StyleError, check_tags
from audiogen.conditioning.validate import (
    DURATION_RANGE,
    MODES,
    POSITION_RANGE,
    TEMPO_RANGE,
    TONICS,
    check_key_mode,
    check_style_embedding,
    check_tempo,
    check_timing,
)


def _ones_mask(b: int, t: int, device: torch.device) -> torch.Tensor:
    return torch.ones(b, t, dtype=torch.bool, device=device)


class EmotionConditioner(Conditioner):
    """Emotion as one token: a (valence, arousal) point, plus a label embedding when a label was given.

    A label alone is placed at its vocabulary point (``emotions.EMOTIONS``); an explicit point wins over the label's
    point. Unknown labels raise ``EmotionError`` naming the nearest label.
    """

    group = "emotion"

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        self.vocab = config.emotion_vocab
        self.point = NumberEmbedding(dim, 2, config.number_freqs, config.number_hidden)
        self.label = nn.Embedding(len(self.vocab) + 1, dim)  # last row: "no label"
        nn.init.normal_(self.label.weight, std=0.02)
        self.null = null_parameter(1, dim)

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """-> point ``[B, 2]`` in [0, 1], label index ``[B]``, present ``[B]``."""
        point = torch.zeros(len(attrs), 2)
        label = torch.full((len(attrs),), len(self.vocab), dtype=torch.long)
        present = torch.zeros(len(attrs), dtype=torch.bool)
        for i, a in enumerate(attrs):
            emo = resolve(a.emotion, a.valence, a.arousal)
            if emo is None:
                continue
            present[i] = True
            point[i] = torch.tensor([(emo.valence + 1) / 2, (emo.arousal + 1) / 2])
            if emo.label in self.vocab:  # a label newer than the checkpoint falls back to its point
                label[i] = self.vocab.index(emo.label)
        return {"point": point, "label": label, "present": present}

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``[B, 1, D]``, mask ``[B, 1]``."""
        emb = self.point(prepared["point"]) + self.label(prepared["label"])
        emb = with_null(emb, prepared["present"], self.null[0])
        return emb[:, None], _ones_mask(emb.shape[0], 1, emb.device)


class StyleConditioner(Conditioner):
    """Style as two tokens: the mean embedding of the style tags, and a projected reference-clip style vector."""

    group = "style"

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        self.vocab = config.style_vocab
        self.style_dim = config.style_dim
        self.tags = nn.Embedding(len(self.vocab), dim)
        nn.init.normal_(self.tags.weight, std=0.02)
        self.ref = nn.Sequential(nn.LayerNorm(config.style_dim), nn.Linear(config.style_dim, dim))
        self.null = null_parameter(2, dim)

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """-> multi-hot tags ``[B, V]``, reference vectors ``[B, E]``, and their present flags ``[B]``."""
        b = len(attrs)
        hot = torch.zeros(b, len(self.vocab))
        ref = torch.zeros(b, self.style_dim)
        has_ref = torch.zeros(b, dtype=torch.bool)
        for i, a in enumerate(attrs):
            for tag in check_tags(a.style_tags) if a.style_tags is not None else ():
                if tag not in self.vocab:
                    raise StyleError(f"style tag '{tag}' is newer than this model; it knows: {', '.join(self.vocab)}")
                hot[i, self.vocab.index(tag)] = 1.0
            if a.style_embedding is not None:
                ref[i] = check_style_embedding(a.style_embedding, self.style_dim)
                has_ref[i] = True
        return {"tags": hot, "has_tags": hot.sum(1) > 0, "ref": ref, "has_ref": has_ref}

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``[B, 2, D]`` (tags, reference), mask ``[B, 2]``."""
        hot = prepared["tags"]
        tags = hot @ self.tags.weight / hot.sum(1, keepdim=True).clamp(min=1.0)  # mean of the tags' rows
        tags = with_null(tags, prepared["has_tags"], self.null[0])
        ref = with_null(self.ref(prepared["ref"]), prepared["has_ref"], self.null[1])
        emb = torch.stack([tags, ref], dim=1)
        return emb, _ones_mask(emb.shape[0], 2, emb.device)


class MusicConditioner(Conditioner):
    """Tempo, key and mode as three tokens. A key such as ``"F# minor"`` also sets the mode."""

    group = "music"

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        self.tempo = NumberEmbedding(dim, 1, config.number_freqs, config.number_hidden)
        self.key = nn.Embedding(len(TONICS), dim)
        self.mode = nn.Embedding(len(MODES), dim)
        nn.init.normal_(self.key.weight, std=0.02)
        nn.init.normal_(self.mode.weight, std=0.02)
        self.null = null_parameter(3, dim)

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """-> tempo ``[B, 1]`` in [0, 1], key and mode indices ``[B]``, and a present flag per slot ``[B, 3]``."""
        b = len(attrs)
        tempo = torch.zeros(b, 1)
        key = torch.zeros(b, dtype=torch.long)
        mode = torch.zeros(b, dtype=torch.long)
        present = torch.zeros(b, 3, dtype=torch.bool)
        for i, a in enumerate(attrs):
            if a.tempo is not None:
                tempo[i, 0] = unit_range(check_tempo(a.tempo), *TEMPO_RANGE)
                present[i, 0] = True
            tonic, m = check_key_mode(a.key, a.mode)
            if tonic is not None:
                key[i], present[i, 1] = TONICS.index(tonic), True
            if m is not None:
                mode[i], present[i, 2] = MODES.index(m), True
        return {"tempo": tempo, "key": key, "mode": mode, "present": present}

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``[B, 3, D]`` (tempo, key, mode), mask ``[B, 3]``."""
        present = prepared["present"]
        slots = (self.tempo(prepared["tempo"]), self.key(prepared["key"]), self.mode(prepared["mode"]))
        emb = torch.stack([with_null(e, present[:, j], self.null[j]) for j, e in enumerate(slots)], dim=1)
        return emb, _ones_mask(emb.shape[0], 3, emb.device)


class TimingConditioner(Conditioner):
    """Track duration and window position (seconds) as two number tokens, after Stable Audio's timing inputs."""

    group = "timing"

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        self.duration = NumberEmbedding(dim, 1, config.number_freqs, config.number_hidden)
        self.position = NumberEmbedding(dim, 1, config.number_freqs, config.number_hidden)
        self.null = null_parameter(2, dim)

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """-> numbers ``[B, 2]`` in [0, 1] (duration, position) and present flags ``[B, 2]``."""
        values = torch.zeros(len(attrs), 2)
        present = torch.zeros(len(attrs), 2, dtype=torch.bool)
        for i, a in enumerate(attrs):
            duration, position = check_timing(a.duration, a.position)
            if duration is not None:
                values[i, 0], present[i, 0] = unit_range(duration, *DURATION_RANGE), True
            if position is not None:
                values[i, 1], present[i, 1] = unit_range(position, *POSITION_RANGE), True
        return {"values": values, "present": present}

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``[B, 2, D]`` (duration, position), mask ``[B, 2]``."""
        v, present = prepared["values"], prepared["present"]
        dur = with_null(self.duration(v[:, :1]), present[:, 0], self.null[0])
        pos = with_null(self.position(v[:, 1:]), present[:, 1], self.null[1])
        emb = torch.stack([dur, pos], dim=1)
        return emb, _ones_mask(emb.shape[0], 2, emb.device)
