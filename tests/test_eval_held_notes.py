"""The held-notes figure's readings: a rendered pad and bass line, and the share of energy on their partials."""

import numpy as np

from audiogen.eval import held_notes


def test_the_render_holds_its_notes_and_noise_does_not():
    audio, notes = held_notes.pad_and_bass(4.0)
    assert audio.shape == (4 * held_notes.SR,) and np.isfinite(audio).all() and np.abs(audio).max() > 0.01
    assert set(held_notes.PAD) <= set(notes)
    assert held_notes.partial_share(audio, notes) > 0.6
    noise = np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32) * 0.1
    assert held_notes.partial_share(noise, notes) < 0.3


def test_rows_and_figure(tmp_path):
    import torch

    from audiogen.codec.model import Codec, CodecConfig
    from tests.test_codec import TINY

    torch.manual_seed(0)
    codec = Codec(CodecConfig(**TINY)).eval()
    rows = held_notes.rows_for([codec], n_q=2, seconds=2.0)
    assert [r[0].split(",")[0] for r in rows] == ["soundfont render", codec.name]
    assert all(0.0 <= r[2]["partials"] <= 1.0 for r in rows) and rows[0][2]["chroma"] == 1.0
    assert held_notes.figure(rows, tmp_path / "f.png").stat().st_size > 1000


def test_rows_take_one_codebook_count_per_codec():
    import pytest
    import torch

    from audiogen.codec.model import Codec, CodecConfig
    from tests.test_codec import TINY

    torch.manual_seed(0)
    codec = Codec(CodecConfig(**TINY)).eval()
    rows = held_notes.rows_for([codec, codec], n_q=[1, 2], seconds=1.0)
    assert [r[0] for r in rows[1:]] == [f"{codec.name}, {codec.cfg.kbps(k):g} kbps" for k in (1, 2)]
    with pytest.raises(ValueError, match="one per codec"):
        held_notes.rows_for([codec, codec], n_q=[1, 2, 3], seconds=1.0)
