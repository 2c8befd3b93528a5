"""Train the fusion module of slice-edit propagation for one frozen segmentation network.

    python -m lib.propagation.train_fusion --weights models/segmentation/weights.pt \\
        --out models/propagation_unet --level 2 --minutes 20

As the paper trains it: the base network is frozen; for each training phantom and structure
the simulated user redraws the worst slice of the base prediction (largest Hausdorff
distance; the edit is the true slice), the feature map is updated on that edit
(backpropagation for activations), and the fusion module learns to give, from the original
and the updated features, the right answer on the FAR voxels only (not the edited slice
or its neighbours); loss cross-entropy + Dice there, Adam 1e-3.

The (f, f', truth, far) tuples are computed once (the expensive part: a base prediction and
an optimisation per edit), then the module trains for ``--epochs`` or ``--minutes``. The
best module by validation loss is written to ``<out>/fusion.pt`` with ``metrics.json`` and
a ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from tqdm import tqdm

from lib.atomic import save_weights_atomic, sha256_of
from lib.imaging.prepare import prepare_file
from lib.labels import LABELS
from lib.machine import describe_machine
from lib.phantom.datastore import write_datastore
from lib.propagation.engine import InputCoordinates, PropagationEngine, check_edits
from lib.propagation.fusion import ANCHORS, CPU_EXPANSION, FusionModule
from lib.propagation.split import SplitFeatures
from lib.propagation.update import edit_loss, update_features
from lib.segmentation.evaluate import load_network
from lib.segmentation.predict import predict_file
from lib.segmentation.train import TRAIN_SEED, VAL_SEED
from lib.simulators.slice_editor import worst_slice
from lib.training import write_run_files


@dataclass(frozen=True, eq=False)
class FusionSample:
    """One simulated edit, ready for the fusion module.

    Attributes:
        features: the front's features of the window (f and the fixed context).
        updated: (1, C_f, ...) f after the update on the edit.
        truth: (X, Y, Z) int64 true classes on the window.
        far: (X, Y, Z) bool voxels neither edited nor near the edit (where the loss counts).
    """

    features: SplitFeatures
    updated: torch.Tensor
    truth: torch.Tensor
    far: torch.Tensor


def edited_label(prediction: np.ndarray, truth: np.ndarray, value: int, axis: int, index: int) -> np.ndarray:
    """The prediction with structure ``value`` on slice ``index`` redrawn as in the truth."""
    label = prediction.copy()
    where = [slice(None)] * 3
    where[axis] = index
    plane = label[tuple(where)]
    plane[plane == value] = 0
    plane[truth[tuple(where)] == value] = value
    label[tuple(where)] = plane
    return label


def simulate_samples(
    engine: PropagationEngine, image: Path, truth_path: Path, structures: Sequence[str], axis: int = 2
) -> list[FusionSample]:
    """One sample per structure of one phantom: its worst slice redrawn and propagated."""
    network = engine.split.network
    prediction, _ = predict_file(network, image)
    truth_file = nib.load(str(truth_path))
    truth = np.asarray(truth_file.dataobj).astype(np.uint8)
    spacing = tuple(float(s) for s in truth_file.header.get_zooms()[:3])
    prepared = prepare_file(image, 3)
    grid = InputCoordinates(prepared)
    samples = []
    for name in structures:
        value = LABELS[name]
        edit = worst_slice(prediction == value, truth == value, axis, spacing)
        if edit is None:
            continue
        edits = check_edits(edited_label(prediction, truth, value, axis, edit.index), [edit.index], axis, truth.shape)
        window = engine.choose_window(prepared, grid, edits)
        window_edit = engine._window_edit(grid, window, edits, edit.index)
        if not bool(window_edit.edited.any()):
            continue
        features, _ = engine._features(prepared, window, None)
        updated, _ = update_features(
            engine.split, features.f, features.context, window_edit.target, window_edit.edited, engine.settings
        )
        truth_window = torch.from_numpy(grid.sample(truth, window).astype(np.int64))
        samples.append(FusionSample(features, updated, truth_window, ~window_edit.near))
    return samples


def sample_loss(engine: PropagationEngine, fusion: FusionModule, sample: FusionSample) -> torch.Tensor:
    """Cross-entropy + Dice of the fused answer on the sample's far voxels."""
    fused = fusion(sample.features.f, sample.updated)
    logits = engine.split.back(fused, sample.features.context)
    return edit_loss(logits, sample.truth, sample.far)


