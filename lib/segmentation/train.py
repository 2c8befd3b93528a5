"""Train the automatic model (GTV + heart) on generated phantoms and write its weights and card.

    python -m lib.segmentation.train --out models/segmentation

Writes training / validation / held-out test phantoms under ``--data`` (seeds 100+,
800+, 900+; the demo datastore uses 0+), trains with patches, validates every few
epochs on the whole validation images (through the same pipeline the server uses),
keeps the best weights, evaluates them on the held-out set and writes
``weights.pt``, ``metrics.json`` and ``MODEL_CARD.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from monai.utils import set_determinism
from tqdm import tqdm

from lib.machine import describe_machine
from lib.phantom.datastore import write_datastore
from lib.segmentation.evaluate import evaluate_folder
from lib.segmentation.model_card import write_model_card
from lib.segmentation.network import ARCHITECTURES, CPU_CHANNELS, segmentation_network
from lib.segmentation.transforms import train_transforms
from lib.training import BestCheckpoint, write_run_files

TRAIN_SEED, VAL_SEED, TEST_SEED = 100, 800, 900


def datalist(folder: Path) -> list[dict[str, str]]:
    """MONAI datalist of a datastore folder: every image with its final label."""
    return [
        {"image": str(p), "label": str(folder / "labels" / "final" / p.name)} for p in sorted(folder.glob("*.nii.gz"))
    ]


def train_epochs(
    network: torch.nn.Module,
    train_folder: Path,
    val_folder: Path,
    epochs: int,
    val_every: int,
    max_minutes: float,
    lr: float,
    best_path: Path,
    arch: str = "unet",
    transform: Callable | None = None,
    evaluate: Callable[[torch.nn.Module, Path], dict] = evaluate_folder,
    meta: dict | None = None,
) -> tuple[dict, list[dict]]:
    """Train; return the best state (by mean validation GTV + heart Dice) and the history.

    Every new best is also saved to ``best_path`` at once, so a stopped run keeps its best.
    ``transform`` (default :func:`train_transforms`, CT), ``evaluate`` (default
    :func:`evaluate_folder`) and ``meta`` (what the weights file records besides the state;
    default ``{"arch": arch}``) let other inputs reuse the loop (PET-CT:
    :mod:`lib.two_stage.train_stage1`).
    """
    transform = transform if transform is not None else train_transforms()
    meta = meta if meta is not None else {"arch": arch}
    dataset = CacheDataset(datalist(train_folder), transform=transform, cache_rate=1.0, progress=False)
    loader = DataLoader(dataset, batch_size=2, shuffle=True, num_workers=0)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    best, history = BestCheckpoint(best_path, meta, keep_state=True), []
    start = time.time()
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", unit="epoch"):
        network.train()
        losses = []
        for batch in loader:
            optimizer.zero_grad()
            loss = loss_function(network(batch["image"]), batch["label"])
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        scheduler.step()
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "minutes": (time.time() - start) / 60}
        out_of_time = row["minutes"] > max_minutes
        if epoch % val_every == 0 or epoch == epochs or out_of_time:
            summary = evaluate(network, val_folder)["summary"]
            row.update(val_gtv_dice=summary["mean_gtv_dice"], val_heart_dice=summary["mean_heart_dice"])
            score = summary["mean_gtv_dice"] + summary["mean_heart_dice"]
            if best.offer(network, score, epoch):
                row["best"] = True
        history.append(row)
        tqdm.write(json.dumps(row))
        if out_of_time:
            break
    return best.state, history


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/segmentation", help="folder for weights.pt, metrics.json, card")
    parser.add_argument("--data", default="build/phantoms", help="where the generated phantoms go")
    parser.add_argument("--train-cases", type=int, default=32)
    parser.add_argument("--val-cases", type=int, default=6)
    parser.add_argument("--test-cases", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--val-every", type=int, default=3)
    parser.add_argument("--max-minutes", type=float, default=45.0, help="stop training after this long")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", default="unet", choices=ARCHITECTURES, help="network architecture")
    parser.add_argument("--init", help="start from these weights instead of random ones (to continue training)")
    args = parser.parse_args(argv)

    set_determinism(seed=args.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))  # honour a shared machine
    data, out = Path(args.data), Path(args.out)
    write_datastore(data / "train", args.train_cases, TRAIN_SEED, prefix="train")
    write_datastore(data / "val", args.val_cases, VAL_SEED, prefix="val")
    write_datastore(data / "test", args.test_cases, TEST_SEED, prefix="test")

    start = time.time()
    network = segmentation_network(args.arch)
    if args.init:
        network.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True)["model"])
    best_state, history = train_epochs(
        network, data / "train", data / "val", args.epochs, args.val_every, args.max_minutes, args.lr,
        out / "weights.pt", args.arch,
    )
    train_minutes = (time.time() - start) / 60
    network.load_state_dict(best_state)  # train_epochs has written it to weights.pt
    test = evaluate_folder(network, data / "test")
    metrics = {
        "command": "python -m lib.segmentation.train " + shlex.join(sys.argv[1:] if argv is None else argv),
        "train_minutes": train_minutes,
        "machine": str(describe_machine()),
        "arch": args.arch,
        "channels": list(CPU_CHANNELS) if args.arch in ("unet", "dynunet") else None,
        "parameters": sum(p.numel() for p in network.parameters()),
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases],
                 "test": [TEST_SEED, args.test_cases]},
        "history": history,
        "test": test,
    }
    write_run_files(out, metrics, write_model_card)
    print(json.dumps(test["summary"], indent=2))


if __name__ == "__main__":
    main()
