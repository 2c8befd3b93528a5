"""Train the DeepEdit-style model (one network, automatic and interactive) on PET-CT phantoms.

    python -m lib.deepedit.train --out models/deepedit_petct_p25 --click-free 0.25 --minutes 24 \\
        --warm-start models/segmentation/weights.pt

DeepEdit's training scheme (Diaz-Pinto et al.; MONAI's ``monai.apps.deepedit.interaction``),
written here as a plain loop over MONAI's DeepEdit transforms (:mod:`lib.deepedit.guidance`):

- each iteration a batch of 64 x 64 x 32 model-space patches (2 images x 2 patches, half or
  more with tumour; the PET-CT stage 1's pipeline, :func:`lib.two_stage.train_stage1.petct_train_transforms`);
- with probability ``--click-free`` the iteration is click-free: the guidance channels are 0
  and the network learns to answer automatically;
- otherwise DeepEdit's initial clicks are drawn from the label, then up to ``--interactions``
  simulated interactions, the j-th (from 0) made with probability 1 - j / interactions: the
  network (eval mode, no gradient) predicts, and clicks go to the error regions;
- then ONE optimiser step on the final input (DeepEdit; 2S-ICR's refinement steps at every
  interaction): Dice + CE over background, GTV and heart (stage 1's classes; the clicks are
  for the GTV), AdamW with cosine decay to 0 over the
  ``--minutes`` budget;
- every ``--val-minutes`` and at the end: the evaluation protocol on 6 validation phantoms
  (seeds 800+, 90 mm ROI, border-distance clicks against its own answers, 10 clicks; its time
  is not counted in the budget); the best mean DSC over clicks 0..10 is kept in
  ``weights.pt``; the last weights go to ``last.pt``.

``metrics.json`` and ``MODEL_CARD.md`` go beside the weights. Phantoms: ``<data>_petct``
(written if missing; the same files the PET-CT 2S-ICR stages train on).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from monai.utils import set_determinism

from lib.deepedit.guidance import GUIDANCE_CHANNELS, GUIDANCE_SIGMA, click_step, guidance_channels, initial_guidance
from lib.deepedit.model_card import write_model_card
from lib.deepedit.network import deepedit_unet, warm_start_from_automatic
from lib.deepedit.segmenter import DeepEditSegmenter
from lib.evaluation.cases import phantom_cases
from lib.evaluation.protocol import Case
from lib.labels import LABELS
from lib.machine import describe_machine
from lib.metrics import dice
from lib.segmentation.train import TEST_SEED, TRAIN_SEED, VAL_SEED, datalist
from lib.simulators import border_distance_click
from lib.training import BestCheckpoint, write_run_files
from lib.two_stage.network import load_stage1
from lib.two_stage.preprocess import CHANNELS
from lib.two_stage.train import VAL_MARGIN_MM, data_folder, write_phantoms
from lib.two_stage.train_stage1 import petct_train_transforms

#: Simulated interactions per clicking iteration (the evaluation's 10 clicks).
MAX_INTERACTIONS = 10
VALIDATION_CLICKS = 10


def cosine_lr(base: float, fraction: float) -> float:
    """Cosine decay from ``base`` at fraction 0 to 0 at fraction 1."""
    return base * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def _with_guidance(images: torch.Tensor, guidance: Sequence[dict] | None) -> torch.Tensor:
    """(B, C, X, Y, Z) images -> (B, C + 2, X, Y, Z) with each sample's guidance channels (0 when None)."""
    if guidance is None:
        zeros = torch.zeros((images.shape[0], GUIDANCE_CHANNELS, *images.shape[2:]), dtype=images.dtype)
        return torch.cat([images, zeros], dim=1)
    channels = int(images.shape[1])
    return torch.stack([torch.from_numpy(guidance_channels(np.asarray(im), g, channels, GUIDANCE_SIGMA))
                        for im, g in zip(images, guidance)])


