"""A simulated online-training session: images arrive one at a time, the user corrects, the model learns.

    python -m lib.online.simulate --images 24 --epochs-per-image 2 --out results/online_session

For each phantom in turn (seeds 300+, never used elsewhere):

1. the current best model (``best.pt`` of the trainer; none at first) predicts it;
2. the simulated user corrects the prediction inside a box around the structures (the
   truth's GTV and heart bounding box plus a margin): the voxels they must change are the
   prediction's errors there; they save the corrected label inside the box as a corrective
   annotation (1 GTV, 2 heart, 3 background, 0 outside the box: not annotated);
3. the trainer (:class:`lib.online.trainer.OnlineTrainer`, the paper's rules) trains on every
   annotation saved so far for a fixed compute budget: ``--epochs-per-image`` epochs.

Recorded per image and structure: Dice of the prediction before correction (against the
truth, whole image) and the number of voxels the user had to correct (the paper's time
curve). Written: ``session.json``, ``session.md`` and ``session.png`` in ``--out``.
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
from tqdm import tqdm  # noqa: E402

from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import write_png  # noqa: E402
from lib.labels import LABELS  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice  # noqa: E402
from lib.online.annotation import ANNOTATED_BACKGROUND  # noqa: E402
from lib.online.trainer import OnlineTrainer, TrainerConfig  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.phantom.io import save_nifti_atomic  # noqa: E402
from lib.segmentation.network import segmentation_unet  # noqa: E402
from lib.segmentation.predict import predict_file  # noqa: E402

SESSION_SEED = 300
BOX_MARGIN = 16


def correction_box(truth: np.ndarray, margin: int = BOX_MARGIN) -> tuple[slice, slice, slice]:
    """The truth's structures' bounding box plus ``margin`` voxels, clipped to the image."""
    points = np.argwhere(truth > 0)
    low = np.maximum(points.min(0) - margin, 0)
    high = np.minimum(points.max(0) + 1 + margin, truth.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high))  # type: ignore[return-value]


def box_annotation(truth: np.ndarray, box: tuple[slice, slice, slice]) -> np.ndarray:
    """The corrected label saved inside ``box``: 1 GTV, 2 heart, 3 background; 0 outside."""
    annotation = np.zeros(truth.shape, np.uint8)
    inside = truth[box]
    annotation[box] = np.where(inside > 0, inside, ANNOTATED_BACKGROUND)
    return annotation


def predict_with(trainer: OnlineTrainer, image: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The served model's answer (``best.pt``), or all background before the first save."""
    if not trainer.best_path.exists():
        return np.zeros(shape, np.uint8)
    network = segmentation_unet()
    network.load_state_dict(torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"])
    return predict_file(network, image)[0]


def run_session(out: Path, images: int, epochs_per_image: int, seed: int = 0, margin: int = BOX_MARGIN) -> dict:
    """Simulate the session; return per-image rows and the trainer's final status."""
    data = out / "datastore"
    write_datastore(data, images, SESSION_SEED, prefix="online")
    corrections = data / "labels" / "corrective"
    corrections.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[str, str, bool]] = []
    trainer = OnlineTrainer(out / "trainer", segmentation_unet, list_images=lambda: list(saved),
                            config=TrainerConfig(seed=seed))
    rows = []
    for n, image in enumerate(tqdm(sorted(data.glob("*.nii.gz"))[:images], desc="session", unit="image")):
        truth_file = nib.load(str(data / "labels" / "final" / image.name))
        truth = np.asarray(truth_file.dataobj).astype(np.uint8)
        prediction = predict_with(trainer, image, truth.shape)
        box = correction_box(truth, margin)
        row = {"image": n + 1, "id": image.name.removesuffix(".nii.gz")}
        for name, value in LABELS.items():
            p, t = prediction == value, truth == value
            row[f"{name}_dice_before"] = dice(p, t)
            wrong = np.zeros(truth.shape, bool)
            wrong[box] = (p != t)[box]
            row[f"{name}_voxels_corrected"] = int(wrong.sum())
        row["voxels_corrected"] = int((prediction != truth)[box].sum())
        save_nifti_atomic(box_annotation(truth, box), truth_file.affine, corrections / image.name)
        saved.append((str(image), str(corrections / image.name), False))
        start = time.time()
        status = trainer.run(stop=lambda: False, budget_epochs=epochs_per_image)
        row.update(train_seconds=time.time() - start, epoch=status["epoch"], best_val_dice=status["best_val_dice"],
                   train_images=status["train_images"], val_images=status["val_images"])
        rows.append(row)
        tqdm.write(json.dumps(row))
    return {"rows": rows, "final_status": trainer.status()}


