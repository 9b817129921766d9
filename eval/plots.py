"""Evaluation plots (PNG, matplotlib's Agg backend): requested vs measured tempo, emotion confusion matrix,
spectrograms. Each function writes one file atomically and returns its path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def figure(rows: int = 1, cols: int = 1, size=(6, 5)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(rows, cols, figsize=size, squeeze=False)


def save_figure(plt, fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def tempo_plot(points: Sequence[tuple[float, float]], path: str | os.PathLike) -> Path:
    """Scatter of ``(requested, measured)`` BPM with the ±4 % band and the half/double-time lines."""
    plt, fig, axes = figure()
    ax = axes[0, 0]
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    lo, hi = 40.0, 220.0
    line = np.linspace(lo, hi, 2)
    ax.fill_between(line, line * 0.96, line * 1.04, color="tab:green", alpha=0.2, label="±4 %")
    ax.plot(line, line, color="tab:green", lw=1)
    for factor, label, style in ((0.5, "half time", "--"), (2.0, "double time", ":")):
        ax.plot(line, line * factor, color="tab:gray", lw=1, ls=style, label=label)
    ax.scatter(pts[:, 0], pts[:, 1], s=18, color="tab:blue", label="tracks", zorder=3)
    ax.set(xlim=(lo, hi), ylim=(lo / 2, hi * 1.2), xlabel="requested tempo (BPM)", ylabel="measured tempo (BPM)")
    ax.set_title("Tempo adherence")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(plt, fig, path)


def confusion_plot(matrix, labels: Sequence[str], path: str | os.PathLike, title: str = "Emotion quadrants") -> Path:
    """Confusion matrix ``(C, C)``: rows = requested, columns = measured; cells show counts."""
    plt, fig, axes = figure(size=(5, 4.5))
    ax = axes[0, 0]
    m = np.asarray(matrix, dtype=float)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=max(m.max(), 1))
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            dark = m[i, j] > 0.6 * max(m.max(), 1)
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="measured (our analyzer)", ylabel="requested", title=title)
    return save_figure(plt, fig, path)


def spectrograms(tracks: Sequence[tuple[str, np.ndarray, int]], path: str | os.PathLike) -> Path:
    """Log-mel spectrograms of ``(title, audio (T,), sample_rate)`` tracks, one row each."""
    import librosa

    plt, fig, axes = figure(len(tracks), 1, size=(8, 2.2 * max(len(tracks), 1)))
    for ax, (title, audio, sr) in zip(axes[:, 0], tracks, strict=True):
        mel = librosa.feature.melspectrogram(y=np.asarray(audio, np.float32), sr=sr, n_mels=96, hop_length=512)
        db = librosa.power_to_db(mel, ref=1.0, top_db=80)
        seconds = len(audio) / sr
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, db.shape[0]))
        ax.set(title=title, xlabel="seconds", ylabel="mel band")
    return save_figure(plt, fig, path)
