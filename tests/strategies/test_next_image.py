"""The next-image strategies on a real LocalDatastore: answers from stored infos read in place."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from monailabel.datastore.local import LocalDatastore

from lib.active_learning.record import INFO_KEY
from strategies.next_image import FirstStrategy, RandomStrategy, UncertaintyStrategy, stored_infos


class _Models:
    """A served model whose weights are version ``v1``."""

    def version(self, model: str) -> str:
        return "v1"


@pytest.fixture()
def datastore(tmp_path):
    for n in range(5):
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(tmp_path / f"img_{n}.nii.gz"))
    store = LocalDatastore(str(tmp_path), auto_reload=False)
    now = int(time.time())
    scores = {"img_0": (0.9, "v1"), "img_1": (0.8, "v1"), "img_2": (0.99, "old"), "img_3": (0.5, "v1")}
    for image, (score, version) in scores.items():
        record = {"score": score, "model_version": version, "slices": {"2": [0.1] * 4}}
        store.update_image_info(image, {INFO_KEY: {"segmentation": record}})
    store.update_image_info("img_0", {"strategy": {"random": {"ts": now, "client_id": "other"}}})
    return store


def test_stored_infos_are_the_datastores_infos_without_copies(datastore):
    infos = stored_infos(datastore, ["img_0", "img_4", "gone"])
    expected = datastore.get_image_info("img_0")
    expected.pop("path")
    assert infos["img_0"] == expected and infos["gone"] == {}
    assert infos["img_0"] is datastore._datastore.objects["img_0"].image.info  # read in place, not copied


def test_uncertainty_skips_busy_and_stale_and_counts_the_unscored(datastore):
    answer = UncertaintyStrategy(_Models())({"client_id": "me"}, datastore)
    # img_0 is busy (served to another client now), img_2's score is from other weights
    assert answer["id"] == "img_1" and answer["score"] == pytest.approx(0.8)
    assert answer["busy_skipped"] == 1 and answer["unscored"] == 2  # img_2 (stale) and img_4
    assert UncertaintyStrategy(_Models())({"client_id": "other"}, datastore)["id"] == "img_0"


def test_first_and_random_skip_the_busy_image(datastore):
    assert FirstStrategy()({"client_id": "me"}, datastore)["id"] == "img_1"
    picks = {RandomStrategy()({"client_id": "me"}, datastore)["id"] for _ in range(30)}
    assert "img_0" not in picks and picks <= {"img_1", "img_2", "img_3", "img_4"}
