"""The forward passes' number format: chosen, carried by the network, read from the environment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infers.answer import AnswerTask, set_task_precision
from lib.evaluation.precision import InPrecision, environment_precision, split_precision
from lib.precision import ENVIRONMENT, forward, has_bfloat16_units, precision_of, resolve, set_precision


def small_network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv3d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 1, 1)).eval()


def test_auto_is_bfloat16_only_on_a_cpu_with_amx():
    assert resolve("auto", "cpu") == ("bfloat16" if has_bfloat16_units() else "float32")
    assert resolve("auto", "cuda") == "float32"
    assert resolve("float32") == "float32" and resolve("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve("half")


def test_the_network_carries_its_format_and_else_follows_the_environment(monkeypatch):
    network = small_network()
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert precision_of(network) == "float32"
    with environment_precision("bfloat16"):
        assert precision_of(network) == "bfloat16"
    assert precision_of(network) == "float32"
    assert set_precision(network, "float32") == "float32"
    with environment_precision("bfloat16"):
        assert precision_of(network) == "float32"  # its own format wins
    assert "inference_precision" not in dict(network.named_buffers()) and "inference_precision" not in network.state_dict()


def test_a_bfloat16_pass_is_close_to_the_float32_one_and_comes_back_as_float32():
    network, inputs = small_network(), torch.randn(1, 2, 16, 16, 8)
    with torch.no_grad():
        reference = forward(network, inputs)
        set_precision(network, "bfloat16")
        low = forward(network, inputs)
    assert reference.dtype == low.dtype == torch.float32
    assert not torch.equal(reference, low)  # bfloat16 really ran
    assert torch.allclose(reference, low, atol=0.05 * float(reference.abs().max()))


def test_the_harness_names_a_method_in_another_format():
    assert split_precision("gaussian_click_3d@bfloat16") == ("gaussian_click_3d", "bfloat16")
    assert split_precision("graph_cut") == ("graph_cut", None)

    class Seen:
        name = "probe"

        def segment(self, case, clicks, previous):
            import os

            return np.full((2, 2, 2), 1.0 if os.environ.get(ENVIRONMENT) == "bfloat16" else 0.0, np.float32)

    wrapped = InPrecision(Seen(), "bfloat16")
    assert wrapped.name == "probe@bfloat16" and wrapped.segment(None, [], None).min() == 1.0
    assert Seen().segment(None, [], None).max() == 0.0  # the environment is restored after each answer


def test_conf_precision_reaches_click_tasks_only_and_refuses_unknown_formats():
    class Click(AnswerTask):
        precision = "auto"

    class Automatic(AnswerTask):
        pass

    click, automatic = Click(), Automatic()
    set_task_precision(click, "float32")
    set_task_precision(automatic, "bfloat16")
    assert click.precision == "float32" and automatic.precision is None
    with pytest.raises(ValueError, match="precision must be one of"):
        set_task_precision(click, "fp16")
