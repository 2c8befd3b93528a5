"""Slice-edit propagation through a real server and MONAI Label's client, as the Slicer module uses it.

The request uploads the user's current label with the redrawn slices; the answer is the
whole 3D label on the image's grid with those slices exactly as drawn. The network is the
shipped automatic model.
"""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from monailabel.client.client import MONAILabelClientException

from lib.phantom.datastore import write_datastore
from tests.server.answer_checks import assert_stage_times
from tests.server.conftest import serving
from tests.server.test_segmentation_server import IMAGES, _status

pytestmark = pytest.mark.slow

MODEL = "slice_propagation"


@pytest.fixture(scope="module")
def sp_server(tmp_path_factory):
    """A server with the automatic model and slice propagation, on three labelled phantoms."""
    root = tmp_path_factory.mktemp("sp_server")
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0, labelled=3)  # RAS, LPS, oblique
    conf = {"models": "segmentation,slice_propagation", "model_dir": root / "model"}
    with serving(root, studies, conf) as (client, _):
        yield client, studies, root


def edited_prediction(client, studies, image_id, tmp_path):
    """The model's answer with the GTV of its middle slice redrawn as the truth; (file, label, slice)."""
    predicted, _ = client.infer("segmentation", image_id, {})
    label_image = nib.load(predicted)
    label = np.asarray(label_image.dataobj).astype(np.uint8)
    truth = np.asarray(nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz").dataobj).astype(np.uint8)
    k = int(np.flatnonzero((truth == 1).any(axis=(0, 1))).mean())
    plane = label[..., k]
    plane[plane == 1] = 0
    plane[truth[..., k] == 1] = 1
    plane[2:5, 2:5] = 1  # a mark the network would never draw: must come back as drawn
    path = tmp_path / f"{image_id}_edited.nii.gz"
    nib.save(nib.Nifti1Image(label, label_image.affine), path)
    return path, label, k


def test_info_lists_the_task(sp_server):
    client, _, _ = sp_server
    model = client.info()["models"][MODEL]
    assert model["type"] == "others" and model["labels"] == {"gtv": 1, "heart": 2}
    assert MODEL in client.info()["trainers"]


@pytest.mark.parametrize("image_id", IMAGES)
def test_whole_label_comes_back_on_the_image_grid_with_the_edit_as_drawn(sp_server, image_id, tmp_path):
    client, studies, _ = sp_server
    path, label, k = edited_prediction(client, studies, image_id, tmp_path)
    answer_file, result = client.infer(MODEL, image_id, {"slices": [k], "axis": 2}, label_in=str(path))
    image, answer = nib.load(studies / f"{image_id}.nii.gz"), nib.load(answer_file)
    values = np.asarray(answer.dataobj)
    assert values.shape == image.shape[:3]
    np.testing.assert_allclose(answer.affine, image.affine, atol=1e-3)
    np.testing.assert_array_equal(values[..., k], label[..., k])
    assert set(np.unique(values)) <= {0, 1, 2} and (values == 2).sum() > 1000  # the heart is still there
    assert result["features_cached"] is False and len(result["edits"]) == 1
    assert_stage_times(result)
    assert result["path"] in ("network", "correction", "fallback") and result["why"]
    changed = np.flatnonzero((values != label).any(axis=(0, 1))).tolist()
    assert result["changes"]["slices_touched"] == changed
    again, result = client.infer(MODEL, image_id, {"slices": [k], "axis": 2}, label_in=str(path))
    assert result["features_cached"] is True  # the second edit did not re-run the network's front
    np.testing.assert_array_equal(np.asarray(nib.load(again).dataobj), values)


def test_a_label_from_elsewhere_is_corrected_near_the_edit_and_kept_elsewhere(sp_server, tmp_path):
    """The user's GTV is the truth eroded by a voxel (no network draws that); they redraw one slice."""
    from lib.propagation.bases import eroded

    client, studies, _ = sp_server
    truth_file = nib.load(studies / "labels" / "final" / "phantom_0000.nii.gz")
    truth = np.asarray(truth_file.dataobj).astype(np.uint8)
    label = np.where(truth == 1, 0, truth).astype(np.uint8)
    label[eroded(truth == 1)] = 1
    k = int(np.flatnonzero((truth == 1).any(axis=(0, 1))).mean())
    label[..., k] = truth[..., k]
    path = tmp_path / "eroded.nii.gz"
    nib.save(nib.Nifti1Image(label, truth_file.affine), path)
    answer_file, result = client.infer(MODEL, "phantom_0000", {"slices": [k], "classes": ["gtv"]},
                                       label_in=str(path))
    values = np.asarray(nib.load(answer_file).dataobj)
    assert result["path"] in ("correction", "fallback") and result["agreement"] < 0.9, result["why"]
    assert result["classes"] == [1] and result["classes_from"] == "request"
    touched = result["changes"]["slices_touched"]
    assert touched and all(abs(s - k) <= 3 for s in touched) and k not in touched
    far = np.abs(np.arange(label.shape[2]) - k) > 3
    np.testing.assert_array_equal(values[..., far], label[..., far])  # the user's label, untouched
    np.testing.assert_array_equal(values == 2, label == 2)  # the heart they did not redraw, as it was
    grown = ((values == 1) & (truth == 1)).sum() - ((label == 1) & (truth == 1)).sum()
    assert grown > 0 and result["changes"]["voxels_added"] > 0  # the eroded GTV grew toward the truth
    _, paper = client.infer(MODEL, "phantom_0000", {"slices": [k], "correct": False}, label_in=str(path))
    assert paper["path"] == "network" and paper["agreement"] is None


@pytest.mark.parametrize(
    "params, label, words",
    [
        ({"slices": [40]}, "edited", "slice 40 is outside the image: axis 2 has slices 0..39"),
        ({"slices": [5], "axis": 3}, "edited", "axis must be 0, 1 or 2"),
        ({"axis": 2}, "edited", "params must name the edited slices"),
        ({"slices": [5], "level": 7}, "edited", "level must be one of [1, 2, 3]"),
        ({"slices": [5], "correct": "yes"}, "edited", "correct must be true or false"),
        ({"slices": [5], "classes": ["lung"]}, "edited", "class name 'lung' is not one of this app's labels"),
        ({"slices": [5], "classes": [7]}, "edited", "class 7 is not one of this app's labels [1, 2]"),
        ({"slices": [5], "classes": 1}, "edited", "classes must be a list"),
        ({"slices": [5]}, None, "upload the current label"),
        ({"slices": [5]}, "small", "label shape [10, 10, 10] differs from the image's [112, 96, 40]"),
        ({"slices": [5]}, "empty", "nothing to propagate: the edited slices [5] are empty"),
    ],
)
def test_bad_requests_are_a_422_that_says_why(sp_server, tmp_path, params, label, words):
    client, studies, _ = sp_server
    image = nib.load(studies / "phantom_0000.nii.gz")
    arrays = {
        "edited": np.asarray(nib.load(studies / "labels" / "final" / "phantom_0000.nii.gz").dataobj).astype(np.uint8),
        "small": np.zeros((10, 10, 10), np.uint8),
        "empty": np.zeros(image.shape[:3], np.uint8),
    }
    label_in = None
    if label is not None:
        label_in = tmp_path / "label.nii.gz"
        nib.save(nib.Nifti1Image(arrays[label], image.affine), label_in)
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(MODEL, "phantom_0000", params, label_in=str(label_in) if label_in else None)
    assert _status(error.value) == 422 and words in error.value.msg
    assert MODEL in client.info()["models"]  # still serving


def test_training_publishes_a_fusion_module_the_task_then_uses(sp_server, tmp_path):
    """Runs last: afterwards the server serves the barely trained fusion module."""
    client, studies, root = sp_server
    client.train_start(MODEL, {"epochs": 1, "minutes": 0.1})
    deadline = time.time() + 600
    while time.time() < deadline and client.train_status()["status"] != "DONE":
        assert client.train_status()["status"] in ("SUBMITTED", "RUNNING", "DONE"), client.train_status()
        time.sleep(2)
    published = root / "model" / f"{MODEL}_fusion.pt"
    assert published.exists() and published.with_suffix(".md").exists()
    path, label, k = edited_prediction(client, studies, "phantom_0000", tmp_path)
    _, result = client.infer(MODEL, "phantom_0000", {"slices": [k]}, label_in=str(path))
    assert result["fusion"] == f"on: {published}"  # the newest module, trained for the served weights
