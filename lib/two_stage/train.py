"""Train 2S-ICR's refinement net (stage 2) on generated phantoms, stage 1 frozen.

    python -m lib.two_stage.train --out models/two_stage_ct --minutes 20
    python -m lib.two_stage.train --out models/two_stage_ct_p0 --mask-dropout 0 --minutes 20   # ablation
    python -m lib.two_stage.train --out models/two_stage_ct_seed1 --seed 1 --minutes 20       # ensemble member
    python -m lib.two_stage.train --out models/two_stage_ct --init build/run1/weights.pt --lr 1e-4   # continue

Writes training / validation / held-out phantoms under ``--data`` (seeds 100+, 800+, 900+:
the automatic model's command's; ``--modality petct`` writes PET-CT ones under
``<data>_petct``), brings the training cases into model space, runs stage 1 (``--stage1``,
default the shipped automatic model; several files make an ensemble) once per case and keeps
its answers under ``<data>/two_stage_stage1/`` (keyed by the weights' SHA-256), then trains:

- each iteration one case, cropped around the GTV (and stage 1's answer) with a random
  15..45 mm margin (:class:`lib.two_stage.transforms.RandTargetCropd`), augmented as the
  paper (:func:`lib.two_stage.transforms.paper_augmentations`; stage 1's answer moves with
  the image), then 1..15 simulated interactions with an optimiser step at every one
  (:func:`lib.two_stage.loop.refinement_iteration`), mask dropout p (``--mask-dropout``,
  paper 0.2), Dice + BCE, AdamW (weight decay 1e-5) with cosine decay to 0 over the run
  (the fraction of ``--steps`` or of ``--minutes`` done, whichever is larger, so a slow,
  shared machine still ends at 0);
- every ``--val-every`` steps: Algorithm 1 with 10 border-distance clicks on the validation
  phantoms (cropped as the evaluation harness does, ``--val-margin-mm``); the best mean DSC
  over clicks 1..10 is written at once to ``weights.pt`` (temp + rename); the last weights
  go to ``last.pt`` at the end (for ablations whose best is their start);
- at the end ``metrics.json`` and ``MODEL_CARD.md``.

``--threads`` (default 1) sets torch's threads: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Compose
from monai.utils import set_determinism

from lib.atomic import sha256_of, write_atomically
from lib.evaluation.cases import crop_case, phantom_cases, roi_box
from lib.evaluation.protocol import Case, spacing_of
from lib.labels import LABELS
from lib.machine import describe_machine
from lib.metrics import dice
from lib.phantom.datastore import write_datastore
from lib.segmentation.train import TEST_SEED, TRAIN_SEED, VAL_SEED, datalist
from lib.segmentation.transforms import MODEL_SPACING
from lib.simulators import border_distance_click
from lib.training import BestCheckpoint, write_run_files
from lib.two_stage.engine import TwoStageModel, next_answer
from lib.two_stage.loop import MAX_INTERACTIONS, MIN_INTERACTIONS, dice_bce_loss, refinement_iteration
from lib.two_stage.model_card import write_model_card
from lib.two_stage.network import (
    CPU_CHANNELS,
    PAPER_CHANNELS,
    STRIDES,
    ResidualRefinement,
    load_refinement,
    load_stage1,
    refinement_unet,
    warm_start_from_stage1,
)
from lib.two_stage.preprocess import image_channels, model_space_transforms, prepare_array
from lib.two_stage.transforms import MASK_DROPOUT_P, TRAIN_MARGIN_MM, MaskDropout, RandTargetCropd, paper_augmentations

PAPER_LR = 1e-4
WEIGHT_DECAY = 1e-5
VALIDATION_CLICKS = 10
#: The harness margin used for validation and evaluation: enough context for stage 1.
VAL_MARGIN_MM = 90.0
DEFAULT_STAGE1 = Path(__file__).resolve().parents[2] / "models" / "segmentation" / "weights.pt"


def data_folder(data: Path, modality: str) -> Path:
    """``data`` for CT, ``<data>_petct`` for PET-CT phantoms."""
    return data if modality == "ct" else data.parent / f"{data.name}_petct"


def write_phantoms(folder: Path, train: int, val: int, test: int, pet: bool) -> None:
    """The datastore helpers' training, validation and held-out folders (files already there are kept)."""
    write_datastore(folder / "train", train, TRAIN_SEED, pet=pet, prefix="train")
    write_datastore(folder / "val", val, VAL_SEED, pet=pet, prefix="val")
    write_datastore(folder / "test", test, TEST_SEED, pet=pet, prefix="test")


