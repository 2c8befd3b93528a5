"""The Gaussian-click model through a real server and MONAI Label's client, as Slicer's SmartEdit uses it.

The server gets untrained weights written to a temporary folder (``--conf
gaussian_click_models``): these tests check the contract (what ``/info`` declares, answers on
the image's own grid and on the clicked slice only, 4xx for bad clicks), not accuracy; the
click-lands-on-its-voxel tests with a stand-in network are in ``tests/lib``.
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import torch
from monailabel.client.client import MONAILabelClientException

from lib.gaussian_click.network import gaussian_click_net
from lib.phantom.datastore import write_datastore
from tests.server.answer_checks import assert_stage_times
from tests.server.conftest import serving
from tests.server.test_segmentation_server import IMAGES, _status

pytestmark = pytest.mark.slow

MODEL = "gaussian_click_2d"


@pytest.fixture(scope="module")
def gc_server(tmp_path_factory):
    """A server with only the Gaussian-click config and untrained 2D weights (no 3D weights)."""
    root = tmp_path_factory.mktemp("gc_server")
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0)  # RAS, LPS, oblique
    models = root / "models"
    (models / "gaussian_click_2d").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save({"model": gaussian_click_net(2).state_dict()}, models / "gaussian_click_2d" / "weights.pt")
    conf = {"models": "gaussian_click", "model_dir": root / "model", "gaussian_click_models": models}
    with serving(root, studies, conf) as (client, _):
        yield client, studies


def test_info_declares_a_2d_deepgrow_model_for_smartedit(gc_server):
    client, _ = gc_server
    models = client.info()["models"]
    assert models[MODEL]["type"] == "deepgrow" and models[MODEL]["dimension"] == 2
    assert models[MODEL]["labels"] == ["gtv", "heart"]
    assert "gaussian_click_3d" not in models  # no 3D weights, no 3D model


@pytest.mark.parametrize("image_id", IMAGES)
def test_answer_is_on_the_image_grid_and_on_the_clicked_slice_only(gc_server, image_id):
    client, studies = gc_server
    image = nib.load(studies / f"{image_id}.nii.gz")
    truth = np.asarray(nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz").dataobj)
    i, j, k = (int(v) for v in np.argwhere(truth == 2).mean(axis=0).round())  # inside the heart
    params = {"label": "heart", "foreground": [[i, j, k]], "background": [[2, 2, k]]}
    label_file, result = client.infer(MODEL, image_id, params)
    label = nib.load(label_file)
    assert label.shape == image.shape
    np.testing.assert_allclose(label.affine, image.affine, atol=1e-3)
    values = np.asarray(label.dataobj)
    assert set(np.unique(values)) <= {0, 1}
    assert set(np.flatnonzero(values.any(axis=(0, 1)))) <= {k}
    assert result["label_names"] == ["gtv", "heart"]
    assert_stage_times(result)

    # OHIF's panel asks for an uncompressed uint8 NRRD: the same answer, voxel for voxel
    ohif, _ = client.infer(MODEL, image_id, {**params, "result_extension": ".nrrd", "result_dtype": "uint8",
                                             "result_compress": False})
    data, header = nrrd.read(ohif)
    assert ohif.endswith(".nrrd") and header["encoding"] == "raw" and header["type"] == "uint8"
    np.testing.assert_array_equal(data, values)

    uncached, _ = client.infer(MODEL, image_id, {**params, "use_cache": False})
    np.testing.assert_array_equal(np.asarray(nib.load(uncached).dataobj), values)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"foreground": [[500, 1, 1]]}, "click foreground[0] = [500, 1, 1] is outside the image"),
        ({"foreground": [[1, 2]]}, "click foreground[0] = [1, 2] is not a point"),
        ({"foreground": [], "background": []}, "no clicks"),
        ({"foreground": [[1, 2, 3]], "background": "left"}, "clicks 'background' must be a list"),
    ],
)
def test_bad_clicks_are_a_422_that_names_them(gc_server, params, words):
    client, _ = gc_server
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(MODEL, "phantom_0000", params)
    assert _status(error.value) == 422 and words in error.value.msg
    assert client.info()["models"][MODEL]


def test_a_session_image_is_segmented(gc_server):
    client, studies = gc_server
    session_id = client.create_session(str(studies / "phantom_0002.nii.gz"))["session_id"]
    params = {"foreground": [[50, 50, 20]]}
    first, _ = client.infer(MODEL, "", params, session_id=session_id)
    second, _ = client.infer(MODEL, "", params, session_id=session_id)
    assert nib.load(first).shape == nib.load(studies / "phantom_0002.nii.gz").shape
    np.testing.assert_array_equal(np.asarray(nib.load(first).dataobj), np.asarray(nib.load(second).dataobj))


def test_deepedit_style_clicks_under_the_label_name_are_foreground(gc_server):
    client, studies = gc_server
    params = {"label": "heart", "heart": [[56, 48, 20]], "gtv": [[5, 5, 20]], "background": []}
    label_file, _ = client.infer(MODEL, "phantom_0000", params)
    assert nib.load(label_file).shape == nib.load(studies / "phantom_0000.nii.gz").shape
    with pytest.raises(MONAILabelClientException) as error:  # another label's points are not this one's
        client.infer(MODEL, "phantom_0000", {"label": "heart", "gtv": [[5, 5, 20]]})
    assert _status(error.value) == 422 and "no clicks" in error.value.msg


def test_training_runs_the_click_loop_and_publishes_the_served_weights(gc_server, tmp_path):
    """Runs last: afterwards the server serves the barely trained model."""
    client, studies = gc_server
    assert "gaussian_click" in client.info()["trainers"]
    client.train_start("gaussian_click", {"max_epochs": 1, "val_split": 0.34, "max_interactions": 2,
                                          "train_batch_size": 2, "name": "to_the_end"})
    deadline = time.time() + 600
    while time.time() < deadline and client.train_status()["status"] != "DONE":
        assert client.train_status()["status"] in ("SUBMITTED", "RUNNING", "DONE"), client.train_status()
        time.sleep(2)
    assert client.info()["train_stats"]["gaussian_click"]["total_epochs"] == 1
    deadline = time.time() + 30
    while time.time() < deadline and not (gc_server_model_dir(studies) / "gaussian_click_2d.pt").exists():
        time.sleep(1)
    assert (gc_server_model_dir(studies) / "gaussian_click_2d.pt").exists()
    label_file, _ = client.infer(MODEL, "phantom_0000", {"foreground": [[56, 48, 20]]})
    assert nib.load(label_file).shape == nib.load(studies / "phantom_0000.nii.gz").shape


def gc_server_model_dir(studies: Path) -> Path:
    """The server's ``--conf model_dir`` (next to its datastore)."""
    return studies.parent / "model"


