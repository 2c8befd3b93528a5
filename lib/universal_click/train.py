"""Train the class-agnostic, modality-agnostic 3D click model within a CPU time budget.

    OMP_NUM_THREADS=2 python -m lib.universal_click.train --out models/universal_click_3d --minutes 45

The network is the Gaussian-click 3D network (:mod:`lib.gaussian_click.network`: image +
foreground + background Gaussian guidance -> one mask), trained with the Gaussian-click
paper's procedure (:mod:`lib.gaussian_click.click_loop`: K prediction rounds adding simulated
clicks, then one Dice-loss step) on samples from :mod:`lib.synth.samples`: random shapes
painted SynthSeg-style and phantom structures at random resolutions and contrasts. The
structures named by ``--held-out`` are never a target (default gtv, liver, spinal canal: the
evaluation's unseen structures). Training phantoms use seeds 100+, validation 800+; 900+ stay
for evaluation.

Each step draws one new sample into a rolling buffer and trains on a batch drawn from the
buffer (sample generation costs about as much as a step on two cores; each sample is seen
about ``batch`` times, with fresh clicks and orientation each time). Every ``--val-every``
steps the Dice after 1, 3 and 5 clicks on a fixed validation set decides the best
checkpoint (:class:`lib.training.BestCheckpoint`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.utils import set_determinism

from lib.gaussian_click.click_loop import Condition, dice_after_clicks, train_step
from lib.gaussian_click.network import CPU_FEATURES_3D, FIRST_CONV, gaussian_click_net, read_state
from lib.gaussian_click.train import dice_loss
from lib.imaging.intensity import DESCRIPTIONS
from lib.machine import describe_machine
from lib.phantom.config import ALL_LABELS
from lib.synth.samples import MIXTURE, SampleGenerator
from lib.training import BestCheckpoint, write_run_files
from lib.universal_click.model_card import write_model_card
from lib.universal_click.network import ProposalResidual, is_proposal_state, proposal_network, zero_output
from lib.universal_click.proposal import PROPOSAL_BORDER, proposal
from lib.universal_click.space import HELD_OUT, PATCH, weights_meta

TRAIN_SEED, VAL_SEED = 100, 800
VALIDATION_CLICKS: tuple[int, ...] = (1, 3, 5)


def validation_set(structures: Sequence[str], size: Sequence[int], count: int, seed: int):
    """Fixed validation samples: images (N, 1, *size) float32 tensor, truths (N, *size) bool, sources,
    voxel sizes (N, 3) mm."""
    rng = np.random.default_rng(seed)
    generator = SampleGenerator(size, structures, rng, ct_studies=3, stir_studies=1, first_seed=VAL_SEED)
    drawn = [generator.draw() for _ in range(count)]
    drawn = [d for d in drawn if d[1].any()]
    images = torch.from_numpy(np.stack([d[0] for d in drawn])[:, None])
    return images, np.stack([d[1] for d in drawn]), [d[2] for d in drawn], [d[3] for d in drawn]


def proposal_condition(images: torch.Tensor, spacings: Sequence[Sequence[float]]) -> Condition:
    """The graph-cut proposal channel of each sample of a batch, computed once per set of clicks.

    ``images``: (B, 1, *S) model units; ``spacings``: (B, 3) mm.
    """
    arrays = images[:, 0].cpu().numpy()
    done: dict[tuple, np.ndarray] = {}

    def condition(b: int, clicks) -> np.ndarray:
        key = (b, tuple(clicks))
        if key not in done:
            done[key] = proposal(arrays[b], clicks, spacings[b])[None]
        return done[key]

    return condition


def validate(network, images, truths, sources, seed: int, spacings=None) -> dict:
    """Mean Dice after 1, 3, 5 clicks, overall and per source; ``score`` is the overall mean.

    ``spacings`` (N, 3) mm: given, the network takes the graph-cut proposal as a fourth channel.
    """
    rng = np.random.default_rng(seed)
    scores = {n: [] for n in VALIDATION_CLICKS}
    for start in range(0, len(truths), 8):
        condition = None if spacings is None else proposal_condition(images[start:start + 8], spacings[start:start + 8])
        part = dice_after_clicks(network, images[start:start + 8], truths[start:start + 8], VALIDATION_CLICKS, rng,
                                 condition=condition)
        for n in VALIDATION_CLICKS:
            scores[n].append(part[n])
    dice = {n: np.concatenate(v) for n, v in scores.items()}
    names = np.asarray(sources)
    per_source = {s: {str(n): float(dice[n][names == s].mean()) for n in VALIDATION_CLICKS} for s in dict.fromkeys(sources)}
    overall = {str(n): float(dice[n].mean()) for n in VALIDATION_CLICKS}
    return {"dice": overall, "per_source": per_source, "samples": len(sources),
            "score": float(np.mean(list(overall.values())))}


class ProposalOnly(torch.nn.Module):
    """The graph-cut proposal as a network's answer (logit +-20 from channel 3): the bar the proposal model must clear."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20.0 * (x[:, 3:4] - 0.5)


