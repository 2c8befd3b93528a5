"""2S-ICR through a real server and MONAI Label's client: Algorithm 1 across requests.

The server serves the shipped automatic model (``segmentation``) and 2S-ICR with it as stage
1 and a seeded, untrained refinement net (``--conf two_stage_refinement``): these tests check
the contract (what ``/info`` declares, 0 clicks = stage 1, each click refines the session's
LAST answer with ALL clicks, an uploaded label is what gets refined, 4xx for bad clicks) by
recomputing every expected answer in-process with the same weights; accuracy is measured
by the evaluation harness (``results/two_stage_ct``).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from lib.evaluation.precision import environment_precision
from lib.interaction.clicks import Click
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_nifti_atomic, save_phantom
from lib.two_stage.engine import TwoStageModel, next_answer
from lib.two_stage.network import CPU_CHANNELS, refinement_unet
from lib.two_stage.preprocess import prepare_file
from tests.server.answer_checks import assert_stage_times
from tests.server.conftest import serving
from tests.server.test_segmentation_server import _status

pytestmark = pytest.mark.slow

MODEL = "two_stage"
STAGE1 = "models/segmentation/weights.pt"
IMAGES = ("small_ras", "small_lps")


@pytest.fixture(scope="module")
def ts_server(tmp_path_factory):
    """The segmentation and 2S-ICR configs on two small phantoms (RAS, LPS)."""
    root = tmp_path_factory.mktemp("ts_server")
    studies = root / "datastore"
    for image_id, orientation in zip(IMAGES, ("RAS", "LPS")):
        phantom = generate_phantom(PhantomConfig(seed=905, shape=(48, 48, 24), orientation=orientation))
        save_phantom(phantom, studies / f"{image_id}.nii.gz", studies / "labels" / "final" / f"{image_id}.nii.gz")
    torch.manual_seed(0)
    network = refinement_unet(1)
    last = [m for m in network.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))][-1]
    with torch.no_grad():  # untrained logits are near 0: scale them so answers do not hinge on rounding
        last.weight.mul_(1000.0)
        last.bias.mul_(1000.0)
    refinement = root / "refinement.pt"
    torch.save({"model": network.state_dict(), "image_channels": 1, "channels": list(CPU_CHANNELS)}, refinement)
    conf = {"models": "segmentation,two_stage", "model_dir": root / "model", "two_stage_stage1": STAGE1,
            "two_stage_refinement": refinement,
            # random weights answer a speckle whose voxels hinge on rounding: bfloat16 passes with other
            # thread counts flip 3 % of them, so these history tests compare float32 with float32
            "precision": "float32"}
    model = TwoStageModel.from_weights([STAGE1], [refinement])
    with serving(root, studies, conf) as (client, _):
        yield client, studies, model, root


def _label(path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def _expected(model, image, steps, previous=None, precision="float32") -> np.ndarray:
    """In-process Algorithm 1 over the click lists ``steps`` (each all clicks so far), as a {0, 1}
    label, the refinement's forward passes in ``precision`` (the server's: ``/info``)."""
    prepared = prepare_file(image)
    with environment_precision(precision):
        state = next_answer(model, prepared, ())
        for n, clicks in enumerate(steps):
            state = next_answer(model, prepared, clicks, state, previous if n == 0 else None)
    return (prepared.to_input_grid(state.answer.numpy()) > 0.5).astype(np.uint8)


def _served_precision(client: MONAILabelClient) -> str:
    """The format the server's 2S-ICR task runs its forward passes in."""
    return client.info()["models"][MODEL]["precision"]


def _params(clicks):
    return {"foreground": [list(c.index) for c in clicks if c.positive],
            "background": [list(c.index) for c in clicks if not c.positive]}


def _user(client: MONAILabelClient, root, client_id: str) -> MONAILabelClient:
    """Another client of the same server, as a second Slicer would be (its own ``client_id``)."""
    folder = root / f"client_{client_id}"
    folder.mkdir(exist_ok=True)
    return MONAILabelClient(client._server_url, tmpdir=str(folder), client_id=client_id)


