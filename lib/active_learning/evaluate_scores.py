"""How well the uncertainty scores know the automatic model's errors, on held-out phantoms.

    python -m lib.active_learning.evaluate_scores --cases 40 --out results/active_learning

For each held-out phantom (seeds 900+, never trained on): the served prediction (the UNet,
no augmentation: what the ``segmentation`` infer task answers) and its true error, mean over
GTV and heart of 1 - Dice; every score variant below, computed against that prediction.
Per slice along the S-I-nearest axis: the slice score (expected wrong voxels) against the
true wrong voxels of the slice, Spearman per case, over the slices where either is non-zero.

Score variants (members: network x test-time augmentation, see ``lib.active_learning.uncertainty``):

- ``unet_tta`` (the app's default): UNet x 4 augmentations, mean softmax, expected 1 - Dice;
- ``unet_plain``: the UNet's own softmax, no augmentation (no ensemble at all);
- ``unet_tta_votes``: the same 4 members, class-vote fractions instead of softmax;
- ``ensemble_votes``: UNet and DynUNet x 4 augmentations, vote fractions (the DynUNet's
  softmax is far from calibrated, so its votes only);
- ``ensemble_disagreement``: 1 - mean Dice of each of those 8 members against the prediction.

Written: ``scores.json``, ``scores.md``, ``image_scores.png``, ``slice_scores.png`` in ``--out``.
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
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.active_learning.members_cache import cached_members  # noqa: E402
from lib.active_learning.scores import (  # noqa: E402
    STRUCTURES,
    disagreement_error,
    expected_dice_error,
    expected_errors,
    slice_scores,
    superior_inferior_axis,
)
from lib.active_learning.uncertainty import combine_members  # noqa: E402
from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import json_safe, write_png  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.segmentation.evaluate import load_network  # noqa: E402
from lib.segmentation.train import TEST_SEED  # noqa: E402

PRIMARY = "unet_tta"
#: variant -> (members kept, vote fractions instead of softmax)
VARIANTS: dict[str, tuple[list[str] | None, bool]] = {
    "unet_tta": (["unet/"], False),
    "unet_plain": (["unet/identity"], False),
    "unet_tta_votes": (["unet/"], True),
    "ensemble_votes": (None, True),
}


def true_errors(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """1 - Dice per structure and their mean, of (X, Y, Z) class volumes."""
    values = {f"{n}_error": 1.0 - dice(prediction == c, truth == c) for n, c in (("gtv", 1), ("heart", 2))}
    values["error"] = float(np.mean(list(values.values())))
    return values


def slice_truth_errors(prediction: np.ndarray, truth: np.ndarray, axis: int, structures: Sequence[int]) -> np.ndarray:
    """(N,) wrong voxels per slice along ``axis``, summed over ``structures``' masks."""
    wrong = sum(((prediction == c) != (truth == c)).astype(np.float32) for c in structures)
    return slice_scores(wrong, axis)


def slice_spearman(scores: np.ndarray, errors: np.ndarray) -> float | None:
    """Spearman over the slices where the score or the error is non-zero; None below 3 such slices."""
    keep = (scores > 0.5) | (errors > 0)
    if keep.sum() < 3 or np.ptp(errors[keep]) == 0:
        return None
    return float(spearmanr(scores[keep], errors[keep]).statistic)


def evaluate_case(members: np.ndarray, names: tuple[str, ...], affine: np.ndarray, truth: np.ndarray) -> dict:
    """Every variant's image score, the true errors and per-slice correlations of one case."""
    served = combine_members(members, names, affine, ["unet/identity"]).label
    row: dict = {**true_errors(served, truth), "scores": {}, "slice_spearman": {}}
    axis = superior_inferior_axis(affine)
    row["axis"] = axis
    for variant, (keep, votes) in VARIANTS.items():
        maps = combine_members(members, names, affine, keep, votes)
        row["scores"][variant] = expected_dice_error(maps.probabilities, served)
        for label, structures in (("all", STRUCTURES), ("gtv", (1,))):
            s = slice_scores(expected_errors(maps.probabilities, served, structures), axis)
            e = slice_truth_errors(served, truth, axis, structures)
            row["slice_spearman"][f"{variant}_{label}"] = slice_spearman(s, e)
            if variant == PRIMARY:
                row[f"slices_{label}"] = {"score": s.tolist(), "error": e.tolist()}
    every = combine_members(members, names, affine)
    row["scores"]["ensemble_disagreement"] = disagreement_error(every.member_labels, served)
    return row


def summarise(cases: dict) -> dict:
    """Spearman of each image score with the true errors; mean per-case slice Spearman."""
    rows = list(cases.values())
    out: dict = {"cases": len(rows), "image_spearman": {}, "slice_spearman_mean": {}}
    for variant in rows[0]["scores"]:
        scores = [r["scores"][variant] for r in rows]
        out["image_spearman"][variant] = {
            target: float(spearmanr(scores, [r[target] for r in rows]).statistic)
            for target in ("error", "gtv_error", "heart_error")
        }
    for key in rows[0]["slice_spearman"]:
        values = [r["slice_spearman"][key] for r in rows if r["slice_spearman"][key] is not None]
        out["slice_spearman_mean"][key] = {"mean": float(np.mean(values)), "median": float(np.median(values)),
                                           "cases": len(values)}
    return out


