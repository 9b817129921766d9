"""Residual vector quantizer with factorised, L2-normalised codes (as in DAC), data init and dead-code restart.

Each stage projects the residual ``[B, D, T]`` down to a small code space (``codebook_dim``, e.g. 8), looks up the
nearest L2-normalised code by cosine similarity, and projects back up. Low-dimensional normalised codes keep every
entry in use far better than full-width Euclidean codebooks. Training adds:

- quantizer dropout: with probability ``dropout`` a batch item keeps only the first ``n`` stages (``n`` uniform in
  ``[1, K]``), so one model serves every bitrate from 1 to K codebooks;
- data init: the first training batch fills each codebook with random projected encoder outputs;
- dead-code restart: codes unused for ``restart_after`` steps are replaced with projected encoder outputs from the
  current batch, so usage recovers instead of collapsing;
- a full-space latent loss: the cosine commitment only aligns directions in the small code space, so nothing made a
  stage's output approximate the residual it was given (every stage then quantized nearly the same residual, and
  extra codebooks added almost nothing). ``latent`` is the mean over the active stages of
  ``||r_i - q_i||^2 / ||r_i||^2`` (residual ``r_i`` before stage ``i``, its output ``q_i``), with the gradient into
  the stage (its projections and codebook) and, for stage 0, into the encoder, so each stage learns to remove part
  of what it is given. With ``latent_to_encoder`` off (codec v3), the encoder gets no gradient from it: in v3's
  pilot it drove the latent to where two stages held 96 % of it, and none of the notes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from audiogen.codec.inference import inference_cache


class FactorizedVQ(nn.Module):
    """One quantizer stage: ``[B, D, T]`` → (quantized ``[B, D, T]``, codes ``[B, T]``, commit loss, codebook loss)."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.in_proj = weight_norm(nn.Conv1d(dim, codebook_dim, 1))
        self.out_proj = weight_norm(nn.Conv1d(codebook_dim, dim, 1))
        self.codebook = nn.Embedding(codebook_size, codebook_dim)
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("last_used", torch.zeros(codebook_size, dtype=torch.long))

    def _lookup(self, z_e: torch.Tensor) -> torch.Tensor:
        """Nearest code by cosine similarity. ``z_e`` ``[B, d, T]`` → codes ``[B, T]``."""
        enc = F.normalize(z_e.transpose(1, 2).reshape(-1, z_e.shape[1]), dim=-1)  # (B*T, d)
        cb = F.normalize(self.codebook.weight, dim=-1)  # (N, d)
        return (enc @ cb.t()).argmax(-1).view(z_e.shape[0], z_e.shape[2])

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, T]`` → quantized latent ``[B, D, T]`` (the plain computation; see :meth:`decode_table`)."""
        z_q = F.normalize(self.codebook(codes), dim=-1).transpose(1, 2)  # (B, d, T)
        return self.out_proj(z_q)

    def decode_table(self) -> torch.Tensor:
        """Every code already projected to the latent space: ``[N, D]``, row ``i`` = ``decode_codes`` of code ``i``."""
        w = self.out_proj.weight[:, :, 0]  # (D, d)
        return F.linear(F.normalize(self.codebook.weight, dim=-1), w, self.out_proj.bias)

    @torch.no_grad()
    def _init_and_restart(self, z_e: torch.Tensor, codes: torch.Tensor, step: int, restart_after: int) -> None:
        flat = z_e.transpose(1, 2).reshape(-1, z_e.shape[1])
        if not bool(self.initialized):
            idx = torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)
            self.codebook.weight.copy_(flat[idx])  # in place, not via .data: moves the version counter
            self.initialized.fill_(True)
            self.last_used.fill_(step)
            return
        self.last_used[codes.unique()] = step
        dead = (step - self.last_used) > restart_after
        n_dead = int(dead.sum())
        if n_dead:
            idx = torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)
            self.codebook.weight[dead] = flat[idx] + 1e-3 * torch.randn_like(flat[idx])
            self.last_used[dead] = step

    def forward(
        self, residual: torch.Tensor, step: int | None = None, restart_after: int = 200
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z_e = self.in_proj(residual)  # (B, d, T)
        if self.training and step is not None:
            codes = self._lookup(z_e)
            self._init_and_restart(z_e.detach(), codes, step, restart_after)
        codes = self._lookup(z_e)
        z_q = F.normalize(self.codebook(codes), dim=-1).transpose(1, 2)
        z_e_n = F.normalize(z_e, dim=1)
        commit = F.mse_loss(z_e_n, z_q.detach(), reduction="none").mean(dim=(1, 2))  # (B,)
        cb_loss = F.mse_loss(z_q, z_e_n.detach(), reduction="none").mean(dim=(1, 2))
        z_q = z_e_n + (z_q - z_e_n).detach()  # straight-through
        return self.out_proj(z_q), codes, commit, cb_loss


class ResidualVQ(nn.Module):
    """K factorised stages applied to successive residuals.

    ``forward(z [B, D, T], n_q=None)`` → dict with ``z_q`` ``[B, D, T]``, ``codes`` ``[B, K', T]`` (K' = stages used),
    ``commit`` and ``codebook`` losses (scalars), and ``n_q`` per item ``[B]``.
    """

    def __init__(
        self,
        dim: int,
        n_q: int = 8,
        codebook_size: int = 1024,
        codebook_dim: int = 8,
        dropout: float = 0.5,
        restart_after: int = 200,
    ) -> None:
        super().__init__()
        self.n_q, self.dropout, self.restart_after = n_q, dropout, restart_after
        # the latent loss also pulls the encoder towards latents the first stage fits (v2); False: only the stages
        # learn from it, so it cannot make the encoder's latent poorer to make it easier to quantize (v3)
        self.latent_to_encoder = True
        self.layers = nn.ModuleList(FactorizedVQ(dim, codebook_size, codebook_dim) for _ in range(n_q))

    def forward(
        self, z: torch.Tensor, n_q: int | None = None, step: int | None = None, first: int = 0
    ) -> dict[str, torch.Tensor]:
        """See the class docstring; ``first`` > 0 also returns ``z_first`` ``[B, D, T]``, the sum of the first
        ``first`` stages' outputs for every item (quantizer dropout does not apply to it)."""
        n_q = self.n_q if n_q is None else n_q
        if not 1 <= n_q <= self.n_q:
            raise ValueError(f"n_q must be in [1, {self.n_q}], got {n_q}")
        b = z.shape[0]
        keep = torch.full((b,), n_q, device=z.device)
        if self.training and self.dropout > 0:
            drop = torch.rand(b, device=z.device) < self.dropout
            keep = torch.where(drop, torch.randint(1, n_q + 1, (b,), device=z.device), keep)
        residual, z_q, z_first = z, torch.zeros_like(z), torch.zeros_like(z)
        if first > n_q:
            raise ValueError(f"first must be <= n_q={n_q}, got {first}")
        codes, commit, cb, latent = [], z.new_zeros(()), z.new_zeros(()), z.new_zeros(())
        for i, layer in enumerate(self.layers[:n_q]):
            q, c, lc, lq = layer(residual, step=step, restart_after=self.restart_after)
            active = (keep > i).to(z.dtype)  # (B,)
            z_q = z_q + q * active[:, None, None]
            if i < first:
                z_first = z_first + q
            energy = residual.detach().pow(2).mean(dim=(1, 2)).clamp(min=1e-8)  # (B,)
            if self.latent_to_encoder:
                rel = (residual - q).pow(2).mean(dim=(1, 2)) / energy  # (B,) stage i's share of its residual left
            else:  # the chosen codes' output without the straight-through path: nothing flows back to the input
                rel = (residual.detach() - layer.decode_codes(c)).pow(2).mean(dim=(1, 2)) / energy
            residual = residual - q.detach()
            codes.append(c)
            denom = active.sum().clamp(min=1)
            commit = commit + (lc * active).sum() / denom
            cb = cb + (lq * active).sum() / denom
            latent = latent + (rel * active).sum() / denom
        latent = latent / n_q
        extra = {"z_first": z_first} if first else {}
        return extra | {
            "z_q": z_q, "codes": torch.stack(codes, 1), "commit": commit, "codebook": cb, "latent": latent, "n_q": keep,
        }  # fmt: skip

    @torch.no_grad()
    def residual_errors(self, z: torch.Tensor) -> list[float]:
        """Relative error ``||z - z_q^(k)||^2 / ||z||^2`` after each stage ``k = 1..K`` (eval, all stages) of latents
        ``z`` ``[B, D, T]``: a quantizer whose stages all earn their bits gives a strictly falling list."""
        residual, out = z, []
        energy = z.pow(2).sum().clamp(min=1e-12)
        for layer in self.layers:
            q = layer(residual)[0]
            residual = residual - q
            out.append(float(residual.pow(2).sum() / energy))
        return out

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K', T]`` (K' ≤ K) → latent ``[B, D, T]`` (a transposed view of :meth:`decode_frames`)."""
        return self.decode_frames(codes).transpose(1, 2)

    def decode_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K', T]`` (K' ≤ K) → frames-first latent ``[B, T, D]``: one ``embedding_bag`` summing rows of
        the stacked per-stage tables ``[K * N, D]`` (cached in eval mode); equals the sum of the stages'
        ``decode_codes``."""
        b, k, t = codes.shape
        if k > self.n_q:
            raise ValueError(f"got {k} codebooks, this quantizer has {self.n_q}")
        table = inference_cache(self, lambda: torch.cat([layer.decode_table() for layer in self.layers]))
        offsets = torch.arange(k, device=codes.device)[:, None] * self.layers[0].codebook_size  # (K', 1)
        idx = (codes + offsets).transpose(1, 2).reshape(b * t, k)  # (B*T, K') rows of the stacked table
        return F.embedding_bag(idx, table, mode="sum").view(b, t, -1)
