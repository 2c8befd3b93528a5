"""DIN training samples: half of each batch on a tumour, the paper's clicks, replayable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.din.guides import GuideSettings
from lib.din.samples import PATCH_SIZE, RandDinPatchd, draw_patch, make_batch, make_sample
from lib.imaging.crop import cut

SHAPE = (60, 56, 20)


def case() -> tuple[np.ndarray, np.ndarray]:
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), axis=-1)
    truth = (((grid - (40, 30, 10)) / (6, 6, 2)) ** 2).sum(-1) < 1
    image = np.where(truth, 0.3, -0.2).astype(np.float32)
    return image, truth


def test_first_half_of_a_batch_holds_tumour_and_inputs_carry_the_clicks():
    rng = np.random.default_rng(0)
    inputs, targets = make_batch([case()], 4, GuideSettings(), rng)
    assert inputs.shape == (4, 3, *PATCH_SIZE) and targets.shape == (4, *PATCH_SIZE)
    assert targets[:2].any(axis=(1, 2, 3)).all()
    for x, y in zip(inputs, targets):
        if y.any():  # at least one positive click, inside the tumour, at the guide's peak
            peak = np.unravel_index(x[1].argmax(), PATCH_SIZE)
            assert x[1].max() == 1.0 and y[peak] == 1


def test_a_seed_replays_the_same_sample():
    image, truth = case()
    first = make_sample(image, truth, draw_patch(truth, np.random.default_rng(3), True),
                        GuideSettings(), np.random.default_rng(4))
    again = make_sample(image, truth, draw_patch(truth, np.random.default_rng(3), True),
                        GuideSettings(), np.random.default_rng(4))
    np.testing.assert_array_equal(first[0], again[0])
    assert first[2] == again[2] and first[2]


def test_cut_pads_outside_the_volume():
    volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = cut(volume, (-1, 1, 2), (3, 3, 3), fill=-1.0)
    assert out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out[1:, :2, :2], volume[:, 1:, 2:])
    assert (out[0] == -1).all() and (out[:, 2] == -1).all() and (out[:, :, 2] == -1).all()


def test_dictionary_transform_writes_three_channels_and_a_float_label():
    image, truth = case()
    transform = RandDinPatchd(GuideSettings(), label_value=1, tumour_prob=1.0).set_random_state(seed=1)
    out = transform({"image": torch.from_numpy(image[None]), "label": torch.from_numpy(truth[None].astype(np.uint8))})
    assert out["image"].shape == (3, *PATCH_SIZE) and out["label"].shape == (1, *PATCH_SIZE)
    assert out["label"].dtype == torch.float32 and out["label"].sum() > 0


def test_boundary_clicks_hug_the_boundary_and_probability_0_is_the_papers_sampler():
    from lib.din.samples import CLICK_SAMPLER, BoundaryClickSampler, click_sampler
    from lib.simulators.din_training import inplane_distance

    truth = np.zeros((40, 40, 6), bool)
    truth[12:28, 14:26, 1:5] = True
    assert click_sampler("ct", 0.0) is CLICK_SAMPLER
    paper = CLICK_SAMPLER(truth, np.random.default_rng(3))
    always = BoundaryClickSampler(CLICK_SAMPLER, probability=1.0)
    clicks = always(truth, np.random.default_rng(3))
    assert clicks[: len(paper)] == paper  # the paper's clicks first, drawn the same way
    extra = clicks[len(paper):]
    assert any(not c.positive for c in extra)
    outside, inside = inplane_distance(truth), inplane_distance(~truth)
    for c in extra:
        if c.positive:
            assert truth[c.index] and inside[c.index] <= 2.0
        else:
            assert not truth[c.index] and 0 < outside[c.index] <= 2.0
    assert BoundaryClickSampler(CLICK_SAMPLER, probability=0.0)(truth, np.random.default_rng(3)) == paper
    with pytest.raises(ValueError, match="probability must be in"):
        BoundaryClickSampler(CLICK_SAMPLER, probability=1.5)


def test_paper_augmentation_is_replayable_keeps_the_shape_and_only_magnifies():
    from lib.din.samples import paper_augmentation

    patch = np.random.default_rng(1).uniform(-1, 1, (48, 48, 16)).astype(np.float32)
    target = np.zeros(patch.shape, bool)
    target[20:28, 18:30, 5:11] = True
    a, b = paper_augmentation(patch, target, np.random.default_rng(7))
    again, same = paper_augmentation(patch, target, np.random.default_rng(7))
    np.testing.assert_array_equal(a, again)
    np.testing.assert_array_equal(b, same)
    assert a.shape == patch.shape and b.dtype == bool and b.shape == target.shape
    assert patch.min() - 1e-6 <= a.min() and a.max() <= patch.max() + 1e-6  # gamma stays in the patch's range
    assert b.sum() >= 0.9 * target.sum() and b[:, :, 5:11].any(axis=(0, 1)).all()  # scale >= 1, slices move together
