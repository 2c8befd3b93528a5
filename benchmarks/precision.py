"""Forward-pass time of each click method's network in float32 and in bfloat16 autocast, same run.

    python -m benchmarks.precision --threads 2 --repeats 5 --out results/latency/precision.json

Each shipped network on a random input of the size it sees per click (the Gaussian-click 3D
model's 64 x 64 x 32 region, the 2D model's 192 x 192 slice, DIN's 64 x 64 x 18 click window,
the universal model's 64 x 64 x 32 and largest 128 x 128 x 64 regions, the 2S-ICR refinement's
96 x 96 x 48 box), the formats alternating (float32 first: the baseline), after one untimed
pass each. Reported: median and minimum ms per format, the speed-up, the largest logit
difference and the share of voxels whose label (logit > 0 or argmax) differs on that random
input. The accuracy of each method in both formats is the evaluation harness's
(``python -m lib.evaluation --methods <m>,<m>@bfloat16``), not this benchmark's. The machine
(its CPU flags say whether it has AMX bfloat16 units), the torch threads and the load average
before and after are in the JSON; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.precision import forward as run_forward  # noqa: E402
from lib.precision import has_bfloat16_units, set_precision  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"


def cases() -> list[tuple[str, Callable, tuple[int, ...]]]:
    """(name, loader of the network, input shape (1, C, *S)) of every click method's network."""
    from lib.din.network import load_network as load_din
    from lib.gaussian_click.network import load_network as load_gaussian
    from lib.two_stage.network import load_refinement
    from lib.universal_click.network import load_universal

    return [
        ("gaussian_click_3d", lambda: load_gaussian(MODELS / "gaussian_click_3d" / "weights.pt", 3), (1, 3, 64, 64, 32)),
        ("gaussian_click_2d", lambda: load_gaussian(MODELS / "gaussian_click_2d" / "weights.pt", 2), (1, 3, 192, 192)),
        ("din", lambda: load_din(MODELS / "din" / "weights.pt"), (1, 3, 64, 64, 18)),
        ("universal_click", lambda: load_universal(MODELS / "universal_click_gc_3d" / "weights.pt"), (1, 4, 64, 64, 32)),
        ("universal_click_largest", lambda: load_universal(MODELS / "universal_click_gc_3d" / "weights.pt"),
         (1, 4, 128, 128, 64)),
        ("two_stage_refinement", lambda: load_refinement(MODELS / "two_stage_ct" / "weights.pt"), (1, 4, 96, 96, 48)),
    ]


def time_formats(network, inputs, repeats: int) -> dict:
    """Median / minimum ms per format (alternating, float32 first) and the outputs' differences."""
    import torch

    times: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    outputs = {}
    with torch.no_grad():
        for precision in times:
            set_precision(network, precision)
            outputs[precision] = run_forward(network, inputs)  # untimed: the first pass allocates
        for _ in range(repeats):
            for precision in times:
                set_precision(network, precision)
                start = time.perf_counter()
                run_forward(network, inputs)
                times[precision].append((time.perf_counter() - start) * 1000)
    a, b = outputs["float32"], outputs["bfloat16"]
    labels = (lambda y: y > 0) if a.shape[1] == 1 else (lambda y: y.argmax(1))
    report = {f"{p}_ms_median": round(float(np.median(t)), 1) for p, t in times.items()}
    report.update({f"{p}_ms_min": round(float(np.min(t)), 1) for p, t in times.items()})
    report["speedup_median"] = round(report["float32_ms_median"] / report["bfloat16_ms_median"], 2)
    report["max_abs_logit_difference"] = round(float((a - b).abs().max()), 4)
    report["label_differs_share"] = float((labels(a) != labels(b)).float().mean())
    return report


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()
    results = {}
    for name, load, shape in cases():
        results[name] = {"input_shape": list(shape), **time_formats(load(), torch.randn(*shape), args.repeats)}
    return emit({
        "benchmark": "precision",
        "machine": asdict(describe_machine()),
        "amx_bf16": has_bfloat16_units(),
        "torch_threads": args.threads,
        "load_average_1_5_15": {"start": [round(v, 2) for v in load_before],
                                "end": [round(v, 2) for v in os.getloadavg()]},
        "results": results,
    }, args.out)


if __name__ == "__main__":
    main()
