"""Every candidate slice's whole-volume GTV DSC after one propagated edit there: the gain table.

    python -m lib.active_learning.slice_gain_table --cases 30 --first-seed 900 --out results/<folder>/table_test.json

For each phantom (``--first-seed`` 900+: held-out; 800+: validation, for choosing a ranking):
the automatic model's prediction (UNet, no augmentation), then one GTV slice edit (the true
slice drawn, as ``evaluate_slices``' simulated user) along the S-I-nearest axis, propagated by
slice-edit propagation (fusion module at level 2, as served), on EVERY candidate slice: the
slices where the truth, the served prediction or the UNet test-time-augmentation ensemble's
mean GTV probability (> 0.05) has GTV. Any ranking rule that picks among the slices the model
sees can then be scored without propagating again (``lib.active_learning.slice_rules``).

Also kept per case: the seeded random draw of ``evaluate_slices`` (same generator, same order:
its 1-edit random slice is the first of the two), the true extent, and the base DSC. Written
after every case (a stop leaves the cases so far).
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

import nibabel as nib
import numpy as np
import torch
from tqdm import tqdm

from lib.active_learning.evaluate_slices import GTV, redrawn
from lib.active_learning.members_cache import cached_members
from lib.active_learning.scores import superior_inferior_axis
from lib.active_learning.slice_ranker import SEEN_PROBABILITY
from lib.active_learning.uncertainty import combine_members
from lib.atomic import write_atomically
from lib.evaluation.report import json_safe
from lib.imaging.prepare import prepare_file
from lib.machine import describe_machine
from lib.metrics import dice
from lib.phantom.datastore import write_datastore
from lib.propagation.engine import PropagationEngine, check_edits
from lib.propagation.train_fusion import load_fusion
from lib.segmentation.evaluate import load_network
from lib.session_cache import SessionCache



def candidate_slices(truth: np.ndarray, served: np.ndarray, probability: np.ndarray, axis: int) -> list[int]:
    """Sorted slice indices along ``axis`` where ``truth`` or ``served`` (X, Y, Z) is GTV or the
    GTV ``probability`` (X, Y, Z) exceeds ``SEEN_PROBABILITY``."""
    seen = (truth == GTV) | (served == GTV) | (probability > SEEN_PROBABILITY)
    return [int(i) for i in np.flatnonzero(np.moveaxis(seen, axis, 0).reshape(seen.shape[axis], -1).any(1))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=900)
    parser.add_argument("--data", type=Path, default=None, help="default build/phantoms/<heldout|val>")
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members"))
    parser.add_argument("--fusion", default="models/propagation_unet/fusion.pt")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="seeds the random slices (as evaluate_slices)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    held_out = args.first_seed >= 900
    prefix = "test" if held_out else "val"
    data = args.data or Path("build/phantoms") / ("heldout" if held_out else "val")
    images = write_datastore(data, args.cases, args.first_seed, prefix=prefix)
    unet = load_network("models/segmentation/weights.pt")
    networks = {"unet": unet, "dynunet": load_network("models/segmentation_dynunet/weights.pt")}
    fusion, meta = load_fusion(args.fusion)
    engine = PropagationEngine(unet, int(meta["level"]), fusion, cache=SessionCache(4, 2 * 1024**3))
    rng = np.random.default_rng(args.seed)
    command = "python -m lib.active_learning.slice_gain_table " + shlex.join(sys.argv[1:] if argv is None else argv)
    start, cases = time.time(), {}
    for image in tqdm(images, desc="cases", unit="case"):
        members, names, affine, _ = cached_members(args.cache, image, networks)
        truth = np.asarray(nib.load(str(data / "labels" / "final" / image.name)).dataobj).astype(np.uint8)
        served = combine_members(members, names, affine, ["unet/identity"]).label
        probability = combine_members(members, names, affine, ["unet/"]).probabilities[GTV]
        axis = superior_inferior_axis(affine)
        target = truth == GTV
        extent = np.flatnonzero(np.moveaxis(target, axis, 0).reshape(target.shape[axis], -1).any(1))
        random_slices = [int(s) for s in rng.choice(extent, size=min(2, len(extent)), replace=False)]
        prepared = prepare_file(image, 3)
        dsc = {}
        for s in candidate_slices(truth, served, probability, axis):
            drawn = redrawn(served, truth, axis, [s])
            try:
                label = engine.propagate(prepared, check_edits(drawn, [s], axis, truth.shape), key=str(image)).label
            except ValueError:  # nothing to propagate: the slice and the label are both empty
                label = drawn
            dsc[s] = dice(label == GTV, target)
        cases[image.name.removesuffix(".nii.gz")] = {
            "axis": axis, "base_dsc": dice(served == GTV, target), "extent": [int(extent[0]), int(extent[-1])],
            "random_slices": random_slices, "dsc_after_1_edit": dsc,
        }
        result = {"command": command, "machine": str(describe_machine()), "minutes": (time.time() - start) / 60,
                  "fusion": args.fusion, "level": meta["level"], "cases": cases}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(args.out, lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))


if __name__ == "__main__":
    main()
