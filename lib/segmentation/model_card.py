"""Write a model card (Markdown) from the training command's metrics."""

from __future__ import annotations

from pathlib import Path


def _row(name: str, case: dict) -> str:
    return (
        f"| {name} | {case['gtv_dice']:.3f} | {case['gtv_hd95_mm']:.1f} | "
        f"{case['heart_dice']:.3f} | {case['heart_hd95_mm']:.1f} |"
    )


def held_out_lines(test: dict) -> list[str]:
    """The held-out section of a GTV + heart model's card from ``metrics["test"]``
    (``summary`` means and medians, per-case ``cases``)."""
    s = test["summary"]
    return [
        "## Held-out test (measured on each file's own grid)",
        f"- GTV Dice: mean {s['mean_gtv_dice']:.3f}, median {s['median_gtv_dice']:.3f}; "
        f"HD95 mean {s['mean_gtv_hd95_mm']:.1f} mm",
        f"- Heart Dice: mean {s['mean_heart_dice']:.3f}, median {s['median_heart_dice']:.3f}; "
        f"HD95 mean {s['mean_heart_hd95_mm']:.1f} mm",
        "",
        "| case | GTV Dice | GTV HD95 (mm) | heart Dice | heart HD95 (mm) |",
        "|---|---|---|---|---|",
        *(_row(name, case) for name, case in test["cases"].items()),
    ]


def write_model_card(metrics: dict, path: Path) -> None:
    """Data, command, time, held-out Dice and HD95 (per case and mean) of a trained model."""
    if metrics.get("arch", "unet") == "unet":
        network = [
            "A 3D MONAI UNet (2S-ICR stage-1 shape: strides (1, 2, 2, 2), two residual units) with",
            f"widths {tuple(metrics['channels'])} (the paper's (16, 32, 64, 128, 256) halved for a CPU);",
        ]
    elif metrics.get("arch") == "dynunet":
        network = [
            "A 3D MONAI DynUNet (nnU-Net style; strides (1, 2, 2, 2, 1), InstanceNorm) with widths",
            "(8, 16, 32, 64, 128), trained on the same data as the UNet: the second architecture slice-edit propagation is shown on;",
        ]
    else:
        network = [
            "A 3D MONAI SegResNet (8 initial filters, blocks down (1, 2, 2, 4), up (1, 1, 1), InstanceNorm),",
            "trained on the same data as the UNet: the second architecture slice-edit propagation is shown on;",
        ]
    lines = [
        "# Automatic segmentation model (GTV + heart)",
        "",
        *network,
        f"{metrics['parameters']:,} parameters. Input: CT windowed to [-200, 200] HU -> [-1, 1], RAS,",
        "3 x 3 x 6 mm. Output: background, GTV (1), heart (2). Weights: `weights.pt` (`{\"model\": state_dict}`).",
        "",
        "## Data",
        "Generated CT phantoms (`lib/phantom`), orientations cycling RAS / LPS / oblique:",
        f"train seeds {metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), "
        f"validation {metrics['data']['val'][0]}+ ({metrics['data']['val'][1]}), "
        f"held-out test {metrics['data']['test'][0]}+ ({metrics['data']['test'][1]}).",
        "",
        "## Training",
        f"- Command: `{metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min on {metrics['machine']}",
        f"- Epochs run: {len(metrics['history'])}; best by validation Dice (GTV + heart).",
        "",
        *held_out_lines(metrics["test"]),
        "",
        "The automatic model is meant to be useful but imperfect: interaction has something to fix.",
        "Numbers come from `metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))
