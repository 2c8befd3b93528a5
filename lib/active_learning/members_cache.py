"""The ensemble's member probabilities of an evaluation image, computed once and kept on disk.

The score evaluation and the slice-suggestion evaluation read the same held-out phantoms;
computing the members takes most of their time, so they share this cache
(``<folder>/<case>.npz``: float16 members (M, C, X, Y, Z), their names and the affine;
written atomically).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lib.active_learning.uncertainty import DEFAULT_AUGMENTATIONS, ensemble_maps
from lib.atomic import write_atomically


def cached_members(
    folder: str | Path,
    image: str | Path,
    networks: Mapping[str, torch.nn.Module],
    augmentations: Sequence[str] = DEFAULT_AUGMENTATIONS,
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, bool]:
    """(M, C, X, Y, Z) float32 member probabilities, names, (4, 4) affine, and whether it was cached.

    The cache file is keyed by the image's name; it is recomputed when its member names differ
    from ``networks`` x ``augmentations``.
    """
    path = Path(folder) / (Path(image).name.removesuffix(".nii.gz") + ".npz")
    wanted = tuple(f"{n}/{a}" for n in networks for a in augmentations)
    if path.exists():
        with np.load(path) as saved:
            if tuple(saved["names"].tolist()) == wanted:
                return saved["members"].astype(np.float32), wanted, saved["affine"], True
    members, names, affine = ensemble_maps(networks, image, augmentations)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, members=members.astype(np.float16), names=np.array(names), affine=affine)

    write_atomically(path, write)
    return members, names, affine, False
