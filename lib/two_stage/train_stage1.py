"""Train 2S-ICR's PET-CT stage 1 (f_DL: CT + PET -> background, GTV, heart) on generated PET-CT phantoms.

    python -m lib.two_stage.train_stage1 --out models/two_stage_petct/stage1.pt --minutes 12 \\
        --warm-start models/segmentation/weights.pt

A thin PET-CT front to the automatic model's training loop
(:func:`lib.segmentation.train.train_epochs`: patches, Dice + CE, AdamW, cosine over
``--epochs``, best by validation GTV + heart Dice): only the input differs. Images are
(2, X, Y, Z) in model space (:func:`lib.two_stage.preprocess.model_space_transforms`: RAS,
3 x 3 x 6 mm, channel 0 CT windowed [-200, 200] HU -> [-1, 1], channel 1 PET z-scored).
Phantoms (seeds 100+ / 800+ / 900+, as the CT model's) go to ``<data>_petct`` (the folder the
refinement trainer's ``--modality petct`` reads). ``--warm-start`` copies a CT automatic
model's weights (the PET input channel starts at 0, so the start IS the CT model), a CPU
budget measure stated in the card.

Beside the weights (``stage1.pt``) go ``stage1_metrics.json`` and ``STAGE1_MODEL_CARD.md``
(the folder's ``weights.pt`` / ``metrics.json`` / ``MODEL_CARD.md`` are the refinement net's).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Compose, RandCropByPosNegLabeld, RandRotated, RandScaleIntensityd, RandShiftIntensityd
from monai.utils import set_determinism

from lib.labels import LABELS
from lib.machine import describe_machine
from lib.metrics import dice, hd95_mm
from lib.segmentation.network import CPU_CHANNELS, segmentation_network
from lib.segmentation.train import TEST_SEED, TRAIN_SEED, VAL_SEED, train_epochs
from lib.segmentation.transforms import TRAIN_PATCH
from lib.segmentation.transforms import inferer as stage1_inferer
from lib.training import write_run_files
from lib.two_stage.model_card import write_stage1_card
from lib.two_stage.network import load_stage1, warm_start_from_stage1
from lib.two_stage.preprocess import CHANNELS, model_space_transforms, prepare_file
from lib.two_stage.train import data_folder, write_phantoms

PETCT_CHANNELS = CHANNELS["petct"]


def petct_train_transforms(channels: int = PETCT_CHANNELS) -> Compose:
    """Files -> (C, 64, 64, 32) model-space patches, two per image, half or more with tumour; jitter as the CT model's."""
    return Compose([
        *model_space_transforms(channels),
        RandCropByPosNegLabeld(keys=("image", "label"), label_key="label", spatial_size=TRAIN_PATCH, pos=2, neg=1,
                               num_samples=2),
        RandRotated(keys=("image", "label"), range_z=0.3, prob=0.3, mode=("bilinear", "nearest")),
        RandScaleIntensityd(keys="image", factors=0.1, prob=0.5),
        RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
    ])


@torch.no_grad()
def predict_labels(network: torch.nn.Module, image: Path, channels: int = PETCT_CHANNELS) -> np.ndarray:
    """(X, Y, Z) uint8 labels (0, 1 GTV, 2 heart) on the file's own grid: class probabilities resampled, then arg-max."""
    network.eval()
    prepared = prepare_file(image, channels)
    logits = stage1_inferer()(prepared.image[None].float(), network)[0]
    softmax = torch.softmax(torch.as_tensor(logits).float(), dim=0)
    return np.argmax(np.stack([prepared.to_input_grid(p) for p in softmax]), axis=0).astype(np.uint8)


def evaluate_petct_folder(network: torch.nn.Module, folder: str | Path, channels: int = PETCT_CHANNELS) -> dict:
    """GTV and heart Dice and HD95 (mm) of every ``<folder>/*.nii.gz`` against ``labels/final``, on each file's grid.

    Returns the structure of :func:`lib.segmentation.evaluate.evaluate_folder`: ``summary`` (means,
    medians, ``cases``) and ``cases`` (per case).
    """
    folder = Path(folder)
    cases = {}
    for image in sorted(folder.glob("*.nii.gz")):
        label = nib.load(str(folder / "labels" / "final" / image.name))
        truth = np.asarray(label.dataobj).astype(np.uint8)
        spacing = tuple(float(s) for s in label.header.get_zooms()[:3])
        prediction = predict_labels(network, image, channels)
        row = {}
        for name, value in LABELS.items():
            row[f"{name}_dice"] = dice(prediction == value, truth == value)
            row[f"{name}_hd95_mm"] = hd95_mm(prediction == value, truth == value, spacing)
        cases[image.name.removesuffix(".nii.gz")] = row
    keys = next(iter(cases.values())).keys() if cases else []
    summary = {f"mean_{k}": float(np.nanmean([c[k] for c in cases.values()])) for k in keys}
    summary.update({f"median_{k}": float(np.nanmedian([c[k] for c in cases.values()])) for k in keys})
    summary["cases"] = len(cases)
    return {"summary": summary, "cases": cases}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("models/two_stage_petct/stage1.pt"), help="the weights file")
    parser.add_argument("--data", type=Path, default=Path("build/phantoms"), help="PET-CT phantoms go to <data>_petct")
    parser.add_argument("--train-cases", type=int, default=32)
    parser.add_argument("--val-cases", type=int, default=6)
    parser.add_argument("--test-cases", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20, help="the cosine's length")
    parser.add_argument("--val-every", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=12.0, help="stop training after this long")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start", type=Path, help="a CT automatic model to start from (PET weights at 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    set_determinism(seed=args.seed)
    data = data_folder(args.data, "petct")
    write_phantoms(data, args.train_cases, args.val_cases, args.test_cases, pet=True)
    network = segmentation_network("unet", in_channels=PETCT_CHANNELS)
    if args.warm_start is not None:
        warm_start_from_stage1(network, load_stage1(args.warm_start))
    meta = {"arch": "unet", "in_channels": PETCT_CHANNELS, "modality": "petct"}
    start = time.time()
    best_state, history = train_epochs(
        network, data / "train", data / "val", args.epochs, args.val_every, args.minutes, args.lr, args.out,
        transform=petct_train_transforms(), evaluate=evaluate_petct_folder, meta=meta,
    )
    train_minutes = (time.time() - start) / 60
    network.load_state_dict(best_state)  # train_epochs has written it to args.out
    test = evaluate_petct_folder(network, data / "test")
    metrics = {
        "command": "python -m lib.two_stage.train_stage1 " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "warm_start": None if args.warm_start is None else str(args.warm_start),
        "train_minutes": train_minutes,
        "machine": str(describe_machine()),
        "arch": "unet",
        "in_channels": PETCT_CHANNELS,
        "channels": list(CPU_CHANNELS),
        "parameters": sum(p.numel() for p in network.parameters()),
        "lr": args.lr,
        "seed": args.seed,
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases],
                 "test": [TEST_SEED, args.test_cases], "folder": str(data)},
        "history": history,
        "test": test,
    }
    write_run_files(args.out.parent, metrics, write_stage1_card, metrics_name=f"{args.out.stem}_metrics.json",
                    card_name=f"{args.out.stem.upper()}_MODEL_CARD.md")
    print(json.dumps(test["summary"], indent=2))
    return metrics


if __name__ == "__main__":
    main()
