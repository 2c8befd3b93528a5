"""Evaluate the universal click model on what it never saw, with the baselines in the same run.

    python -m lib.universal_click.evaluate --cell 3x3x6:ct --cases 10 --max-clicks 10
    python -m lib.universal_click.evaluate --cell 1mm:t1_like --cases 4 --structures gtv,spinal_canal
    python -m lib.universal_click.evaluate --cell real:ct            # the slicerio chest CT
    python -m lib.universal_click.evaluate --cell 3x3x6:ct --first-seed 800 --cases 9   # validation phantoms
    python -m lib.universal_click.evaluate --cell gtv:ct --methods universal_click_3d,gaussian_click_3d,graph_cut,random_walker

Each run: the harness (:mod:`lib.evaluation`) in ``own`` click mode (each method's clicks
from its own answers, ``din_evaluation`` simulator) and in ``shared`` mode (the universal
model's clicks replayed to the others), written to ``results/universal_click_<cell>/``
(``own/`` and ``shared/``: eval.json, eval.md, dsc_vs_clicks.png) and ``summary.json``: per
case, the resolution ceiling of the universal model's last region (the truth passed through
its resampling and back) and of the other methods (graph cut and random walker work on the
image's own grid: 1.0; the Gaussian-click 3D model: its 3 x 3 x 6 mm space), each method's
own-click DSC per structure after 1, 5 and 10 clicks, the load and the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Orientation

from lib.evaluation.harness import evaluate
from lib.evaluation.precision import InPrecision, split_precision
from lib.evaluation.registry import make_segmenter
from lib.evaluation.report import write_report
from lib.imaging.prepare import first_channel_tensor, prepare_array
from lib.machine import describe_machine
from lib.metrics import dice
from lib.universal_click.cases import held_out_cases, real_ct_cases
from lib.universal_click.segmenter import UNIVERSAL_METHODS
from lib.universal_click.space import HELD_OUT
from lib.universal_click.zoom import resolution_ceiling_mask


def cases_of(cell: str, count: int, structures: Sequence[str], margin_mm: float, first_seed: int = 900):
    """The cases of a cell ``<resolution>:<contrast>``, ``real:<contrast>`` or ``gtv:ct`` (in-family);
    phantoms from ``first_seed`` on (900+: held out; 800+: validation, for choosing settings)."""
    resolution, contrast = cell.split(":")
    if resolution == "real":
        return list(real_ct_cases(contrast, margin_mm))
    if resolution == "gtv":
        from lib.evaluation.cases import phantom_cases

        return list(phantom_cases(count, first_seed, "gtv", margin_mm))
    return list(held_out_cases(count, resolution, contrast, structures, first_seed, margin_mm))


def ras_truth(case) -> np.ndarray:
    """The case's truth in RAS order (what the universal model's grid is)."""
    tensor = first_channel_tensor(case.truth[None].astype(np.float32), case.affine)
    return np.asarray(Orientation(axcodes="RAS")(tensor)[0]) > 0.5


def gaussian_3d_ceiling(case) -> float:
    """DSC of the truth through the Gaussian-click 3D model's 3 x 3 x 6 mm space and back."""
    prepared = prepare_array(case.truth[None].astype(np.float32) * 400.0 - 200.0, case.affine, 3)
    model = (np.asarray(prepared.image[0]) + 1.0) / 2.0
    return dice(prepared.to_input_grid(model) > 0.5, case.truth)


