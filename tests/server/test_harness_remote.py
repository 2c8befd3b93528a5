"""The evaluation harness drives the live server: what a user gets is what is measured."""

from __future__ import annotations

import numpy as np
import pytest

from lib.evaluation import evaluate
from lib.evaluation.cases import case_from_phantom
from lib.evaluation.remote import RemoteSegmenter
from lib.labels import LABELS
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_phantom
from lib.segmentation.evaluate import load_network
from lib.segmentation.predict import predict_file
from tests.lib.test_segmentation import SHIPPED

pytestmark = pytest.mark.slow


def test_remote_segmenter_answers_what_the_model_answers_locally(server, tmp_path):
    phantom = generate_phantom(PhantomConfig(seed=905, orientation="LPS"))
    case = case_from_phantom(phantom, "heart", "heart_0905", margin_mm=None)
    remote = RemoteSegmenter(
        server.client.get_server_url(), "segmentation", label_value=LABELS["heart"], name="server"
    )
    try:
        result = evaluate([remote], [case], "din_evaluation", max_clicks=1, seed=0)
    finally:
        remote.close()
    save_phantom(phantom, tmp_path / "image.nii.gz")
    local, _ = predict_file(load_network(SHIPPED), tmp_path / "image.nii.gz")
    local_dice = 2 * np.logical_and(local == 2, phantom.label == 2).sum() / ((local == 2).sum() + (phantom.label == 2).sum())
    # The automatic model ignores clicks: every answer of the session is the local answer.
    assert result["methods"]["server"]["dsc_at_clicks"]["0"] == pytest.approx(local_dice, abs=1e-6)
    assert result["methods"]["server"]["dsc_at_clicks"]["1"] == pytest.approx(local_dice, abs=1e-6)
    assert len(result["methods"]["server"]["rows"]) == 2  # the answers with 0 and 1 click
