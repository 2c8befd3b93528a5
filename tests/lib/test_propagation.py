"""Slice-edit propagation engine: split, feature update, fusion, aggregation, request checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.networks.nets import DynUNet, SegResNet, UNet

from lib.imaging.prepare import prepare_array
from lib.phantom import PhantomConfig, generate_phantom
from lib.propagation.engine import InputCoordinates, PropagationEngine, check_edits
from lib.propagation.fusion import FusionModule
from lib.propagation.propagate import WindowEdit, base_probabilities, propagate_edits
from lib.propagation.split import SplitNetwork
from lib.propagation.update import UpdateSettings, edit_error, update_features
from lib.session_cache import SessionCache


def tiny_unet() -> UNet:
    torch.manual_seed(0)
    return UNet(3, 1, 3, channels=(4, 8, 16, 32, 64), strides=(1, 2, 2, 2), num_res_units=1).eval()


def tiny_dynunet() -> DynUNet:
    torch.manual_seed(0)
    return DynUNet(3, 1, 3, kernel_size=[3] * 5, strides=[1, 2, 2, 2, 1], upsample_kernel_size=[2, 2, 2, 1],
                   filters=[4, 8, 16, 32, 64], norm_name="instance").eval()


def tiny_segresnet() -> SegResNet:
    torch.manual_seed(0)
    return SegResNet(3, init_filters=4, in_channels=1, out_channels=3, blocks_down=(1, 1, 1, 1), blocks_up=(1, 1, 1),
                     norm="instance").eval()


@pytest.mark.parametrize("make", [tiny_unet, tiny_dynunet, tiny_segresnet])
@pytest.mark.parametrize("level", [1, 2, 3])
def test_back_of_front_is_the_network(make, level):
    network = make()
    image = torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(1))
    split = SplitNetwork(network, level)
    features = split.front(image)
    with torch.no_grad():
        expected = network(image)
        got = split.back(features.f, features.context)
    assert torch.equal(got, expected)
    assert features.f.shape[1] > 3  # a feature map, not the output


def test_deeper_levels_give_coarser_features():
    split = [SplitNetwork(tiny_unet(), level) for level in (1, 2, 3)]
    image = torch.zeros(1, 1, 32, 32, 16)
    sizes = [tuple(s.front(image).f.shape[2:]) for s in split]
    assert sizes == [(32, 32, 16), (16, 16, 8), (8, 8, 4)]


def test_unsupported_networks_and_levels_are_named():
    with pytest.raises(ValueError, match="cannot split a Conv3d"):
        SplitNetwork(torch.nn.Conv3d(1, 1, 3))
    with pytest.raises(ValueError, match="decoder level must be one of"):
        SplitNetwork(tiny_unet(), 4)
    small = UNet(3, 1, 2, channels=(4, 8), strides=(2,))
    with pytest.raises(ValueError, match="leaves no front"):
        SplitNetwork(small, 1)


def edit_of(split: SplitNetwork, features, z: int):
    """An edit on slice z: a square of class 1 where the network says something else."""
    with torch.no_grad():
        logits = split.back(features.f, features.context)
    shape = logits.shape[2:]
    target = torch.zeros(shape, dtype=torch.int64)
    target[8:20, 8:20, z] = 1
    edited = torch.zeros(shape, dtype=torch.bool)
    edited[:, :, z] = True
    near = torch.zeros(shape, dtype=torch.bool)
    near[:, :, max(0, z - 2) : z + 3] = True
    return logits, WindowEdit(target, edited, near)


def test_update_moves_features_not_weights_and_fixes_the_edit():
    network = tiny_unet()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    split = SplitNetwork(network, 2)
    features = split.front(torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(2)))
    logits, edit = edit_of(split, features, 8)
    assert edit_error(logits, edit.target, edit.edited) > 0.5
    updated, report = update_features(
        split, features.f, features.context, edit.target, edit.edited, UpdateSettings("adam", 40, 0.2, 0.02)
    )
    assert report.steps > 0 and report.error_after < report.error_before / 2
    assert not torch.equal(updated, features.f)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert all(p.requires_grad for p in network.parameters())  # flags restored


def test_lbfgs_also_reduces_the_edit_error():
    split = SplitNetwork(tiny_unet(), 1)
    features = split.front(torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(3)))
    _, edit = edit_of(split, features, 4)
    _, report = update_features(split, features.f, features.context, edit.target, edit.edited,
                                UpdateSettings("lbfgs", 15, 1.0, 0.02))
    assert report.error_after < report.error_before


def test_update_rejects_an_edit_without_voxels():
    split = SplitNetwork(tiny_unet(), 2)
    features = split.front(torch.zeros(1, 1, 32, 32, 16))
    empty = torch.zeros(32, 32, 16, dtype=torch.bool)
    with pytest.raises(ValueError, match="covers no voxel"):
        update_features(split, features.f, features.context, torch.zeros(32, 32, 16, dtype=torch.int64), empty)
    with pytest.raises(ValueError, match="optimiser must be one of"):
        UpdateSettings("sgd")


@pytest.mark.parametrize("anchor", ["updated", "original"])
def test_untrained_fusion_returns_its_anchor(anchor):
    fusion = FusionModule(8, expansion=2, anchor=anchor).eval()
    f, f_updated = torch.randn(1, 8, 16, 16, 8), torch.randn(1, 8, 16, 16, 8)
    expected = f_updated if anchor == "updated" else f
    assert torch.equal(fusion(f, f_updated), expected)
    fusion.output[-1].weight.data.fill_(0.01)
    assert not torch.equal(fusion(f, f_updated), expected)


def test_fusion_rejects_an_unknown_anchor():
    with pytest.raises(ValueError, match="anchor must be one of"):
        FusionModule(8, anchor="both")


def test_near_voxels_from_the_update_far_voxels_from_the_fusion():
    split = SplitNetwork(tiny_unet(), 2)
    features = split.front(torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(4)))
    _, edit = edit_of(split, features, 8)
    settings = UpdateSettings("adam", 10, 0.2, 0.0)
    fused = propagate_edits(split, features, [edit], FusionModule(features.f.shape[1], anchor="original"), settings)
    anchored = propagate_edits(split, features, [edit], FusionModule(features.f.shape[1], anchor="updated"), settings)
    direct = propagate_edits(split, features, [edit], None, settings)
    base = base_probabilities(split, features)
    far = ~edit.near
    # An untrained fusion module anchored on f is the identity on f: far voxels keep the base answer;
    # anchored on f' it gives the direct update's answer everywhere.
    assert torch.allclose(fused.probabilities[:, far], base[:, far], atol=1e-6)
    assert torch.allclose(anchored.probabilities, direct.probabilities, atol=1e-6)
    # Near voxels take the updated features' answer, with or without fusion.
    assert torch.allclose(fused.probabilities[:, edit.near], direct.probabilities[:, edit.near], atol=1e-6)
    assert not torch.allclose(direct.probabilities[:, far], base[:, far], atol=1e-4)  # direct update moves far slices


def test_a_later_edit_does_not_replace_an_earlier_edits_near_slices():
    split = SplitNetwork(tiny_unet(), 2)
    features = split.front(torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(5)))
    _, first = edit_of(split, features, 6)
    _, second = edit_of(split, features, 8)  # near slices 6..10 overlap the first's 4..8
    settings = UpdateSettings("adam", 5, 0.2, 0.0)
    one = propagate_edits(split, features, [first], None, settings)
    two = propagate_edits(split, features, [first, second], None, settings)
    assert torch.allclose(two.probabilities[..., 4:9], one.probabilities[..., 4:9], atol=1e-6)
    assert not torch.allclose(two.probabilities[..., 9:11], one.probabilities[..., 9:11], atol=1e-4)
    assert len(two.reports) == 2


def test_latest_rule_answers_every_near_slice_from_the_newest_update():
    split = SplitNetwork(tiny_unet(), 2)
    features = split.front(torch.randn(1, 1, 32, 32, 16, generator=torch.Generator().manual_seed(5)))
    _, first = edit_of(split, features, 6)
    _, second = edit_of(split, features, 8)
    settings = UpdateSettings("adam", 5, 0.2, 0.0)
    paper = propagate_edits(split, features, [first, second], None, settings, near_rule="paper")
    latest = propagate_edits(split, features, [first, second], None, settings, near_rule="latest")
    newest = split.back(latest.state.f_updated, features.context)[0].softmax(0)
    near = first.near | second.near
    assert torch.allclose(latest.probabilities[:, near], newest[:, near], atol=1e-6)
    assert not torch.allclose(latest.probabilities[..., 4:6], paper.probabilities[..., 4:6], atol=1e-4)
    far = ~near
    assert torch.allclose(latest.probabilities[:, far], paper.probabilities[:, far], atol=1e-6)
    with pytest.raises(ValueError, match="near_rule must be one of"):
        propagate_edits(split, features, [first], None, settings, near_rule="nearest")


# --- the request on the image grid -------------------------------------------------------


def test_check_edits_names_what_is_wrong():
    label = np.zeros((8, 8, 4), np.uint8)
    with pytest.raises(ValueError, match=r"label shape \[8, 8, 3\] differs from the image's \[8, 8, 4\]"):
        check_edits(label[..., :3], [1], 2, (8, 8, 4))
    with pytest.raises(ValueError, match="slice 4 is outside the image: axis 2 has slices 0..3"):
        check_edits(label, [4], 2, (8, 8, 4))
    with pytest.raises(ValueError, match="axis must be 0, 1 or 2"):
        check_edits(label, [1], 3, (8, 8, 4))
    with pytest.raises(ValueError, match="non-empty list"):
        check_edits(label, [], 2, (8, 8, 4))
    with pytest.raises(ValueError, match="listed twice"):
        check_edits(label, [1, 1], 2, (8, 8, 4))
    with pytest.raises(ValueError, match="not an integer"):
        check_edits(label, [1.5], 2, (8, 8, 4))
    assert check_edits(label, [3, 0], 2, (8, 8, 4)).slices == (3, 0)


def ras_image(shape, spacing):
    affine = np.diag([*spacing, 1.0])
    return np.zeros((1, *shape), np.float32), affine


def test_every_thin_input_slice_reaches_some_model_voxel():
    # 2 mm slices, the model's are 6 mm: each edited input slice must still mark model voxels.
    image, affine = ras_image((24, 24, 30), (3.0, 3.0, 2.0))
    grid = InputCoordinates(prepare_array(image, affine, 3))
    label = np.zeros((24, 24, 30), np.uint8)
    label[5:10, 5:10, :] = 1
    for s in range(1, 29):
        mask, target = grid.edited(label, 2, s, 0)
        assert mask.any(), s
        assert set(np.unique(target[mask])) == {0, 1}


def test_each_same_thickness_slice_is_exactly_one_model_slice():
    image, affine = ras_image((24, 24, 10), (3.0, 3.0, 6.0))
    grid = InputCoordinates(prepare_array(image, affine, 3))
    label = np.zeros((24, 24, 10), np.uint8)
    mask, _ = grid.edited(label, 2, 4, 0)
    assert mask.any(axis=(0, 1)).nonzero()[0].tolist() == [4]
    near, _ = grid.edited(label, 2, 4, 2)
    assert near.any(axis=(0, 1)).nonzero()[0].tolist() == [2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def phantom_case():
    phantom = generate_phantom(PhantomConfig(seed=3))
    return phantom


def test_engine_keeps_edited_slices_and_the_label_outside_the_window(phantom_case):
    prepared = prepare_array(phantom_case.image, phantom_case.affine, 3)
    truth = phantom_case.label
    label = np.where(truth == 2, 2, 0).astype(np.uint8)  # the user has the heart; the GTV is missing
    z = int(np.nonzero((truth == 1).any(axis=(0, 1)))[0].mean())
    label[..., z] = truth[..., z]  # ... and draws it on one slice
    label[0, 0, 0] = 1  # a stray voxel far from everything: outside the window, must stay
    engine = PropagationEngine(tiny_unet(), 2, settings=UpdateSettings("adam", 3, 0.1))
    answer = engine.propagate(prepared, check_edits(label, [z], 2, truth.shape))
    assert answer.label.shape == truth.shape and answer.label.dtype == np.uint8
    assert np.array_equal(answer.label[..., z], label[..., z])
    assert answer.label[0, 0, 0] == 1
    assert len(answer.reports) == 1


def test_nothing_to_propagate_is_an_error(phantom_case):
    prepared = prepare_array(phantom_case.image, phantom_case.affine, 3)
    empty = np.zeros(phantom_case.label.shape, np.uint8)
    with pytest.raises(ValueError, match="nothing to propagate: the edited slices \\[5\\] are empty"):
        PropagationEngine(tiny_unet()).propagate(prepared, check_edits(empty, [5], 2, empty.shape))


def test_features_are_computed_once_per_image_and_window(phantom_case):
    prepared = prepare_array(phantom_case.image, phantom_case.affine, 3)
    truth = phantom_case.label
    z = int(np.nonzero((truth == 1).any(axis=(0, 1)))[0].mean())
    network = tiny_unet()
    engine = PropagationEngine(network, 2, settings=UpdateSettings("adam", 1, 0.1), cache=SessionCache(4, 10**9))
    calls = []
    hook = network.model[0].register_forward_hook(lambda *a: calls.append(1))  # the first encoder block
    first = engine.propagate(prepared, check_edits(truth, [z], 2, truth.shape), key="case")
    after_first = len(calls)
    second = engine.propagate(prepared, check_edits(truth, [z, z + 1], 2, truth.shape), key="case")
    hook.remove()
    assert (first.features_cached, second.features_cached) == (False, True)
    # the window's features once, plus the served sliding-window answer (the path choice's
    # reference) once per image: the second request runs neither again
    assert after_first >= 2 and len(calls) == after_first
    paper = PropagationEngine(network, 2, settings=UpdateSettings("adam", 1, 0.1), cache=SessionCache(4, 10**9),
                              correction=None)
    calls.clear()
    hook = network.model[0].register_forward_hook(lambda *a: calls.append(1))
    paper.propagate(prepared, check_edits(truth, [z], 2, truth.shape), key="case")
    paper.propagate(prepared, check_edits(truth, [z, z + 1], 2, truth.shape), key="case")
    hook.remove()
    assert len(calls) == 1  # the paper's method needs no served answer: the features only


def test_a_request_adding_one_edit_resumes_from_the_earlier_ones(phantom_case):
    prepared = prepare_array(phantom_case.image, phantom_case.affine, 3)
    truth = phantom_case.label
    z = int(np.nonzero((truth == 1).any(axis=(0, 1)))[0].mean())
    settings = UpdateSettings("adam", 2, 0.1, 0.0)
    cached = PropagationEngine(tiny_unet(), 2, settings=settings, cache=SessionCache(8, 10**9))
    plain = PropagationEngine(tiny_unet(), 2, settings=settings)
    cached.propagate(prepared, check_edits(truth, [z], 2, truth.shape), key="case")
    resumed = cached.propagate(prepared, check_edits(truth, [z, z + 2], 2, truth.shape), key="case")
    fresh = plain.propagate(prepared, check_edits(truth, [z, z + 2], 2, truth.shape))
    assert resumed.resumed_edits == 1 and len(resumed.reports) == 2
    np.testing.assert_array_equal(resumed.label, fresh.label)  # resuming changes nothing but the time
    redrawn = truth.copy()
    redrawn[..., z] = 0  # the first edit drawn differently: nothing to resume
    again = cached.propagate(prepared, check_edits(redrawn, [z, z + 2], 2, truth.shape), key="case")
    assert again.resumed_edits == 0


def test_components_the_user_never_pointed_at_are_dropped():
    from lib.propagation.engine import drop_unanchored_components

    answer = np.zeros((12, 12, 6), np.uint8)
    answer[1:4, 1:4, 1:4] = 1  # overlaps the user's gtv: kept, all of it
    answer[8:11, 8:11, 1:4] = 1  # a gtv blob the user never drew near: dropped
    answer[1:4, 8:11, 1:4] = 2  # heart, anchored by the user's heart
    label = np.zeros_like(answer)
    label[2, 2, 2] = 1
    label[2, 9, 2] = 2
    label[9, 9, 2] = 2  # the user's heart there does not anchor a gtv blob
    out = drop_unanchored_components(answer, label)
    assert (out[1:4, 1:4, 1:4] == 1).all() and (out[1:4, 8:11, 1:4] == 2).all()
    assert not out[8:11, 8:11].any()
    assert answer[8:11, 8:11, 1:4].all()  # the input is not changed