def proposal_only_validation(images, truths, sources, seed: int, spacings) -> dict:
    """:func:`validate` of the graph-cut proposal alone, same samples and click seeds."""
    return validate(ProposalOnly(), images, truths, sources, seed, spacings)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/universal_click_3d")
    parser.add_argument("--minutes", type=float, default=45.0, help="training time budget (wall clock)")
    parser.add_argument("--held-out", default=",".join(HELD_OUT), help="structures never used as a target")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--buffer", type=int, default=48, help="rolling sample buffer size")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-interactions", type=int, default=5)
    parser.add_argument("--ct-studies", type=int, default=20)
    parser.add_argument("--stir-studies", type=int, default=6)
    parser.add_argument("--val-samples", type=int, default=32)
    parser.add_argument("--val-every", type=int, default=200)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--seed", type=int, default=1818)
    parser.add_argument("--proposal", action="store_true",
                        help="the proposal model (lib.universal_click.network.ProposalResidual): the U-Net sees the "
                        "graph-cut proposal as a fourth channel and corrects its vote")
    parser.add_argument("--init", help="start the U-Net from these weights (a 3-channel model's first convolution is "
                        "widened for the proposal channel, which starts from a fresh initialisation; the proposal "
                        "model's output convolution is then set to zero)")
    parser.add_argument("--resume", help="continue training these weights: a whole universal network of the kind "
                        "--proposal asks for (its output convolution kept); not with --init")
    return parser.parse_args(argv)


def resume(network: torch.nn.Module, weights: str | Path) -> None:
    """Load a whole saved universal network of the same kind into ``network`` (fine-tuning).

    Raises:
        SystemExit: the weights are of the other kind (plain vs proposal) or another shape.
    """
    state = read_state(weights, "cpu", "lib.universal_click.train")
    saved = is_proposal_state(state)
    if saved != isinstance(network, ProposalResidual):
        raise SystemExit(f"--resume: {weights} is {'' if saved else 'not '}a proposal model; "
                         f"{'add' if saved else 'drop'} --proposal")
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise SystemExit(f"--resume: {weights} does not fit the network: {error}") from None


