"""A simulated labelling campaign: a strategy picks each next image, the user corrects, the model learns.

    python -m lib.active_learning.campaign --strategies uncertainty,random,first --seeds 0,1 \
        --pool 12 --images 8 --initial 2 --epochs-per-image 2 --epoch-length 32

From a pool of unlabelled phantoms (seeds 300+, the online session's), for each strategy and
seed, from random weights (the app's online model starts so):

1. the first ``--initial`` images are drawn at random (the same ones for every strategy of a
   seed: no model exists yet to be uncertain); afterwards the strategy picks among the rest:
   ``uncertainty`` scores every remaining pool image with the current model (the app's
   scoring: expected 1 - Dice under test-time augmentation, ``--augmentations``) and takes
   the highest; ``random`` draws uniformly; ``first`` takes the lowest id;
2. the simulated user of ``lib.online.simulate`` corrects the current model's prediction
   inside the structures' box and saves the corrected box as a corrective annotation;
3. the online trainer (``lib.online.trainer``) trains ``--epochs-per-image`` epochs of
   ``--epoch-length`` patches on every annotation so far (the same budget per image for
   every strategy).

After each image: the model's Dice on held-out phantoms (seeds 900+, mean of GTV and heart,
whole image) and the voxels the user corrected on the picked image. Written: ``campaign.json``,
``campaign.md``, ``campaign.png`` in ``--out``; each finished run is saved as it ends.
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

from lib.active_learning.scores import expected_dice_error  # noqa: E402
from lib.active_learning.select import choose_first, choose_random, choose_uncertain  # noqa: E402
from lib.active_learning.uncertainty import uncertainty_maps  # noqa: E402
from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import json_safe, write_png  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice  # noqa: E402
from lib.online.simulate import SESSION_SEED, box_annotation, correction_box  # noqa: E402
from lib.online.trainer import OnlineTrainer, TrainerConfig  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.phantom.io import save_nifti_atomic  # noqa: E402
from lib.segmentation.network import segmentation_unet  # noqa: E402
from lib.segmentation.predict import predict_file  # noqa: E402
from lib.segmentation.train import TEST_SEED  # noqa: E402

STRATEGIES = ("uncertainty", "random", "first")
#: The default campaign's size (the command's defaults): pool, images, training per image, held-out set.
DEFAULT_SIZE = {"pool": 12, "images": 8, "initial": 2, "epochs_per_image": 2, "epoch_length": 32, "heldout": 4}


def load_truth(image: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y, Z) uint8 final label next to ``image`` in its datastore, and its affine."""
    file = nib.load(str(image.parent / "labels" / "final" / image.name))
    return np.asarray(file.dataobj).astype(np.uint8), file.affine


