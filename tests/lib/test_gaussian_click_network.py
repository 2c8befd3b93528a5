"""The Gaussian-click network: the paper's blocks, shapes in 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from lib.gaussian_click.network import CPU_FEATURES_2D, CPU_FEATURES_3D, gaussian_click_net, load_network

TINY = (4, 4, 8, 8, 16, 4)


@pytest.mark.parametrize("dims, size", [(2, (32, 48)), (3, (16, 16, 32))])
def test_three_channels_in_one_logit_out_at_full_resolution(dims, size):
    network = gaussian_click_net(dims, TINY).eval()
    with torch.no_grad():
        assert network(torch.zeros(2, 3, *size)).shape == (2, 1, *size)


def test_blocks_are_the_papers():
    network = gaussian_click_net(2, TINY)
    modules = list(network.modules())
    pools = [m for m in modules if isinstance(m, torch.nn.MaxPool2d)]
    deconvs = [m for m in modules if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(pools) == 4 and all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    assert len(deconvs) == 4 and all(d.kernel_size == (2, 2) and d.stride == (2, 2) for d in deconvs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in modules) == 18  # 9 blocks x 2 convs
    assert sum(isinstance(m, torch.nn.ReLU) for m in modules) == 18
    assert not any(isinstance(m, (torch.nn.InstanceNorm2d, torch.nn.LeakyReLU)) for m in modules)


def test_default_widths_are_the_cpu_ones():
    assert gaussian_click_net(2).conv_0.conv_0.conv.out_channels == CPU_FEATURES_2D[0]
    assert gaussian_click_net(3).conv_0.conv_0.conv.out_channels == CPU_FEATURES_3D[0]


@pytest.mark.parametrize("dims, features, words", [(4, None, "dims must be 2 or 3"), (2, (1, 2), "six positive")])
def test_bad_arguments_are_refused(dims, features, words):
    with pytest.raises(ValueError, match=words):
        gaussian_click_net(dims, features)


def test_missing_weights_name_the_training_command(tmp_path):
    with pytest.raises(ValueError, match="lib.gaussian_click.train"):
        load_network(tmp_path / "weights.pt", 2)
