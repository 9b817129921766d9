from types import SimpleNamespace

import numpy as np
import pytest

from audiogen.eval import bench_perform as B


def _record(system: str, tempo: float, read: float) -> dict:
    hit = float(abs(read - tempo) <= 0.04 * tempo)
    return {"system": system, "plan": SimpleNamespace(tempo=tempo), "tempo_read": read, "tempo": hit,
            "beat_f": 0.5, "chord": 0.25, "key": 1.0, "pulse": 0.3}  # fmt: skip


def test_summary_reads_tempo_by_band_and_counts_double_time_readings():
    records = []
    for s in B.SYSTEMS:
        records += [_record(s, 70.0, 140.5), _record(s, 70.0, 70.4), _record(s, 120.0, 119.0), _record(s, 120.0, 90.0)]
    summary = B.summarise(records)
    for s in B.SYSTEMS:
        m = summary[s]
        assert m["n"] == 4 and m["n_slow"] == 2 and m["n_fast"] == 2
        assert m["tempo"] == pytest.approx(0.5)
        assert m["tempo_slow"] == pytest.approx(0.5) and m["tempo_fast"] == pytest.approx(0.5)
        assert m["double_slow"] == pytest.approx(0.5) and m["double_fast"] == pytest.approx(0.0)
    meta = {"command": "x", "machine": "m", "date": "d", "items": 4, "seconds": 10.0, "wall": 1.0,
            "performer": "p", "baseline": "b", "beat_scale": None, "compose_ms": (3.0, 5.0)}  # fmt: skip
    text = "\n".join(B.section(meta, summary, None, None))
    assert "below 85 BPM (2 plans) / from 85 BPM (2)" in text and "render 0.50 / 0.50 (double 0.50)" in text


def test_pulse_clarity_is_high_for_a_click_track_and_low_for_noise():
    sr = B.SR
    clicks = np.zeros(10 * sr, np.float32)
    clicks[:: sr // 2] = 1.0  # 120 BPM
    noise = np.random.default_rng(0).normal(0, 0.1, 10 * sr).astype(np.float32)
    assert B.pulse_clarity(clicks) > 0.6 > 0.3 > B.pulse_clarity(noise)
