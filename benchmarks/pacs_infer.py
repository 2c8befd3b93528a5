"""First inference on a PACS series (download + check + convert) against the next ones, through the REST API.

    python -m benchmarks.pacs_infer --repeats 4 --out results/pacs_infer.json

Starts a real Orthanc (apps/radiotherapy/pacs.py) with one phantom study as DICOM (LPS,
112 x 96 x 40 voxels) and a real MONAI Label server with the automatic model on it over
DICOMweb; in the same run a second server serves the same phantom from a NIfTI folder (the
baseline: no PACS). Times are the client's wall time for ``infer("segmentation", ...)``:
the PACS series' first request (download, check, conversion, inference), its next ones
(cached), and the NIfTI ones. The server log's own download time is reported too. JSON on
stdout (and in ``--out``), with the machine, its load average before and after, and torch threads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from monailabel.client import MONAILabelClient  # noqa: E402

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from apps.radiotherapy.pacs import start_orthanc  # noqa: E402
from lib.dicom.phantoms import write_case  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402

SEED = 1  # LPS


def timed_infers(client: MONAILabelClient, image: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.infer("segmentation", image, {})
        times.append(time.perf_counter() - start)
    return times


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4, help="requests per series (the first included)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        case = write_case(SEED, root / "dicom", labelled=False)
        write_datastore(root / "nifti", cases=1, first_seed=SEED, labelled=0)
        conf = {"models": "segmentation", "model_dir": root / "model"}
        with start_orthanc(root / "orthanc") as orthanc:
            orthanc.upload(case.files)
            env = {"MONAI_LABEL_DICOMWEB_USERNAME": orthanc.username, "MONAI_LABEL_DICOMWEB_PASSWORD": orthanc.password,
                   "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache")}
            with start_server(APP_DIR, orthanc.dicomweb_url, conf, root / "pacs.log", env_extra=env) as server:
                pacs = timed_infers(MONAILabelClient(server.url, tmpdir=tmp), case.ct_series_uid, args.repeats)
                log = server.log_path.read_text()
        with start_server(APP_DIR, root / "nifti", conf, root / "nifti.log") as server:
            nifti = timed_infers(MONAILabelClient(server.url, tmpdir=tmp), f"phantom_{SEED:04d}", args.repeats)
    downloads = [float(s) for s in re.findall(r"downloaded series \S+: \d+ instances in ([0-9.]+) s", log)]
    report = {
        "benchmark": "pacs_infer",
        "series": {"voxels": [112, 96, 40], "instances": 40, "orientation": "LPS"},
        "pacs_first_s": pacs[0],
        "pacs_next_s": pacs[1:],
        "pacs_next_median_s": statistics.median(pacs[1:]) if len(pacs) > 1 else None,
        "pacs_downloads_in_log": len(downloads),
        "pacs_download_s": downloads,
        "baseline_nifti_first_s": nifti[0],
        "baseline_nifti_next_s": nifti[1:],
        "first_minus_next_median_s": pacs[0] - statistics.median(pacs[1:]) if len(pacs) > 1 else None,
        "machine": asdict(describe_machine()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