def test_info_declares_a_3d_deepedit_click_model(ts_server):
    client, *_ = ts_server
    model = client.info()["models"][MODEL]
    assert model["type"] == "deepedit" and model["dimension"] == 3
    assert model["labels"]["gtv"] == 1
    assert MODEL in client.info()["trainers"]


@pytest.mark.parametrize("image_id", IMAGES)
def test_no_click_is_the_automatic_models_gtv_exactly(ts_server, image_id):
    client, studies, model, _ = ts_server
    answer, result = client.infer(MODEL, image_id, _params([]))
    assert_stage_times(result)
    automatic, _ = client.infer("segmentation", image_id, {})
    image = nib.load(studies / f"{image_id}.nii.gz")
    assert nib.load(answer).shape == image.shape
    np.testing.assert_allclose(nib.load(answer).affine, image.affine, atol=1e-3)
    np.testing.assert_array_equal(_label(answer), (_label(automatic) == 1).astype(np.uint8))
    np.testing.assert_array_equal(_label(answer), _expected(model, studies / f"{image_id}.nii.gz", []))


def test_a_second_click_refines_the_last_answer_with_all_clicks(ts_server):
    client, studies, model, root = ts_server
    image = studies / "small_lps.nii.gz"
    c1, c2 = Click((24, 24, 12), True), Click((10, 30, 8), False)
    user, other = _user(client, root, "user"), _user(client, root, "someone_else")
    user.infer(MODEL, "small_lps", _params([]))
    user.infer(MODEL, "small_lps", _params([c1]))
    stepwise, result = user.infer(MODEL, "small_lps", _params([c1, c2]))
    assert_stage_times(result)
    at_once, _ = other.infer(MODEL, "small_lps", _params([c1, c2]))
    precision = _served_precision(client)
    expected_stepwise = _expected(model, image, [[c1], [c1, c2]], precision=precision)
    expected_at_once = _expected(model, image, [[c1, c2]], precision=precision)
    differ = (expected_stepwise != expected_at_once).mean()
    assert differ > 0.01  # the two histories give clearly different answers
    # the server's threads may round differently from this process's: allow a few boundary voxels
    assert (_label(stepwise) != expected_stepwise).mean() < differ / 20
    assert (_label(at_once) != expected_at_once).mean() < differ / 20


def test_an_uploaded_label_is_what_gets_refined(ts_server):
    client, studies, model, root = ts_server
    image = nib.load(studies / "small_ras.nii.gz")
    seen = np.zeros(image.shape, np.uint8)
    seen[18:30, 18:30, 8:16] = 1
    upload = save_nifti_atomic(seen, image.affine, root / "seen.nii.gz")
    click = Click((24, 24, 12), True)
    answer, _ = _user(client, root, "uploader").infer(MODEL, "small_ras", _params([click]), label_in=str(upload))
    precision = _served_precision(client)
    expected = _expected(model, studies / "small_ras.nii.gz", [[click]], previous=seen.astype(np.float32),
                         precision=precision)
    ignored = _expected(model, studies / "small_ras.nii.gz", [[click]], precision=precision)
    differ = (expected != ignored).mean()
    assert differ > 0.01
    assert (_label(answer) != expected).mean() < differ / 20


@pytest.mark.parametrize(
    "params, words",
    [
        ({"foreground": [[500, 1, 1]]}, "click foreground[0] = [500, 1, 1] is outside the image"),
        ({"foreground": [[1, 2]]}, "click foreground[0] = [1, 2] is not a point"),
        ({"foreground": [[1, 2, 3]], "background": "left"}, "clicks 'background' must be a list"),
        ({"gtv": [[1, 2, float("nan")]]}, "not a finite number"),
    ],
)
def test_bad_clicks_are_a_422_that_names_them(ts_server, params, words):
    client, *_ = ts_server
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(MODEL, "small_ras", params)
    assert _status(error.value) == 422 and words in error.value.msg
    assert client.info()["models"][MODEL]


def test_the_served_format_is_the_conf_one(ts_server):
    """``--conf precision`` reaches the task and ``/info`` says so (the default is ``auto``)."""
    client, *_ = ts_server
    assert _served_precision(client) == "float32"
