"""The notes-bottleneck oracle's pieces: k-means, residual k-means, the tonal fine structure."""

import torch

from audiogen.eval.notes_oracle import kmeans, rvq_apply, rvq_fit, tonal_logmag


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(x, 3)
    # every true centre has a centroid within 0.1
    assert torch.cdist(centres, found).min(1).values.max() < 0.1


def test_residual_stages_reduce_the_error():
    x = torch.randn(400, 8, generator=torch.Generator().manual_seed(1))
    recs = rvq_apply(x, rvq_fit(x, 3, 16))
    errors = [float((r - x).square().mean()) for r in recs]
    assert errors[0] < float(x.square().mean()) and errors[1] < errors[0] and errors[2] < errors[1]


def test_tonal_structure_peaks_at_the_semitone_played():
    labels = torch.full((1, 84, 3), -8.0)
    labels[0, 45] = 0.0  # A4, 440 Hz (C1 + 45 semitones)
    fine = tonal_logmag(labels, 2048, 1.0)  # (1, 6, 1025)
    assert fine.shape == (1, 6, 1025)
    peak_hz = int(fine[0, 0, :200].argmax()) * 32000 / 2048
    assert abs(peak_hz - 440.0) < 32000 / 2048
