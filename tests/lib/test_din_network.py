"""DIN's network: Table I's anisotropic layout in (X, Y, Z) order and the two DIM outputs."""

from __future__ import annotations

import pytest
import torch

from lib.din.network import DIM_POOL, DeepInteractiveNetwork, din_network

WIDTHS = (2, 3, 4, 5, 6)


def tiny(deep_guides: bool = True) -> DeepInteractiveNetwork:
    torch.manual_seed(0)
    return din_network(WIDTHS, deep_guides).eval()


def test_shape_in_and_out_and_size_checks():
    net = tiny()
    assert net(torch.zeros(2, 3, 32, 16, 4)).shape == (2, 2, 32, 16, 4)
    with pytest.raises(ValueError, match="multiples of"):
        net(torch.zeros(1, 3, 24, 16, 4))
    with pytest.raises(ValueError, match="input must be"):
        net(torch.zeros(1, 2, 32, 16, 4))
    with pytest.raises(ValueError, match="widths"):
        din_network((8, 16, 32, 64))


def test_shallow_levels_are_in_plane_and_only_the_deepest_downsamples_z():
    net = tiny()
    # the paper's (z, y, x) kernel (1, 3, 3) is (3, 3, 1) in (X, Y, Z)
    assert net.e1[0][0].kernel_size == (3, 3, 1) and net.e2[0][0].stride == (2, 2, 1)
    assert net.e3[0][0].kernel_size == (3, 3, 3) and net.e3[0][0].stride == (2, 2, 1)
    assert net.e5.conv.stride == (2, 2, 2)
    sizes = {}
    for name in ("e1", "e2", "e3", "e4", "e5"):
        getattr(net, name).register_forward_hook(lambda m, i, o, name=name: sizes.__setitem__(name, o.shape[2:]))
    net(torch.zeros(1, 3, 32, 32, 4))
    assert sizes == {"e1": (32, 32, 4), "e2": (16, 16, 4), "e3": (8, 8, 4), "e4": (4, 4, 4), "e5": (2, 2, 2)}
    assert isinstance(net.e1[0][1], torch.nn.InstanceNorm3d)


def test_dim_output_2_is_added_after_the_first_norm_of_the_deepest_block_before_its_relu():
    net = tiny()
    x = torch.rand(1, 3, 32, 32, 4)
    seen = {}
    net.e5.norm.register_forward_hook(lambda m, i, o: seen.__setitem__("norm", o.clone()))
    net.e5.relu.register_forward_hook(lambda m, i, o: seen.__setitem__("relu_in", i[0].clone()))
    net(x)
    guides = x[:, 1:]
    deep = net.dim_conv(torch.nn.functional.max_pool3d(guides, DIM_POOL, DIM_POOL))
    assert net.dim_pool.kernel_size == DIM_POOL
    assert deep.shape == seen["norm"].shape
    # ReLU is in place: its input after the call is its output, so compare before it ran
    torch.testing.assert_close(torch.relu(seen["norm"] + deep), seen["relu_in"])


def test_input_only_variant_has_no_deep_branch_and_guides_still_matter():
    net = tiny(deep_guides=False)
    assert not hasattr(net, "dim_conv")
    x = torch.rand(1, 3, 32, 16, 4)
    moved = x.clone()
    moved[:, 1] = 0
    assert not torch.allclose(net(x), net(moved))
    full = tiny(deep_guides=True)
    assert sum(p.numel() for p in full.parameters()) > sum(p.numel() for p in net.parameters())


def test_the_inference_convolution_path_gives_the_training_path_result():
    net = tiny()
    x = torch.rand(1, 3, 32, 16, 4)
    with torch.no_grad():
        fast = net(x)
    slow = net(x)  # autograd on: PyTorch's own convolution choice
    torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=1e-4)