def summarise(rows: list[dict]) -> dict:
    """First-5 vs last-5 means of voxels corrected, and the last images' Dice before correction."""
    first, last = rows[:5], rows[-5:]
    out = {}
    for key in ("voxels_corrected", *(f"{s}_voxels_corrected" for s in LABELS)):
        a, b = float(np.mean([r[key] for r in first])), float(np.mean([r[key] for r in last]))
        out[key] = {"first_5_mean": a, "last_5_mean": b, "ratio": a / b if b else float("inf")}
    for name in LABELS:
        out[f"{name}_dice_before_last_5_mean"] = float(np.mean([r[f"{name}_dice_before"] for r in last]))
        out[f"{name}_dice_before_last"] = rows[-1][f"{name}_dice_before"]
    return out


def plot(rows: list[dict], path: Path) -> None:
    """Per image: Dice before correction and voxels corrected, GTV and heart."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = [r["image"] for r in rows]
    for name in LABELS:
        left.plot(x, [r[f"{name}_dice_before"] for r in rows], marker="o", label=name)
        right.plot(x, [max(r[f"{name}_voxels_corrected"], 1) for r in rows], marker="o", label=name)
    left.set(xlabel="image (order of arrival)", ylabel="Dice of the prediction before correction", ylim=(0, 1))
    right.set(xlabel="image (order of arrival)", ylabel="voxels the user corrected", yscale="log")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    write_png(figure, path, dpi=120)


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = [
        "# Simulated online corrective training session", "",
        result["description"], "",
        "| image | GTV Dice before | heart Dice before | GTV voxels corrected | heart voxels corrected | "
        "all voxels corrected | epochs so far | best val Dice | train / val images |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['image']} | {r['gtv_dice_before']:.3f} | {r['heart_dice_before']:.3f} | {r['gtv_voxels_corrected']} | "
            f"{r['heart_voxels_corrected']} | {r['voxels_corrected']} | {r['epoch']} | "
            f"{r['best_val_dice'] if r['best_val_dice'] is None else round(r['best_val_dice'], 3)} | "
            f"{r['train_images']} / {r['val_images']} |"
        )
    lines += ["", "## Summary", ""]
    for key, value in s.items():
        lines.append(f"- {key}: {json.dumps(value)}")
    lines += ["", f"Command: `{result['command']}`", f"Machine: {result['machine']}; {result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--epochs-per-image", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/online_session"))
    parser.add_argument("--work", type=Path, default=Path("build/online_session"), help="datastore and trainer files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin", type=int, default=BOX_MARGIN, help="voxels around the structures the user corrects")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    start = time.time()
    session = run_session(args.work, args.images, args.epochs_per_image, args.seed, args.margin)
    result = {
        "description": (
            f"{args.images} phantoms (seeds {SESSION_SEED}+) arrive one at a time; the user corrects the prediction of "
            f"the current best model inside the structures' box (+{args.margin} voxels) and saves it as a corrective "
            f"annotation; the trainer then runs {args.epochs_per_image} epochs (the paper's rules: split, epoch length, "
            "save on a better validation Dice) on every annotation so far. Dice: whole image, against the truth."
        ),
        "command": "python -m lib.online.simulate " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": str(describe_machine()),
        "minutes": (time.time() - start) / 60,
        "summary": summarise(session["rows"]),
        **session,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out / "session.json", lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    write_atomically(args.out / "session.md", lambda tmp: tmp.write_text(markdown(result)))
    plot(session["rows"], args.out / "session.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
