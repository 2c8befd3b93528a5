"""Held-out accuracy of the automatic model, measured on the input grid of each file.

    python -m lib.segmentation.evaluate --weights models/segmentation/weights.pt --data build/phantoms/test
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from tqdm import tqdm

from lib.labels import LABELS
from lib.metrics import dice, hd95_mm
from lib.segmentation.model_card import write_model_card
from lib.segmentation.network import segmentation_network
from lib.segmentation.predict import predict_file


def load_network(weights: str | Path, arch: str | None = None) -> torch.nn.Module:
    """The automatic model with the weights at ``weights`` (a ``{"model": state_dict}`` file).

    ``arch`` defaults to the one recorded in the file (``"arch"`` key), else ``"unet"``.
    """
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    network = segmentation_network(arch or checkpoint.get("arch", "unet"))
    network.load_state_dict(checkpoint.get("model", checkpoint))
    return network.eval()


def evaluate_case(network: torch.nn.Module, image: Path, label: Path) -> dict[str, float]:
    """Dice and HD95 (mm) of every label of one case (empty-mask conventions: ``lib.metrics``)."""
    prediction, _ = predict_file(network, image)
    truth_file = nib.load(str(label))
    truth = np.asarray(truth_file.dataobj).astype(np.uint8)
    spacing = tuple(float(s) for s in truth_file.header.get_zooms()[:3])
    row: dict[str, float] = {}
    for name, value in LABELS.items():
        p, t = prediction == value, truth == value
        row[f"{name}_dice"] = dice(p, t)
        row[f"{name}_hd95_mm"] = hd95_mm(p, t, spacing)
    return row


def evaluate_folder(network: torch.nn.Module, folder: str | Path) -> dict:
    """Evaluate every ``<folder>/*.nii.gz`` against ``<folder>/labels/final``; per case and means."""
    folder = Path(folder)
    cases = {}
    for image in tqdm(sorted(folder.glob("*.nii.gz")), desc="evaluate", unit="case"):
        cases[image.name.removesuffix(".nii.gz")] = evaluate_case(network, image, folder / "labels" / "final" / image.name)
    keys = next(iter(cases.values())).keys() if cases else []
    summary = {f"mean_{k}": float(np.nanmean([c[k] for c in cases.values()])) for k in keys}
    summary.update({f"median_{k}": float(np.nanmedian([c[k] for c in cases.values()])) for k in keys})
    summary["cases"] = len(cases)
    return {"summary": summary, "cases": cases}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True, help="a datastore folder with labels/final")
    parser.add_argument("--out", help="write the JSON here too")
    parser.add_argument("--update-card", help="a model folder: replace the test results in its metrics.json and card")
    args = parser.parse_args(argv)
    result = evaluate_folder(load_network(args.weights), args.data)
    print(json.dumps(result["summary"], indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.update_card:
        folder = Path(args.update_card)
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["test"] = result
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        write_model_card(metrics, folder / "MODEL_CARD.md")


if __name__ == "__main__":
    main()