def plot(cases: dict, folder: Path) -> None:
    """image_scores.png: primary score vs true error; slice_scores.png: pooled slice scores vs errors."""
    rows = list(cases.values())
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, variant in zip(axes, (PRIMARY, "ensemble_disagreement")):
        ax.scatter([r["scores"][variant] for r in rows], [r["error"] for r in rows], s=14)
        rho = spearmanr([r["scores"][variant] for r in rows], [r["error"] for r in rows]).statistic
        ax.set(xlabel=f"image score ({variant})", ylabel="true error: mean of 1 - Dice (GTV, heart)",
               title=f"{len(rows)} held-out phantoms, Spearman {rho:.2f}")
        ax.grid(alpha=0.3)
    write_png(figure, folder / "image_scores.png", dpi=110)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, label in zip(axes, ("all", "gtv")):
        s = np.concatenate([r[f"slices_{label}"]["score"] for r in rows])
        e = np.concatenate([r[f"slices_{label}"]["error"] for r in rows])
        keep = (s > 0.5) | (e > 0)
        ax.scatter(s[keep] + 1, e[keep] + 1, s=4, alpha=0.4)
        ax.set(xscale="log", yscale="log", xlabel="slice score + 1 (expected wrong voxels)",
               ylabel="true wrong voxels + 1", title=f"S-I slices, {'GTV + heart' if label == 'all' else 'GTV'}")
        ax.grid(alpha=0.3)
    write_png(figure, folder / "slice_scores.png", dpi=110)


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = ["# Uncertainty scores against the automatic model's true errors", "", result["description"], "",
             "## Image score: Spearman with the true error (held-out phantoms)", "",
             "| score | mean 1 - Dice (GTV, heart) | GTV 1 - Dice | heart 1 - Dice |", "|---|---|---|---|"]
    for variant, rho in s["image_spearman"].items():
        mark = " (app default)" if variant == PRIMARY else ""
        lines.append(f"| {variant}{mark} | {rho['error']:.3f} | {rho['gtv_error']:.3f} | {rho['heart_error']:.3f} |")
    lines += ["", "## Slice score: Spearman with the slice's true wrong voxels, per case (S-I axis)", "",
              "| score / structures | mean | median | cases |", "|---|---|---|---|"]
    for key, v in s["slice_spearman_mean"].items():
        lines.append(f"| {key} | {v['mean']:.3f} | {v['median']:.3f} | {v['cases']} |")
    lines += ["", f"Seconds per image for the members (mean, computed ones): {result['seconds_per_image']}", "",
              f"Command: `{result['command']}`", f"Machine: {result['machine']}; load {result['load']}; "
              f"{result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--data", type=Path, default=Path("build/phantoms/heldout"))
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members"))
    parser.add_argument("--out", type=Path, default=Path("results/active_learning"))
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    start = time.time()
    images = write_datastore(args.data, args.cases, TEST_SEED, prefix="test")
    networks = {"unet": load_network("models/segmentation/weights.pt"),
                "dynunet": load_network("models/segmentation_dynunet/weights.pt")}
    cases, seconds, loads = {}, [], []
    for image in tqdm(images, desc="cases", unit="case"):
        t = time.perf_counter()
        members, names, affine, was_cached = cached_members(args.cache, image, networks)
        if not was_cached:
            seconds.append((time.perf_counter() - t) / len(names))
        loads.append(os.getloadavg()[0])
        truth = np.asarray(nib.load(str(args.data / "labels" / "final" / image.name)).dataobj).astype(np.uint8)
        cases[image.name.removesuffix(".nii.gz")] = evaluate_case(members, names, affine, truth)
    result = {
        "description": (
            f"{len(cases)} held-out phantoms (seeds {TEST_SEED}+); served prediction: the UNet "
            "(`models/segmentation`) without augmentation; scores from the members listed in the module doc "
            "(UNet `models/segmentation`, DynUNet `models/segmentation_dynunet`; augmentations identity, "
            "rotate +-0.2 rad about z, contrast x1.1). Slices: the S-I-nearest axis of each file."
        ),
        "command": "python -m lib.active_learning.evaluate_scores " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": str(describe_machine()),
        "load": {"mean_1min": float(np.mean(loads)), "max_1min": float(np.max(loads))},
        "seconds_per_image": {"per_member": float(np.mean(seconds)) if seconds else None,
                              "unet_tta_4_members": 4 * float(np.mean(seconds)) if seconds else None},
        "minutes": (time.time() - start) / 60,
        "summary": summarise(cases),
        "cases": cases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out / "scores.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
    write_atomically(args.out / "scores.md", lambda tmp: tmp.write_text(markdown(result)))
    plot(cases, args.out)
    print(markdown(result))


if __name__ == "__main__":
    main()
