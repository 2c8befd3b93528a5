"""Next-sample latency of the strategies from stored scores, on a LocalDatastore of many images.

    python -m benchmarks.next_sample --images 200

Images are small NIfTI files; each gets a stored uncertainty record (with per-slice scores
along all three axes, as the scoring method writes) and a served entry. Prints JSON: per
strategy, median and max ms over ``--repeats`` calls, with the machine and load; and
``route_write``: the write MONAI Label's ``/activelearning`` route does after every answer
(``update_image_info`` of the served entry, which rewrites the whole datastore index, every
stored per-slice score included), the rest of a next-sample request's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from monailabel.datastore.local import LocalDatastore

from lib.active_learning.record import INFO_KEY
from lib.machine import describe_machine
from strategies.models import ServedModels
from strategies.next_image import FirstStrategy, RandomStrategy, UncertaintyStrategy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.images):
            nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(Path(folder) / f"img_{n:04d}.nii.gz"))
        datastore = LocalDatastore(folder, auto_reload=False)
        models = ServedModels({"segmentation": ["models/segmentation/weights.pt"]})
        version = models.version("segmentation")
        rng = np.random.default_rng(0)
        for n, image in enumerate(datastore.list_images()):
            record = {"score": float(rng.random()), "model_version": version, "axis": 2,
                      "slices": {str(a): rng.random(size).round(3).tolist() for a, size in enumerate((112, 96, 40))}}
            datastore._datastore.objects[image].image.info.update(
                {INFO_KEY: {"segmentation": record}, "strategy": {"random": {"ts": int(time.time()) - 60 * n, "client_id": "x"}}})
        strategies = {"uncertainty": UncertaintyStrategy(models), "random": RandomStrategy(), "first": FirstStrategy()}
        out = {"images": args.images, "machine": str(describe_machine()), "load_1min_before": os.getloadavg()[0]}
        for name, strategy in strategies.items():
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                answer = strategy({"strategy": name, "client_id": "y"}, datastore)
                times.append((time.perf_counter() - start) * 1000)
            out[name] = {"median_ms": float(np.median(times)), "max_ms": float(np.max(times)), "answer": answer["id"]}
        times = []
        for n in range(args.repeats):
            start = time.perf_counter()
            datastore.update_image_info(f"img_{n:04d}", {"strategy": {"random": {"ts": int(time.time()), "client_id": "y"}}})
            times.append((time.perf_counter() - start) * 1000)
        out["route_write"] = {"median_ms": float(np.median(times)), "max_ms": float(np.max(times)),
                              "index_bytes": os.path.getsize(Path(folder) / "datastore_v2.json")}
        out["load_1min_after"] = os.getloadavg()[0]
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
