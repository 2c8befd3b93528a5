"""Train DIN on generated CT or MRI-STIR-like phantoms (GTV), the paper's way, within a CPU time budget.

    OMP_NUM_THREADS=1 python -m lib.din.train --out models/din --minutes 20
    OMP_NUM_THREADS=1 python -m lib.din.train --out models/din_stir --modality mri_stir --minutes 25
    OMP_NUM_THREADS=1 python -m lib.din.train --out models/din_edt_short --guide edt --minutes 8
    OMP_NUM_THREADS=1 python -m lib.din.train --out models/din_input_only_short --input-only --minutes 8

Writes training and validation phantoms under ``--data`` (seeds 100+ and 800+, the same
datastores as the other models' commands; seeds 900+ stay held out; STIR ones under
``build/phantoms_mri_stir`` by default), loads them into the modality's model space
(:mod:`lib.din.preprocess`: CT 3 x 3 x 6 mm windowed; STIR its own 2.4 x 2.4 x 7.5 mm grid,
scaled by each image's body median) and trains on 48 x 48 x 16 patches, half of each batch
centred on a tumour (:mod:`lib.din.samples`), with the paper's training clicks and guides:
weighted cross-entropy (background 1, foreground 3), Adam lr 3e-4, betas (0.9, 0.99), lr
x0.2 when validation has not improved for ``--patience`` validations (the paper: 30 epochs),
down to 1e-6. Every ``--val-every`` steps the harness validates (:mod:`lib.din.validate`);
the best model is written at once to ``weights.pt`` (atomically, with its guide settings
and architecture), then ``metrics.json`` and ``MODEL_CARD.md`` at the end.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Compose
from monai.utils import set_determinism

from lib.din.guides import GUIDE_KINDS, GuideSettings
from lib.din.model_card import write_model_card
from lib.din.network import CPU_WIDTHS, PAPER_WIDTHS, din_network
from lib.din.preprocess import MODALITIES, model_space
from lib.din.samples import PATCH_SIZE, click_sampler, make_batch
from lib.din.validate import VALIDATION_CLICKS, validate, validation_cases
from lib.labels import LABELS
from lib.machine import describe_machine
from lib.phantom.datastore import write_datastore
from lib.segmentation.train import TRAIN_SEED, VAL_SEED, datalist
from lib.training import BestCheckpoint, write_run_files

SEED = 2024
PAPER_LR = 3e-4
PAPER_BETAS = (0.9, 0.99)
#: Cross-entropy class weights (background, foreground).
CLASS_WEIGHTS = (1.0, 3.0)
LR_FACTOR = 0.2
MIN_LR = 1e-6


def load_cases(folder: Path, modality: str = "ct") -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (X, Y, Z) float32, GTV (X, Y, Z) bool) in model space for every labelled case of ``folder``."""
    transform = Compose(model_space(modality).transforms())
    cases = []
    for item in datalist(folder):
        data = transform(item)
        image = np.asarray(data["image"][0], dtype=np.float32)
        truth = np.asarray(data["label"][0]) == LABELS["gtv"]
        cases.append((image, truth))
    if not cases:
        raise ValueError(f"no labelled cases in {folder}")
    return cases