def warm_start(network: torch.nn.Module, weights: str | Path) -> None:
    """Load ``weights`` into ``network``, widening the first convolution when the network takes more inputs.

    The old channels keep their weights; new ones keep the network's fresh initialisation.
    """
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = dict(state.get("model", state))
    mine = network.state_dict()
    old, new = state[FIRST_CONV], mine[FIRST_CONV]
    if old.shape != new.shape:
        if old.shape[0] != new.shape[0] or old.shape[1] > new.shape[1] or old.shape[2:] != new.shape[2:]:
            raise SystemExit(f"--init: first convolution {tuple(old.shape)} does not fit {tuple(new.shape)}")
        widened = new.clone()
        widened[:, :old.shape[1]] = old
        state[FIRST_CONV] = widened
    network.load_state_dict(state)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.init and args.resume:
        raise SystemExit("--init and --resume: choose one")
    held_out = [s for s in args.held_out.split(",") if s]
    unknown = [s for s in held_out if s not in ALL_LABELS]
    if unknown:
        raise SystemExit(f"--held-out: unknown structure(s) {unknown}; known: {sorted(ALL_LABELS)}")
    structures = [s for s in ALL_LABELS if s not in held_out]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_determinism(seed=args.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    wall_start = time.time()
    loads = [os.getloadavg()]
    rng = np.random.default_rng(args.seed)
    generator = SampleGenerator(PATCH, structures, rng, ct_studies=args.ct_studies, stir_studies=args.stir_studies,
                                first_seed=TRAIN_SEED)
    images, truths, sources, spacings = validation_set(structures, PATCH, args.val_samples, args.seed + 1)
    val_spacings = spacings if args.proposal else None
    setup_minutes = (time.time() - wall_start) / 60
    print(f"setup {setup_minutes:.1f} min: pool of {len(generator.ct)} CT + {len(generator.stir)} STIR phantoms, "
          f"{len(truths)} validation samples", flush=True)

    proposal_only = proposal_only_validation(images, truths, sources, args.seed + 2, spacings) if args.proposal else None
    if proposal_only is not None:
        print(f"graph-cut proposal alone: {proposal_only['dice']} (score {proposal_only['score']:.3f})", flush=True)
    network = proposal_network() if args.proposal else gaussian_click_net(3)
    if args.resume:
        resume(network, args.resume)
    if args.init:
        warm_start(network.unet if args.proposal else network, args.init)
        if args.proposal:
            zero_output(network.unet)  # the proposal model starts as the graph cut itself
    optimizer = torch.optim.Adam(network.parameters(), lr=args.lr)
    loss_function = dice_loss()
    best = BestCheckpoint(out / "weights.pt", weights_meta(held_out, structures, args.proposal))
    buffer: deque = deque(maxlen=args.buffer)
    history, losses, step, start = [], [], 0, time.time()
    counts: dict[str, int] = {}

    def check() -> None:
        result = validate(network, images, truths, sources, args.seed + 2, val_spacings)
        loads.append(os.getloadavg())
        row = {"step": step, "minutes": (time.time() - start) / 60, "loss": float(np.mean(losses)) if losses else None,
               "val": result["dice"], "score": result["score"], "load": loads[-1][0]}
        if best.offer(network, result["score"], step, result):
            row["best"] = True
        history.append(row)
        losses.clear()
        print(row, flush=True)

    while True:
        image, truth, source, spacing = generator.draw()
        counts[source] = counts.get(source, 0) + 1
        buffer.append((image, truth, spacing))
        chosen = [buffer[-1]] + [buffer[int(rng.integers(len(buffer)))] for _ in range(args.batch_size - 1)]
        batch_images = torch.from_numpy(np.stack([c[0] for c in chosen])[:, None])
        batch_labels = torch.from_numpy(np.stack([c[1] for c in chosen])[:, None].astype(np.float32))
        condition = proposal_condition(batch_images, [c[2] for c in chosen]) if args.proposal else None
        loss, _ = train_step(network, optimizer, loss_function, batch_images, batch_labels, args.max_interactions, rng,
                             condition=condition)
        losses.append(loss)
        step += 1
        done = (time.time() - start) / 60 >= args.minutes or (args.max_steps is not None and step >= args.max_steps)
        if step % args.val_every == 0 or done:
            check()
        if done:
            break

    metrics = {
        "command": "python -m lib.universal_click.train " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "features": list(CPU_FEATURES_3D),
        "parameters": sum(p.numel() for p in network.parameters()),
        "patch": list(PATCH),
        "structures": structures,
        "held_out": held_out,
        "mixture": MIXTURE,
        "samples_drawn": counts,
        "intensity_policies": DESCRIPTIONS,
        "batch_size": args.batch_size, "buffer": args.buffer, "lr": args.lr,
        "max_interactions": args.max_interactions, "seed": args.seed,
        "proposal": bool(args.proposal), "init": args.init, "resume": args.resume,
        "proposal_border": PROPOSAL_BORDER if args.proposal else None,
        "pool": {"ct": len(generator.ct), "stir": len(generator.stir), "train_seed": TRAIN_SEED, "val_seed": VAL_SEED},
        "machine": str(describe_machine()),
        "load_average_1min": [round(load[0], 2) for load in loads],
        "setup_minutes": setup_minutes,
        "train_minutes": (time.time() - start) / 60,
        "wall_minutes": (time.time() - wall_start) / 60,
        "steps": step,
        "best_step": best.step,
        "validation": best.validation,
        "proposal_only_validation": proposal_only,
        "history": history,
    }
    write_run_files(out, metrics, write_model_card)
    return metrics


if __name__ == "__main__":
    main()
