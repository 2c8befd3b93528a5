"""``--conf din_model din_stir``: the DIN config serves the STIR weights, prepares images in the
STIR model space and answers a click request on the image's own grid (the task called directly,
without a server: the REST contract is the same as CT's, tested in tests/server/test_din_server.py)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from apps.radiotherapy.configs.din import DinConfig
from lib.din.network import din_network
from lib.phantom import generate_phantom
from lib.phantom.config import stir_config
from lib.phantom.io import save_phantom

WIDTHS = (2, 3, 4, 5, 6)


def write_weights(models, folder: str, modality: str | None) -> None:
    (models / folder).mkdir(parents=True)
    torch.manual_seed(0)
    weights = {"model": din_network(WIDTHS).state_dict(), "widths": list(WIDTHS), "deep_guides": True,
               "guide": "exp", "sigma": [5.0, 5.0, 1.0], "gamma": 1.0}
    if modality:
        weights["modality"] = modality
    torch.save(weights, models / folder / "weights.pt")


def din_config(tmp_path, **conf) -> DinConfig:
    config = DinConfig()
    config.init("din", str(tmp_path / "model"), {"din_models": str(tmp_path / "models"), **conf}, None)
    return config


@pytest.mark.slow
def test_din_model_din_stir_serves_the_stir_weights_in_the_stir_space(tmp_path):
    models = tmp_path / "models"
    write_weights(models, "din", None)  # a CT model from before STIR: no "modality"
    write_weights(models, "din_stir", "mri_stir")
    assert din_config(tmp_path).infer()["din"].space().modality == "ct"
    config = din_config(tmp_path, din_model="din_stir")
    task = config.infer()["din"]
    assert task.path == [str(models / "din_stir" / "weights.pt"), str(tmp_path / "model" / "din_stir.pt")]
    assert task.space().modality == "mri_stir" and config.trainer().space.modality == "mri_stir"

    phantom = generate_phantom(stir_config(seed=4, shape=(48, 40, 12), orientation="LPS"))
    image = tmp_path / "stir.nii.gz"
    save_phantom(phantom, image)
    click = [int(v) for v in np.argwhere(phantom.label == 1)[0]]
    label_file, _ = task({"image": str(image), "foreground": [click], "device": "cpu"})
    label = nib.load(label_file)
    assert label.shape == phantom.label.shape
    np.testing.assert_allclose(label.affine, phantom.affine, atol=1e-3)
    assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1}


def test_a_din_model_that_is_no_folder_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="din_model must be a model folder name"):
        din_config(tmp_path, din_model="../elsewhere")