def load_training_cases(items: Sequence[dict], channels: int, model: TwoStageModel, cache: Path) -> list[dict]:
    """Every ``{"image": path, "label": path}`` item in model space with stage 1's answer.

    Returns:
        Dicts with ``image`` (C, X, Y, Z), ``label`` (1, X, Y, Z) label values, ``previous``
        (1, X, Y, Z) stage 1's GTV probability, ``case`` (file name). Stage 1's answers are
        read from / written to ``cache`` (one ``.pt`` per case).
    """
    cache.mkdir(parents=True, exist_ok=True)
    load = Compose(model_space_transforms(channels))
    cases = []
    for item in items:
        data = load(item)
        name = Path(item["image"]).name.removesuffix(".nii.gz")
        stored = cache / f"{name}.pt"
        if stored.exists():
            previous = torch.load(stored, weights_only=True)
        else:
            previous = model.automatic(data["image"].as_tensor())
            write_atomically(stored, lambda tmp, p=previous: torch.save(p, tmp))
        cases.append({"image": data["image"].as_tensor().float(), "label": data["label"].as_tensor(),
                      "previous": previous[None].float(), "case": name})
    return cases


def file_cases(items: Sequence[dict], margin_mm: float | None = VAL_MARGIN_MM, channels: int = 1) -> list[Case]:
    """Validation cases from ``{"image": path, "label": path}`` files: the GTV, cropped as the harness does.

    Images with no GTV voxel are left out.
    """
    cases = []
    for item in items:
        image_file = nib.load(item["image"])
        image = np.asarray(image_file.dataobj, dtype=np.float32)
        image = image[None] if image.ndim == 3 else np.moveaxis(image.reshape(*image.shape[:3], -1), -1, 0)
        truth = np.asarray(nib.load(item["label"]).dataobj) == LABELS["gtv"]
        if image.shape[0] < channels:
            raise ValueError(f"image '{item['image']}' has {image.shape[0]} channel(s), the model needs {channels}")
        if not truth.any():
            continue
        affine = np.asarray(image_file.affine, dtype=float)
        case = Case(Path(item["image"]).name, image, truth, spacing_of(affine), affine, "gtv")
        cases.append(case if margin_mm is None else crop_case(case, roi_box(truth, case.spacing, margin_mm)))
    return cases


def stage1_cache_folder(data: Path, stage1: Sequence[Path]) -> Path:
    """``<data>/two_stage_stage1/<first 12 hex of the weights' hashes>``."""
    digest = "_".join(sha256_of(p)[:12] for p in stage1)
    return data / "two_stage_stage1" / digest


def sample_transform(channels: int, seed: int) -> Compose:
    """Crop around the target with a random margin, then the paper's augmentations."""
    transform = Compose([RandTargetCropd(MODEL_SPACING, margin_mm=TRAIN_MARGIN_MM), *paper_augmentations(channels)])
    transform.set_random_state(seed=seed)
    return transform


class Validation:
    """Algorithm 1 with 10 border-distance clicks on fixed validation cases (harness crops).

    Stage 1's answers and the prepared images are computed once. A run's clicks are drawn
    with a generator seeded by (seed, case number), so every validation sees the same start.
    """

    def __init__(self, stage1: TwoStageModel, cases: Sequence, seed: int = 0, clicks: int = VALIDATION_CLICKS):
        self.stage1 = stage1
        self.cases = list(cases)
        self.seed = seed
        self.clicks = clicks
        self.prepared = [prepare_array(c.image, c.affine, stage1.image_channels) for c in self.cases]
        self.states = [next_answer(stage1, p, ()) for p in self.prepared]

    def run(self, network: torch.nn.Module) -> dict:
        """Mean DSC after 0..clicks clicks, and the score: the mean over clicks 1..clicks."""
        model = TwoStageModel(self.stage1.stage1, [network], self.stage1.device)
        curves = []
        try:
            for n, (case, prepared, state) in enumerate(zip(self.cases, self.prepared, self.states)):
                rng = np.random.default_rng([self.seed, n])
                answer = prepared.to_input_grid(state.answer.numpy())
                curve, clicks = [dice(answer > 0.5, case.truth)], []
                for _ in range(self.clicks):
                    click = border_distance_click(answer > 0.5, case.truth, rng, case.spacing)
                    if click is not None:
                        clicks.append(click)
                        state = next_answer(model, prepared, clicks, state)
                        answer = prepared.to_input_grid(state.answer.numpy())
                    curve.append(dice(answer > 0.5, case.truth))
                curves.append(curve)
        finally:
            network.train()
        mean = np.mean(np.array(curves), axis=0)
        return {"dsc_at_clicks": {str(k): float(v) for k, v in enumerate(mean)},
                "score": float(mean[1:].mean()), "cases": len(curves)}


