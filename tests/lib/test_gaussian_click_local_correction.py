"""Local correction of the 3D Gaussian-click answers: a click changes the answer only near itself."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest
import torch

from lib.evaluation.protocol import Case
from lib.gaussian_click.local_correction import (
    CORRECTION_MARGIN_MM,
    click_depth_mm,
    correct_locally,
    correction_clicks,
    keep_clicked_components,
)
from lib.gaussian_click.segmenter import GaussianClickSegmenter
from lib.interaction.clicks import Click
from tests.lib.gaussian_click_data import GuidanceEcho

GRID = (30, 30, 10)
MM = (1.0, 1.0, 1.0)


def box(*slices: slice) -> np.ndarray:
    """(X, Y, Z) float32 {0, 1} with ones in ``slices``."""
    out = np.zeros(GRID, np.float32)
    out[slices] = 1.0
    return out


CUBE = (slice(5, 15), slice(5, 15), slice(3, 7))


def test_clicks_are_hard_labels_and_the_first_answer_keeps_only_clicked_blobs():
    answer = box(*CUBE) + box(slice(20, 25), slice(20, 25), slice(3, 7))  # a blob nobody clicked
    answer[10, 10, 5] = 0.2  # the network disagrees with the foreground click on its own voxel
    answer[12, 12, 5] = 0.9  # and with a background click
    clicks = [Click((10, 10, 5), True), Click((12, 12, 5), False)]
    out = correct_locally(answer, clicks, None, MM)
    assert out[10, 10, 5] == 1.0 and out[12, 12, 5] == 0.0
    assert out[6, 6, 4] == 1.0 and not out[20:25, 20:25].any()
    assert out.dtype == np.float32 and out.shape == GRID


def test_correction_clicks_are_those_the_previous_answer_contradicts():
    previous = box(*CUBE) > 0.5
    clicks = [Click((10, 10, 5), True), Click((20, 20, 5), True), Click((7, 7, 4), False), Click((1, 1, 1), False)]
    assert correction_clicks(previous, clicks) == [clicks[1], clicks[2]]


def test_depth_is_the_distance_to_the_nearest_voxel_already_right():
    previous = box(*CUBE) > 0.5
    assert click_depth_mm(previous, Click((25, 10, 5), True), MM) == pytest.approx(11.0)  # to x = 14
    assert click_depth_mm(previous, Click((9, 10, 5), False), MM) == pytest.approx(2.0)  # to z = 7
    assert click_depth_mm(np.zeros(GRID, bool), Click((9, 10, 5), True), MM, max_depth_mm=7.0) == 7.0


def test_a_foreground_click_adds_near_itself_only():
    previous = box(*CUBE)
    answer = previous + box(slice(15, 30), slice(5, 15), slice(3, 7))  # the network floods along x
    answer += box(slice(0, 5), slice(5, 15), slice(3, 7))  # and grows on the far side
    answer[5:15, 5:15, 3] = 0.0  # and drops a slice of the accepted answer
    click = Click((15, 10, 5), True)  # 1 mm outside the previous answer
    out = correct_locally(answer, [Click((10, 10, 5), True), click], previous, MM, shell_mm=None)  # the margin rule alone
    reach = 1.0 + CORRECTION_MARGIN_MM
    assert out[15:24, 10, 5].all() and not out[int(15 + reach) + 1 :, :, :].any()
    assert not out[0:5].any()  # the far side is not the click's business
    np.testing.assert_array_equal(out[5:15, 5:15, 3], 1.0)  # a foreground click never removes
    shelled = correct_locally(answer, [Click((10, 10, 5), True), click], previous, MM, shell_mm=3.0)
    assert shelled[15:19, 10, 5].all() and not shelled[19:, 10, 5].any()  # depth 1 + 3 mm beyond x = 14
    default = correct_locally(answer, [Click((10, 10, 5), True), click], previous, MM)  # shell 0: its own depth
    assert default[15, 10, 5] == 1.0 and not default[16:, 10, 5].any()


def test_a_background_click_removes_near_itself_only_and_not_what_a_nearer_foreground_click_holds():
    previous = box(slice(2, 28), slice(2, 28), slice(2, 8))
    answer = np.zeros(GRID, np.float32)  # the network wipes everything out
    keep, near, cut = Click((20, 15, 5), True), Click((8, 15, 5), True), Click((5, 15, 5), False)
    out = correct_locally(answer, [keep, cut], previous, MM)  # depth 3 mm (to z = 1): 11 mm reach
    assert out[5, 15, 5] == 0.0 and not out[2:10, 15, 5].any()
    assert out[18:28, 15, 5].all() and out[25, 25, 5] == 1.0
    guarded = correct_locally(answer, [keep, near, cut], previous, MM)
    assert guarded[7:28, 15, 5].all()  # nearer to the foreground click at x = 8 than to the cut
    assert not guarded[2:6, 15, 5].any()


def test_corrections_do_not_depend_on_the_order_of_the_clicks():
    previous = box(*CUBE)
    answer = box(slice(5, 20), slice(5, 15), slice(3, 7))
    answer[5:8, 5:15, 3:7] = 0.0
    clicks = [Click((10, 10, 5), True), Click((17, 10, 5), True), Click((6, 10, 5), False)]
    outs = [correct_locally(answer, list(order), previous, MM) for order in itertools.permutations(clicks)]
    assert outs[0][17, 10, 5] == 1.0 and outs[0][6, 10, 5] == 0.0
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_components_without_a_foreground_click_are_dropped():
    blobs = box(*CUBE) + box(slice(20, 25), slice(20, 25), slice(3, 7))
    out = keep_clicked_components(blobs, [Click((22, 22, 4), True), Click((10, 10, 5), False)])
    assert out[22, 22, 4] == 1.0 and not out[5:15, 5:15].any()
    assert not keep_clicked_components(blobs, []).any()


def tiny_case() -> tuple[Case, np.ndarray]:
    """A 3 x 3 x 6 mm case (the 3D model's own grid) and its affine."""
    affine = np.diag([3.0, 3.0, 6.0, 1.0])
    image = np.full((1, 40, 40, 12), 40.0, np.float32)
    truth = np.zeros((40, 40, 12), bool)
    truth[5:35, 5:35, 2:10] = True
    return Case("tiny", image, truth, (3.0, 3.0, 6.0), affine, "gtv"), affine


def test_the_3d_segmenter_keeps_the_previous_answer_far_from_the_newest_click():
    case, _ = tiny_case()
    segmenter = GaussianClickSegmenter(network=GuidanceEcho(), dims=3)
    first = Click((10, 20, 6), True)
    previous = segmenter.segment(case, [first], None)
    previous[10:13, 21:30, 6] = 1.0  # the user had accepted more than the network gives
    second = Click((30, 20, 6), True)
    answer = segmenter.segment(case, [first, second], previous)
    assert answer[30, 20, 6] > 0.5 and answer[10:13, 21:30, 6].all()
    np.testing.assert_array_equal(answer[:20] > 0.5, previous[:20] > 0.5)


def test_the_served_3d_answer_is_the_evaluated_one(tmp_path):
    """The infer task with the previous answer uploaded answers what the harness's segmenter does."""
    from infers.gaussian_click import GaussianClick

    case, affine = tiny_case()
    path = tmp_path / "image.nii.gz"
    nib.save(nib.Nifti1Image(case.image[0], affine), path)
    weights = tmp_path / "weights.pt"
    torch.save({"model": GuidanceEcho().state_dict()}, weights)
    task = GaussianClick(str(weights), dims=3, network=GuidanceEcho(), use_cache=False)
    segmenter = GaussianClickSegmenter(network=GuidanceEcho(), dims=3)
    clicks = [Click((10, 20, 6), True), Click((30, 20, 6), True), Click((11, 20, 6), False)]
    previous = segmenter.segment(case, clicks[:1], None)
    previous[10:13, 21:30, 6] = 1.0
    nib.save(nib.Nifti1Image((previous > 0.5).astype(np.uint8), affine), tmp_path / "previous.nii.gz")

    request = {"image": str(path), "label": str(tmp_path / "previous.nii.gz"), "device": "cpu",
               "foreground": [list(c.index) for c in clicks if c.positive],
               "background": [list(c.index) for c in clicks if not c.positive]}
    label_file, _ = task(request)
    served = np.asarray(nib.load(label_file).dataobj)
    expected = segmenter.segment(case, clicks, previous) > 0.5
    np.testing.assert_array_equal(served, expected)
    assert served[10:13, 21:30, 6].all() and served[30, 20, 6] == 1 and served[11, 20, 6] == 0
    without, _ = task({key: value for key, value in request.items() if key != "label"})
    assert not np.asarray(nib.load(without).dataobj)[10:13, 23:30, 6].any()  # no upload: the network's own


def test_a_rim_click_with_a_shell_peels_the_rim_and_keeps_the_core():
    previous = box(slice(2, 28), slice(2, 28), slice(1, 9))  # 26 x 26 x 8 mm
    answer = np.zeros(GRID, np.float32)  # the network wipes everything out
    keep, cut = Click((20, 15, 5), True), Click((2, 15, 5), False)  # the cut sits on the rim: depth 1 mm
    unlimited = correct_locally(answer, [keep, cut], previous, MM, shell_mm=None)
    shelled = correct_locally(answer, [keep, cut], previous, MM, shell_mm=2.0)
    assert not unlimited[2:8, 15, 5].any()  # without a shell the cut reaches 13 mm into the core
    assert shelled[2, 15, 5] == 0.0 and not shelled[3:5, 15, 5].any()  # depth 1 + 2 mm: x = 2..4 go
    assert shelled[5:28, 15, 5].all()  # deeper than 3 mm from the contour stays
    flood = box(slice(0, 30), slice(0, 30), slice(0, 10))  # the network floods the whole grid
    grown = correct_locally(flood, [Click((10, 10, 5), True), Click((16, 10, 5), True)], box(*CUBE), MM, shell_mm=2.0)
    assert grown[15:19, 10, 5].all() and not grown[19:, 10, 5].any()  # depth 2 + 2 mm beyond the contour at x = 14


def test_contour_distance_counts_from_the_voxels_already_right():
    from lib.gaussian_click.local_correction import contour_distance_mm

    previous = box(*CUBE) > 0.5
    outside = contour_distance_mm(previous, True, (2.0, 1.0, 1.0))
    inside = contour_distance_mm(previous, False, (2.0, 1.0, 1.0))
    assert outside[10, 10, 5] == 0.0 and outside[17, 10, 5] == pytest.approx(6.0)  # 3 voxels of 2 mm along x
    assert inside[17, 10, 5] == 0.0 and inside[14, 10, 5] == pytest.approx(2.0)  # x = 15: one voxel of 2 mm
    assert inside[10, 10, 4] == pytest.approx(2.0)  # z = 2: two voxels of 1 mm
    assert np.isinf(contour_distance_mm(np.ones(GRID, bool), False, MM)).all()


def test_where_the_network_hesitates_the_previous_answer_stands():
    previous = box(*CUBE)
    answer = previous.copy()
    answer[15:18, 5:15, 3:7] = 0.9  # confidently more tumour next to the click
    answer[5:15, 15:18, 3:7] = 0.6  # hesitantly more on another side, still within reach
    answer[5:8, 5:15, 3:7] = 0.4  # and hesitantly less where a background click also sits
    clicks = [Click((10, 10, 5), True), Click((15, 14, 5), True), Click((6, 10, 5), False)]
    out = correct_locally(answer, clicks, previous, MM, shell_mm=None, confidence=0.35)
    assert (out[15:18, 10, 5] > 0.5).all() and (out[10, 15:18, 5] < 0.5).all()  # 0.9 added, 0.6 not
    assert out[6, 10, 5] == 0.0 and out[7, 12, 5] == 1.0  # the clicked voxel goes; 0.4 is not sure enough
    eager = correct_locally(answer, clicks, previous, MM, shell_mm=None, confidence=0.0)
    assert (eager[10, 15:17, 5] > 0.5).all() and eager[7, 12, 5] < 0.5  # without a margin both change
    with pytest.raises(ValueError, match="confidence must be in"):
        correct_locally(answer, clicks, previous, MM, confidence=0.5)


@pytest.mark.parametrize("seed", range(6))
def test_the_correction_in_its_work_box_is_the_whole_grids(seed):
    """On a large grid with small blobs, random clicks and settings: the work box's answer pasted
    back equals correct_locally on the whole grid, and the box is a fraction of the grid."""
    from lib.gaussian_click.local_correction import correct_locally_in_box

    rng = np.random.default_rng(seed)
    shape, spacing = (320, 300, 60), (1.0, 1.2, 3.0)
    previous = np.zeros(shape, np.float32)
    previous[60:80, 50:75, 15:22] = 1.0 if seed % 3 else 0.0  # seed 0 and 3: no previous answer
    answer_box = (slice(55, 95), slice(45, 85), slice(12, 26))
    values = rng.uniform(0.0, 1.0, [b.stop - b.start for b in answer_box]).astype(np.float32)
    values = (values + np.pad(np.ones((20, 20, 6)), ((10, 10), (10, 10), (4, 4)))) / 2  # a blob in the noise
    answer = np.zeros(shape, np.float32)
    answer[answer_box] = values
    clicks = [Click((75, 65, 19), True), Click((int(rng.integers(56, 94)), int(rng.integers(46, 84)), 20), False),
              Click((int(rng.integers(56, 94)), 60, 18), bool(seed % 2))]
    if seed % 3 == 0:  # no previous: a click far from the answer is still labelled (a work box without reach)
        clicks.append(Click((int(rng.integers(150, 300)), int(rng.integers(150, 280)), 40), True))
    settings = {"margin_mm": float(rng.choice([6.0, 12.0, 24.0])), "shell_mm": [None, 3.0][seed % 2],
                "confidence": float(rng.choice([0.1, 0.35]))}
    whole = correct_locally(answer, clicks, previous, spacing, **settings)
    local, work = correct_locally_in_box(values, answer_box, shape, clicks, previous, spacing, **settings)
    pasted = np.zeros(shape, np.float32)
    pasted[work] = local
    np.testing.assert_array_equal(pasted > 0.5, whole > 0.5)
    np.testing.assert_allclose(pasted, whole, atol=1e-7)
    assert np.prod([b.stop - b.start for b in work]) < 0.5 * np.prod(shape)