def train_fusion(
    engine: PropagationEngine,
    fusion: FusionModule,
    train: list[FusionSample],
    val: list[FusionSample],
    epochs: int,
    minutes: float,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[dict, list[dict]]:
    """Adam on the far-voxel loss; return the best state (validation loss) and the history."""
    for p in engine.split.network.parameters():
        p.requires_grad_(False)
    optimiser = torch.optim.Adam(fusion.parameters(), lr=lr)
    generator = np.random.default_rng(seed)
    best_loss = untrained_val_loss(engine, fusion, val)  # the start (for anchor "updated": the direct update) is a candidate
    best_state, history, start = {k: v.detach().clone() for k, v in fusion.state_dict().items()}, [], time.time()
    for epoch in tqdm(range(1, epochs + 1), desc="fusion epochs", unit="epoch"):
        fusion.train()
        losses = []
        for i in generator.permutation(len(train)):
            optimiser.zero_grad()
            loss = sample_loss(engine, fusion, train[i])
            loss.backward()
            optimiser.step()
            losses.append(float(loss))
        fusion.eval()
        with torch.no_grad():
            val_loss = float(np.mean([float(sample_loss(engine, fusion, s)) for s in val]))
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "val_loss": val_loss, "minutes": (time.time() - start) / 60}
        if val_loss < best_loss:
            best_loss, best_state = val_loss, {k: v.detach().clone() for k, v in fusion.state_dict().items()}
            row["best"] = True
        history.append(row)
        tqdm.write(json.dumps(row))
        if row["minutes"] > minutes:
            break
    return best_state, history


def untrained_val_loss(engine: PropagationEngine, fusion: FusionModule, val: list[FusionSample]) -> float:
    """Validation loss of the module as it is (initialised: the anchor's far answer)."""
    with torch.no_grad():
        return float(np.mean([float(sample_loss(engine, fusion.eval(), s)) for s in val]))


