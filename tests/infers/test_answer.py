"""The stage times of an answer: consecutive parts of the total; the network's share is its forward passes."""

from __future__ import annotations

import time

import torch

from infers.answer import NETWORK_KEY, STAGES, network_time, stage_times_ms


def test_stages_are_consecutive_parts_of_the_total_and_sum_to_at_most_it():
    marks = {"start": 10.0, "prepared": 10.01234, "inferred": 10.21234, "posted": 10.21301, "end": 10.3}
    times = stage_times_ms(marks, network_s=0.15)
    assert set(times) == {*STAGES, "total"}
    assert times["prepare"] == 12.3 and times["network"] == 150.0 and times["write"] == 86.9
    assert abs(times["post"] - 50.6) < 0.11  # the inferer's rest (50 ms) and the post transforms (0.67 ms)
    assert sum(times[s] for s in STAGES) <= times["total"] == 300.0
    whole = stage_times_ms(marks, network_s=None)  # MONAI's own inferer: all of it is the network's
    assert whole["network"] == 200.0


def test_network_time_counts_the_forward_passes_only():
    class Slow(torch.nn.Module):
        def forward(self, x):
            time.sleep(0.02)
            return x

    net, data = Slow(), {}
    with network_time(data, [net]):
        time.sleep(0.05)  # not the network's
        net(torch.zeros(1))
        net(torch.zeros(1))
    assert 0.04 <= data[NETWORK_KEY] < 0.07
    net(torch.zeros(1))  # the hooks are gone after the block
    assert data[NETWORK_KEY] < 0.07
    spans = {}
    with network_time(spans):
        time.sleep(0.01)
    assert spans[NETWORK_KEY] >= 0.01
