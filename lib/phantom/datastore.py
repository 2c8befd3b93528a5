"""Command line: write a MONAI Label datastore of generated studies.

    python -m lib.phantom.datastore --out datastore --cases 8 [--labelled 4]

writes ``<out>/<case>.nii.gz`` and ``<out>/labels/final/<case>.nii.gz`` (labels 1 = gtv,
2 = heart) for the first ``--labelled`` cases (default all). Orientations cycle through RAS, LPS and oblique so every client path
meets every header. Seeds are ``first_seed + n``; the same command writes the same files.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lib.phantom.config import PhantomConfig, stir_config
from lib.phantom.generate import generate_phantom
from lib.phantom.io import save_nifti_atomic, save_phantom

ORIENTATION_CYCLE = ("RAS", "LPS", "oblique")


def case_config(seed: int, modality: str = "ct", pet: bool = False, orientation: str | None = None) -> PhantomConfig:
    """The config of case ``seed`` as the datastore writes it."""
    orientation = orientation or ORIENTATION_CYCLE[seed % len(ORIENTATION_CYCLE)]
    if modality == "mri_stir":
        return stir_config(seed=seed, pet=pet, orientation=orientation)
    return PhantomConfig(seed=seed, pet=pet, orientation=orientation)


def write_datastore(
    out: str | Path,
    cases: int,
    first_seed: int = 0,
    modality: str = "ct",
    pet: bool = False,
    labelled: int | None = None,
    prefix: str = "phantom",
    organ_labels: bool = False,
) -> list[Path]:
    """Write ``cases`` studies into ``out`` (skipping files already there); return the image paths.

    The first ``labelled`` studies (default: all) get a final label; the others are left
    for a user to annotate (what MONAI Label's next-sample strategies offer). With
    ``organ_labels`` the labelled ones also get ``labels/organs/<name>`` (``ALL_LABELS``).
    """
    out = Path(out)
    labelled = cases if labelled is None else labelled
    paths = []
    for n, seed in enumerate(tqdm(range(first_seed, first_seed + cases), desc="phantoms", unit="case")):
        name = f"{prefix}_{seed:04d}.nii.gz"
        image_path, label_path, organ_path = out / name, out / "labels" / "final" / name, out / "labels" / "organs" / name
        with_label = n < labelled
        with_organs = with_label and organ_labels
        if not image_path.exists() or (with_label and not label_path.exists()) or (with_organs and not organ_path.exists()):
            phantom = generate_phantom(case_config(seed, modality, pet))
            save_phantom(phantom, image_path, label_path if with_label else None)
            if with_organs:
                save_nifti_atomic(phantom.organs.astype(np.uint8), phantom.affine, organ_path)
        paths.append(image_path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="datastore folder (created if absent)")
    parser.add_argument("--cases", type=int, default=8, help="number of studies")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first study")
    parser.add_argument("--modality", choices=("ct", "mri_stir"), default="ct")
    parser.add_argument("--pet", action="store_true", help="add a PET channel (4D NIfTI, channels last)")
    parser.add_argument("--labelled", type=int, help="only the first N studies get a final label (default: all)")
    parser.add_argument("--prefix", default="phantom", help="file name prefix")
    args = parser.parse_args(argv)
    paths = write_datastore(
        args.out, args.cases, args.first_seed, args.modality, args.pet, args.labelled, args.prefix
    )
    print(f"{len(paths)} studies in {args.out}")


if __name__ == "__main__":
    main()
