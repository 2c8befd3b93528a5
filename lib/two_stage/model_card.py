"""Write the 2S-ICR refinement model's card (Markdown) from its training metrics."""

from __future__ import annotations

from pathlib import Path

from lib.segmentation.model_card import held_out_lines

#: The paper's external-set (MDA, N = 67) DSC of 2S-ICR at 0 / 1 / 5 / 10 clicks and the 1-10 average.
PAPER_DSC = {"0": 0.713, "1": 0.762, "5": 0.824, "10": 0.847, "1-10": 0.819}


def write_model_card(metrics: dict, path: Path) -> None:
    """Network, data, command, time and validation DSC after 0..10 clicks of a trained refinement net."""
    validation = metrics["validation"] or {"dsc_at_clicks": {}, "score": float("nan"), "cases": 0}
    dsc = validation["dsc_at_clicks"]
    ks = sorted(dsc, key=int)
    stage1 = ", ".join(f"`{s['path']}`" for s in metrics["stage1"])
    channels = "CT" if metrics["image_channels"] == 1 else "CT, PET"
    lines = [
        f"# 2S-ICR refinement model ({metrics['modality'].upper()})",
        "",
        "Stage 2 (f_IDL) of the two-stage interactive click refinement framework",
        "(`papers/2s-icr_two-stage-interactive-click-refinement.txt`, METHODS.md section 2): input",
        f"{channels}, the previous probability, and positive and negative click maps (Gaussian, sigma",
        "(2, 2, 1) voxels); output one sigmoid channel. Stage 1 (f_DL, frozen): " + stage1 + ".",
        f"MONAI `UNet`, widths {tuple(metrics['channels'])} (paper (16, 32, 64, 128, 256), halved for a",
        f"2-core CPU), strides {tuple(metrics['strides'])}, two residual units; {metrics['parameters']:,} parameters.",
        "Model space: RAS, 3 x 3 x 6 mm (paper 1 mm isotropic), CT [-200, 200] HU -> [-1, 1], PET z-scored.",
        *(["Residual output (not in the paper): logit = logit(previous probability) + UNet(input), so the",
           "net learns the correction of the previous answer (`lib.two_stage.network.ResidualRefinement`)."]
          if metrics.get("residual") else []),
        "Weights: `weights.pt` (`{\"model\": state_dict, \"image_channels\", \"channels\", ...}`).",
        "",
        "## Data",
        "Generated phantoms (`lib/phantom`), orientations cycling RAS / LPS / oblique: train seeds "
        f"{metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), validation "
        f"{metrics['data']['val'][0]}+ ({metrics['data']['val'][1]}), held out {metrics['data']['test'][0]}+ "
        f"({metrics['data']['test'][1]}, never trained on).",
        f"Training crops: the GTV's (and stage 1's answer's) bounding box + a random "
        f"{metrics['train_margin_mm'][0]:g}..{metrics['train_margin_mm'][1]:g} mm margin, sides multiples of 8.",
        "",
        "## Training (paper section 4.3, scaled)",
        f"- Command: `{metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min training + {metrics['prep_minutes']:.1f} min preparation "
        f"(stage 1 on every case, cached), {metrics['steps']} optimiser steps in {metrics['iterations']} "
        f"iterations, on {metrics['machine']}",
        *([f"- Continued from `{metrics['init']}`" + (
            f", itself trained by `{metrics['init_metrics']['command']}` ({metrics['init_metrics']['train_minutes']:.1f}"
            f" min, {metrics['init_metrics']['steps']} steps, lr {metrics['init_metrics']['lr']:g}): "
            f"{metrics['init_metrics']['train_minutes'] + metrics['train_minutes']:.1f} min, "
            f"{metrics['init_metrics']['steps'] + metrics['steps']} steps in all."
            if metrics.get("init_metrics") else ".")] if metrics.get("init") else []),
        *([f"- Warm start: the refinement net started as stage 1 (`{metrics['warm_start']}`): image-channel "
           "weights copied, previous-mask and click channels at 0, the output as stage 1's GTV-minus-background "
           "logit (the paper trains stage 2 from scratch; on this CPU budget from scratch did worse, see the "
           "report)."] if metrics.get("warm_start") else []),
        f"- An optimiser step at every simulated interaction, {metrics['interactions'][0]}..{metrics['interactions'][1]}"
        " interactions per iteration (uniform), border-distance clicks (DeepGrow / 2S-ICR simulator), the first",
        "  from stage 1's answer; batch 1.",
        f"- Mask dropout p = {metrics['mask_dropout']:g} (previous mask -> 0.5 volume); Dice + BCE; AdamW lr "
        f"{metrics['lr']:g} (paper 1e-4) with cosine decay to 0 over the run, weight decay {metrics['weight_decay']:g}.",
        "- Augmentation: affine (rotation 45 degrees, scale and shear 0.1, translation (8, 8, 4) voxels; p 0.5),",
        "  mirroring per axis (p 0.5); CT: gamma 0.5..1.5, shift 0.1, noise 0.1, smoothing (p 0.25 each).",
        f"- Best checkpoint: step {metrics['best_step']}, by mean validation DSC over clicks 1..10 "
        "(paper: by DSC with 10 interactions; early stopping 50 epochs, not reached in this budget).",
        "",
        f"## Validation DSC after k border-distance clicks ({validation['cases']} cases, "
        f"{metrics['val_margin_mm']:g} mm ROI, best checkpoint)",
        "",
        "| " + " | ".join(f"k={k}" for k in ks) + " | 1-10 mean |",
        "|" + "---|" * (len(ks) + 1),
        "| " + " | ".join(f"{dsc[k]:.3f}" for k in ks) + f" | {validation['score']:.3f} |",
        "",
        "k = 0 is stage 1's answer (Algorithm 1). Paper (real PET-CT, external set): "
        + ", ".join(f"{k}: {v:.3f}" for k, v in PAPER_DSC.items()) + ".",
        f"Held-out results of the evaluation harness: `results/two_stage_{metrics['modality']}/`.",
        "Numbers come from `metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))


def write_stage1_card(metrics: dict, path: Path) -> None:
    """Card of a PET-CT stage 1 (:mod:`lib.two_stage.train_stage1`): network, data, command, held-out Dice."""
    best = [row for row in metrics["history"] if row.get("best")]
    lines = [
        "# 2S-ICR stage 1, PET-CT (automatic model: GTV + heart)",
        "",
        "Stage 1 (f_DL) of 2S-ICR on PET-CT: the automatic model's 3D MONAI UNet (strides (1, 2, 2, 2),",
        f"two residual units, widths {tuple(metrics['channels'])}; {metrics['parameters']:,} parameters) with",
        f"{metrics['in_channels']} input channels: CT windowed to [-200, 200] HU -> [-1, 1], PET z-scored; RAS,",
        "3 x 3 x 6 mm. Output: background, GTV (1), heart (2). Weights: `stage1.pt`",
        "(`{\"model\": state_dict, \"arch\", \"in_channels\"}`); the folder's `weights.pt` is the refinement net.",
        "",
        "## Data",
        "Generated PET-CT phantoms (`lib/phantom`, `pet=True`; PET in SUV), orientations cycling RAS / LPS / oblique:",
        f"train seeds {metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), "
        f"validation {metrics['data']['val'][0]}+ ({metrics['data']['val'][1]}), "
        f"held-out test {metrics['data']['test'][0]}+ ({metrics['data']['test'][1]}).",
        "",
        "## Training",
        f"- Command: `{metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min on {metrics['machine']}",
        f"- Epochs run: {len(metrics['history'])}; patches 64 x 64 x 32, Dice + CE, AdamW lr {metrics['lr']:g}, "
        "cosine; best by validation Dice (GTV + heart)"
        + (f", epoch {best[-1]['epoch']}." if best else "."),
        *([f"- Warm start: the CT automatic model `{metrics['warm_start']}` (CT weights copied, PET input "
           "weights at 0: the start is the CT model; its own training time is not counted here)."]
          if metrics.get("warm_start") else []),
        "",
        *held_out_lines(metrics["test"]),
        "",
        "Numbers come from `stage1_metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))
