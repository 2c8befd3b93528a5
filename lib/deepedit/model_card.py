"""Write the DeepEdit-style model's card (Markdown) from its training metrics."""

from __future__ import annotations

from pathlib import Path


def write_model_card(metrics: dict, path: Path) -> None:
    """Network, data, command, time and validation DSC after 0..10 clicks of a DeepEdit-style model."""
    validation = metrics["validation"] or {"dsc_at_clicks": {}, "score": float("nan"), "cases": 0}
    dsc = validation["dsc_at_clicks"]
    ks = sorted(dsc, key=int)
    lines = [
        f"# DeepEdit-style model, PET-CT, {100 * metrics['click_free']:g} % click-free iterations",
        "",
        "The single-network reference of 2S-ICR's claim (METHODS.md section 2): ONE network answers",
        "automatically (guidance channels 0) and with clicks (all clicks so far as guidance).",
        "Input: CT ([-200, 200] HU -> [-1, 1]), PET (z-scored), positive- and negative-click maps",
        f"(MONAI `AddGuidanceSignalDeepEditd`, sigma {metrics['sigma']} voxels; clicks for the GTV); output background, GTV, heart (softmax, as stage 1).",
        "MONAI `UNet` of 2S-ICR's shape (widths (8, 16, 32, 64, 128), strides (1, 2, 2, 2), two residual",
        f"units); {metrics['parameters']:,} parameters. Model space: RAS, 3 x 3 x 6 mm. Code: `lib/deepedit/`.",
        "Weights: `weights.pt` (best validation), `last.pt` (end of the run).",
        "",
        "## Data",
        "Generated PET-CT phantoms (`lib/phantom`, `pet=True`), the same as the PET-CT 2S-ICR stages': train seeds "
        f"{metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), validation "
        f"{metrics['data']['val'][0]}+ ({metrics['data']['val'][1]}), held out {metrics['data']['test'][0]}+.",
        "",
        "## Training (DeepEdit's scheme, MONAI's DeepEdit transforms)",
        f"- Command: `{metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min on {metrics['machine']} (the budget of the PET-CT 2S-ICR",
        "  stage 1 and refinement net together); "
        f"{metrics['iterations']} iterations (one optimiser step each, batch 4 patches of 64 x 64 x 32),",
        f"  {metrics['click_free_iterations']} of them click-free, {metrics['interactions']} simulated interactions.",
        "- Clicking iterations: initial seeds from the label (`FindAllValidSlicesMissingLabelsd`,",
        "  `AddInitialSeedPointMissingLabelsd`), then up to "
        f"{metrics['max_interactions']} interactions (the j-th with probability 1 - j / {metrics['max_interactions']}):",
        "  prediction, `FindDiscrepancyRegionsDeepEditd`, `AddRandomGuidanceDeepEditd`, `AddGuidanceSignalDeepEditd`.",
        f"- Dice + CE, AdamW lr {metrics['lr']:g}, weight decay 1e-5, cosine decay to 0 over the time budget.",
        *([f"- Warm start: the CT automatic model `{metrics['warm_start']}` (CT weights copied; PET and guidance "
           "inputs at 0; background and GTV outputs kept), as the PET-CT stage 1."] if metrics.get("warm_start") else []),
        f"- Best checkpoint: iteration {metrics['best_iteration']}, by mean validation DSC over clicks 0..10.",
        "",
        f"## Validation DSC after k border-distance clicks ({validation['cases']} cases, 90 mm ROI, own clicks)",
        "",
        "| " + " | ".join(f"k={k}" for k in ks) + " | 0-10 mean |",
        "|" + "---|" * (len(ks) + 1),
        "| " + " | ".join(f"{dsc[k]:.3f}" for k in ks) + f" | {validation['score']:.3f} |",
        "",
        "Held-out results on 2S-ICR's clicks: `results/two_stage_petct/`.",
        "Numbers come from `metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))
