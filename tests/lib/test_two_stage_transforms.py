"""2S-ICR's transforms: mask dropout, target crops, intensities, augmentations, click maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.interaction.clicks import Click
from lib.two_stage.preprocess import KeepChannelsd, PetCtIntensity, prepare_array, to_model_grid
from lib.two_stage.transforms import (
    CtOnlyd,
    MaskDropout,
    MaskDropoutd,
    RandTargetCropd,
    click_maps,
    crop_padded,
    paper_augmentations,
    target_box,
)
from tests.lib.test_two_stage_engine import SHAPE, tiny_case


def test_mask_dropout_replaces_the_mask_by_one_half_with_probability_p():
    previous = torch.rand(8, 8, 4)
    never, always = MaskDropout(0.0), MaskDropout(1.0)
    torch.testing.assert_close(never(previous), previous)
    torch.testing.assert_close(always(previous), torch.full_like(previous, 0.5))
    dropout = MaskDropout(0.2)
    dropout.set_random_state(seed=3)
    dropped = [bool(torch.all(dropout(previous) == 0.5)) for _ in range(2000)]
    assert 0.17 < np.mean(dropped) < 0.23
    replay = MaskDropout(0.2)
    replay.set_random_state(seed=3)
    assert [bool(torch.all(replay(previous) == 0.5)) for _ in range(2000)] == dropped


def test_mask_dropout_dict_drops_every_key_or_none_and_checks_its_arguments():
    transform = MaskDropoutd(keys=("a", "b"), prob=0.5).set_random_state(seed=0)
    for _ in range(20):
        out = transform({"a": torch.zeros(2, 2), "b": torch.ones(2, 2), "c": torch.ones(1)})
        assert bool(torch.all(out["a"] == 0.5)) == bool(torch.all(out["b"] == 0.5))
        assert torch.equal(out["c"], torch.ones(1))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="prob must be in"):
            MaskDropout(bad)
    with pytest.raises(ValueError, match="fill"):
        MaskDropout(0.2, fill=2.0)


def test_target_box_holds_the_target_plus_margin_in_multiples_of_8():
    mask = np.zeros((40, 40, 20), bool)
    mask[10:15, 20:23, 5:8] = True
    box = target_box(mask, (3.0, 3.0, 6.0), 12.0)
    for b, lo, hi, grow in zip(box, (10, 20, 5), (15, 23, 8), (4, 4, 2)):
        assert (b.stop - b.start) % 8 == 0 and b.start <= lo - grow and b.stop >= hi + grow
    with pytest.raises(ValueError, match="empty"):
        target_box(np.zeros((4, 4, 4), bool), (1, 1, 1), 1.0)
    with pytest.raises(ValueError, match="margin"):
        target_box(mask, (1, 1, 1), -1.0)


def test_crop_padded_pads_images_with_edges_and_maps_with_zeros():
    volume = torch.arange(4 * 4 * 2, dtype=torch.float32).reshape(1, 4, 4, 2)
    box = (slice(-2, 6), slice(0, 4), slice(0, 2))
    edge = crop_padded(volume, box, "replicate")
    zero = crop_padded(volume, box, "constant", 0.0)
    assert edge.shape == zero.shape == (1, 8, 4, 2)
    torch.testing.assert_close(edge[0, :2], volume[0, :1].expand(2, 4, 2))
    assert float(zero[0, :2].abs().sum()) == 0.0
    torch.testing.assert_close(zero[0, 2:6], volume[0])


def test_random_target_crop_contains_the_target_and_stage_1_answer():
    case = tiny_case()
    label = torch.from_numpy(case.truth[None].astype(np.float32))
    previous = torch.zeros((1, *SHAPE))
    previous[0, 1:3, 1:3, 1:3] = 0.9  # a stage-1 false positive in a corner
    crop = RandTargetCropd((3.0, 3.0, 6.0), margin_mm=(5.0, 10.0), jitter=(0, 0, 0)).set_random_state(seed=1)
    out = crop({"image": torch.from_numpy(case.image), "label": label, "previous": previous})
    assert all(n % 8 == 0 for n in out["image"].shape[1:])
    assert out["image"].shape[1:] == out["label"].shape[1:] == out["previous"].shape[1:]
    assert int(out["label"].sum()) == int(case.truth.sum())
    assert float(out["previous"].max()) == pytest.approx(0.9)


def test_pet_ct_intensities_window_ct_and_z_score_pet():
    image = torch.stack([torch.tensor([-1000.0, -200.0, 0.0, 200.0, 900.0]).reshape(5, 1, 1),
                         torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0]).reshape(5, 1, 1)])
    out = PetCtIntensity()(image)
    torch.testing.assert_close(out[0].flatten(), torch.tensor([-1.0, -1.0, 0.0, 1.0, 1.0]))
    assert float(out[1].mean()) == pytest.approx(0.0, abs=1e-6) and float(out[1].std()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="window"):
        PetCtIntensity((200.0, -200.0))
    with pytest.raises(ValueError, match="needs 2"):
        KeepChannelsd("image", 2)({"image": torch.zeros(1, 2, 2, 2)})


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_model_grid_and_input_grid_are_inverse_for_axis_aligned_headers(orientation):
    case = tiny_case(orientation, pet=True)
    prepared = prepare_array(case.image, case.affine, channels=2)
    assert prepared.image.shape[0] == 2
    back = prepared.to_input_grid(to_model_grid(prepared, case.truth.astype(np.float32)).numpy())
    agree = ((back > 0.5) == case.truth).mean()
    assert agree == 1.0 if orientation != "oblique" else agree > 0.97


def test_ct_only_intensity_augmentations_leave_pet_unchanged():
    case = tiny_case(pet=True)
    image = torch.from_numpy(case.image)
    transforms = paper_augmentations(2)
    ct_only = transforms[-1]
    assert isinstance(ct_only, CtOnlyd)
    ct_only.set_random_state(seed=0)
    changed = False
    for _ in range(10):
        out = ct_only({"image": image})
        torch.testing.assert_close(out["image"][1], image[1])
        changed |= not torch.equal(out["image"][0], image[0])
    assert changed


def test_click_maps_put_positive_and_negative_clicks_in_their_channels():
    maps = click_maps([Click((2, 3, 1), True), Click((6, 6, 3), False), Click((50, 0, 0), True)], (8, 8, 4))
    assert maps.shape == (2, 8, 8, 4) and maps.dtype == np.float32
    assert maps[0][2, 3, 1] == 1.0 and maps[1][6, 6, 3] == 1.0
    assert maps[0][6, 6, 3] < 0.1 and maps[1][2, 3, 1] < 0.1
