import numpy as np
import pytest
from scipy import linalg

from audiogen.eval.metrics import (
    align,
    clipping_fraction,
    codec_distances,
    diversity,
    frechet_distance,
    frechet_distance_between,
    key_accuracy,
    level_stats,
    mean_pairwise_distance,
    parse_key,
    pitch_class,
    silence_fraction,
    tempo_adherence,
    tempo_hit,
)
from audiogen.eval.report import command_line, replace_section


def test_frechet_matches_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    # Commuting covariances: tr((S1 S2)^½) = Σ sqrt(a b), so FD = |Δμ|² + Σ (√a − √b)².
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-10)


def test_frechet_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((80, 12)), rng.standard_normal((90, 12)) @ rng.standard_normal((12, 12))
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_from_samples_approaches_the_population_value():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(1.0, 2.0, size=(20000, 3))
    expected = 3 * 1.0**2 + 3 * (1.0 - 2.0) ** 2  # |Δμ|² + Σ(σ1 − σ2)²
    assert frechet_distance_between(a, b) == pytest.approx(expected, rel=0.03)


def test_frechet_is_finite_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((7, 50)), rng.standard_normal((12, 50))
    d = frechet_distance_between(a, b)
    assert np.isfinite(d) and d > 0
    assert frechet_distance_between(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance_between(a[:1], b)
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_tempo_hits_count_half_and_double_time_as_misses():
    assert tempo_hit(123.0, 120.0, 0.04) and not tempo_hit(126.0, 120.0, 0.04) and tempo_hit(126.0, 120.0, 0.08)
    assert not tempo_hit(240.0, 120.0, 0.08) and not tempo_hit(60.0, 120.0, 0.08)
    assert not tempo_hit(float("nan"), 120.0, 0.08)
    res = tempo_adherence([120.0, 126.0, 240.0, 60.0], [120.0, 120.0, 120.0, 120.0])
    assert res["within_4pct"] == 0.25 and res["within_8pct"] == 0.5 and res["n"] == 4
    assert res["mean_abs_error_bpm"] == pytest.approx((0 + 6 + 120 + 60) / 4)
    with pytest.raises(ValueError, match="tolerance"):
        tempo_hit(120, 120, 4)
    with pytest.raises(ValueError, match="equal"):
        tempo_adherence([120.0], [])


def test_keys_compare_enharmonics_and_parse_common_spellings():
    assert pitch_class("Bb") == pitch_class("A#") == 10 and pitch_class("C") == 0 and pitch_class("B#") == 0
    assert parse_key("A minor") == ("A", "minor") and parse_key("F#") == ("F#", "major")
    assert parse_key("Am") == ("A", "minor") and parse_key("Eb major") == ("Eb", "major")
    res = key_accuracy(
        [("A#", "minor"), ("C", "major"), ("D", "minor")], [("Bb", "minor"), ("C", "minor"), ("E", "minor")]
    )
    assert res == {"key": pytest.approx(1 / 3), "mode": pytest.approx(2 / 3), "tonic": pytest.approx(2 / 3), "n": 3}
    with pytest.raises(ValueError, match="note name"):
        parse_key("H minor")


def test_silence_and_clipping_rates():
    sr = 1000
    audio = np.concatenate([np.zeros(500), 0.5 * np.ones(400), np.ones(100)])
    assert silence_fraction(audio, sr) == pytest.approx(0.5)
    assert clipping_fraction(audio) == pytest.approx(0.1)
    stats = level_stats([audio, np.zeros(1000)], sr)
    assert stats["mostly_silent_tracks"] == 0.5 and stats["tracks_with_clipping"] == 0.5


def test_diversity_is_the_mean_pairwise_distance_per_request():
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == pytest.approx(10 / 3)
    groups = [np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]), np.array([[5.0]])]
    assert diversity(groups) == pytest.approx(1.0)  # (2 + 0) / 2; the one-seed group is skipped
    assert np.isnan(diversity([np.ones((1, 3))]))


def test_align_undoes_a_delay_and_codec_distances_see_identity():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4000).astype(np.float32)
    delayed = np.concatenate([np.zeros(123, np.float32), x])
    np.testing.assert_allclose(align(x, delayed, max_lag=500), x, atol=1e-5)
    same = codec_distances(x[None], x[None])
    noisy = codec_distances(x[None], (x + 0.3 * rng.standard_normal(4000)).astype(np.float32)[None])
    assert same["mel"] == pytest.approx(0, abs=1e-6) and same["si_sdr"] > 60
    assert noisy["mel"] > 0.05 and 5 < noisy["si_sdr"] < 15


def test_replace_section_rewrites_only_its_own_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "# Benchmarks\n\n## Data loading\n\nkeep me\n\n## Codec\n\nold\n### detail\nold too\n\n## LM\n\nmine\n"
    )
    replace_section(path, "## Codec", ["new"])
    text = path.read_text()
    assert "keep me" in text and "mine" in text and "old" not in text
    assert text.index("## Data loading") < text.index("## Codec\n\nnew") < text.index("## LM")
    replace_section(path, "## Generation", ["gen"])
    replace_section(path, "## Generation", ["gen 2"])
    assert path.read_text().count("## Generation") == 1 and path.read_text().rstrip().endswith("gen 2")


def test_command_lines_carry_no_machine_paths():
    cmd = command_line("python -m audiogen.eval", ["--codec", "/srv/x/runs/codec", "--out=/a/b/c/B.md", "rel/m.jsonl"])
    assert cmd == "python -m audiogen.eval --codec .../runs/codec --out=.../c/B.md rel/m.jsonl"
