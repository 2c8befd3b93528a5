"""The ``slice_suggestion`` infer task ranks by the engine's suggestion scores (expected errors
plus the label's area change), not by the expected errors alone; the ensemble is a stub here."""

from __future__ import annotations

import numpy as np

import infers.slice_suggestion as task_module
from infers.slice_suggestion import SliceSuggestion
from lib.active_learning.scores import rank_slices, suggestion_scores
from lib.active_learning.uncertainty import UncertaintyMaps


def _maps() -> UncertaintyMaps:
    """A GTV (X, Y, Z) = (6, 6, 7) of areas 0, 4, 25, 25, 25, 0, 0 along axis 2, doubted most on slice 3."""
    label = np.zeros((6, 6, 7), np.uint8)
    label[1:3, 1:3, 1] = 1
    label[0:5, 0:5, 2:5] = 1
    p_gtv = (label == 1).astype(np.float32)
    p_gtv[0:5, 0:5, 3] = 0.55  # argmax stays GTV; 25 x 0.45 expected wrong voxels, the most of any slice
    probabilities = np.stack([1 - p_gtv, p_gtv, np.zeros_like(p_gtv)])
    return UncertaintyMaps(probabilities, label[None], ("unet/identity",), np.diag([3.0, 3.0, 6.0, 1.0]))


def test_the_served_ranking_is_the_engines_suggestion(tmp_path, monkeypatch):
    weights, image = tmp_path / "weights.pt", tmp_path / "image.nii.gz"
    weights.write_bytes(b"weights")
    image.write_bytes(b"image")  # only its name and stat are read: the ensemble is stubbed
    maps = _maps()
    monkeypatch.setattr(task_module, "uncertainty_maps", lambda *args, **kwargs: maps)
    task = SliceSuggestion(str(weights))
    monkeypatch.setattr(task, "_get_network", lambda *args, **kwargs: None)
    _, answer = task({"image": str(image), "top": 3, "structure": "gtv"})
    expected = rank_slices(suggestion_scores(maps.probabilities, maps.label, 2, (1,)), top=3)
    assert answer["axis"] == 2 and answer["slices"] == expected
    assert answer["slices"][0]["index"] == 1  # where the GTV grows from 4 to 25 voxels, not slice 3
    _, later = task({"image": str(image), "top": 1, "structure": "gtv", "exclude": [1, 2, 4, 5]})
    assert later["slices"][0]["index"] == 3
