"""The music emotion model: training, checkpoints, input checks, evaluation metrics and the shipped model."""

import math

import numpy as np
import pytest
import torch

import audiogen
from audiogen.audio import save_audio
from audiogen.conditioning.emotion_eval import (
    average_precision,
    confusion,
    cross_validate,
    pearson,
    quadrants,
    ridge_predict,
    va_metrics,
)
from audiogen.conditioning.emotion_features import N_FEATURES, training_windows
from audiogen.conditioning.emotion_model import EmotionModel, EmotionModelConfig, default_emotion_dir
from audiogen.conditioning.emotion_train import Dataset, TrainOptions, emotion_loss, tag_targets, train_model
from audiogen.data.manifest import Record

TAGS = ("piano", "drums")


def _synthetic(n: int, seed: int, tracks: int | None = None) -> Dataset:
    """Features whose first two columns determine valence/arousal and the third the 'drums' tag (the rest: noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32) * 0.01 + 10
    x[:, :3] = rng.normal(size=(n, 3)) * 3 + 10
    va = np.tanh((x[:, :2] - 10) / 3).astype(np.float32)
    tags = np.stack([np.zeros(n), (x[:, 2] > 10)], axis=1).astype(np.float32)
    ds = Dataset(x=x, va=va, tags=tags, tag_mask=np.ones_like(tags), weight=np.ones(n, np.float32))
    if tracks:
        ds.track = [f"t{i % tracks}" for i in range(n)]
        ds.domain = ["rendered" if i % 2 else "real" for i in range(n)]
        ds.central = np.ones(n, bool)
    return ds


def _loss(model: EmotionModel, ds: Dataset) -> float:
    t = [torch.from_numpy(a) for a in (ds.x, ds.va, ds.tags, ds.tag_mask, ds.weight)]
    with torch.no_grad():
        return float(emotion_loss(model.eval(), *t))


CONFIG = EmotionModelConfig(hidden=16, layers=1, dropout=0.0, tags=TAGS)
OPTIONS = TrainOptions(epochs=30, batch_size=64, lr=1e-2)


@pytest.fixture(scope="module")
def trained():
    return train_model(_synthetic(1024, 0), CONFIG, OPTIONS)


def test_training_lowers_the_loss_and_learns_the_targets(trained):
    train, test = _synthetic(1024, 0), _synthetic(128, 1)
    untrained = EmotionModel(CONFIG)
    untrained.set_normalisation(train.x)
    assert _loss(trained, train) < 0.3 * _loss(untrained, train)
    preds = trained.predict_features(test.x)
    pred_va = np.asarray([[p["valence"], p["arousal"]] for p in preds])
    assert pearson(pred_va[:, 0], test.va[:, 0]) > 0.8 and pearson(pred_va[:, 1], test.va[:, 1]) > 0.8
    assert average_precision(np.asarray([p["tags"]["drums"] for p in preds]), test.tags[:, 1]) > 0.8
    assert list(preds[0]["tags"]) == sorted(TAGS, key=lambda t: -preds[0]["tags"][t])  # highest first


def test_save_load_gives_identical_outputs(trained, tmp_path):
    x = torch.from_numpy(_synthetic(64, 2).x)
    fp32 = EmotionModel.from_pretrained(trained.save_pretrained(tmp_path / "fp32", half=False))
    with torch.no_grad():
        for a, b in zip(trained(x), fp32(x), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    # fp16 on disk: loading it, saving again and loading again changes nothing.
    half = EmotionModel.from_pretrained(trained.save_pretrained(tmp_path / "fp16"))
    again = EmotionModel.from_pretrained(half.save_pretrained(tmp_path / "again"))
    with torch.no_grad():
        for a, b in zip(half(x), again(x), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert again.config == half.config and again.config.tags == TAGS
    assert (tmp_path / "fp16" / "model.safetensors").stat().st_size < 20_000
    assert not list(tmp_path.glob("*/.*"))  # no temporary files left behind


def test_bad_inputs_give_clear_errors(trained, tmp_path):
    with pytest.raises(ValueError, match=r"hidden must be in \[4, 1024\]"):
        EmotionModelConfig(hidden=2)
    with pytest.raises(ValueError, match="style vocabulary"):
        EmotionModelConfig(tags=("piano", "kazoo"))
    with pytest.raises(ValueError, match="n_features"):
        EmotionModelConfig(n_features=3)
    with pytest.raises(ValueError, match=r"epochs must be in"):
        TrainOptions(epochs=0)
    with pytest.raises(ValueError, match=rf"shape \(B, {N_FEATURES}\)"):
        trained(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="empty dataset"):
        train_model(_synthetic(0, 0), CONFIG, OPTIONS)
    with pytest.raises(ValueError, match="tag columns"):
        train_model(_synthetic(8, 0), EmotionModelConfig(hidden=16, tags=("piano",)), OPTIONS)
    with pytest.raises(FileNotFoundError, match="not an emotion model checkpoint"):
        EmotionModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="folds"):
        cross_validate(_synthetic(8, 0, tracks=4), CONFIG, OPTIONS, folds=1)


def test_pearson_and_quadrants_on_hand_checked_values():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # Deviations (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): products sum to 4, squares to 5 -> r = 0.8.
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3])) and math.isnan(pearson([1, 2], [1, 2]))
    va = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
    assert quadrants(va) == ["Q1", "Q2", "Q3", "Q4"]
    m = va_metrics(np.array([[0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [-0.5, -0.5]]), va)
    assert m["n"] == 4 and m["quadrant_accuracy"] == 0.5
    assert m["mae_valence"] == pytest.approx(0.5) and m["mae_arousal"] == pytest.approx(0.0)


def test_confusion_and_average_precision_on_hand_checked_values():
    target = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [0.5, -0.5]])
    pred = np.array([[0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [-0.5, -0.5], [0.5, -0.5]])
    expected = np.zeros((4, 4), int)
    expected[0, 0] = expected[1, 0] = expected[2, 2] = expected[3, 2] = expected[3, 3] = 1  # rows: target
    np.testing.assert_array_equal(confusion(pred, target), expected)
    # Ranking pos, neg, pos: precision 1 at the first hit, 2/3 at the second -> AP = 5/6.
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1])) == pytest.approx(5 / 6)
    assert math.isnan(average_precision(np.array([0.2, 0.1]), np.array([0, 0])))


def test_ridge_and_grouped_cross_validation_on_synthetic_tracks():
    ds = _synthetic(768, 3, tracks=96)
    ridge = ridge_predict(ds, ds.x[:50])
    assert ridge.shape == (50, 2) and np.abs(ridge).max() <= 1
    assert pearson(ridge[:, 0], ds.va[:50, 0]) > 0.9
    cv = cross_validate(ds, CONFIG, OPTIONS, folds=3)
    assert set(cv["domains"]) == {"real", "rendered"}
    assert sum(m["model"]["n"] for m in cv["domains"].values()) == 768  # every central excerpt held out once
    assert cv["score"] > 0.5 and cv["domains"]["real"]["ridge"]["r_valence"] > 0.9


def test_tag_targets_mask_unannotated_kinds():
    composer = Record("a.flac", 30.0, 32000, "composer", "CC0", tags=["jazz", "piano", "drums"])
    composer2 = Record("b.flac", 30.0, 32000, "composer", "CC0", tags=["rock", "drums"])
    game = Record("c.ogg", 90.0, 44100, "debian/pkg", "GPL", tags=["calm", "Q4", "game"])
    y, mask = tag_targets([composer, composer2, game], ("game", "jazz", "piano", "drums"))
    assert y.tolist() == [[0, 1, 1, 1], [0, 0, 0, 1], [1, 0, 0, 0]]
    # Genres are annotated by both sources; instruments only by the composer, so they say nothing for game music.
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]


def test_training_windows_stay_inside_long_records():
    assert training_windows(20.0) == [(0.0, 20.0)]
    assert training_windows(200.0, extra=True) == [(85.0, 30.0), (55.0, 30.0), (115.0, 30.0)]
    assert training_windows(60.0, extra=True) == [(15.0, 30.0)]


def test_shipped_model_is_small_and_used_by_analyze(tmp_path):
    directory = default_emotion_dir()
    assert (directory / "config.json").is_file(), "the emotion model must ship in audiogen/pretrained/default/emotion"
    assert (directory / "model.safetensors").stat().st_size < 1_000_000
    model = EmotionModel.from_pretrained(directory)
    assert model.config.label_sources and model.config.tags

    t = np.arange(3 * 32000) / 32000
    y = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * 0.15 * (1 + np.sign(np.sin(2 * np.pi * 2 * t)))
    path = save_audio(tmp_path / "chord.wav", (y / 2).astype(np.float32), 32000)
    result = audiogen.analyze(path)
    assert result["method"].startswith("emotion model")
    assert -1 <= result["valence"] <= 1 and -1 <= result["arousal"] <= 1
    assert set(result["tag_scores"]) == set(model.config.tags)
    assert all(0 <= p <= 1 for p in result["tag_scores"].values())
    assert set(result["tags"]) <= set(model.config.tags)
    assert result["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and -40 < result["loudness_lufs"] < 0
