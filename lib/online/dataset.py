"""The annotated images, their persistent train / validation split and the epoch length.

RootPainter3D's rules: the first annotated image goes to training, the second to
validation; afterwards an image goes to validation only if the training set is at least
5 times as large as the validation set. An image keeps its set for good: the assignment is
stored in a JSON state file (written atomically) and reloaded, so a restart never moves
an image from one set to the other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from lib.atomic import write_atomically
from lib.online.patches import ModelSpaceCase, annotated_tile_count, load_case

Split = Literal["train", "val"]
#: Epoch length (patches) while there is no validation image, and the least one otherwise.
EPOCH_LENGTH_WITHOUT_VALIDATION = 128
MIN_EPOCH_LENGTH = 64
TRAIN_TO_VALIDATION_RATIO = 5


class AnnotatedImage(NamedTuple):
    """An image and its annotation file; ``full``: a complete label (tag "final"), not a correction."""

    image: str
    annotation: str
    full: bool


def assign_split(n_train: int, n_val: int) -> Split:
    """The set of the next new image, given how many images each set already holds."""
    if n_train == 0:
        return "train"
    if n_val == 0:
        return "val"
    return "val" if n_train >= TRAIN_TO_VALIDATION_RATIO * n_val else "train"


def epoch_length(n_val_images: int, val_annotated_tiles: int) -> int:
    """Patches per epoch: 128 without validation images, else max(64, 2 v).

    Args:
        n_val_images: validation images.
        val_annotated_tiles: v, annotated ``TRAIN_PATCH`` tiles over the validation images
            (see :func:`lib.online.patches.annotated_tile_count`).
    """
    if n_val_images == 0:
        return EPOCH_LENGTH_WITHOUT_VALIDATION
    return max(MIN_EPOCH_LENGTH, 2 * val_annotated_tiles)


class OnlineDataset:
    """Annotated images seen so far, their sets, and their model-space arrays (cached in memory).

    Args:
        state_path: JSON file holding the split (created on the first new image).

    Images are identified by their path as given to :meth:`refresh`.
    """

    def __init__(self, state_path: str | Path) -> None:
        self.state_path = Path(state_path)
        self._splits: dict[str, Split] = self._load_splits()
        self._current: dict[str, tuple[AnnotatedImage, int]] = {}  # image -> (entry, annotation mtime ns)
        self._cache: dict[str, tuple[tuple[AnnotatedImage, int], ModelSpaceCase]] = {}

    def _load_splits(self) -> dict[str, Split]:
        if not self.state_path.exists():
            return {}
        state = json.loads(self.state_path.read_text())
        splits = {row["image"]: row["split"] for row in state["images"]}
        bad = {s for s in splits.values() if s not in ("train", "val")}
        if bad:
            raise ValueError(f"{self.state_path}: unknown sets {sorted(bad)}; expected 'train' or 'val'")
        return splits

    def _save_splits(self) -> None:
        rows = [{"image": image, "split": split} for image, split in self._splits.items()]
        text = json.dumps({"images": rows}, indent=1)
        write_atomically(self.state_path, lambda tmp: tmp.write_text(text))

    def refresh(self, pairs: Iterable[AnnotatedImage | tuple[str | Path, str | Path, bool]]) -> bool:
        """Take the current list of annotated images; say whether the data changed.

        New images get their set (in the order first seen, by :func:`assign_split`) and the
        split is saved. Changed means: a new image, an image whose annotation file, kind or
        modification time changed, or an image no longer listed (dropped from training,
        keeping its set should it come back).
        """
        current: dict[str, tuple[AnnotatedImage, int]] = {}
        for image, annotation, full in pairs:
            entry = AnnotatedImage(str(image), str(annotation), bool(full))
            current[entry.image] = (entry, os.stat(entry.annotation).st_mtime_ns)
        new = [image for image in current if image not in self._splits]
        for image in new:
            splits = list(self._splits.values())
            self._splits[image] = assign_split(splits.count("train"), splits.count("val"))
        if new:
            self._save_splits()
        changed = current != self._current
        self._current = current
        self._cache = {image: cached for image, cached in self._cache.items() if image in current}
        return changed

    def split_of(self, image: str | Path) -> Split | None:
        """The set an image was assigned to, or ``None`` if never seen."""
        return self._splits.get(str(image))

    def images(self, split: Split) -> list[str]:
        """Currently annotated images of ``split``, in the order first seen."""
        return [image for image, s in self._splits.items() if s == split and image in self._current]

    @property
    def train_images(self) -> list[str]:
        return self.images("train")

    @property
    def val_images(self) -> list[str]:
        return self.images("val")

    def case(self, image: str) -> ModelSpaceCase:
        """Model-space arrays of a currently annotated image (loaded again when its annotation changed)."""
        key = self._current[image]
        cached = self._cache.get(image)
        if cached is None or cached[0] != key:
            entry = key[0]
            self._cache[image] = (key, load_case(entry.image, entry.annotation, entry.full))
        return self._cache[image][1]

    def val_annotated_tiles(self) -> int:
        """v: annotated ``TRAIN_PATCH`` tiles summed over the validation images (model space)."""
        return sum(annotated_tile_count(self.case(image).annotated) for image in self.val_images)

    def epoch_length(self) -> int:
        """Patches per training epoch by :func:`epoch_length`."""
        val = self.val_images
        return epoch_length(len(val), self.val_annotated_tiles() if val else 0)

    def sample_image(self, rng: np.random.Generator) -> str:
        """A training image drawn uniformly (every saved image equally likely)."""
        train = self.train_images
        if not train:
            raise ValueError("no training image yet")
        return train[int(rng.integers(len(train)))]