class WeightedCrossEntropy(torch.nn.Module):
    """The paper's loss: cross-entropy over (background, foreground) logits, class weights 1 : 3.

    Takes logits (B, 2, X, Y, Z) and a target (B, X, Y, Z) or (B, 1, X, Y, Z) of {0, 1}
    (integers or floats, as MONAI's trainers hand labels over).
    """

    def __init__(self, weights: Sequence[float] = CLASS_WEIGHTS) -> None:
        super().__init__()
        self.register_buffer("weights", torch.tensor(tuple(weights), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == logits.ndim:
            target = target[:, 0]
        return torch.nn.functional.cross_entropy(logits, target.round().long(), weight=self.weights.to(logits.device))


def loss_function(device: str | torch.device = "cpu") -> torch.nn.Module:
    """Weighted cross-entropy over (background, foreground) logits, weights 1 : 3."""
    return WeightedCrossEntropy().to(device)


def train(
    network: torch.nn.Module,
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    val_cases: Sequence,
    settings: GuideSettings,
    out: Path,
    minutes: float,
    batch_size: int,
    val_every: int,
    patience: int,
    seed: int,
    device: str = "cpu",
    max_steps: int | None = None,
    val_clicks: int = VALIDATION_CLICKS,
    modality: str = "ct",
    boundary_clicks: float = 0.0,
    augment: bool = False,
) -> dict:
    """The training loop; writes ``out/weights.pt`` whenever validation improves.

    ``modality`` chooses the model space's click sampler and validation space, and is saved
    with the weights (``"modality"``), so every loader prepares images the same way.

    Returns:
        ``{"history", "best_step", "validation", "steps", "train_minutes", "final_lr"}``.
    """
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=PAPER_LR, betas=PAPER_BETAS)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=LR_FACTOR, patience=patience, min_lr=MIN_LR
    )
    criterion = loss_function(device)
    sampler = click_sampler(modality, boundary_clicks)
    extra = {"widths": list(network.widths), "deep_guides": network.deep_guides, "modality": modality,
             **settings.as_dict()}
    best = BestCheckpoint(out / "weights.pt", extra)
    start, step, losses = time.time(), 0, []

    def run_validation() -> None:
        result = validate(network, val_cases, settings, val_clicks, device, modality)
        scheduler.step(result["score"])
        row = {"step": step, "minutes": round((time.time() - start) / 60, 2),
               "loss": float(np.mean(losses)) if losses else None, "score": result["score"],
               "dsc_at_clicks": result["dsc_at_clicks"], "lr": optimizer.param_groups[0]["lr"]}
        best.record(network, row, result["score"], step, result)
        losses.clear()

    network.train()
    while True:
        inputs, targets = make_batch(cases, batch_size, settings, rng, PATCH_SIZE, sampler, augment)
        logits = network(torch.from_numpy(inputs).to(device))
        loss = criterion(logits, torch.from_numpy(targets).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        out_of_time = (time.time() - start) / 60 >= minutes or (max_steps is not None and step >= max_steps)
        if step % val_every == 0 or out_of_time:
            run_validation()
        if out_of_time:
            break
    return {"history": best.history, "best_step": best.step, "validation": best.validation, "steps": step,
            "train_minutes": (time.time() - start) / 60, "final_lr": optimizer.param_groups[0]["lr"]}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/din", help="folder for weights.pt, metrics.json, MODEL_CARD.md")
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--modality", choices=MODALITIES, default="ct",
                        help="phantoms and model space: ct (3 x 3 x 6 mm, HU window) or mri_stir "
                             "(2.4 x 2.4 x 7.5 mm, per-image body-median scaling)")
    parser.add_argument("--data", default=None,
                        help="where the generated phantoms go (default build/phantoms, or build/phantoms_mri_stir)")
    parser.add_argument("--train-cases", type=int, default=24)
    parser.add_argument("--val-cases", type=int, default=4)
    parser.add_argument("--guide", choices=GUIDE_KINDS, default="exp", help="guide maps: exp (DIN), edt, gdt")
    parser.add_argument("--sigma", type=float, nargs=3, default=list(GuideSettings().sigma), metavar=("X", "Y", "Z"),
                        help="ExpDT sigma in model voxels, (X, Y, Z) order: the paper's (z, y, x) = (1, 5, 5) "
                             "is 5 5 1 here")
    parser.add_argument("--gamma", type=float, default=1.0, help="ExpDT value at a click")
    parser.add_argument("--input-only", action="store_true", help="DIM output 1 only (ablation 'DIM-input')")
    parser.add_argument("--boundary-clicks", type=float, default=0.0,
                        help="probability of extra clicks hugging the boundary per sample (not in the paper; "
                             "lib.din.samples.BoundaryClickSampler); 0: the paper's sampler")
    parser.add_argument("--augment", action="store_true",
                        help="also the paper's scaling 1-1.25, rotation N(0, 5) deg, Z flip and gamma 0.7-1.5")
    parser.add_argument("--batch-size", type=int, default=4, help="patches per step, half around a tumour")
    parser.add_argument("--val-every", type=int, default=100, help="validate every this many steps")
    parser.add_argument("--val-clicks", type=int, default=VALIDATION_CLICKS,
                        help="clicks per validation session; the score is the mean DSC at 1..this")
    parser.add_argument("--patience", type=int, default=3, help="validations without improvement before lr x0.2")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (a shared machine: 1)")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (tests)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_determinism(seed=args.seed)
    settings = GuideSettings(args.guide, tuple(args.sigma), args.gamma)
    space = model_space(args.modality)
    data = Path(args.data or ("build/phantoms" if args.modality == "ct" else f"build/phantoms_{args.modality}"))
    write_datastore(data / "train", args.train_cases, TRAIN_SEED, args.modality, prefix="train")
    write_datastore(data / "val", args.val_cases, VAL_SEED, args.modality, prefix="val")
    cases = load_cases(data / "train", args.modality)[: args.train_cases]
    val_cases = validation_cases(args.val_cases, VAL_SEED, modality=args.modality)
    network = din_network(CPU_WIDTHS, deep_guides=not args.input_only).to(args.device)
    result = train(network, cases, val_cases, settings, out, args.minutes, args.batch_size, args.val_every,
                   args.patience, args.seed, args.device, args.max_steps, args.val_clicks, args.modality,
                   args.boundary_clicks, args.augment)
    sampler = click_sampler(args.modality)
    metrics = {
        "command": "python -m lib.din.train " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "structure": "gtv",
        "modality": args.modality,
        "intensity": space.intensity,
        **settings.as_dict(),
        "deep_guides": not args.input_only,
        "widths": list(CPU_WIDTHS),
        "paper_widths": list(PAPER_WIDTHS),
        "parameters": sum(p.numel() for p in network.parameters()),
        "patch_size": list(PATCH_SIZE),
        "spacing_mm": list(space.spacing_mm),
        "click_sampler": {"n": sampler.n, "band_width": sampler.band_width,
                          "margin": sampler.margin, "small_object": sampler.small_object,
                          "min_separation": list(sampler.min_separation),
                          "boundary_clicks": args.boundary_clicks},
        "augment": args.augment,
        "batch_size": args.batch_size,
        "lr": PAPER_LR,
        "betas": list(PAPER_BETAS),
        "class_weights": list(CLASS_WEIGHTS),
        "patience": args.patience,
        "final_lr": result["final_lr"],
        "seed": args.seed,
        "threads": args.threads,
        "machine": str(describe_machine()),
        "train_minutes": result["train_minutes"],
        "steps": result["steps"],
        "best_step": result["best_step"],
        "data": {"train": [TRAIN_SEED, len(cases)], "val": [VAL_SEED, len(val_cases)]},
        "validation_clicks": args.val_clicks,
        "validation": result["validation"],
        "history": result["history"],
    }
    write_run_files(out, metrics, write_model_card)
    print(json.dumps(result["validation"], indent=2))
    return metrics


if __name__ == "__main__":
    main()
