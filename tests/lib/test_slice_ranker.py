"""The slice ranker: its features per slice, its fit, its save/load, and its served scores."""

from __future__ import annotations

import numpy as np
import pytest

from lib.active_learning.slice_features import FEATURES, slice_features
from lib.active_learning.slice_ranker import (
    SliceRanker,
    fit_ranker,
    load_ranker,
    ranked_scores,
    save_ranker,
    seen_slices,
)


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURES.index(name)]


def _structure() -> tuple[np.ndarray, np.ndarray]:
    """A GTV label (6, 6, 7) with areas 0, 4, 25, 25, 25, 0, 0 along axis 2 and a belief that
    doubts slice 3 (p 0.55) and sees a little of the structure on slice 5 (p 0.3 on 4 voxels)."""
    label = np.zeros((6, 6, 7), np.uint8)
    label[1:3, 1:3, 1] = 1
    label[0:5, 0:5, 2:5] = 1
    p = (label == 1).astype(np.float64)
    p[0:5, 0:5, 3] = 0.55
    p[1:3, 1:3, 5] = 0.3
    return p, label


def test_features_are_the_slices_sums_scaled_within_the_image():
    p, label = _structure()
    f = slice_features(p, label, 2, 1)
    assert f.shape == (7, len(FEATURES))
    errors = np.array([0, 0, 0, 25 * 0.45, 0, 4 * 0.3, 0])
    np.testing.assert_allclose(_column(f, "errors"), errors / errors.max())
    np.testing.assert_allclose(_column(f, "errors_near_1")[4], (errors[3] + errors[5]) / 2 / errors.max())
    np.testing.assert_allclose(_column(f, "area"), np.array([0, 4, 25, 25, 25, 0, 0]) / 25)
    np.testing.assert_allclose(_column(f, "missing")[[3, 5]], np.array([25 * 0.55 - 25, 4 * 0.3]) / 25)
    np.testing.assert_allclose(_column(f, "false_negative")[5], 1.2 / errors.max())
    np.testing.assert_allclose(_column(f, "false_positive")[3], 25 * 0.45 / errors.max())
    np.testing.assert_array_equal(_column(f, "outside"), [1, 0, 0, 0, 0, 1, 1])
    centrality = _column(f, "centrality")  # extent 1..4, centre 2.5
    assert centrality[2] == centrality[3] > centrality[1] == centrality[4] > 0 > centrality[6]


def test_features_do_not_change_with_the_axis_order_or_the_image_size():
    p, label = _structure()
    f = slice_features(p, label, 2, 1)
    np.testing.assert_allclose(slice_features(np.moveaxis(p, 2, 0), np.moveaxis(label, 2, 0), 0, 1), f)
    big_p, big_label = np.kron(p, np.ones((2, 2, 1))), np.kron(label, np.ones((2, 2, 1), np.uint8))
    np.testing.assert_allclose(slice_features(big_p, big_label, 2, 1), f)  # 4x the voxels per slice
    with pytest.raises(ValueError, match="same shape"):
        slice_features(p[:-1], label, 2, 1)


def test_the_fit_recovers_a_linear_gain_and_ranks_by_it():
    rng = np.random.default_rng(0)
    true_weights = rng.normal(size=len(FEATURES))
    images = []
    for _ in range(30):
        x = rng.normal(size=(9, len(FEATURES)))
        images.append((x, 0.8 + 0.01 * (x @ true_weights)))  # DSC after an edit: linear in the features
    ranker = fit_ranker(images, ridge=0.0)
    # gains are standardised within each image, so one linear score fits them only nearly
    assert np.corrcoef(ranker.weights, true_weights)[0, 1] > 0.98
    tops = [int(np.argmax(ranker.linear(x))) == int(np.argmax(dsc)) for x, dsc in images]
    assert np.mean(tops) >= 0.8  # the ranker's top slice is the truth's best
    shuffled = fit_ranker([(x, dsc[::-1]) for x, dsc in images], ridge=0.0)  # gains that do not follow the features
    assert abs(np.corrcoef(shuffled.weights, true_weights)[0, 1]) < 0.6
    with pytest.raises(ValueError):
        fit_ranker(images, ridge=-1.0)


def test_a_saved_ranker_loads_the_same_and_refuses_other_features(tmp_path):
    rng = np.random.default_rng(1)
    ranker = SliceRanker(rng.normal(size=len(FEATURES)), rng.uniform(1, 2, len(FEATURES)),
                         rng.normal(size=len(FEATURES)), FEATURES, {"ridge": 10.0})
    save_ranker(ranker, tmp_path / "r" / "ranker.json")
    loaded = load_ranker(tmp_path / "r" / "ranker.json")
    x = rng.normal(size=(5, len(FEATURES)))
    np.testing.assert_allclose(loaded.linear(x), ranker.linear(x))
    assert loaded.info == {"ridge": 10.0}
    with pytest.raises(ValueError, match="features"):
        SliceRanker(ranker.mean[:-1], ranker.scale[:-1], ranker.weights[:-1], FEATURES[:-1])


def test_served_scores_are_zero_off_the_slices_the_label_and_belief_leave_empty():
    p, label = _structure()
    probabilities = np.stack([1 - p, p, np.zeros_like(p)])
    rng = np.random.default_rng(2)
    ranker = SliceRanker(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), rng.normal(size=len(FEATURES)))
    scores = ranked_scores(probabilities, label, 2, (1,), ranker)
    np.testing.assert_array_equal(seen_slices(p, label, 2, 1), [False, True, True, True, True, True, False])
    assert scores[0] == scores[6] == 0 and np.all(scores[1:6] > 0)
    np.testing.assert_allclose(scores[1:6], np.exp(ranker.linear(slice_features(p, label, 2, 1)))[1:6])
    both = ranked_scores(probabilities, label, 2, (1, 2), ranker)  # the empty heart adds nothing
    np.testing.assert_allclose(both, scores)
    with pytest.raises(ValueError):
        ranked_scores(probabilities, label, 2, (3,), ranker)
