"""Train the Gaussian-click model on generated phantoms, as the paper does, within a time budget.

    python -m lib.gaussian_click.train --out models/gaussian_click_2d --dims 2 --minutes 30
    python -m lib.gaussian_click.train --out models/gaussian_click_3d --dims 3 --minutes 30
    python -m lib.gaussian_click.train --out build/gc_unseen --exclude-structure gtv   # unseen test
    python -m lib.gaussian_click.train --out models/gaussian_click_3d_v2 --dims 3 \
        --init models/gaussian_click_3d/weights.pt --max-interactions 15   # fine-tune

Writes training and validation phantoms under ``--data`` (seeds 100+ and 800+, shared with
the automatic model's command; seeds 900+ stay held out), caches them in model space, and
trains on random windows of one structure each (:mod:`lib.gaussian_click.samples`) with the
paper's procedure (:mod:`lib.gaussian_click.click_loop`): K prediction rounds adding
simulated clicks, then one step with the Dice loss; Adam, lr 1e-4 fixed (``--lr`` overrides
it, e.g. to try a larger rate on a short CPU budget; the card records the value used);
seed 4242. Every ``--val-every`` steps the model is validated (Dice after ``--val-clicks``, 1, 2, 5);
the best one is written at once to ``weights.pt`` (temp + rename), then ``metrics.json`` and
``MODEL_CARD.md`` at the end. ``--init`` starts from existing weights (fine-tuning); those
are validated first, at step 0, so a fine-tune never keeps a checkpoint worse than its start.
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

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceLoss
from monai.transforms import Compose
from monai.utils import set_determinism

from lib.gaussian_click.click_loop import MAX_INTERACTIONS_CHOICES, train_step
from lib.gaussian_click.model_card import write_model_card
from lib.gaussian_click.network import default_features, gaussian_click_net, load_network
from lib.imaging.prepare import model_space_transforms, model_spacing
from lib.gaussian_click.samples import RandStructureSampled, structure_values
from lib.gaussian_click.validate import VALIDATION_CLICKS, ValidationSet, evaluate, validation_set
from lib.machine import describe_machine
from lib.phantom.datastore import write_datastore
from lib.segmentation.train import TRAIN_SEED, VAL_SEED, datalist
from lib.training import BestCheckpoint, write_run_files

PAPER_SEED = 4242
PAPER_LR = 1e-4
DEFAULT_BATCH = {2: 8, 3: 2}


def dice_loss() -> torch.nn.Module:
    """The paper's average Dice loss: mean over the batch of 1 - 2|GP| / (|G|^2 + |P|^2)."""
    return DiceLoss(sigmoid=True, squared_pred=True, batch=False, reduction="mean")


def train_loader(
    folder: Path, dims: int, structures: dict[str, int], batch_size: int, random_prob: float, seed: int,
    label_tag: str = "final",
):
    """Batches of random one-structure windows from the cases of ``folder`` (model space cached),
    their truth from ``labels/<label_tag>``."""
    transform = Compose([*model_space_transforms(dims), RandStructureSampled(dims, structures, random_prob)])
    transform.set_random_state(seed=seed)
    items = [{"image": item["image"], "label": str(folder / "labels" / label_tag / Path(item["image"]).name)}
             for item in datalist(folder)]
    dataset = CacheDataset(items, transform=transform, cache_rate=1.0, progress=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0, drop_last=False)


def load_validation(folder: Path, dims: int, per_structure: int) -> ValidationSet:
    """The fixed validation windows of the cases of ``folder``."""
    transform = Compose(model_space_transforms(dims))
    return validation_set((transform(item) for item in datalist(folder)), dims, per_structure)


def train(
    network: torch.nn.Module,
    loader: DataLoader,
    validation: ValidationSet,
    structures: Sequence[str],
    out: Path,
    minutes: float,
    max_interactions: int,
    lr: float,
    val_every: int,
    seed: int,
    device: str,
    max_steps: int | None = None,
    validate_start: bool = False,
    val_clicks: Sequence[int] = VALIDATION_CLICKS,
) -> dict:
    """The training loop; writes ``out/weights.pt`` whenever validation improves.

    ``validate_start`` validates the network as given, at step 0, before any step (fine-tuning).

    Returns:
        ``{"history", "best_step", "best_state", "validation", "steps", "train_minutes"}``.
    """
    if len(loader) == 0:
        raise ValueError("the training set is empty: no cases with labels")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    loss_function = dice_loss()
    best = BestCheckpoint(out / "weights.pt", keep_state=True)
    start, step, losses = time.time(), 0, []

    def validate() -> None:
        result = evaluate(network, validation, structures, seed=seed, device=device, clicks_at=val_clicks)
        row = {"step": step, "minutes": (time.time() - start) / 60, "loss": float(np.mean(losses)) if losses else None,
               "val": result["dice"], "score": result["score"]}
        best.record(network, row, result["score"], step, result)
        losses.clear()

    if validate_start:
        validate()
    done = False
    while not done:
        for batch in loader:
            images, labels = batch["image"].to(device), batch["label"].to(device)
            loss, _ = train_step(network, optimizer, loss_function, images, labels, max_interactions, rng)
            losses.append(loss)
            step += 1
            out_of_time = (time.time() - start) / 60 >= minutes or (max_steps is not None and step >= max_steps)
            if step % val_every == 0 or out_of_time:
                validate()
            if out_of_time:
                done = True
                break
    return {"history": best.history, "best_step": best.step, "best_state": best.state,
            "validation": best.validation, "steps": step, "train_minutes": (time.time() - start) / 60}


