"""Evaluation cases: cropping keeps world positions; registry and remote segmenter without a server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lib.evaluation import Case, crop_case, make_segmenter, register_segmenter, registered_names, roi_box, spacing_of
from lib.evaluation.baselines import GraphCutSegmenter
from lib.interaction.clicks import Click


def oblique_case() -> Case:
    truth = np.zeros((20, 16, 10), dtype=bool)
    truth[8:11, 6:9, 4:6] = True
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.array([[2 * c, -3 * s, 0, -10], [2 * s, 3 * c, 0, 5], [0, 0, 5, 7], [0, 0, 0, 1]], dtype=float)
    image = np.arange(truth.size, dtype=np.float32).reshape(1, *truth.shape)
    return Case("oblique", image, truth, spacing_of(affine), affine)


def test_spacing_of_an_oblique_affine():
    assert spacing_of(oblique_case().affine) == pytest.approx((2.0, 3.0, 5.0))


def test_crop_keeps_every_voxel_at_its_world_position():
    case = oblique_case()
    box = roi_box(case.truth, case.spacing, margin_mm=6.0)
    assert box == (slice(5, 14), slice(4, 11), slice(2, 8))  # 3, 2, 2 voxels of margin
    crop = crop_case(case, box)
    assert crop.truth.sum() == case.truth.sum() and crop.image.shape[1:] == crop.truth.shape
    index = np.array([1, 2, 3, 1.0])
    original = index + np.array([5, 4, 2, 0])
    np.testing.assert_allclose(crop.affine @ index, case.affine @ original)
    assert crop.image[0, 1, 2, 3] == case.image[0, 6, 6, 5]


def test_roi_box_is_clipped_and_refuses_empty_masks():
    case = oblique_case()
    assert roi_box(case.truth, case.spacing, 1000.0) == (slice(0, 20), slice(0, 16), slice(0, 10))
    with pytest.raises(ValueError, match="empty"):
        roi_box(np.zeros((3, 3, 3), bool), (1, 1, 1), 1.0)


def test_case_checks_shapes():
    with pytest.raises(ValueError, match="truth shape"):
        Case("bad", np.zeros((1, 4, 4, 4), np.float32), np.zeros((4, 4, 3), bool), (1, 1, 1), np.eye(4))


def test_registry_makes_baselines_and_factory_paths():
    assert {"random_walker", "graph_cut", "remote"} <= set(registered_names())
    assert isinstance(make_segmenter("graph_cut", server="ignored"), GraphCutSegmenter)
    assert make_segmenter("lib.evaluation.baselines:RandomWalkerSegmenter").name == "random_walker"
    register_segmenter("test_graph_cut", lambda: GraphCutSegmenter(name="test_graph_cut"), replace=True)
    assert make_segmenter("test_graph_cut").name == "test_graph_cut"
    with pytest.raises(ValueError, match="unknown segmenter"):
        make_segmenter("nope")


class FakeClient:
    """Stands in for MONAILabelClient: answers a 2-voxel label 1 at the first foreground click."""

    def __init__(self, folder: Path):
        self.folder, self.uploads, self.requests = folder, [], []

    def create_session(self, image_in, params=None):
        self.uploads.append(nib.load(image_in).shape)
        return {"session_id": "s1"}

    def infer(self, model, image_id, params, label_in=None, file=None, session_id=None):
        self.requests.append((model, image_id, params, session_id))
        label = np.zeros(self.uploads[-1][:3], dtype=np.uint8)
        for i, j, k in params["foreground"][:1]:
            label[i, j, k] = label[i, j, max(k - 1, 0)] = 1
        path = self.folder / f"label_{len(self.requests)}.nii.gz"
        nib.save(nib.Nifti1Image(label, np.eye(4)), path)
        return str(path), {}

    def remove_session(self, session_id):
        pass


def test_remote_segmenter_sends_clicks_and_reads_the_label(tmp_path):
    segmenter = make_segmenter("remote", server="http://127.0.0.1:1", model="din")
    segmenter.client = FakeClient(tmp_path)
    case = oblique_case()
    clicks = [Click((9, 7, 5), True), Click((1, 1, 1), False)]
    answer = segmenter.segment(case, clicks, None)
    segmenter.segment(case, clicks[:1], answer)
    assert segmenter.name == "server:din" and segmenter.client.uploads == [case.spatial_shape]  # one upload
    model, image_id, params, session = segmenter.client.requests[0]
    assert (model, image_id, session) == ("din", "", "s1")
    assert params == {"foreground": [[9, 7, 5]], "background": [[1, 1, 1]]}
    assert answer.shape == case.spatial_shape and answer.sum() == 2 and answer[9, 7, 5] == 1
    assert not list(tmp_path.glob("label_*"))  # answers are deleted once read
    segmenter.close()


def test_lib_evaluation_does_not_import_monailabel():
    code = "import sys, lib.evaluation, lib.evaluation.remote, lib.evaluation.cli; print('monailabel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "False", out.stderr