def current_network(trainer: OnlineTrainer) -> torch.nn.Module | None:
    """The trainer's saved best model, or ``None`` before the first save."""
    if not trainer.best_path.exists():
        return None
    network = segmentation_unet()
    network.load_state_dict(torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"])
    return network.eval()


def heldout_dice(network: torch.nn.Module | None, images: Sequence[Path]) -> dict[str, float]:
    """Mean Dice over ``images`` of GTV, heart and their mean (0 without a model)."""
    values = {"gtv": [], "heart": []}
    for image in images:
        truth, _ = load_truth(image)
        prediction = predict_file(network, image)[0] if network is not None else np.zeros_like(truth)
        values["gtv"].append(dice(prediction == 1, truth == 1))
        values["heart"].append(dice(prediction == 2, truth == 2))
    out = {f"heldout_{k}_dice": float(np.mean(v)) for k, v in values.items()}
    out["heldout_dice"] = (out["heldout_gtv_dice"] + out["heldout_heart_dice"]) / 2
    return out


def pick(strategy: str, remaining: list[Path], network: torch.nn.Module | None, rng: np.random.Generator,
         augmentations: Sequence[str]) -> tuple[Path, str, float | None, float]:
    """The strategy's next image from ``remaining``; its reason, score and seconds spent choosing."""
    start = time.perf_counter()
    by_id = {p.name: p for p in remaining}
    if strategy == "first":
        choice = choose_first(list(by_id))
    elif strategy == "random":
        choice = choose_random(list(by_id), rng)
    else:
        scores = {}
        if network is not None:
            for name, path in by_id.items():
                maps = uncertainty_maps({"online": network}, path, augmentations)
                scores[name] = expected_dice_error(maps.probabilities, maps.label)
        choice = choose_uncertain(list(by_id), scores, rng)
    return by_id[choice.image], choice.reason, choice.score, time.perf_counter() - start


def run_one(strategy: str, seed: int, pool: list[Path], heldout: list[Path], work: Path, images: int, initial: int,
            epochs_per_image: int, epoch_length: int, augmentations: Sequence[str]) -> list[dict]:
    """One campaign; rows per image (1-based ``image``)."""
    corrections = work / "corrective"
    corrections.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[str, str, bool]] = []
    trainer = OnlineTrainer(work / "trainer", segmentation_unet, list_images=lambda: list(saved),
                            config=TrainerConfig(seed=seed, fixed_epoch_length=epoch_length))
    first_rng = np.random.default_rng([seed, 1])
    starters = [pool[i] for i in first_rng.permutation(len(pool))[:initial]]
    rng = np.random.default_rng([seed, 2, STRATEGIES.index(strategy)])
    remaining, rows = list(pool), []
    for n in range(images):
        network = current_network(trainer)
        if n < initial:
            image, reason, score, choose_s = starters[n], "initial random image (same for every strategy)", None, 0.0
        else:
            image, reason, score, choose_s = pick(strategy, remaining, network, rng, augmentations)
        remaining.remove(image)
        truth, affine = load_truth(image)
        prediction = predict_file(network, image)[0] if network is not None else np.zeros_like(truth)
        box = correction_box(truth)
        row = {"strategy": strategy, "seed": seed, "image": n + 1, "id": image.name.removesuffix(".nii.gz"),
               "reason": reason, "score": score, "choose_seconds": choose_s,
               "voxels_corrected": int((prediction != truth)[box].sum()),
               "dice_before": float(np.mean([dice(prediction == c, truth == c) for c in (1, 2)]))}
        save_nifti_atomic(box_annotation(truth, box), affine, corrections / image.name)
        saved.append((str(image), str(corrections / image.name), False))
        start = time.perf_counter()
        trainer.run(stop=lambda: False, budget_epochs=epochs_per_image)
        row["train_seconds"] = time.perf_counter() - start
        row.update(heldout_dice(current_network(trainer), heldout))
        row["load_1min"] = os.getloadavg()[0]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summarise(rows: list[dict], strategies: Sequence[str]) -> dict:
    """Mean over seeds per strategy and image count; images uncertainty needs to reach random's final Dice."""
    out: dict = {"curves": {}}
    for strategy in strategies:
        mine = [r for r in rows if r["strategy"] == strategy]
        if not mine:
            continue
        counts = sorted({r["image"] for r in mine})
        out["curves"][strategy] = {
            "images": counts,
            "heldout_dice": [float(np.mean([r["heldout_dice"] for r in mine if r["image"] == k])) for k in counts],
            "voxels_corrected": [float(np.mean([r["voxels_corrected"] for r in mine if r["image"] == k])) for k in counts],
            "seeds": sorted({r["seed"] for r in mine}),
        }
    curves = out["curves"]
    if "uncertainty" in curves and "random" in curves:
        u, r = curves["uncertainty"], curves["random"]
        target = r["heldout_dice"][-1]
        reached = next((k for k, d in zip(u["images"], u["heldout_dice"]) if d >= target), None)
        out["random_final_dice"] = target
        out["uncertainty_images_to_reach_random_final"] = reached
        out["random_images"] = r["images"][-1]
        out["dice_difference_at_equal_images"] = [a - b for a, b in zip(u["heldout_dice"], r["heldout_dice"])]
    return out


