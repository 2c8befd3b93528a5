"""The Gaussian-click infer task in process: what it declares, 4xx answers, a label on the input grid."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest
import torch
from fastapi import HTTPException

from infers.gaussian_click import GaussianClick, foreground_keys
from lib.gaussian_click.network import gaussian_click_net
from lib.session_cache import SessionCache
from tests.lib.gaussian_click_data import SHAPE, write_volume


@pytest.fixture()
def task(tmp_path) -> GaussianClick:
    weights = tmp_path / "weights.pt"
    torch.save({"model": gaussian_click_net(2, (4, 4, 4, 4, 4, 4)).state_dict()}, weights)
    network = gaussian_click_net(2, (4, 4, 4, 4, 4, 4))
    return GaussianClick([str(weights)], dims=2, network=network, cache=SessionCache(4, 10**8))


def request(path, **params) -> dict:
    return {"image": str(path), "device": "cpu", "result_extension": ".nii.gz", **params}


def test_declared_as_a_deepgrow_model_of_the_project_labels(task):
    info = task.info()
    assert info["type"] == "deepgrow" and info["dimension"] == 2 and info["labels"] == ["gtv", "heart"]
    assert task.is_valid()


def test_without_weights_it_is_not_offered_and_answers_404(tmp_path):
    task = GaussianClick([str(tmp_path / "missing.pt")], dims=2)
    assert not task.is_valid()
    path, _, _ = write_volume(tmp_path, "RAS")
    with pytest.raises(HTTPException) as error:
        task(request(path, foreground=[[1, 2, 3]]))
    assert error.value.status_code == 404 and "lib.gaussian_click.train" in error.value.detail


@pytest.mark.parametrize(
    "params, words",
    [
        ({"foreground": [[99, 1, 1]]}, "click foreground[0] = [99, 1, 1] is outside the image"),
        ({"foreground": [[1, 1]]}, "is not a point [i, j, k]"),
        ({"background": []}, "no clicks"),
        ({"label": "gtv", "heart": [[1, 1, 1]]}, "no clicks"),
    ],
)
def test_bad_clicks_are_422_naming_them(task, tmp_path, params, words):
    path, _, _ = write_volume(tmp_path, "LPS")
    with pytest.raises(HTTPException) as error:
        task(request(path, **params))
    assert error.value.status_code == 422 and words in error.value.detail


def test_an_unreadable_image_is_415(task, tmp_path):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(HTTPException) as error:
        task(request(corrupt, foreground=[[1, 1, 1]]))
    assert error.value.status_code == 415 and "cannot read image" in error.value.detail


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_the_label_is_on_the_input_grid_and_the_clicked_slice(task, tmp_path, orientation):
    path, _, affine = write_volume(tmp_path, orientation)
    label_file, _ = task(request(path, foreground=[[6, 13, 3]], background=[[1, 1, 3]]))
    label = nib.load(label_file)
    assert label.shape == SHAPE
    np.testing.assert_allclose(label.affine, affine, atol=1e-4)
    values = np.asarray(label.dataobj)
    os.unlink(label_file)
    assert set(np.unique(values)) <= {0, 1} and set(np.flatnonzero(values.any(axis=(0, 1)))) <= {3}
    os.unlink(task(request(path, foreground=[[6, 13, 3]]))[0])
    assert task.cache.stats.hits == 1


def test_foreground_keys_follow_the_requested_label():
    assert foreground_keys({"label": "gtv"}) == ("foreground", "gtv")
    assert foreground_keys({"label": "Segment_1"}) == ("foreground",)
    assert foreground_keys({"label": "/tmp/uploaded_label.nii.gz"}) == ("foreground",)


def test_the_answer_says_what_each_stage_cost_and_is_written_as_asked(task, tmp_path):
    from infers.answer import NETWORK_KEY
    from tests.server.answer_checks import assert_stage_times

    path, _, _ = write_volume(tmp_path, "RAS")
    for extension, compressed in ((".nii.gz", True), (".nii", False), (".nrrd", False)):
        label_file, result = task(request(path, foreground=[[8, 8, 4]], result_extension=extension,
                                          **{NETWORK_KEY: 1e6}))  # a client's value is not the server's time
        try:
            assert label_file.endswith(extension)
            with open(label_file, "rb") as raw:
                assert (raw.read(2) == b"\x1f\x8b") == compressed
            assert_stage_times(result)
            assert result["stages_ms"]["network"] < 1e6
        finally:
            os.unlink(label_file)