def cosine_lr(base: float, fraction: float) -> float:
    """Cosine decay from ``base`` at fraction 0 to 0 at fraction 1."""
    return base * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def train(
    network: torch.nn.Module,
    cases: list[dict],
    validation: Validation,
    out: Path,
    minutes: float,
    steps: int,
    lr: float,
    mask_dropout: float,
    val_every: int,
    seed: int,
    meta: dict,
    validate_start: bool = False,
) -> dict:
    """The training loop (see the module doc); returns the history and the best validation.

    ``validate_start`` validates the network as given, before any step (continued training:
    the result never keeps a checkpoint worse than its start).
    """
    rng = np.random.default_rng(seed)
    transform = sample_transform(int(cases[0]["image"].shape[0]), seed)
    dropout = MaskDropout(mask_dropout)
    dropout.set_random_state(seed=seed + 1)
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    loss_function = dice_bce_loss()
    start, step, iterations = time.time(), 0, 0
    best = BestCheckpoint(out / "weights.pt", meta)
    losses: list[float] = []

    def fraction() -> float:
        return max(step / steps, (time.time() - start) / 60 / minutes)

    def set_lr() -> None:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(lr, fraction())

    def validate() -> None:
        result = validation.run(network)
        row = {"step": step, "iterations": iterations, "minutes": (time.time() - start) / 60,
               "lr": optimizer.param_groups[0]["lr"], "loss": float(np.mean(losses)) if losses else None,
               "val_score": result["score"], "val_dsc": result["dsc_at_clicks"]}
        best.record(network, row, result["score"], step, result)
        losses.clear()

    if validate_start:
        validate()
    next_validation = val_every
    while fraction() < 1.0:
        case = cases[int(rng.integers(len(cases)))]
        sample = transform({k: case[k] for k in ("image", "label", "previous")})
        truth = torch.as_tensor(sample["label"])[0] > 0.5
        if not truth.any():  # the augmentation moved the target out of the crop
            continue
        interactions = int(rng.integers(MIN_INTERACTIONS, MAX_INTERACTIONS + 1))
        result = refinement_iteration(
            network, optimizer, loss_function, torch.as_tensor(sample["image"]).float(), truth,
            torch.as_tensor(sample["previous"])[0].float().clamp(0, 1), rng, dropout, MODEL_SPACING,
            interactions=min(interactions, steps - step), before_step=set_lr,
        )
        step += result["steps"]
        iterations += 1
        losses.extend(result["losses"])
        if step >= next_validation:
            validate()
            next_validation = step + val_every
    validate()
    best.write_current(network, out / "last.pt")  # for ablations
    return {"history": best.history, "best_step": best.step, "validation": best.validation, "steps": step,
            "iterations": iterations, "train_minutes": (time.time() - start) / 60}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/two_stage_ct", help="folder for weights.pt, metrics.json, MODEL_CARD.md")
    parser.add_argument("--modality", choices=("ct", "petct"), default="ct")
    parser.add_argument("--stage1", action="append", type=Path,
                        help="stage-1 weights (repeat for an ensemble); default the shipped automatic model")
    parser.add_argument("--data", type=Path, default=Path("build/phantoms"), help="where the generated phantoms go")
    parser.add_argument("--train-cases", type=int, default=32)
    parser.add_argument("--val-cases", type=int, default=6)
    parser.add_argument("--test-cases", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--steps", type=int, default=100_000, help="optimiser-step budget (the cosine ends at "
                        "whichever budget runs out first)")
    parser.add_argument("--lr", type=float, default=PAPER_LR, help="AdamW initial learning rate (paper 1e-4)")
    parser.add_argument("--mask-dropout", type=float, default=MASK_DROPOUT_P, help="mask dropout p (paper 0.2)")
    parser.add_argument("--paper-widths", action="store_true", help="the paper's widths (16..256) instead of 8..128")
    parser.add_argument("--val-every", type=int, default=300, help="validate every this many optimiser steps")
    parser.add_argument("--val-margin-mm", type=float, default=VAL_MARGIN_MM)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="continue from these refinement weights (validated first)")
    parser.add_argument("--warm-start", action="store_true",
                        help="start from stage 1's weights (image channels copied, guidance channels at 0, the "
                        "output as stage 1's GTV-minus-background logit) instead of random ones")
    parser.add_argument("--residual", action="store_true",
                        help="residual output: logit = logit(previous) + UNet (not in the paper; see network.py)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    return parser.parse_args(argv)


def fit_refinement(
    stage1_paths: Sequence[Path],
    train_items: Sequence[dict],
    validation_cases: Sequence[Case],
    out: Path,
    cache: Path,
    modality: str = "ct",
    minutes: float = 20.0,
    steps: int = 100_000,
    lr: float = PAPER_LR,
    mask_dropout: float = MASK_DROPOUT_P,
    val_every: int = 300,
    seed: int = 0,
    paper_widths: bool = False,
    val_clicks: int = VALIDATION_CLICKS,
    init: Path | None = None,
    warm_start: bool = False,
    residual: bool = False,
) -> dict:
    """Train a refinement net for the frozen stage 1 and write ``out/weights.pt`` (best, atomically).

    Args:
        stage1_paths: stage-1 weights (several: an ensemble).
        train_items: ``{"image": path, "label": path}`` training files.
        validation_cases: harness cases validated with 10 clicks.
        out: the output folder.
        cache: where stage 1's answers of the training files are kept.
        val_clicks: clicks per validation session (paper 10).
        init: refinement weights to continue from (validated first) instead of random ones.
        warm_start: start from the (first) stage-1 network's weights
            (:func:`lib.two_stage.network.warm_start_from_stage1`; validated first).
        residual: the residual output (:class:`lib.two_stage.network.ResidualRefinement`).
        Others: see ``python -m lib.two_stage.train --help``.

    Returns:
        The metrics (without ``command`` and ``data``), as ``metrics.json`` stores them.
    """
    set_determinism(seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    channels = image_channels(modality)
    prep_start = time.time()
    stage1 = TwoStageModel([load_stage1(p) for p in stage1_paths], [])
    cases = load_training_cases(train_items, channels, stage1, cache)
    if not cases:
        raise ValueError("no training images with a GTV label")
    validation = Validation(stage1, validation_cases, seed=seed, clicks=val_clicks)
    prep_minutes = (time.time() - prep_start) / 60
    widths = PAPER_CHANNELS if paper_widths else CPU_CHANNELS
    network = refinement_unet(channels, widths)
    if init is not None:
        network = load_refinement(init)
        widths = tuple(torch.load(init, map_location="cpu", weights_only=True).get("channels", widths))
    elif warm_start:
        warm_start_from_stage1(network, stage1.stage1[0])
    if residual and init is None:
        network = ResidualRefinement(network, channels)
    residual = isinstance(network, ResidualRefinement)
    meta = {"image_channels": channels, "channels": list(widths), "arch": "refinement_unet", "residual": residual,
            "mask_dropout": mask_dropout, "stage1": [str(p) for p in stage1_paths]}
    result = train(network, cases, validation, out, minutes, steps, lr, mask_dropout, val_every, seed, meta,
                   validate_start=init is not None or warm_start or residual)
    return {
        "init": None if init is None else str(init),
        "warm_start": str(stage1_paths[0]) if warm_start and init is None else None,
        "residual": residual,
        "modality": modality,
        "image_channels": channels,
        "channels": list(widths),
        "strides": list(STRIDES),
        "parameters": sum(p.numel() for p in network.parameters()),
        "stage1": [{"path": str(p), "sha256": sha256_of(p)} for p in stage1_paths],
        "mask_dropout": mask_dropout,
        "lr": lr,
        "weight_decay": WEIGHT_DECAY,
        "interactions": [MIN_INTERACTIONS, MAX_INTERACTIONS],
        "train_margin_mm": list(TRAIN_MARGIN_MM),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "machine": str(describe_machine()),
        "prep_minutes": prep_minutes,
        "train_minutes": result["train_minutes"],
        "steps": result["steps"],
        "iterations": result["iterations"],
        "best_step": result["best_step"],
        "validation": result["validation"],
        "history": result["history"],
    }


def write_reports(metrics: dict, out: Path) -> None:
    """``metrics.json`` and ``MODEL_CARD.md`` in ``out``, atomically."""
    write_run_files(out, metrics, write_model_card)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    stage1_paths = [Path(p) for p in (args.stage1 or [DEFAULT_STAGE1])]
    data = data_folder(args.data, args.modality)
    pet = args.modality == "petct"
    write_phantoms(data, args.train_cases, args.val_cases, args.test_cases, pet=pet)
    validation = list(phantom_cases(args.val_cases, VAL_SEED, "gtv", args.val_margin_mm, pet=pet))
    metrics = fit_refinement(
        stage1_paths, datalist(data / "train"), validation, out, stage1_cache_folder(data, stage1_paths),
        args.modality, args.minutes, args.steps, args.lr, args.mask_dropout, args.val_every, args.seed,
        args.paper_widths, init=args.init, warm_start=args.warm_start,
        residual=args.residual,
    )
    earlier = args.init.parent / "metrics.json" if args.init else None
    if earlier is not None and earlier.exists():
        before = json.loads(earlier.read_text())
        metrics["init_metrics"] = {k: before.get(k) for k in ("command", "train_minutes", "steps", "lr", "validation")}
    metrics = {
        "command": "python -m lib.two_stage.train " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        **metrics,
        "val_margin_mm": args.val_margin_mm,
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases],
                 "test": [TEST_SEED, args.test_cases], "folder": str(data)},
    }
    write_reports(metrics, out)
    print(json.dumps(metrics["validation"], indent=2))
    return metrics


if __name__ == "__main__":
    main()
