"""The campaign's summary arithmetic (the issue's target is read from it) and its size check."""

import argparse

import pytest

from lib.active_learning.campaign import DEFAULT_SIZE, is_default_size, summarise


def rows(strategy: str, dice_by_seed: dict[int, list[float]]) -> list[dict]:
    return [{"strategy": strategy, "seed": seed, "image": k + 1, "heldout_dice": d, "voxels_corrected": 10 * (k + 1)}
            for seed, curve in dice_by_seed.items() for k, d in enumerate(curve)]


def test_summary_means_over_seeds_and_finds_when_uncertainty_reaches_randoms_final_dice():
    data = rows("random", {0: [0.1, 0.3, 0.5], 1: [0.1, 0.1, 0.3]}) + \
        rows("uncertainty", {0: [0.1, 0.5, 0.5], 1: [0.1, 0.3, 0.3]})
    out = summarise(data, ["uncertainty", "random"])
    assert out["curves"]["random"]["heldout_dice"] == pytest.approx([0.1, 0.2, 0.4])
    assert out["curves"]["uncertainty"]["seeds"] == [0, 1]
    assert out["random_final_dice"] == pytest.approx(0.4)
    assert out["uncertainty_images_to_reach_random_final"] == 2  # mean 0.4 after 2 images
    assert out["dice_difference_at_equal_images"] == pytest.approx([0.0, 0.2, 0.0])


def test_summary_says_none_when_uncertainty_never_reaches_random():
    data = rows("random", {0: [0.2, 0.6]}) + rows("uncertainty", {0: [0.2, 0.5]})
    assert summarise(data, ["uncertainty", "random"])["uncertainty_images_to_reach_random_final"] is None


def test_a_campaign_is_default_size_only_with_every_default():
    assert is_default_size(argparse.Namespace(**DEFAULT_SIZE))
    assert not is_default_size(argparse.Namespace(**{**DEFAULT_SIZE, "pool": 6}))
