"""DIN through a real server and MONAI Label's client: what /info declares, answers on the image
grid, box mode, and 422s that name a bad click, sigma, gamma or box.

Untrained tiny weights (their widths are saved with them and the config builds that network):
these tests check the contract, not accuracy; clicks landing on their voxel are tested in
``tests/lib/test_din_predict.py`` with a stand-in network.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monailabel.client.client import MONAILabelClientException

from lib.din.network import din_network
from lib.phantom.datastore import write_datastore
from tests.server.answer_checks import assert_stage_times
from tests.server.conftest import serving
from tests.server.test_segmentation_server import IMAGES, _status

pytestmark = pytest.mark.slow

MODEL = "din"
WIDTHS = (2, 3, 4, 5, 6)


@pytest.fixture(scope="module")
def din_server(tmp_path_factory):
    """A server with only the DIN config and untrained tiny weights."""
    root = tmp_path_factory.mktemp("din_server")
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0)  # RAS, LPS, oblique
    (root / "models" / "din").mkdir(parents=True)
    torch.manual_seed(0)
    weights = {"model": din_network(WIDTHS).state_dict(), "widths": list(WIDTHS), "deep_guides": True,
               "guide": "exp", "sigma": [5.0, 5.0, 1.0], "gamma": 1.0}
    torch.save(weights, root / "models" / "din" / "weights.pt")
    conf = {"models": "din", "model_dir": root / "model", "din_models": root / "models"}
    with serving(root, studies, conf) as (client, _):
        yield client, studies


def test_info_declares_a_3d_deepgrow_gtv_model(din_server):
    client, _ = din_server
    model = client.info()["models"][MODEL]
    assert model["type"] == "deepgrow" and model["dimension"] == 3 and model["labels"] == ["gtv"]
    assert "din" in client.info()["trainers"]
    assert model["precision"] == "float32"  # bfloat16 is no faster for DIN (benchmarks/precision.py)


@pytest.mark.parametrize("image_id", IMAGES)
def test_answer_is_on_the_image_grid(din_server, image_id):
    client, studies = din_server
    image = nib.load(studies / f"{image_id}.nii.gz")
    params = {"foreground": [[50, 40, 20]], "background": [[10, 10, 20]], "sigma": [6, 6, 1.5], "gamma": 1}
    label_file, result = client.infer(MODEL, image_id, params)
    assert_stage_times(result)
    label = nib.load(label_file)
    assert label.shape == image.shape
    np.testing.assert_allclose(label.affine, image.affine, atol=1e-3)
    assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1}


def test_box_mode_answers_inside_the_box_only(din_server):
    client, studies = din_server
    box = [[40, 30, 15], [60, 50, 25]]
    label_file, _ = client.infer(MODEL, "phantom_0000", {"foreground": [[50, 40, 20]], "boxes": [box]})
    values = np.asarray(nib.load(label_file).dataobj)
    inside = np.zeros(values.shape, bool)
    inside[40:61, 30:51, 15:26] = True
    assert not values[~inside].any()
    uncached, _ = client.infer(MODEL, "phantom_0000", {"foreground": [[50, 40, 20]], "boxes": [box],
                                                        "use_cache": False})
    np.testing.assert_array_equal(np.asarray(nib.load(uncached).dataobj), values)
    inverted = [box[1], box[0]]  # dragged from the far corner: the same two opposite corners
    flipped, _ = client.infer(MODEL, "phantom_0000", {"foreground": [[50, 40, 20]], "boxes": [inverted]})
    np.testing.assert_array_equal(np.asarray(nib.load(flipped).dataobj), values)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"foreground": [[500, 1, 1]]}, "click foreground[0] = [500, 1, 1] is outside the image"),
        ({"foreground": [[1, 2]]}, "click foreground[0] = [1, 2] is not a point"),
        ({"foreground": [], "background": []}, "no clicks"),
        ({"foreground": [[1, 2, 3]], "sigma": [1, 2]}, "sigma must be"),
        ({"foreground": [[1, 2, 3]], "gamma": -1}, "gamma must be a positive number"),
        ({"foreground": [[1, 2, 3]], "sigma": 1e9}, "sigma must be at most 64 model voxels"),
        ({"foreground": [[1, 2, 3]], "gamma": 1e9}, "gamma must be at most 10"),
        ({"foreground": [[1, 2, 3]], "boxes": [[[0, 0, 0], [500, 5, 5]]]}, "boxes[0]"),
        ({"foreground": [[1, 2, 3]], "boxes": "everywhere"}, "boxes must be a list"),
        ({"foreground": [[1, 2, 3]], "click_window": "maybe"}, "click_window must be true or false"),
    ],
)
def test_bad_requests_are_a_422_that_names_what_is_wrong(din_server, params, words):
    client, _ = din_server
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(MODEL, "phantom_0000", params)
    assert _status(error.value) == 422 and words in error.value.msg
    assert client.info()["models"][MODEL]

