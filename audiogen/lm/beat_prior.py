"""Beat guidance: a counted classifier of beat phase from codec tokens, used to steer sampling onto the beat.

The beat clock (the controls' beat group, :mod:`audiogen.controls.layout`) tells the LM where each frame falls in
the beat, but a small model leans on its context far more than on the clock, and its tracks keep too weak a pulse
for a listener (or a beat tracker) to hear the requested tempo. Beat guidance adds the missing push at sampling time.

For every tempo band ``t`` (bands split at ``edges`` BPM; a track's tempo is that of its median beat interval),
codebook ``k``, phase bin ``b`` (``bins`` equal parts of the beat, bin 0 starting on the beat) and token ``v``, the
table holds the pointwise mutual information counted over the frames of a token cache with tracked beats
(:mod:`audiogen.data.beats`), with add-``alpha`` smoothing::

    pmi[t, k, b, v] = log p(v | b, k, t) - log p(v | k, t)  =  log p(b | v, k, t) - log p(b | k, t)

By Bayes' rule that is how much token ``v`` says "this frame sits at phase bin ``b``". Sampling codebook ``k`` of
a frame whose phase falls in bin ``b``, in a track whose beat falls in band ``t``, then uses::

    logits[k] = logits[k] / temperature + beat_scale * pmi[t, k, b]     (after top-k / top-p)

which is classifier guidance with this naive classifier: among the tokens the model finds plausible (the bias comes
after the top-k / top-p filters and never brings back a token they dropped) it raises those the corpus plays at that
point of the beat (attacks on it, decays after it) and lowers the others, so the pulse lands on the requested grid. Fast
music accents its beats differently from slow music (a table of all tempos lets a 176 BPM request settle at 88),
hence one table per band. The
table is a property of the codec's tokens, not of the LM weights: it is stored next to them as
``beat_prior.safetensors`` and rebuilt with ``python -m audiogen.train.lm beat-prior CACHE LM_DIR``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from audiogen.fileio import atomic_write

PRIOR_NAME = "beat_prior.safetensors"


DEFAULT_EDGES = (85.0, 135.0)  # BPM: slow / moderate / fast


class BeatPrior:
    """The ``pmi`` table ``[bands, n_q, bins, card]`` (float32), its tempo band ``edges`` (``bands - 1`` increasing
    BPM values) and the guidance scale a model uses by default."""

    def __init__(
        self, pmi: torch.Tensor, edges=DEFAULT_EDGES, default_scale: float = 0.0, frames: tuple[int, ...] = ()
    ) -> None:
        edges = tuple(float(e) for e in edges)
        if pmi.dim() != 4 or min(pmi.shape) < 1:
            raise ValueError(f"pmi must be a [bands, n_q, bins, card] table, got shape {tuple(pmi.shape)}")
        if len(edges) != pmi.shape[0] - 1 or not all(0 < a < b for a, b in zip((1e-9, *edges), edges, strict=False)):
            raise ValueError(f"edges must be {pmi.shape[0] - 1} increasing positive BPM values, got {edges}")
        if not torch.isfinite(pmi).all():
            raise ValueError("pmi must be finite")
        if not default_scale >= 0:
            raise ValueError(f"default_scale must be >= 0, got {default_scale}")
        self.pmi = pmi.float().contiguous()
        self.edges = edges
        self.default_scale = float(default_scale)
        self.frames = tuple(int(f) for f in frames)  # frames counted per band (for the record)

    @property
    def n_q(self) -> int:
        return self.pmi.shape[1]

    @property
    def bins(self) -> int:
        return self.pmi.shape[2]

    @property
    def card(self) -> int:
        return self.pmi.shape[3]

    def band(self, tempo: float) -> int:
        """Index of the tempo band of ``tempo`` (BPM)."""
        return int(np.searchsorted(self.edges, tempo, side="right"))

    @classmethod
    def from_counts(
        cls, counts: np.ndarray, edges=DEFAULT_EDGES, alpha: float = 0.5, default_scale: float = 0.0
    ) -> BeatPrior:
        """Build from token counts ``[bands, n_q, bins, card]`` (frames of codebook k in phase bin b with token v,
        per tempo band)."""
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 4 or np.any(counts < 0):
            raise ValueError(f"counts must be a non-negative [bands, n_q, bins, card] array, got shape {counts.shape}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        smoothed = counts + alpha
        given_bin = smoothed / smoothed.sum(axis=3, keepdims=True)  # p(v | b, k, t)
        marginal = smoothed.sum(axis=2, keepdims=True) / smoothed.sum(axis=(2, 3), keepdims=True)  # p(v | k, t)
        pmi = np.log(given_bin) - np.log(marginal)
        frames = tuple(int(c[0].sum()) for c in counts)
        return cls(torch.from_numpy(pmi).float(), edges, default_scale, frames)

    @classmethod
    def from_cache(
        cls,
        cache,
        n_q: int | None = None,
        bins: int = 12,
        edges=DEFAULT_EDGES,
        alpha: float = 0.5,
        split: str | None = "train",
        default_scale: float = 0.0,
    ) -> BeatPrior:
        """Count the first ``n_q`` codebooks (default: all) of every item of ``split`` of a
        :class:`~audiogen.data.token_cache.TokenCache` that has tracked beats (items without beats are skipped)."""
        from audiogen.controls.layout import beat_phase

        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        n_q = cache.n_q if n_q is None else n_q
        if not 1 <= n_q <= cache.n_q:
            raise ValueError(f"n_q must lie in [1, {cache.n_q}] (the cache's codebooks), got {n_q}")
        edges = tuple(float(e) for e in edges)
        counts = np.zeros((len(edges) + 1, n_q, bins, cache.card), dtype=np.int64)
        for i in cache.split(split):
            beats = cache.beats(i)
            if beats is None or len(beats) < 2:
                continue
            band = int(np.searchsorted(edges, beat_tempo(beats), side="right"))
            codes = np.asarray(cache.codes(i), dtype=np.int64)
            b = phase_bins(beat_phase(beats, np.arange(codes.shape[1]) / cache.frame_rate), bins)
            for k in range(n_q):
                np.add.at(counts[band, k], (b, codes[k]), 1)
        empty = [t for t in range(len(counts)) if counts[t].sum() == 0]
        if empty:
            raise ValueError(
                f"{cache.dir}: no item of split {split!r} with tracked beats in tempo band(s) {empty} of edges "
                f"{edges} BPM (run `audiogen codec beats` first, or choose other edges)"
            )
        return cls.from_counts(counts, edges, alpha, default_scale)

    def bias(self, bins: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
        """Logit offsets ``[B, n_q, card]`` for phase bins ``[B, n_q]`` (long; -1 = no beat there: zeros) of rows
        in tempo bands ``[B]`` (long)."""
        if bins.dim() != 2 or bins.shape[1] != self.n_q or bands.shape != bins.shape[:1]:
            raise ValueError(
                f"bins must be [B, {self.n_q}] and bands [B], got {tuple(bins.shape)}, {tuple(bands.shape)}"
            )
        pmi = self.pmi.to(bins.device)
        codebook = torch.arange(self.n_q, device=bins.device)[None]
        table = pmi[bands[:, None], codebook, bins.clamp(min=0)]  # (B, n_q, card)
        return table * (bins >= 0)[..., None]

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``beat_prior.safetensors`` (the table, its band edges, scale and frame counts) into ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {k: json.dumps(v) for k, v in (("edges", self.edges), ("default_scale", self.default_scale))}
        meta["frames"] = json.dumps(self.frames)
        atomic_write(directory / PRIOR_NAME, lambda p: save_file({"pmi": self.pmi.half()}, p, metadata=meta))
        from audiogen.weights import write_checksums

        write_checksums(directory)  # the folder's record of its weights files now includes this table
        return directory / PRIOR_NAME

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BeatPrior | None:
        """Read ``beat_prior.safetensors`` from ``directory``; None when there is none."""
        from safetensors import safe_open

        from audiogen.weights import verify

        path = Path(directory) / PRIOR_NAME
        if not path.is_file():
            return None
        verify(path)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            pmi = f.get_tensor("pmi").float()
        try:
            return cls(pmi, *(json.loads(meta[k]) for k in ("edges", "default_scale", "frames")))
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a beat prior this version reads ({e})") from e


def beat_tempo(beats: np.ndarray) -> float:
    """Tempo (BPM) of beat times ``[M >= 2]`` (seconds): 60 over the median beat interval."""
    return float(60.0 / np.median(np.diff(np.asarray(beats, dtype=np.float64))))


def phase_bins(phase: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (``[0, bins)``, int64) of beat phases in ``[0, 1)``; NaN (no beat) maps to -1."""
    phase = np.asarray(phase, dtype=np.float64)
    out = np.full(phase.shape, -1, dtype=np.int64)
    ok = np.isfinite(phase)
    out[ok] = np.minimum((np.mod(phase[ok], 1.0) * bins).astype(np.int64), bins - 1)
    return out