@pytest.fixture(scope="module")
def gc3d_server(tmp_path_factory):
    """A server with untrained 2D and 3D Gaussian-click weights."""
    root = tmp_path_factory.mktemp("gc3d_server")
    studies = root / "datastore"
    write_datastore(studies, cases=1, first_seed=0)
    models = root / "models"
    torch.manual_seed(0)
    for dims in (2, 3):
        (models / f"gaussian_click_{dims}d").mkdir(parents=True)
        torch.save({"model": gaussian_click_net(dims).state_dict()}, models / f"gaussian_click_{dims}d" / "weights.pt")
    conf = {"models": "gaussian_click", "model_dir": root / "model", "gaussian_click_models": models}
    with serving(root, studies, conf) as (client, _):
        yield client, studies


def test_3d_model_corrects_the_uploaded_previous_answer_only_where_a_click_contradicts_it(gc3d_server, tmp_path):
    client, studies = gc3d_server
    image = nib.load(studies / "phantom_0000.nii.gz")
    previous = np.zeros(image.shape, np.uint8)
    previous[40:60, 40:60, 15:25] = 1
    path = tmp_path / "previous.nii.gz"
    nib.save(nib.Nifti1Image(previous, image.affine), path)
    # A foreground click inside the previous answer contradicts nothing: the answer stays as it was.
    label_file, result = client.infer("gaussian_click_3d", "phantom_0000", {"foreground": [[50, 50, 20]]},
                                      label_in=str(path))
    assert_stage_times(result)
    answer = nib.load(label_file)
    assert answer.shape == image.shape
    np.testing.assert_array_equal(np.asarray(answer.dataobj) != 0, previous != 0)

    wrong = tmp_path / "wrong.nii.gz"
    nib.save(nib.Nifti1Image(previous[:, :, :10], image.affine), wrong)
    with pytest.raises(MONAILabelClientException) as error:
        client.infer("gaussian_click_3d", "phantom_0000", {"foreground": [[50, 50, 20]]}, label_in=str(wrong))
    assert _status(error.value) == 422 and "uploaded previous label has shape" in error.value.msg
