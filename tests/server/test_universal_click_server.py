"""The universal click task through a real server and MONAI Label's client: /info declares it
with its intensity policies, it answers on the image's own grid for CT and a non-CT image,
and a bad policy is a 422 naming it. Shipped weights; accuracy is the harness's job."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from monailabel.client.client import MONAILabelClientException

from lib.phantom.datastore import write_datastore
from lib.phantom.io import save_nifti_atomic
from lib.precision import resolve
from tests.server.answer_checks import assert_stage_times
from tests.server.conftest import serving

pytestmark = pytest.mark.slow
MODEL = "universal_click"


@pytest.fixture(scope="module")
def uc_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("uc_server")
    studies = root / "datastore"
    write_datastore(studies, cases=2, first_seed=0)
    image = nib.load(studies / "phantom_0001.nii.gz")
    save_nifti_atomic((-np.asarray(image.dataobj)).astype(np.float32), image.affine, studies / "inverted_0001.nii.gz")
    with serving(root, studies, {"models": "universal_click", "model_dir": root / "model"}) as (client, _):
        yield client, studies


def test_info_lists_the_task_with_its_intensity_policies(uc_server):
    client, _ = uc_server
    model = client.info()["models"][MODEL]
    assert model["type"] == "deepgrow" and model["dimension"] == 3
    assert model["config"]["intensity_policies"]["choices"] == ["auto", "ct", "percentile"]
    assert "gtv" in model["config"]["held_out_structures"]
    # the served model is the one that corrects the graph-cut proposal (4 input channels), said in /info
    assert model["config"]["model"] == "gc" and model["config"]["input_channels"] == 4
    assert "graph cut" in model["config"]["proposal"]
    # its forward passes: bfloat16 on a CPU with AMX bfloat16 units, float32 elsewhere (lib.precision)
    assert model["precision"] == resolve("auto", "cpu")


@pytest.mark.parametrize("image_id, policy", [("phantom_0001", "auto"), ("inverted_0001", "percentile")])
def test_answer_is_a_label_on_the_image_grid(uc_server, image_id, policy):
    client, studies = uc_server
    image = nib.load(studies / f"{image_id}.nii.gz")
    truth = np.asarray(nib.load(studies / "labels" / "final" / "phantom_0001.nii.gz").dataobj)
    i, j, k = (int(v) for v in np.argwhere(truth == 2).mean(axis=0).round())
    label_file, result = client.infer(MODEL, image_id, {"foreground": [[i, j, k]], "intensity_policy": policy})
    assert_stage_times(result)
    label = nib.load(label_file)
    assert label.shape == image.shape
    assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1}


def test_unknown_policy_is_a_422_naming_it(uc_server):
    client, _ = uc_server
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(MODEL, "phantom_0001", {"foreground": [[10, 10, 10]], "intensity_policy": "mri"})
    assert "422" in str(error.value) or "intensity_policy" in str(error.value)
    assert "intensity_policy" in str(error.value)


def test_a_later_click_is_answered_as_the_harness_answers_it(uc_server):
    """Two clicks (the click cut's case): the served label is the harness's step
    (lib.universal_click.segmenter.answer_clicks) on the same image and weights."""
    from infers.universal_click import load_prepared
    from lib.evaluation.protocol import spacing_of
    from lib.interaction.clicks import Click
    from lib.universal_click.network import load_universal
    from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, answer_clicks, correction_settings, recut_settings

    client, studies = uc_server
    image = nib.load(studies / "phantom_0001.nii.gz")
    truth = np.asarray(nib.load(studies / "labels" / "final" / "phantom_0001.nii.gz").dataobj)
    fg = [int(v) for v in np.argwhere(truth == 2).mean(axis=0).round()]
    bg = [min(fg[0] + 12, image.shape[0] - 1), fg[1], fg[2]]
    label_file, _ = client.infer(MODEL, "phantom_0001", {"foreground": [fg], "background": [bg]})
    served = np.asarray(nib.load(label_file).dataobj) > 0
    network = load_universal(PROPOSAL_WEIGHTS)
    assert recut_settings(network) is not None
    clicks = [Click(tuple(fg), True), Click(tuple(bg), False)]
    expected, _ = answer_clicks(network, load_prepared(str(studies / "phantom_0001.nii.gz"), "auto"), clicks, None,
                                spacing_of(image.affine), "cpu", correction_settings(network), recut_settings(network))
    assert np.array_equal(served, expected > 0.5)