def per_structure(methods: dict, structures: dict[str, str], clicks: Sequence[int] = (1, 5, 10)) -> dict:
    """Mean DSC after each of ``clicks`` per method and structure.

    Args:
        methods: the harness's ``result["methods"]`` (name -> {"rows": [{"case_id", "k", "dsc"}, ...]}).
        structures: case id -> structure name.
        clicks: the click counts to report (a count beyond a case's rows is left out for it).

    Returns:
        ``{method: {structure: {str(k): mean DSC}}}``, structures in first-seen order.
    """
    table: dict = {}
    for name, method in methods.items():
        values: dict[str, dict[int, list[float]]] = {}
        for row in method["rows"]:
            if row["k"] in clicks and row["case_id"] in structures:
                values.setdefault(structures[row["case_id"]], {}).setdefault(row["k"], []).append(float(row["dsc"]))
        table[name] = {s: {str(k): float(np.mean(v[k])) for k in clicks if k in v} for s, v in values.items()}
    return table


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", required=True)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--structures", default=",".join(HELD_OUT))
    parser.add_argument("--methods", default="universal_click_3d,graph_cut,random_walker")
    parser.add_argument("--max-clicks", type=int, default=10)
    parser.add_argument("--margin-mm", type=float, default=30.0)
    parser.add_argument("--no-shared", action="store_true", help="skip the shared-click run")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--out", default="results")
    parser.add_argument("--suffix", default="", help="appended to the results folder's name")
    parser.add_argument("--first-seed", type=int, default=900,
                        help="first phantom seed (900: held out; 800: validation; its folder then ends in _seeds800)")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    if split_precision(methods[0])[0] not in UNIVERSAL_METHODS:
        parser.error(f"--methods must start with a universal model ({sorted(UNIVERSAL_METHODS)}): its regions give "
                     "the resolution ceiling and its clicks are the shared ones")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    start, loads = time.time(), [os.getloadavg()]
    cases = cases_of(args.cell, args.cases, args.structures.split(","), args.margin_mm, args.first_seed)
    seeds = "" if args.first_seed == 900 else f"_seeds{args.first_seed}"
    name = "universal_click_" + args.cell.replace(":", "_") + seeds + args.suffix
    folder = Path(args.out) / name
    report: dict = {"cell": args.cell, "cases": [c.case_id for c in cases], "machine": dataclasses.asdict(describe_machine())}
    for mode in ("own", "shared"):
        if mode == "shared" and args.no_shared:
            continue
        segmenters = []
        for n, method in enumerate(methods):
            base, precision = split_precision(method)
            if base in UNIVERSAL_METHODS:
                segmenter = UNIVERSAL_METHODS[base](args.weights if n == 0 else None)
                segmenters.append(segmenter if precision is None else InPrecision(segmenter, precision))
            else:
                segmenters.append(make_segmenter(method))
        result = evaluate(segmenters, cases, "din_evaluation", args.max_clicks, 0, mode,
                          methods[0] if mode == "shared" else None)
        result["command"] = vars(args)
        write_report(result, folder, mode)
        loads.append(os.getloadavg())
        universal = segmenters[0]
        if mode == "own":
            ceilings = {}
            for case in cases:
                region = universal.regions.get(case.case_id, [None])[-1]
                row = {"structure": case.structure, "truth_voxels": int(case.truth.sum()),
                       "policy": universal.policies.get(case.case_id), "native": 1.0}
                if region is not None:
                    truth = ras_truth(case)
                    row[methods[0]] = dice(resolution_ceiling_mask(truth, region), truth)
                    row["region"] = {"size": list(region.size), "zoom": [round(z, 3) for z in region.zoom]}
                row["gaussian_click_3d_space"] = gaussian_3d_ceiling(case)
                ceilings[case.case_id] = row
            report["ceiling"] = ceilings
            report["own"] = {n: {"dsc_at_clicks": m["dsc_at_clicks"], "noc": m["noc"]}
                             for n, m in result["methods"].items()}
            report["own_per_structure"] = per_structure(result["methods"], {c.case_id: c.structure for c in cases},
                                                        [k for k in (1, 5, 10) if k <= args.max_clicks])
            report["seconds_per_click"] = {
                n: float(np.mean([r["seconds"] for r in m["rows"] if r["k"] > 0 and r["click"] is not None] or [0]))
                for n, m in result["methods"].items()}
        else:
            report["shared"] = {n: {"dsc_at_clicks": m["dsc_at_clicks"]} for n, m in result["methods"].items()}
    report["load_average"] = [round(v[0], 2) for v in loads]
    report["wall_seconds"] = time.time() - start
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(report, indent=1, default=float))
    print(json.dumps({k: report[k] for k in ("cell", "own", "own_per_structure", "wall_seconds") if k in report},
                     indent=1, default=float))
    return report


if __name__ == "__main__":
    main()