def load_fusion(path: str | Path) -> tuple[FusionModule, dict]:
    """A trained fusion module and its file's metadata (``level``, ``channels``, ``expansion``...)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    module = FusionModule(int(checkpoint["channels"]), int(checkpoint["expansion"]), str(checkpoint.get("anchor", "original")))
    module.load_state_dict(checkpoint["model"])
    return module.eval(), {k: v for k, v in checkpoint.items() if k != "model"}


def _data_line(metrics: dict) -> str:
    data = metrics.get("data")
    if not isinstance(data, dict) or "train" not in data:
        return str(data or "the labelled images given")
    return (
        f"generated CT phantoms, train seeds {data['train'][0]}+ ({data['train'][1]} cases), "
        f"validation {data['val'][0]}+ ({data['val'][1]})"
    )


def _anchor_symbol(metrics: dict) -> str:
    return "f' (the updated features)" if metrics.get("anchor", "original") == "updated" else "f"


def _anchor_words(metrics: dict) -> str:
    return "direct update's" if metrics.get("anchor", "original") == "updated" else "base network's"


def write_card(metrics: dict, path: Path) -> None:
    """The fusion module's model card from its metrics (a plain write: callers go through
    :func:`lib.training.write_run_files`)."""
    m = metrics
    lines = [
        f"# Slice-edit propagation fusion module ({m['arch']}, decoder level {m['level']})",
        "",
        "The mid-level fusion module of 3D fused context propagation (`lib/propagation/fusion.py`):",
        f"two streams (stride 2, {m['expansion']}x channels; the paper uses 8x), trilinear upsampling, join and",
        f"output blocks of three Conv3d + InstanceNorm + ReLU; output added to {_anchor_symbol(m)}. {m['parameters']:,} parameters.",
        f"It belongs to the frozen base network `{m['base_weights']}` split at decoder level {m['level']}",
        f"(f has {m['channels']} channels); with other base weights it must be retrained.",
        "",
        "## Training",
        f"- Command: `{m['command']}`",
        f"- Data: {_data_line(m)}; structures {', '.join(m['structures'])}; "
        f"{m['samples']['train']} / {m['samples']['val']} simulated worst-slice edits (axial), train / validation.",
        f"- Feature update while simulating: {m['update']}",
        f"- Loss: cross-entropy + Dice on far voxels only (beyond {m['near_slices']} slices of the edit); Adam lr {m['lr']}.",
        f"- Time: {m['simulate_minutes']:.1f} min simulating edits + {m['train_minutes']:.1f} min training on {m['machine']}.",
        f"- Epochs: {len(m['history'])}; best validation far-voxel loss {m['best_val_loss']:.4f} "
        f"(untrained module, i.e. the {_anchor_words(m)} far answer: {m['untrained_val_loss']:.4f}"
        + (f"; the base network's: {m['base_far_val_loss']:.4f}" if "base_far_val_loss" in m else "") + ").",
        "",
        "Accuracy on held-out phantoms: `results/slice_propagation*/` (the evaluation harness).",
        "",
    ]
    Path(path).write_text("\n".join(lines))


def simulate_all(
    engine: PropagationEngine, pairs: Sequence[tuple[Path, Path]], structures: Sequence[str], desc: str = "edits"
) -> list[FusionSample]:
    """Samples of every (image, label) pair (see :func:`simulate_samples`)."""
    return [
        s
        for image, label in tqdm(pairs, desc=f"simulating {desc}", unit="case")
        for s in simulate_samples(engine, Path(image), Path(label), structures)
    ]


def fit_fusion(
    weights: str | Path,
    train_pairs: Sequence[tuple[Path, Path]],
    val_pairs: Sequence[tuple[Path, Path]],
    out: Path,
    level: int = 2,
    expansion: int = CPU_EXPANSION,
    structures: Sequence[str] = ("gtv", "heart"),
    epochs: int = 40,
    minutes: float = 20.0,
    lr: float = 1e-3,
    seed: int = 0,
    anchor: str = "updated",
) -> dict:
    """Simulate edits, train, write ``out/fusion.pt`` (atomically, with the base weights'
    SHA-256 and the split's shape) and return the metrics (not yet written).

    Raises:
        ValueError: no training or validation sample could be simulated.
    """
    torch.manual_seed(seed)
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    engine = PropagationEngine(load_network(weights), level)
    start = time.time()
    train = simulate_all(engine, train_pairs, structures, "train edits")
    val = simulate_all(engine, val_pairs, structures, "validation edits")
    if not train or not val:
        raise ValueError(f"no edit to learn from: {len(train)} training and {len(val)} validation samples")
    simulate_minutes = (time.time() - start) / 60
    channels = int(train[0].features.f.shape[1])
    fusion = FusionModule(channels, expansion, anchor)
    untrained = untrained_val_loss(engine, fusion, val)
    base_only = untrained_val_loss(engine, FusionModule(channels, expansion, "original"), val)
    start = time.time()
    best_state, history = train_fusion(engine, fusion, train, val, epochs, minutes, lr, seed)
    meta = {
        "level": level, "channels": channels, "expansion": expansion, "anchor": anchor,
        "arch": checkpoint.get("arch", "unet"),
        "base_sha256": sha256_of(weights),  # the infer task uses the module only with these base weights
    }
    save_weights_atomic(best_state, out / "fusion.pt", **meta)
    return {
        **meta,
        "base_weights": str(weights),
        "parameters": sum(p.numel() for p in fusion.parameters()),
        "structures": list(structures),
        "samples": {"train": len(train), "val": len(val)},
        "update": vars(engine.settings),
        "near_slices": engine.near_slices,
        "lr": lr,
        "machine": str(describe_machine()),
        "simulate_minutes": simulate_minutes,
        "train_minutes": (time.time() - start) / 60,
        "untrained_val_loss": untrained,
        "base_far_val_loss": base_only,
        "best_val_loss": min(r["val_loss"] for r in history),
        "history": history,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="models/segmentation/weights.pt", help="the frozen base network")
    parser.add_argument("--out", default="models/propagation_unet")
    parser.add_argument("--data", default="build/phantoms")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--expansion", type=int, default=CPU_EXPANSION)
    parser.add_argument("--train-cases", type=int, default=32)
    parser.add_argument("--val-cases", type=int, default=6)
    parser.add_argument("--structures", default="gtv,heart")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anchor", choices=ANCHORS, default="updated",
                        help="what the module's correction is added to: f' (the direct update) or f (the base)")
    args = parser.parse_args(argv)

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    data, out = Path(args.data), Path(args.out)
    write_datastore(data / "train", args.train_cases, TRAIN_SEED, prefix="train")
    write_datastore(data / "val", args.val_cases, VAL_SEED, prefix="val")

    def pairs(folder: Path, count: int) -> list[tuple[Path, Path]]:
        return [(p, folder / "labels" / "final" / p.name) for p in sorted(folder.glob("*.nii.gz"))[:count]]

    metrics = fit_fusion(
        args.weights, pairs(data / "train", args.train_cases), pairs(data / "val", args.val_cases), out,
        args.level, args.expansion, args.structures.split(","), args.epochs, args.minutes, args.lr, args.seed,
        args.anchor,
    )
    metrics = {
        "command": "python -m lib.propagation.train_fusion " + shlex.join(sys.argv[1:] if argv is None else argv),
        "data": {"train": [TRAIN_SEED, args.train_cases], "val": [VAL_SEED, args.val_cases]},
        **metrics,
    }
    write_run_files(out, metrics, write_card)
    print(json.dumps({k: metrics[k] for k in ("untrained_val_loss", "best_val_loss", "train_minutes")}))


if __name__ == "__main__":
    main()