def parse_clicks_at(text: str) -> tuple[int, ...]:
    """``"1,2,5"`` -> (1, 2, 5); each a number of clicks >= 1."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise SystemExit(f"--val-clicks must be numbers of clicks >= 1 separated by commas, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder for weights.pt, metrics.json, MODEL_CARD.md "
                        "(default models/gaussian_click_<dims>d)")
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2)
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--data", default="build/phantoms", help="where the generated phantoms go")
    parser.add_argument("--train-cases", type=int, default=24)
    parser.add_argument("--val-cases", type=int, default=4)
    parser.add_argument("--max-interactions", type=int, choices=MAX_INTERACTIONS_CHOICES, default=5,
                        help="K, the paper's maximum number of training interactions")
    parser.add_argument("--batch-size", type=int, help="default 8 (2D) or 2 (3D); the paper's is 16")
    parser.add_argument("--lr", type=float, default=PAPER_LR, help="Adam learning rate, fixed (paper: 1e-4)")
    parser.add_argument("--seed", type=int, default=PAPER_SEED)
    parser.add_argument("--exclude-structure", action="append", default=[], metavar="NAME",
                        help="leave a structure out of training (repeatable); it is still validated, as unseen")
    parser.add_argument("--organs", action="store_true",
                        help="also train on the phantoms' other organs (lung, liver, aorta, bone, spinal canal; "
                        "labels/organs), as the paper trains on many organs")
    parser.add_argument("--val-every", type=int, default=100, help="validate every this many steps")
    parser.add_argument("--val-clicks", default=",".join(map(str, VALIDATION_CLICKS)),
                        help="validate (and choose the best checkpoint by) Dice after these numbers of clicks")
    parser.add_argument("--val-slices", type=int, default=6, help="2D validation slices per structure and case")
    parser.add_argument("--random-prob", type=float, default=0.1, help="share of windows placed anywhere")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (tests)")
    parser.add_argument("--init", help="start from this weights.pt (fine-tune) instead of random weights")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    structures = structure_values(args.exclude_structure, args.organs)
    out = Path(args.out or f"models/gaussian_click_{args.dims}d")
    out.mkdir(parents=True, exist_ok=True)
    set_determinism(seed=args.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))  # honour a shared machine
    data = Path(args.data)
    write_datastore(data / "train", args.train_cases, TRAIN_SEED, prefix="train", organ_labels=args.organs)
    write_datastore(data / "val", args.val_cases, VAL_SEED, prefix="val")
    batch_size = args.batch_size or DEFAULT_BATCH[args.dims]
    val_clicks = parse_clicks_at(args.val_clicks)

    network = gaussian_click_net(args.dims).to(args.device)
    if args.init:
        network = load_network(args.init, args.dims, args.device)
    loader = train_loader(data / "train", args.dims, structures, batch_size, args.random_prob, args.seed,
                          "organs" if args.organs else "final")
    validation = load_validation(data / "val", args.dims, args.val_slices)
    result = train(network, loader, validation, list(structures), out, args.minutes, args.max_interactions,
                   args.lr, args.val_every, args.seed, args.device, args.max_steps,
                   validate_start=bool(args.init), val_clicks=val_clicks)

    metrics = {
        "command": "python -m lib.gaussian_click.train " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "dims": args.dims,
        "features": list(default_features(args.dims)),
        "parameters": sum(p.numel() for p in network.parameters()),
        "spacing_mm": list(model_spacing(args.dims)),
        "structures": list(structures),
        "excluded": list(args.exclude_structure),
        "init": args.init,
        "max_interactions": args.max_interactions,
        "batch_size": batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "machine": str(describe_machine()),
        "train_minutes": result["train_minutes"],
        "steps": result["steps"],
        "best_step": result["best_step"],
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases]},
        "validation": result["validation"],
        "history": result["history"],
    }
    write_run_files(out, metrics, write_model_card)
    print(json.dumps(result["validation"], indent=2))
    return metrics


if __name__ == "__main__":
    main()