def simulate_guidance(
    network: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
    interactions: int = MAX_INTERACTIONS,
) -> tuple[list[dict], int]:
    """DeepEdit's clicks for a batch: initial seeds from the labels, then simulated interactions.

    Args:
        network: the model being trained (run in eval mode, without gradients).
        images: (B, C, X, Y, Z) model-space patches.
        labels: (B, 1, X, Y, Z) {0, 1} GTV labels (the clicks are for the GTV).
        rng: draws which interactions happen and the transforms' seeds.
        interactions: the most interactions; the j-th happens with probability 1 - j / interactions.

    Returns:
        Each sample's guidance and the number of interactions made.
    """
    label_arrays = [np.asarray(label, dtype=np.float32) for label in labels]
    guidance = [initial_guidance(label, int(rng.integers(2**31))) for label in label_arrays]
    made = 0
    for j in range(interactions):
        if rng.random() >= 1.0 - j / interactions:
            continue
        network.eval()
        with torch.no_grad():
            predictions = network(_with_guidance(images, guidance)).argmax(dim=1, keepdim=True) == LABELS["gtv"]
        guidance = [click_step(label, np.asarray(p, dtype=np.float32), g, int(rng.integers(2**31)))
                    for label, p, g in zip(label_arrays, predictions, guidance)]
        made += 1
    network.train()
    return guidance, made


def validate(network: torch.nn.Module, cases: Sequence[Case], seed: int = 0, clicks: int = VALIDATION_CLICKS) -> dict:
    """The harness protocol on ``cases`` (own border-distance clicks, first from the 0-click answer).

    Returns:
        ``dsc_at_clicks`` (mean DSC after k = 0..clicks clicks) and ``score`` (their mean).
    """
    segmenter = DeepEditSegmenter(network, "deepedit", image_channels=int(cases[0].image.shape[0]))
    curves = []
    for n, case in enumerate(cases):
        rng = np.random.default_rng([seed, n])
        made: list = []
        answer = segmenter.segment(case, made, None)
        curve = [dice(answer > 0.5, case.truth)]
        for _ in range(clicks):
            click = border_distance_click(answer > 0.5, case.truth, rng, case.spacing)
            if click is not None:
                made.append(click)
                answer = segmenter.segment(case, made, answer)
            curve.append(dice(answer > 0.5, case.truth))
        curves.append(curve)
    network.train()
    mean = np.mean(np.array(curves), axis=0)
    return {"dsc_at_clicks": {str(k): float(v) for k, v in enumerate(mean)}, "score": float(mean.mean()),
            "cases": len(curves)}


