"""The universal click model's card, written from its ``metrics.json``.

    python -m lib.universal_click.model_card models/universal_click_3d   # rewrite the card
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lib.universal_click.click_cut import PROPOSAL_RECUT
from lib.universal_click.proposal import OLD_PROPOSAL_BORDER, PROPOSAL_BORDER


def card_text(m: dict) -> str:
    """The Markdown card of a run's metrics."""
    val = m.get("validation") or {}
    alone = m.get("proposal_only_validation") or {}
    proposal = [
        "## Proposal model",
        "This model is the proposal kind (`lib.universal_click.network.ProposalResidual`): the U-Net also sees "
        "the graph cut of the clicks in its region (`lib.universal_click.proposal`: seed balls, intensity "
        "histograms of the seeds, a click-distance prior, the region border as background where it does not "
        "look like the foreground seeds; no anatomy, no "
        "modality), and its logit is added to the cut's own vote `scale * (2 * cut - 1)`. Its output "
        "convolution started at zero, so before training it answered the graph cut exactly; training "
        f"learned where to overrule it (warm start of the U-Net body: `{m.get('init')}`). Proposal border in "
        f"training: {m.get('proposal_border') or OLD_PROPOSAL_BORDER}; at inference: {PROPOSAL_BORDER} "
        "(chosen on validation phantoms, `lib.universal_click.proposal.BORDER_TOLERANCE`).",
        "",
        "## Click cut (inference)",
        "From the second click on, the network's answer is cut again (`lib.universal_click.click_cut`): its "
        f"logit times {PROPOSAL_RECUT.weight:g} is added to the graph cut's own unary logit (seed intensity histograms times the "
        "click-distance prior) and the region is cut with the seed balls of every click as hard constraints "
        "(the region border a background seed only where the network's answer does not reach it). Later "
        "clicks then move the answer as they move a graph cut, where the network alone hardly moved. Each "
        f"background click beyond the first {PROPOSAL_RECUT.free_background_clicks} (of the session) multiplies the network's weight by "
        f"{PROPOSAL_RECUT.background_decay:g}: a background "
        "click removes what the answer claimed, and on a structure the network does not know it claims the "
        "neighbour, so as such corrections accumulate the clicks' own cut takes over. The "
        "evaluation harness and the served infer task use the same step "
        "(`lib.universal_click.segmenter.answer_clicks`). The weight and its decay were chosen on validation phantoms "
        "(seeds 800-808; see `PROPOSAL_RECUT`); held-out numbers: `results/universal_click_*/`.",
        "",
    ] if m.get("proposal") else []
    lines = [
        "# Universal click model (3D): any structure, any contrast, any resolution",
        "",
        "The Gaussian-click 3D network (MONAI `BasicUNet`, widths "
        f"{tuple(m['features'])}, {m['parameters']:,} parameters; image + foreground + background Gaussian "
        "guidance -> one mask) trained CLASS-AGNOSTICALLY: whatever is clicked is the target.",
        "Weights: `weights.pt` (`{\"model\": state_dict, ...}` with the intensity policies, patch, "
        "held-out structures and guidance recorded beside it).",
        "",
        *proposal,
        "## Intensity policy (per input)",
        *[f"- `{name}`: {text}" for name, text in m["intensity_policies"].items()],
        "- `auto` (default): `ct` when the image's 0.1st percentile lies in [-1200, -700] (air or lung in HU), "
        "else `percentile`; a request may name the policy (`intensity_policy`).",
        "",
        "## Resolution",
        "Inference works in a region around the clicks at the image's own voxel size (RAS order; never finer "
        "than 0.8 mm), starting at 64 x 64 x 32 voxels, growing when the answer touches the region's border "
        "and zooming out (coarser voxels) beyond 128 x 128 x 64 voxels (nnInteractive's AutoZoom idea).",
        "",
        "## Data (generated on the fly)",
        f"Patches {tuple(m['patch'])} voxels (X, Y, Z). Mixture: "
        + ", ".join(f"{k} {v:.2f}" for k, v in m["mixture"].items()) + ".",
        f"Samples drawn: {m.get('samples_drawn')}.",
        "- synthetic: random label scenes (1-6 smooth tissue regions, 0-4 distractor shapes, one target: "
        "blob, tube, thin sheet, hollow shell or several components) at random voxel sizes (in-plane 0.8-3 mm, "
        "slices up to 3.5 x thicker), painted with TorchIO `RandomLabelsToImage` + `RandomBiasField`, "
        "`RandomGamma`, `RandomBlur` (thicker along thick slices), `RandomNoise`, contrast inversion (p 0.25); "
        "random X/Y flips and X/Y swap.",
        f"- phantoms: {m['pool']['ct']} CT (PET-CT configs, CT channel) + {m['pool']['stir']} MRI-STIR phantoms, "
        f"seeds {m['pool']['train_seed']}+, each at a random voxel size (in-plane 2-3.5 mm, slices 2-6 mm), "
        "seen as windowed CT, percentile-normalised CT, inverted CT, SynthSeg-painted tissue labels, or STIR.",
        f"- Targets: {', '.join(m['structures'])} (whole, or one connected component) and the random shapes.",
        f"- **Never a target (held out)**: {', '.join(m['held_out'])}.",
        "",
        "## Training (CPU budget)",
        f"- Command: `{m['command']}`",
        f"- Wall time {m['wall_minutes']:.1f} min (setup {m['setup_minutes']:.1f} min, training "
        f"{m['train_minutes']:.1f} min), {m['steps']} steps, on {m['machine']}.",
        f"- 1-minute load average during the run (sampled at each validation): {m['load_average_1min']} "
        "(other helpers shared the two cores).",
        f"- Gaussian-click procedure: K = {m['max_interactions']} prediction rounds of simulated clicks, then one "
        f"Dice-loss step; batch {m['batch_size']} from a rolling buffer of {m['buffer']} samples (one new sample per "
        f"step); Adam lr {m['lr']}; seed {m['seed']}.",
        f"- Best checkpoint: step {m['best_step']}, by mean validation Dice after 1, 3, 5 clicks on "
        f"{val.get('samples')} fixed samples of the same mixture (phantom seeds {m['pool']['val_seed']}+).",
        "",
        "## Validation (best checkpoint)",
        "",
        "| source | 1 click | 3 clicks | 5 clicks |",
        "|---|---|---|---|",
        *[f"| {s} | {d['1']:.3f} | {d['3']:.3f} | {d['5']:.3f} |" for s, d in (val.get("per_source") or {}).items()],
        *([f"| all | {val['dice']['1']:.3f} | {val['dice']['3']:.3f} | {val['dice']['5']:.3f} |"] if val else []),
        *([f"| all, graph-cut proposal alone (same samples and clicks) | {alone['dice']['1']:.3f} | "
           f"{alone['dice']['3']:.3f} | {alone['dice']['5']:.3f} |"] if alone else []),
        "",
        "Held-out evaluation (unseen structures, contrasts, resolutions, a real image): `results/universal_click_*/`.",
        "Numbers come from `metrics.json`, written by the same command.",
    ]
    return "\n".join(lines) + "\n"


def write_model_card(metrics: dict, path: str | Path) -> None:
    """Write the card of ``metrics`` to ``path``."""
    Path(path).write_text(card_text(metrics))


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "models/universal_click_3d")
    write_model_card(json.loads((folder / "metrics.json").read_text()), folder / "MODEL_CARD.md")
