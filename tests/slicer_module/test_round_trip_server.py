"""The module's client and session against a real server, exactly as the Slicer module uses them.

The automatic contour comes from ``/infer/segmentation``; the user redraws GTV slices as the
truth; Propagate sends them through ``slice_propagation``; the answer is patched into the
segments: the drawn slices are unchanged and the whole-volume GTV DSC rises.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from lib.phantom.datastore import write_datastore
from SlicePropagationLib import (
    MonaiLabelClient, PropagationSession, ServerError, label_map, match_segments, model_labels, offers,
    propagation_models, read_label, segment_masks,
)
from tests.server.conftest import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with the automatic model and slice propagation on two labelled phantoms (RAS, LPS)."""
    root = tmp_path_factory.mktemp("slicer_module_server")
    studies = root / "datastore"
    write_datastore(studies, cases=2, first_seed=0, labelled=2)
    with serving(root, studies, {"models": "segmentation,slice_propagation", "model_dir": root / "model"}) as (_, up):
        yield MonaiLabelClient(up.url), studies, root


def dsc(mask, truth):
    return 2 * np.sum(mask & truth) / (mask.sum() + truth.sum())


def redraw(masks, truth, k):
    """The user redraws slice k (numpy axis 0 of (K, J, I)) of the GTV as the truth."""
    masks["gtv"][k] = truth[k] == 1
    masks["heart"][k] &= truth[k] != 1


def test_two_redrawn_slices_come_back_as_drawn_and_the_dsc_rises(server, tmp_path):
    """On the LPS phantom (the RAS / LPS / oblique geometry is covered by test_geometry.py)."""
    client, studies, _ = server
    image_id = "phantom_0001"
    info = client.info()
    model = propagation_models(info)[0]
    assert model == "slice_propagation"
    assert offers(info, "slice_suggestion") == ("slice_suggestion" in info["models"])  # the Next-slice button follows /info
    labels = model_labels(info, model)
    answer, grid = read_label(client.infer("segmentation", image_id, {}, out_dir=str(tmp_path))[0])
    truth, _ = read_label(str(studies / "labels" / "final" / f"{image_id}.nii.gz"))
    mapping = match_segments({"gtv": "gtv", "heart": "Heart", "notes": "notes"}, labels)
    masks = segment_masks(answer, mapping)
    session = PropagationSession(client, model, image_id, grid, answer.shape, str(tmp_path))
    session.set_reference(label_map(masks, mapping))
    gtv = truth == 1
    errors = [int(np.sum(masks["gtv"][k] != gtv[k])) for k in range(truth.shape[0])]
    first, second = np.argsort(errors)[::-1][:2]  # the worst slices, as a user would pick
    scores = [dsc(masks["gtv"], gtv)]
    drawn = {}
    for k in (int(first), int(second)):
        redraw(masks, truth, k)
        drawn[k] = {sid: m[k].copy() for sid, m in masks.items()}
        outcome = session.propagate(masks, mapping)
        assert outcome.axis == 2 and outcome.new_slices == [k]
        assert outcome.patch.drawn_differences == 0  # the server sent the drawn slices back as drawn
        session.accept(outcome, mapping)
        masks = outcome.patch.masks
        for slice_k, planes in drawn.items():
            for sid, plane in planes.items():
                np.testing.assert_array_equal(masks[sid][slice_k], plane)
        scores.append(dsc(masks["gtv"], gtv))
        assert any(line.startswith("fusion:") for line in outcome.lines)  # the server's report is shown
    assert outcome.slices == [int(first), int(second)]  # every edit so far, in drawing order
    assert scores[1] > scores[0] and scores[2] > scores[0], scores
    assert masks["heart"].sum() > 1000  # the heart is still there


def test_an_uploaded_volume_gets_an_id_and_progress_reaches_the_end(server, tmp_path):
    client, studies, _ = server
    seen = []
    image_id = client.upload_image(str(studies / "phantom_0001.nii.gz"), "slicer_volume_1", seen.append)
    assert image_id == "slicer_volume_1" and seen[-1] == 1.0 and len(seen) > 2
    back = client.download_image(image_id, str(tmp_path / "back.nii.gz"))  # the datastore has it
    np.testing.assert_array_equal(nib.load(back).get_fdata(), nib.load(studies / "phantom_0001.nii.gz").get_fdata())


def test_a_bad_request_reaches_the_error_path_and_leaves_the_session_as_it_was(server, tmp_path):
    client, studies, _ = server
    truth, grid = read_label(str(studies / "labels" / "final" / "phantom_0000.nii.gz"))
    shifted = grid.copy()
    shifted[:3, 3] += 5.0  # the segments on another grid than the server's image
    session = PropagationSession(client, "slice_propagation", "phantom_0000", shifted, truth.shape, str(tmp_path))
    mapping = {"gtv": 1, "heart": 2}
    session.set_reference(truth)
    masks = segment_masks(truth, mapping)
    masks["gtv"][truth.shape[0] // 2] = False
    with pytest.raises(ServerError) as error:
        session.propagate(masks, mapping)
    assert error.value.status == 422 and "geometry differs from the image's" in str(error.value)
    assert session.history.slices == [] and len(session.undo_stack) == 0
    np.testing.assert_array_equal(session.reference, truth)
    unknown = PropagationSession(client, "slice_propagation", "no_such_image", grid, truth.shape, str(tmp_path))
    unknown.set_reference(truth)
    with pytest.raises(ServerError, match="unknown image id 'no_such_image'") as error:
        unknown.propagate(masks, mapping)
    assert error.value.status == 404
    assert list(tmp_path.iterdir()) == []  # request and answer files removed