def train(
    network: torch.nn.Module, loader: DataLoader, cases: Sequence[Case], out: Path, minutes: float, lr: float,
    click_free: float, val_minutes: float, seed: int, meta: dict, interactions: int = MAX_INTERACTIONS,
    max_iterations: int | None = None, validate_start: bool = False,
) -> dict:
    """The loop of the module doc; returns the history, the best validation and counts.

    Validation time is not counted in ``minutes``; ``validate_start`` also scores the start.
    """
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-5)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    start, iterations, free, made = time.time(), 0, 0, 0
    paused = 0.0  # validation time, not counted in the budget (2S-ICR's trainers count theirs: conservative)
    best = BestCheckpoint(out / "weights.pt", meta)  # its step counts iterations
    losses: list[float] = []

    def elapsed() -> float:
        return (time.time() - start - paused) / 60

    def fraction() -> float:
        by_time = elapsed() / minutes
        return max(by_time, iterations / max_iterations) if max_iterations else by_time

    def check() -> None:
        nonlocal paused
        began = time.time()
        result = validate(network, cases, seed)
        paused += time.time() - began
        row = {"iteration": iterations, "minutes": elapsed(), "lr": optimizer.param_groups[0]["lr"],
               "loss": float(np.mean(losses)) if losses else None, "val_score": result["score"],
               "val_dsc": result["dsc_at_clicks"]}
        best.record(network, row, result["score"], iterations, result)
        losses.clear()

    if validate_start:
        check()  # the start's own score
    next_check = val_minutes
    network.train()
    while fraction() < 1.0:
        for batch in loader:
            if fraction() >= 1.0:
                break
            images = torch.as_tensor(batch["image"]).float()
            labels = torch.as_tensor(batch["label"]).long()  # 0, 1 GTV, 2 heart: stage 1's classes
            if rng.random() < click_free:
                inputs, free = _with_guidance(images, None), free + 1
            else:
                gtv = (labels == LABELS["gtv"]).float()
                guidance, n = simulate_guidance(network, images, gtv, rng, interactions)
                inputs, made = _with_guidance(images, guidance), made + n
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(lr, fraction())
            optimizer.zero_grad()
            loss = loss_function(network(inputs), labels)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            iterations += 1
            if elapsed() >= next_check:
                check()
                next_check = elapsed() + val_minutes
    if not best.history or best.history[-1]["iteration"] != iterations:  # not validated at this point already
        check()
    best.write_current(network, out / "last.pt")
    return {"history": best.history, "best_iteration": best.step, "validation": best.validation,
            "iterations": iterations, "click_free_iterations": free, "interactions": made,
            "train_minutes": elapsed(), "validation_minutes": paused / 60}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("models/deepedit_petct_p25"))
    parser.add_argument("--click-free", type=float, default=0.25, help="share of click-free iterations, 0..1")
    parser.add_argument("--data", type=Path, default=Path("build/phantoms"), help="PET-CT phantoms: <data>_petct")
    parser.add_argument("--train-cases", type=int, default=32)
    parser.add_argument("--val-cases", type=int, default=6)
    parser.add_argument("--test-cases", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=24.0, help="training time budget")
    parser.add_argument("--max-iterations", type=int, help="also stop after this many iterations (tests)")
    parser.add_argument("--interactions", type=int, default=MAX_INTERACTIONS)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val-minutes", type=float, default=5.0, help="validate every this many minutes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start", type=Path, help="a CT automatic model to start from (new channels at 0)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0.0 <= args.click_free <= 1.0:
        parser.error(f"--click-free must be in [0, 1], got {args.click_free}")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    set_determinism(seed=args.seed)
    logging.getLogger("monai.apps.deepedit.transforms").setLevel(logging.WARNING)  # a line per simulated click
    channels = CHANNELS["petct"]
    data = data_folder(args.data, "petct")
    write_phantoms(data, args.train_cases, args.val_cases, args.test_cases, pet=True)
    dataset = CacheDataset(datalist(data / "train"), transform=petct_train_transforms(channels), cache_rate=1.0,
                           progress=False)
    loader = DataLoader(dataset, batch_size=2, shuffle=True, num_workers=0)
    cases = list(phantom_cases(args.val_cases, VAL_SEED, "gtv", VAL_MARGIN_MM, pet=True))
    network = deepedit_unet(channels)
    if args.warm_start is not None:
        warm_start_from_automatic(network, load_stage1(args.warm_start))
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"arch": "deepedit_unet", "image_channels": channels, "click_free": args.click_free,
            "label_names": {"gtv": 1, "background": 0}, "sigma": GUIDANCE_SIGMA}
    result = train(network, loader, cases, args.out, args.minutes, args.lr, args.click_free, args.val_minutes,
                   args.seed, meta, args.interactions, args.max_iterations)
    metrics = {
        "command": "python -m lib.deepedit.train " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        **meta,
        "warm_start": None if args.warm_start is None else str(args.warm_start),
        "parameters": sum(p.numel() for p in network.parameters()),
        "lr": args.lr,
        "max_interactions": args.interactions,
        "seed": args.seed,
        "machine": str(describe_machine()),
        **result,
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases],
                 "test": [TEST_SEED, args.test_cases], "folder": str(data)},
    }
    write_run_files(args.out, metrics, write_model_card)
    print(json.dumps(metrics["validation"], indent=2))
    return metrics


if __name__ == "__main__":
    main()
