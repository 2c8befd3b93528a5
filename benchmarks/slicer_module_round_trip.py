"""DSC before / after one and two propagated edits through the Slicer module's client, and seconds per propagate.

    python -m benchmarks.slicer_module_round_trip --cases 4 --out results/slicer_module_round_trip.json

Held-out phantoms (seeds 900+, orientations cycling RAS / LPS / oblique) in a temporary
datastore, a real ``monailabel start_server`` with ``segmentation,slice_propagation``, and the
module's own ``SlicePropagationLib`` (its client, session and patching, as the Slicer Logic
calls them). Per case: the automatic contour's GTV DSC; the simulated user redraws the
worst GTV slice (most wrong voxels) as the truth, Propagate; then the next worst, Propagate.
Reported: per-case DSCs, the drawn slices' differences, round-trip seconds per propagate,
the machine and its load before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "slicer_module" / "SlicePropagation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from benchmarks.report import emit  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from SlicePropagationLib import (  # noqa: E402
    MonaiLabelClient, PropagationSession, label_map, match_segments, model_labels, read_label, segment_masks,
)


def dsc(mask: np.ndarray, truth: np.ndarray) -> float:
    return float(2 * np.sum(mask & truth) / max(1, mask.sum() + truth.sum()))


def run_case(client: MonaiLabelClient, studies: Path, image_id: str, work: str, edits: int) -> dict:
    """One case: auto contour, then ``edits`` worst-slice redraws, each propagated."""
    info = client.info()
    labels = model_labels(info, "slice_propagation")
    answer, grid = read_label(client.infer("segmentation", image_id, {}, out_dir=work)[0])
    truth, _ = read_label(str(studies / "labels" / "final" / f"{image_id}.nii.gz"))
    gtv = truth == 1
    mapping = match_segments({"gtv": "gtv", "heart": "heart"}, labels)
    masks = segment_masks(answer, mapping)
    session = PropagationSession(client, "slice_propagation", image_id, grid, answer.shape, work)
    session.set_reference(label_map(masks, mapping))
    record = {"image": image_id, "dsc": [dsc(masks["gtv"], gtv)], "seconds": [], "slices": [], "drawn_differences": []}
    for _ in range(edits):
        errors = [int(np.sum(masks["gtv"][k] != gtv[k])) if k not in record["slices"] else -1
                  for k in range(truth.shape[0])]
        k = int(np.argmax(errors))
        masks["gtv"][k] = gtv[k]
        masks["heart"][k] &= ~gtv[k]
        outcome = session.propagate(masks, mapping)
        session.accept(outcome, mapping)
        masks = outcome.patch.masks
        record["slices"].append(k)
        record["seconds"].append(outcome.seconds)
        record["drawn_differences"].append(outcome.patch.drawn_differences)
        record["dsc"].append(dsc(masks["gtv"], gtv))
        record["fusion"] = outcome.result.get("fusion")
    return record


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=900)
    parser.add_argument("--edits", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        studies = root / "datastore"
        write_datastore(studies, cases=args.cases, first_seed=args.first_seed)
        conf = {"models": "segmentation,slice_propagation", "model_dir": root / "model"}
        (root / "work").mkdir()
        with start_server(APP_DIR, studies, conf, root / "server.log",
                          env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")}) as server:
            client = MonaiLabelClient(server.url)
            cases = [run_case(client, studies, f"phantom_{seed:04d}", str(root / "work"), args.edits)
                     for seed in range(args.first_seed, args.first_seed + args.cases)]
    dscs = np.array([c["dsc"] for c in cases])
    seconds = [s for c in cases for s in c["seconds"]]
    report = {
        "what": "GTV DSC after 0, 1, 2 propagated worst-slice edits through SlicePropagationLib against a real server",
        "cases": cases,
        "mean_dsc_by_edits": dscs.mean(axis=0).round(4).tolist(),
        "seconds_per_propagate": {"first_of_case": [c["seconds"][0] for c in cases],
                                  "median": float(np.median(seconds)), "max": float(np.max(seconds))},
        "machine": dataclasses.asdict(describe_machine()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
