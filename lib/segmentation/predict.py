"""Run the automatic model on an image file and answer on the file's own grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.transforms import Compose

from lib.segmentation.transforms import infer_pre_transforms, inferer, restore_to_input_grid


@torch.no_grad()
def predict_file(network: torch.nn.Module, image_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Segment one image file.

    Returns:
        label: (X, Y, Z) uint8 on the input file's grid (0 background, 1 GTV, 2 heart).
        affine: (4, 4) voxel -> RAS mm affine of that grid (equal to the file's).
    """
    network.eval()
    pre = infer_pre_transforms()
    data = Compose(pre)({"image": str(image_path)})
    data["pred"] = inferer()(data["image"][None], network)[0]
    data = Compose(restore_to_input_grid(pre))(data)
    pred = data["pred"]
    return np.asarray(pred[0]).astype(np.uint8), np.asarray(pred.affine, dtype=np.float64)
