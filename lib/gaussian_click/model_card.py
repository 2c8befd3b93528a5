"""Write the Gaussian-click model's card (Markdown) from its training metrics."""

from __future__ import annotations

from pathlib import Path

#: The paper's Dice on spleen (seen) and colon cancer (unseen) at 1 / 2 / 5 / 10 / 15 clicks.
PAPER_DICE = {"spleen (seen)": (0.89, 0.93, 0.95, 0.96, 0.97), "colon cancer (unseen)": (0.64, 0.72, 0.81, 0.87, 0.89)}


def _dice_rows(validation: dict, excluded: list[str]) -> list[str]:
    rows = []
    for structure, by_clicks in validation["dice"].items():
        seen = "unseen in training" if structure in excluded else "trained"
        values = " | ".join(f"{by_clicks[n]:.3f}" for n in sorted(by_clicks, key=int))
        rows.append(f"| {structure} ({seen}) | {validation['samples'][structure]} | {values} |")
    return rows


def _listed(items: list[str]) -> str:
    """``["1", "2", "5"]`` -> ``"1, 2 and 5"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def write_model_card(metrics: dict, path: Path) -> None:
    """Data, command, time and validation Dice after 1, 2 and 5 clicks of a trained model."""
    validation = metrics["validation"]
    clicks = sorted(next(iter(validation["dice"].values())), key=int)
    dims = metrics["dims"]
    window = "whole axial slices (2D)" if dims == 2 else "regions around the clicks (3D)"
    lines = [
        f"# Gaussian-click interactive model ({dims}D)",
        "",
        "The interactive FCN of Sakinis et al. (`papers/gaussian-click_interactive-fcn.txt`): image +",
        "foreground + background Gaussian click guidance (sigma 2 px) -> one structure's mask.",
        "MONAI `BasicUNet` (four 2x2 max-pool down blocks, bottleneck, four 2x2 transposed-conv up",
        f"blocks, two conv + BN + ReLU per block), widths {tuple(metrics['features'])}, "
        f"{metrics['parameters']:,} parameters.",
        f"Model space: RAS, {metrics['spacing_mm']} mm (0 = the input's), CT [-200, 200] HU -> [-1, 1];",
        f"at inference it sees {window}. Weights: `weights.pt` (`{{\"model\": state_dict}}`).",
        *(["After the first foreground click, each click corrects the previous answer only near itself",
           "(`lib/gaussian_click/local_correction.py`; the server does the same when a request uploads",
           "the previous answer)."]
          if dims == 3 else []),
        "",
        "## Data",
        "Generated CT phantoms (`lib/phantom`), orientations cycling RAS / LPS / oblique, one binary",
        f"task per structure: train seeds {metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), "
        f"validation {metrics['data']['val'][0]}+ ({metrics['data']['val'][1]} cases). Seeds 900+ are held out.",
        f"Structures trained: {', '.join(metrics['structures'])}; left out: "
        f"{', '.join(metrics['excluded']) or 'none'}.",
        "",
        "## Training (the paper's procedure)",
        f"- Command: `{metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min, {metrics['steps']} steps on {metrics['machine']}",
        *([f"- Fine-tuned from `{metrics['init']}`."] if metrics.get("init") else []),
        f"- Max interactions K = {metrics['max_interactions']} (click k added with probability 1 - k/K, "
        f"first click against an empty prediction), batch {metrics['batch_size']}, Adam lr {metrics['lr']:g} "
        f"(fixed), Dice loss, seed {metrics['seed']}.",
        f"- Best checkpoint: step {metrics['best_step']} by mean validation Dice of the trained structures "
        f"at {_listed(clicks)} clicks.",
        "",
        "## Validation Dice after n simulated clicks (per window, best checkpoint)",
        "",
        "| structure | windows | " + " | ".join(f"{n} click{'s' if int(n) > 1 else ''}" for n in clicks) + " |",
        "|---|---|" + "---|" * len(clicks),
        *_dice_rows(validation, metrics["excluded"]),
        "",
        "Paper (real CT, 512 x 512 slices, GPUs, hours), Dice at 1 / 2 / 5 / 10 / 15 clicks:",
        *(f"- {name}: {' / '.join(f'{v:.2f}' for v in values)}" for name, values in PAPER_DICE.items()),
        "",
        "Numbers come from `metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))
