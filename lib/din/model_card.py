"""Write a DIN model's card (Markdown) from its training metrics."""

from __future__ import annotations

from pathlib import Path


def write_model_card(metrics: dict, path: Path) -> None:
    """Data, command, time, settings and validation DSC of a trained DIN model."""
    validation = metrics.get("validation") or {"dsc_at_clicks": {}, "score": float("nan")}
    dsc = validation["dsc_at_clicks"]
    ks = sorted(dsc, key=int)
    dim = "both DIM outputs (input + deepest encoder block)" if metrics["deep_guides"] else "DIM output 1 only (input)"
    sampler = metrics["click_sampler"]
    modality = metrics.get("modality", "ct")
    intensity = metrics.get("intensity", "CT [-200, 200] HU -> [-1, 1]")
    phantoms = "CT phantoms" if modality == "ct" else (
        "MRI-STIR-like phantoms (`lib.phantom.config.stir_config`: 144 x 112 x 32 voxels at 2.4 x 2.4 x 7.5 mm, "
        "many small bright nerve-sheath-like tumours, Rician noise)")
    results = "results/din_gtv/" if modality == "ct" else "results/din_stir/"
    lines = [
        f"# DIN: deep interactive network ({metrics['guide']} guides, {dim})",
        "",
        "DIN (`papers/din_deep-interactive-networks-expdt.txt`): an anisotropic 3D U-Net (in-plane (3, 3, 1)",
        "kernels and (2, 2, 1) strides in (X, Y, Z) at the shallow levels, 3 x 3 x 3 deeper, one (2, 2, 2)",
        "downsampling at the deepest level; strided convs down, transposed convs up, InstanceNorm + ReLU)",
        f"with the deep interactive module. Widths {tuple(metrics['widths'])} (paper {tuple(metrics['paper_widths'])}),",
        f"{metrics['parameters']:,} parameters. Guides: `{metrics['guide']}`; ExpDT sigma "
        f"{tuple(metrics['sigma'])} model voxels in (X, Y, Z) order (the paper's (z, y, x) = (1, 5, 5)), "
        f"gamma {metrics['gamma']:g}.",
        f"Model space (`{modality}`): RAS, {tuple(metrics['spacing_mm'])} mm, {intensity}. Output: softmax "
        "over (background, GTV). Weights: `weights.pt` (`{\"model\": state_dict, \"guide\", \"sigma\", "
        "\"gamma\", \"widths\", \"deep_guides\"" + (", \"modality\"" if "modality" in metrics else "") + "}`).",
        "",
        "## Data",
        f"Generated {phantoms} (`lib/phantom`), orientations cycling RAS / LPS / oblique: train seeds "
        f"{metrics['data']['train'][0]}+ ({metrics['data']['train'][1]} cases), validation seeds "
        f"{metrics['data']['val'][0]}+ ({metrics['data']['val'][1]} cases). Seeds 900+ are held out. "
        "Structure: GTV (every tumour of a case is foreground).",
        "",
        "## Training",
        f"- Command: `OMP_NUM_THREADS=1 {metrics['command']}`",
        f"- Time: {metrics['train_minutes']:.1f} min, {metrics['steps']} steps, {metrics['threads']} torch "
        f"thread(s) on {metrics['machine']}",
        f"- Patches {tuple(metrics['patch_size'])} voxels (X, Y, Z), batch {metrics['batch_size']}, half centred on a "
        "tumour, random X / Y flips" + ("; and the paper's in-plane scaling 1-1.25, rotation N(0, 5) degrees, Z flips "
                                       "and gamma 0.7-1.5." if metrics.get("augment") else "."),
        f"- Training clicks (`lib/simulators/din_training.py`): N = {sampler['n']} (up to 11 of each sign), band "
        f"{sampler['band_width']:g}, margin {sampler['margin']:g}, small object {sampler['small_object']}, "
        f"min separation {tuple(sampler['min_separation'])} voxels (the paper's px values converted to mm)"
        + (f"; plus, with probability {sampler['boundary_clicks']:g} per patch, clicks hugging the boundary "
           "(1..3 negatives up to 2 voxels outside, 0..2 positives up to 2 inside; not in the paper: "
           "`lib.din.samples.BoundaryClickSampler`)." if sampler.get("boundary_clicks") else "."),
        f"- Weighted cross-entropy {tuple(metrics['class_weights'])}, Adam lr {metrics['lr']:g} betas "
        f"{tuple(metrics['betas'])}, lr x0.2 after {metrics['patience']} validations without improvement "
        f"(min 1e-6; final lr {metrics['final_lr']:g}), seed {metrics['seed']}.",
        f"- Best checkpoint: step {metrics['best_step']}, by mean validation DSC after 1..{metrics['validation_clicks']} "
        "clicks of DIN's evaluation user (largest error region's centre) on the validation GTVs (30 mm ROI).",
        "",
        "## Validation (best checkpoint)",
        "",
        "| clicks | " + " | ".join(ks) + " |",
        "|---|" + "---|" * len(ks),
        "| DSC | " + " | ".join(f"{dsc[k]:.3f}" for k in ks) + " |",
        "",
        f"Score (mean DSC at 1..{metrics['validation_clicks']} clicks): {validation['score']:.3f}.",
        f"Held-out results (seeds 900+, against the baselines): `{results}`.",
        "Numbers come from `metrics.json`, written by the same command.",
        "",
    ]
    path.write_text("\n".join(lines))