def plot(summary: dict, path: Path) -> None:
    """Held-out Dice and voxels corrected per image, one line per strategy (mean over seeds)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for strategy, c in summary["curves"].items():
        left.plot(c["images"], c["heldout_dice"], marker="o", label=f"{strategy} (seeds {c['seeds']})")
        right.plot(c["images"], c["voxels_corrected"], marker="o", label=strategy)
    left.set(xlabel="images annotated", ylabel="held-out Dice (mean GTV, heart)", ylim=(0, 1))
    right.set(xlabel="image number", ylabel="voxels the user corrected on that image")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    write_png(figure, path, dpi=110)


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = ["# Simulated labelling campaign: uncertainty vs random vs first", "", result["description"], "",
             "## Held-out Dice after each image (mean over seeds)", ""]
    curves = s["curves"]
    names = list(curves)
    lines += ["| images | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, k in enumerate(next(iter(curves.values()))["images"]):
        lines.append(f"| {k} | " + " | ".join(f"{curves[n]['heldout_dice'][i]:.3f}" if i < len(curves[n]['heldout_dice'])
                                             else "-" for n in names) + " |")
    lines += ["", "## Voxels corrected on the picked image (mean over seeds)", "",
              "| images | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, k in enumerate(next(iter(curves.values()))["images"]):
        lines.append(f"| {k} | " + " | ".join(f"{curves[n]['voxels_corrected'][i]:.0f}"
                                             if i < len(curves[n]['voxels_corrected']) else "-" for n in names) + " |")
    lines += ["", "## Summary", ""] + [f"- {k}: {json.dumps(v)}" for k, v in s.items() if k != "curves"]
    lines += ["", f"Command: `{result['command']}`", f"Machine: {result['machine']}; load (1 min) mean "
              f"{result['load_mean']:.2f}; {result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def is_default_size(args: argparse.Namespace) -> bool:
    """Whether a campaign's pool, images, training and held-out set are the defaults of :func:`main`'s parser."""
    return all(getattr(args, name) == value for name, value in DEFAULT_SIZE.items())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default="uncertainty,random,first")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--pool", type=int, default=DEFAULT_SIZE["pool"])
    parser.add_argument("--images", type=int, default=DEFAULT_SIZE["images"])
    parser.add_argument("--initial", type=int, default=DEFAULT_SIZE["initial"])
    parser.add_argument("--epochs-per-image", type=int, default=DEFAULT_SIZE["epochs_per_image"])
    parser.add_argument("--epoch-length", type=int, default=DEFAULT_SIZE["epoch_length"], help="patches per epoch")
    parser.add_argument("--heldout", type=int, default=DEFAULT_SIZE["heldout"],
                        help="held-out phantoms (seeds 900+) for the Dice curve")
    parser.add_argument("--augmentations", default="identity,rotate+", help="test-time augmentations of the scoring")
    parser.add_argument("--work", type=Path, default=Path("build/active_learning/campaign"))
    parser.add_argument("--out", type=Path, default=Path("results/active_learning"))
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    strategies = [s for s in args.strategies.split(",") if s]
    if any(s not in STRATEGIES for s in strategies):
        raise SystemExit(f"strategies must be some of {STRATEGIES}, got {strategies}")
    start = time.time()
    pool = write_datastore(args.work / "pool", args.pool, SESSION_SEED, prefix="pool")
    heldout = write_datastore(Path("build/phantoms/heldout"), args.heldout, TEST_SEED, prefix="test")
    rows: list[dict] = []
    command = "python -m lib.active_learning.campaign " + shlex.join(sys.argv[1:] if argv is None else argv)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for strategy in strategies:
            rows += run_one(strategy, seed, pool, heldout, args.work / f"{strategy}_seed{seed}", args.images,
                            args.initial, args.epochs_per_image, args.epoch_length, args.augmentations.split(","))
            result = {
                "description": (
                    f"Pool of {args.pool} phantoms (seeds {SESSION_SEED}+), {args.images} images per campaign, the "
                    f"first {args.initial} at random (same per seed); from random weights; {args.epochs_per_image} "
                    f"epochs of {args.epoch_length} patches after each image (same for every strategy); held-out "
                    f"Dice on {args.heldout} phantoms (seeds {TEST_SEED}+); uncertainty scoring with "
                    f"augmentations {args.augmentations}."
                    + ("" if is_default_size(args) else " Not the command's default size.")
                ),
                "command": command, "machine": str(describe_machine()),
                "load_mean": float(np.mean([r["load_1min"] for r in rows])),
                "minutes": (time.time() - start) / 60, "summary": summarise(rows, strategies), "rows": rows,
            }
            args.out.mkdir(parents=True, exist_ok=True)
            write_atomically(args.out / "campaign.json",
                             lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
            write_atomically(args.out / "campaign.md", lambda tmp: tmp.write_text(markdown(result)))
            plot(result["summary"], args.out / "campaign.png")


if __name__ == "__main__":
    main()
