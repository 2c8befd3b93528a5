"""A slice-ranking rule on the held-out phantoms, against a finished ``evaluate_slices`` run.

    python -m lib.active_learning.evaluate_rule_heldout --reference results/active_learning/slices.json \\
        --rule "smoothed s=1.0" --out results/<folder>

``evaluate_slices`` is deterministic (the same phantoms, the served prediction, the seeded
random draw, the same propagation): its ``slices.json`` keeps, per case, the random, worst and
most-wrong slices with their DSC after propagation, and every oracle candidate's DSC after one
propagated edit. This evaluation reuses them and propagates only what the new rule needs:

- 1 edit: the rule's top slice (``lib.active_learning.slice_rules``) on the served label; its
  DSC is the reference's when the slice was an oracle candidate there (the same edit, the same
  propagation), else propagated here. The oracle (the reference's definition: the best of its
  candidates and of the other methods' slices) takes the new slice in as a candidate.
- 2 edits (``--edits 2``): the rule asked again on the label after the first propagation, the
  first slice excluded (what the Slicer module does), both propagated; the reference's random
  and greedy oracle at 2 edits as they were (the oracle's second edit was not searched again
  with the new first slice: a lower bound of the oracle there).

Written after every case: ``slices.json``, ``slices.md``; ``slices.png`` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.active_learning.evaluate_slices import GTV, redrawn  # noqa: E402
from lib.active_learning.slice_rules import case_inputs, rules  # noqa: E402
from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import json_safe, write_png  # noqa: E402
from lib.imaging.prepare import prepare_file  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice  # noqa: E402
from lib.propagation.engine import PropagationEngine, check_edits  # noqa: E402
from lib.propagation.train_fusion import load_fusion  # noqa: E402
from lib.segmentation.evaluate import load_network  # noqa: E402
from lib.session_cache import SessionCache  # noqa: E402

COMPARED = ("random", "worst_hausdorff", "most_wrong")


def top_slice(scores: np.ndarray, exclude: Sequence[int]) -> int:
    """The highest of ``scores`` (N,) outside ``exclude`` (ties to the lower index)."""
    skip = set(exclude)
    return min((i for i in range(len(scores)) if i not in skip), key=lambda i: (-scores[i], i))


def summarise(cases: dict, edits: int) -> dict:
    rows = list(cases.values())
    out: dict = {"cases": len(rows), "base_dsc": float(np.mean([r["base_dsc"] for r in rows]))}
    for k in range(1, edits + 1):
        for m in ("new_suggested", "old_suggested", "oracle", *COMPARED):
            out[f"{m}_dsc_{k}"] = float(np.mean([r[m][k - 1] for r in rows]))
        gain = out[f"oracle_dsc_{k}"] - out[f"random_dsc_{k}"]
        for m in ("new_suggested", "old_suggested"):
            out[f"{m}_share_{k}"] = (out[f"{m}_dsc_{k}"] - out[f"random_dsc_{k}"]) / gain if gain > 0 else None
    out["random_expected_dsc_1"] = float(np.mean([r["random_expected_1"] for r in rows]))
    return out


def markdown(result: dict) -> str:
    s, edits = result["summary"], result["edits"]
    lines = ["# Slice suggestion: the smoothed ranking on the held-out phantoms", "", result["description"], "",
             "| edits | base | new suggested | old suggested | random (within extent) | worst by truth (Hausdorff) "
             "| most wrong voxels (truth) | oracle | new share of oracle's gain over random | old share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for k in range(1, edits + 1):
        def share(m):
            v = s[f"{m}_share_{k}"]
            return "-" if v is None else f"{v:.2f}"
        lines.append(f"| {k} | {s['base_dsc']:.3f} | " + " | ".join(
            f"{s[f'{m}_dsc_{k}']:.3f}" for m in ("new_suggested", "old_suggested", *COMPARED, "oracle"))
            + f" | {share('new_suggested')} | {share('old_suggested')} |")
    lines += ["", f"Random's expectation at 1 edit (mean over every slice of the true extent, where the table "
              f"holds them all): {s['random_expected_dsc_1']:.3f}." if "random_expected_dsc_1" in s else "",
              "", f"Command: `{result['command']}`", f"Machine: {result['machine']}; {result['minutes']:.1f} min; "
              f"{result['propagated']} propagations run here, the rest reused from the reference.", ""]
    return "\n".join(lines)


def plot(summary: dict, edits: int, path: Path) -> None:
    figure, ax = plt.subplots(figsize=(5.5, 4))
    xs = list(range(edits + 1))
    for m in ("new_suggested", "old_suggested", *COMPARED, "oracle"):
        ax.plot(xs, [summary["base_dsc"]] + [summary[f"{m}_dsc_{k}"] for k in range(1, edits + 1)], marker="o", label=m)
    ax.set(xlabel="slice edits (propagated)", ylabel="GTV DSC, whole volume", xticks=xs,
           title=f"{summary['cases']} held-out phantoms")
    ax.grid(alpha=0.3)
    ax.legend()
    write_png(figure, path, dpi=110)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=Path("results/active_learning/slices.json"))
    parser.add_argument("--rule", required=True)
    parser.add_argument("--edits", type=int, choices=(1, 2), default=1)
    parser.add_argument("--data", type=Path, default=Path("build/phantoms/heldout"))
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members_unet"),
                        help="UNet-only members (what the served suggestion computes)")
    parser.add_argument("--fusion", default="models/propagation_unet/fusion.pt")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    if args.rule.endswith("[unet+dynunet]"):
        parser.error("the served suggestion runs the UNet only; rules of the 8-member ensemble are not evaluated here")
    rule = rules()[args.rule]
    reference = json.loads(args.reference.read_text())
    unet = load_network("models/segmentation/weights.pt")
    networks = {"unet": unet}
    fusion, meta = load_fusion(args.fusion)
    engine = PropagationEngine(unet, int(meta["level"]), fusion, cache=SessionCache(4, 2 * 1024**3))
    command = "python -m lib.active_learning.evaluate_rule_heldout " + shlex.join(sys.argv[1:] if argv is None else argv)
    start, cases, propagated = time.time(), {}, 0
    for name, ref in tqdm(reference["cases"].items(), desc="cases", unit="case"):
        x = case_inputs(name, args.data, args.cache, networks)
        image = args.data / f"{name}.nii.gz"
        axis, truth, served = ref["axis"], x["truth"], x["served"]
        target = truth == GTV
        prepared = None

        def propagate(slices: list[int]) -> np.ndarray:
            nonlocal prepared, propagated
            prepared = prepared if prepared is not None else prepare_file(image, 3)
            propagated += 1
            return engine.propagate(prepared, check_edits(redrawn(served, truth, axis, slices), slices, axis,
                                                          truth.shape), key=str(image)).label

        known = {int(k): v for k, v in ref["oracle_candidates"][0].items()}
        first = top_slice(rule(x["p"], served, axis), [])
        label1 = None
        if first not in known or args.edits == 2:
            label1 = propagate([first])
            dsc1 = dice(label1 == GTV, target)
        else:
            dsc1 = known[first]
        row = {"base_dsc": ref["base_dsc"], "slices": [first], "new_suggested": [dsc1],
               "old_suggested": ref["methods"]["suggested"]["dsc"][: args.edits],
               "old_suggested_slices": ref["methods"]["suggested"]["slices"],
               "oracle": [max(ref["methods"]["oracle"]["dsc"][0], dsc1)], "reused_1": first in known,
               "random_expected_1": None,
               **{m: ref["methods"][m]["dsc"][: args.edits] for m in COMPARED}}
        if args.edits == 2:
            second = top_slice(rule(x["p"], label1, axis), [first])
            dsc2 = dice(propagate([first, second]) == GTV, target)
            row["slices"].append(second)
            row["new_suggested"].append(dsc2)
            row["oracle"].append(max(ref["methods"]["oracle"]["dsc"][1], dsc2))
        extent = np.flatnonzero(np.moveaxis(target, axis, 0).reshape(target.shape[axis], -1).any(1))
        if all(s in known for s in extent):
            row["random_expected_1"] = float(np.mean([known[s] for s in extent]))
        cases[name] = row
        summary = summarise(cases, args.edits)
        full = [r["random_expected_1"] for r in cases.values() if r["random_expected_1"] is not None]
        summary.pop("random_expected_dsc_1")
        if len(full) == len(cases):
            summary["random_expected_dsc_1"] = float(np.mean(full))
        result = {
            "description": (
                f"{len(cases)} held-out phantoms (seeds 900+, those of the reference `{args.reference}`); GTV; "
                f"rule `{args.rule}` on the UNet x 4 test-time augmentations' GTV probabilities; everything else "
                "(base, random draw, worst, most wrong, oracle candidates) from the reference run; the oracle takes "
                "the new slice in as a candidate" + (" (at 2 edits the reference's greedy oracle, not searched "
                                                     "again)." if args.edits == 2 else ".")),
            "command": command, "machine": str(describe_machine()), "minutes": (time.time() - start) / 60,
            "rule": args.rule, "edits": args.edits, "propagated": propagated, "summary": summary, "cases": cases,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        write_atomically(args.out / "slices.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
        write_atomically(args.out / "slices.md", lambda tmp: tmp.write_text(markdown(result)))
    plot(result["summary"], args.edits, args.out / "slices.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
