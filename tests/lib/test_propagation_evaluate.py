"""The slice-edit evaluation's pieces: regions, the simulated user's label, summaries."""

from __future__ import annotations

import numpy as np

from lib.propagation.evaluate import case_metrics, markdown, slab, summarise, user_label


def test_slab_covers_the_edited_slices_and_their_neighbours():
    mask = slab((4, 4, 20), 2, [3, 17], 2)
    assert mask.any(axis=(0, 1)).nonzero()[0].tolist() == [1, 2, 3, 4, 5, 15, 16, 17, 18, 19]


def test_user_label_redraws_only_the_structure_on_the_edited_slices():
    prediction = np.zeros((6, 6, 4), np.uint8)
    prediction[0:2, 0:2, :] = 2  # heart
    prediction[3:5, 3:5, :] = 1  # a wrong GTV
    truth = np.zeros_like(prediction)
    truth[0:2, 0:2, :] = 2
    truth[1:3, 4:6, :] = 1
    label = user_label(prediction, truth, 1, [2])
    assert np.array_equal(label[..., 2] == 1, truth[..., 2] == 1)
    assert np.array_equal(label[..., 2] == 2, prediction[..., 2] == 2)  # the heart untouched
    assert np.array_equal(label[..., 1], prediction[..., 1])  # other slices untouched


def test_far_dice_ignores_the_edited_neighbourhood():
    truth = np.zeros((8, 8, 20), bool)
    truth[2:6, 2:6, 2:18] = True
    pred = truth.copy()
    pred[..., 8:13] = False  # wrong only near slice 10
    metrics = case_metrics(pred, truth, (1.0, 1.0, 1.0), [10])
    assert metrics["far_dsc"] == 1.0 and metrics["whole"]["dsc"] < 1.0 and metrics["sub"]["dsc"] == 0.0


def test_summary_means_and_the_low_base_subset():
    def case(base, paste):
        methods = {name: {"whole": {"dsc": d, "hd95_mm": 1.0, "sensitivity": d, "specificity": 1.0},
                          "sub": {"dsc": d, "hd95_mm": 1.0, "sensitivity": d, "specificity": 1.0}, "far_dsc": d}
                   for name, d in (("base", base), ("paste", paste))}
        return {"base_dsc": base, "by_k": {"1": {"slices": [3], "methods": methods, "seconds_per_edit": {}}}}

    summary = summarise({"a": case(0.5, 0.7), "b": case(0.9, 0.95)}, [1])
    assert summary["1"]["paste"]["dsc"] == (0.7 + 0.95) / 2
    assert summary["1"]["paste"]["dsc_base_under_0.8"] == 0.7
    assert summary["1"]["cases_base_under_0.8"] == 1
    text = markdown({"name": "t", "description": "d", "summary": summary, "command": "c", "machine": "m", "minutes": 1.0})
    assert "| paste | 0.825 | 0.700 |" in text
