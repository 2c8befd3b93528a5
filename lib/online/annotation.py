"""The corrective annotation format: which voxels the user has painted, and as what.

A corrective annotation is an (X, Y, Z) uint8 label on the image's own grid:

- 0 ``NOT_ANNOTATED``: the user said nothing here; the voxel takes no part in training.
- 1 ``ANNOTATED_GTV``, 2 ``ANNOTATED_HEART``: painted as that structure.
- 3 ``ANNOTATED_BACKGROUND``: painted as none of the structures.

A full label (MONAI Label tag ``"final"``, values 0 background, 1 GTV, 2 heart) is an
annotation of every voxel; :func:`full_label_as_annotation` rewrites it in this format.
Training classes are the segmentation model's: 0 background, 1 GTV, 2 heart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.imaging.boxes import Box

NOT_ANNOTATED = 0
ANNOTATED_GTV = 1
ANNOTATED_HEART = 2
ANNOTATED_BACKGROUND = 3
#: Model classes (0 background, 1 GTV, 2 heart), as ``lib.labels.LABELS``.
NUM_CLASSES = 3



def check_annotation(array: np.ndarray, image_shape: Sequence[int], full: bool = False) -> None:
    """Reject an annotation that cannot be trained on.

    Args:
        array: (X, Y, Z) annotation on the image's grid.
        image_shape: the image's (X, Y, Z) shape (extra trailing channel sizes are ignored).
        full: ``array`` is a full label (values 0..2, 0 meaning background), not a correction.

    Raises:
        ValueError: wrong shape, values outside 0..3 (0..2 for a full label), or, for a
            corrective annotation, no annotated voxel.
    """
    array = np.asarray(array)
    expected = tuple(int(n) for n in image_shape[:3])
    if array.shape != expected:
        raise ValueError(f"annotation shape {array.shape} differs from the image's (X, Y, Z) shape {expected}")
    highest = NUM_CLASSES - 1 if full else ANNOTATED_BACKGROUND
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"annotation must hold integers 0..{highest}, got dtype {array.dtype}")
    values = np.unique(array)
    bad = values[(values < 0) | (values > highest) | (values != np.round(values))]
    if bad.size:
        kind = "full label" if full else "corrective annotation"
        raise ValueError(f"{kind} values must be integers 0..{highest}, got {bad[:5].tolist()}")
    if not full and not (array != NOT_ANNOTATED).any():
        raise ValueError("corrective annotation has no annotated voxel (all 0 = not annotated)")


def full_label_as_annotation(label: np.ndarray) -> np.ndarray:
    """(X, Y, Z) full label (0 background, 1 GTV, 2 heart) -> annotation with every voxel annotated."""
    label = np.asarray(label)
    return np.where(label == 0, ANNOTATED_BACKGROUND, label).astype(np.uint8)


def to_training_target(annotation: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """Split an annotation into training classes and the mask of voxels that count.

    Args:
        annotation: (X, Y, Z) corrective annotation (0..3) or, with ``full``, full label (0..2).
        full: every voxel is annotated, 0 meaning background.

    Returns:
        classes: (X, Y, Z) int64 in {0, 1, 2} (0 also where not annotated).
        annotated: (X, Y, Z) bool, the voxels the loss and validation look at.
    """
    annotation = np.asarray(annotation)
    if full:
        annotation = full_label_as_annotation(annotation)
    annotated = annotation != NOT_ANNOTATED
    classes = np.where(annotation == ANNOTATED_BACKGROUND, 0, annotation).astype(np.int64)
    return classes, annotated


def correction_from_prediction(prediction: np.ndarray, truth: np.ndarray, box: Box | None = None) -> np.ndarray:
    """What a simulated user paints over a prediction: the true class wherever it is wrong.

    Args:
        prediction: (X, Y, Z) model classes shown to the user (0 background, 1 GTV, 2 heart).
        truth: (X, Y, Z) true classes, same shape.
        box: three slices (X, Y, Z) limiting where the user corrects; ``None``: everywhere.

    Returns:
        (X, Y, Z) uint8 corrective annotation: 1 / 2 / 3 (background) at wrong voxels, else 0.
    """
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape or prediction.ndim != 3:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} must be one (X, Y, Z) shape")
    wrong = prediction != truth
    if box is not None:
        if len(box) != 3:
            raise ValueError(f"box must be three slices (X, Y, Z), got {box!r}")
        inside = np.zeros_like(wrong)
        inside[tuple(box)] = True
        wrong &= inside
    annotation = np.zeros(truth.shape, dtype=np.uint8)
    annotation[wrong] = full_label_as_annotation(truth)[wrong]
    return annotation


def corrected_label(prediction: np.ndarray, annotation: np.ndarray) -> np.ndarray:
    """(X, Y, Z) uint8 classes the user sees after correcting: annotated voxels replace the prediction."""
    prediction, annotation = np.asarray(prediction), np.asarray(annotation)
    if prediction.shape != annotation.shape:
        raise ValueError(f"prediction {prediction.shape} and annotation {annotation.shape} differ in shape")
    classes, annotated = to_training_target(annotation, full=False)
    return np.where(annotated, classes, prediction).astype(np.uint8)
