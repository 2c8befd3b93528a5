"""The active-learning engine: axes, scores, slice ranking, choices, records, the ensemble on a file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.active_learning.record import current_score, last_served, score_record
from lib.active_learning.scores import (
    AREA_CHANGE_WEIGHT,
    area_change,
    expected_dice_error,
    expected_errors,
    rank_slices,
    slice_scores,
    smoothed_slice_scores,
    soft_dice,
    suggestion_scores,
    superior_inferior_axis,
)
from lib.active_learning.select import busy_images, choose_first, choose_random, choose_uncertain
from lib.active_learning.uncertainty import combine_members, member_probabilities, uncertainty_maps
from lib.phantom.config import PhantomConfig
from lib.phantom.generate import generate_phantom
from lib.phantom.io import save_phantom


def test_superior_inferior_axis_follows_the_affine():
    assert superior_inferior_axis(np.diag([3.0, 3.0, 6.0, 1.0])) == 2
    assert superior_inferior_axis(np.diag([-3.0, -3.0, 6.0, 1.0])) == 2  # LPS-like flips
    permuted = np.array([[0, 3.0, 0, 0], [0, 0, 3.0, 0], [6.0, 0, 0, 0], [0, 0, 0, 1]])
    assert superior_inferior_axis(permuted) == 0  # slices stacked along i
    angle = np.deg2rad(20)
    oblique = np.eye(4)
    oblique[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    assert superior_inferior_axis(oblique @ np.diag([1.0, 1.0, 5.0, 1.0])) == 2
    with pytest.raises(ValueError):
        superior_inferior_axis(np.zeros((4, 4)))


def test_expected_errors_and_dice_from_probabilities():
    label = np.zeros((2, 2, 3), np.uint8)
    label[0, 0, 0] = 1
    p = np.zeros((3, 2, 2, 3), np.float32)
    p[0] = 1.0
    p[:, 0, 0, 0] = [0.25, 0.75, 0.0]  # the labelled GTV voxel: 75 % GTV
    p[:, 1, 1, 2] = [0.5, 0.5, 0.0]  # a background voxel half GTV
    errors = expected_errors(p, label, (1,))
    assert errors[0, 0, 0] == pytest.approx(0.25) and errors[1, 1, 2] == pytest.approx(0.5)
    assert errors.sum() == pytest.approx(0.75)
    assert slice_scores(errors, 2).tolist() == pytest.approx([0.25, 0.0, 0.5])
    assert soft_dice(p[1], label == 1) == pytest.approx(2 * 0.75 / (1.25 + 1))
    assert expected_dice_error(p, label, (1,)) == pytest.approx(1 - 1.5 / 2.25)
    assert soft_dice(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 1.0
    with pytest.raises(ValueError):
        expected_errors(p, label, (3,))


def test_rank_slices_best_first_excluding_edited_and_empty():
    ranked = rank_slices([0.0, 5.0, 2.0, 5.0, 1.0], exclude=[3], top=2)
    assert ranked == [{"index": 1, "score": 5.0}, {"index": 2, "score": 2.0}]
    assert rank_slices([0.0, 0.0], top=3) == []
    with pytest.raises(ValueError):
        rank_slices([1.0], top=0)


def test_smoothed_slice_scores_favour_an_uncertain_run_of_slices_over_a_lone_slice():
    errors = np.zeros((2, 2, 9))
    errors[..., 2] = 1.0  # a lone uncertain slice: 4 expected wrong voxels
    errors[..., 5:8] = 0.8  # three neighbouring slices of 3.2 each
    raw = smoothed_slice_scores(errors, 2, 0.0)
    np.testing.assert_allclose(raw, slice_scores(errors, 2))
    assert int(np.argmax(raw)) == 2
    smooth = smoothed_slice_scores(errors, 2, 1.0)
    assert smooth.shape == (9,) and int(np.argmax(smooth)) == 6  # the middle of the run
    assert smooth.sum() == pytest.approx(raw.sum(), rel=0.02)  # mass kept away from the volume's ends
    assert smoothed_slice_scores(np.ones((1, 1, 2)), 2, 3.0).shape == (2,)  # kernel longer than the axis
    with pytest.raises(ValueError):
        smoothed_slice_scores(errors, 2, -1.0)


def test_area_change_is_the_central_difference_of_each_structures_area_along_the_axis():
    label = np.zeros((4, 4, 6), np.uint8)
    label[:2, :2, 1] = 1  # GTV areas along axis 2: 0, 4, 16, 16, 0, 0
    label[:, :, 2:4] = 1
    label[3, 3, 5] = 2  # heart: one voxel on the last slice
    np.testing.assert_allclose(area_change(label, 2, (1,)), [4, 8, 6, 8, 8, 0])
    np.testing.assert_allclose(area_change(label, 2, (1, 2)), [4, 8, 6, 8, 8.5, 1])
    np.testing.assert_allclose(area_change(np.moveaxis(label, 2, 0), 0, (1,)), [4, 8, 6, 8, 8, 0])  # any axis
    assert area_change(label[..., :1], 2, (1,)).tolist() == [0.0]  # one slice: no change
    with pytest.raises(ValueError):
        area_change(label, 3, (1,))


def test_suggestion_prefers_the_flank_of_a_structure_over_its_most_uncertain_slice():
    # a GTV of 3 x 3 on slice 2 and 6 x 6 on slices 3-6 along axis 2; the model doubts slice 5 most
    label = np.zeros((8, 8, 9), np.uint8)
    label[1:4, 1:4, 2] = 1
    label[1:7, 1:7, 3:7] = 1
    p_gtv = (label == 1).astype(np.float32)
    p_gtv[1:7, 1:7, 5] = 0.8  # 36 x 0.2 = 7.2 expected wrong voxels, the most of any slice
    p_gtv[1:4, 1:4, 2] = 0.6  # 9 x 0.4 = 3.6 on the flank, where the area grows from 9 to 36
    probabilities = np.stack([1 - p_gtv, p_gtv, np.zeros_like(p_gtv)])
    errors_only = suggestion_scores(probabilities, label, 2, (1,), area_weight=0.0)
    np.testing.assert_allclose(errors_only, slice_scores(expected_errors(probabilities, label, (1,)), 2), rtol=1e-6)
    assert rank_slices(errors_only, top=1)[0]["index"] == 5
    served = suggestion_scores(probabilities, label, 2, (1,))  # + w |A(s+1) - A(s-1)| / 2: w 18 on slice 2
    assert served[2] == pytest.approx(3.6 + AREA_CHANGE_WEIGHT * 18.0, rel=1e-6)
    assert served[5] == pytest.approx(7.2, rel=1e-6)
    np.testing.assert_allclose(suggestion_scores(probabilities, label, 2, (1,), 1.0) - errors_only,
                               area_change(label, 2, (1,)), rtol=1e-6)
    assert [r["index"] for r in rank_slices(served, exclude=[2], top=2)] == [6, 7]  # then the other end (36 -> 0)
    with pytest.raises(ValueError):
        suggestion_scores(probabilities, label, 2, (1,), area_weight=-1.0)


def test_candidate_slices_never_read_past_the_model():
    from lib.active_learning.slice_gain_table import candidate_slices

    truth, served, p = np.zeros((3, 3, 8), np.uint8), np.zeros((3, 3, 8), np.uint8), np.zeros((3, 3, 8))
    truth[1, 1, 2], served[0, 0, 4], p[2, 2, 6] = 1, 1, 0.06
    p[2, 2, 7] = 0.04  # below the threshold: a slice nobody sees GTV on
    assert candidate_slices(truth, served, p, 2) == [2, 4, 6]


def test_uncertainty_choice_skips_busy_images_and_says_when_it_guesses():
    rng = np.random.default_rng(0)
    choice = choose_uncertain(["a", "b", "c"], {"a": 0.1, "b": 0.9, "c": None}, rng)
    assert choice.image == "b" and choice.score == 0.9 and "1 free image(s) not scored" in choice.reason
    assert choose_uncertain(["a", "b"], {"a": 0.1, "b": 0.9}, rng, busy={"b"}).image == "a"
    guess = choose_uncertain(["a", "b"], {}, rng)
    assert guess.image in {"a", "b"} and guess.reason.startswith("random") and guess.score is None
    assert choose_uncertain(["a"], {"a": 1.0}, rng, busy={"a"}) is None


def test_random_never_fails_and_reports_the_chosen_weight():
    rng = np.random.default_rng(1)
    now = 1000.0
    served = {"a": (now, "x"), "b": (now, "x")}  # MONAI Label 0.8.5's Random fails here (all weights 0)
    picks = {choose_random(["a", "b"], rng, served=served, now=now).image for _ in range(30)}
    assert picks == {"a", "b"}
    choice = choose_random(["a", "b"], rng, served={"a": (now, "x")}, now=now)
    assert choice.weight == (1.0 if choice.image == "a" else 24 * 3600.0 + 1.0)
    assert choose_first(["c", "a", "b"], busy={"a"}).image == "b"
    assert choose_random([], rng) is None


def test_busy_images_are_other_clients_recent_ones():
    served = {"a": (100.0, "me"), "b": (100.0, "you"), "c": (0.0, "you")}
    assert busy_images(served, now=150.0, client="me", busy_seconds=60) == {"b"}


def test_record_is_stale_under_other_weights_and_served_is_read():
    maps = combine_members(np.full((1, 3, 4, 4, 2), 1 / 3, np.float32), ["unet/identity"], np.eye(4))
    record = score_record(maps, "v1", 1.5)
    assert set(record["slices"]) == {"0", "1", "2"} and len(record["slices"]["2"]) == 2
    info = {"uncertainty": {"segmentation": record}, "strategy": {"random": {"ts": 5, "client_id": "x"},
                                                                   "first": {"ts": 9, "client_id": "y"}}}
    assert current_score(info, "segmentation", "v1") == record["score"]
    assert current_score(info, "segmentation", "v2") is None
    assert current_score(info, "online", "v1") is None
    assert last_served(info) == (9.0, "y") and last_served({}) is None


def test_members_combine_by_softmax_or_votes():
    members = np.zeros((2, 3, 1, 1, 1), np.float32)
    members[0, :, 0, 0, 0] = [0.6, 0.4, 0.0]
    members[1, :, 0, 0, 0] = [0.2, 0.8, 0.0]
    names = ["unet/identity", "dynunet/identity"]
    soft = combine_members(members, names, np.eye(4))
    assert soft.probabilities[:, 0, 0, 0].tolist() == pytest.approx([0.4, 0.6, 0.0])
    votes = combine_members(members, names, np.eye(4), votes=True)
    assert votes.probabilities[:, 0, 0, 0].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert combine_members(members, names, np.eye(4), ["unet/"]).members == ("unet/identity",)
    with pytest.raises(ValueError):
        combine_members(members, names, np.eye(4), ["segresnet/"])


def test_rotated_member_probabilities_are_a_distribution_on_the_model_grid():
    torch.manual_seed(0)
    network = torch.nn.Conv3d(1, 3, 3, padding=1)  # any (B, 1, ...) -> (B, 3, ...) network
    image = torch.rand(1, 64, 64, 32) * 2 - 1
    p = member_probabilities(network, image, "rotate+")
    assert p.shape == (3, 64, 64, 32)
    assert torch.allclose(p.sum(0), torch.ones(64, 64, 32), atol=1e-4)


def test_uncertainty_maps_come_back_on_an_lps_file_grid(tmp_path):
    phantom = generate_phantom(PhantomConfig(seed=3, shape=(48, 40, 16), orientation="LPS"))
    save_phantom(phantom, tmp_path / "image.nii.gz")
    torch.manual_seed(0)
    maps = uncertainty_maps({"net": torch.nn.Conv3d(1, 3, 3, padding=1)}, tmp_path / "image.nii.gz",
                            ("identity", "contrast"))
    assert maps.probabilities.shape == (3, 48, 40, 16)
    assert maps.member_labels.shape == (2, 48, 40, 16)
    assert np.allclose(maps.affine, phantom.affine, atol=1e-3)
    assert np.allclose(maps.probabilities.sum(0), 1.0, atol=1e-3)
