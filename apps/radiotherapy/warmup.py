"""Warm-up at server start: each served infer task answers once, off the request path.

    start_warmup(app)          # from the app's on_init_complete; returns at once

The first request after a start pays what no later one does: torch's first pass through a
network (library and kernel set-up), the first read of an image file and the first write of
an answer. A daemon thread pays it instead, before a user clicks: it writes a tiny generated
study (48 x 48 x 24 voxels; CT, or CT + PET for a PET-CT task; for the slice-edit task a label) to a temporary folder
outside the datastore, calls every served task once on it the way the server calls a task
(image path in the request, no datastore, no annotation event, no saved label), deletes the
folder, and logs one line per task and a closing ``warm-up done`` line. ``/info`` and every
request are served meanwhile: nothing waits for the thread. A task that fails to warm up is
logged and skipped (its first real request then pays the first pass); the server runs on.

``--conf warmup false`` turns it off. :data:`WARMUP` holds the last run's state
(``"state"``: ``"off"`` / ``"running"`` / ``"done"``, and per task the seconds or the error).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lib.labels import LABELS
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_nifti_atomic

logger = logging.getLogger(__name__)

#: The warm-up study: small, so the warm-up costs little CPU (voxels along i, j, k; mm).
STUDY = PhantomConfig(seed=0, shape=(48, 48, 24), spacing=(3.0, 3.0, 6.0))
#: Client id of the warm-up's requests (tasks that keep a last answer per client keep it apart).
CLIENT_ID = "server-warmup"

WARMUP: dict[str, Any] = {"state": "off", "tasks": {}}


def warmup_files(folder: Path) -> tuple[dict[int, Path], Path, list[int]]:
    """Write the warm-up images (CT; CT + PET as (X, Y, Z, 2)) and a label (GTV on its middle
    slice) into ``folder``.

    Returns:
        Image path per channel count (1, 2), the label path and the voxel (i, j, k) at the centre.
    """
    phantom = generate_phantom(replace(STUDY, pet=True))
    centre = [s // 2 for s in STUDY.shape]
    label = np.zeros(STUDY.shape, np.uint8)
    label[centre[0] - 4: centre[0] + 4, centre[1] - 4: centre[1] + 4, centre[2]] = LABELS["gtv"]
    images = {
        1: save_nifti_atomic(phantom.image[0].astype(np.float32), phantom.affine, folder / "warmup.nii.gz"),
        2: save_nifti_atomic(np.moveaxis(phantom.image, 0, -1).astype(np.float32), phantom.affine,
                             folder / "warmup_petct.nii.gz"),
    }
    label_path = save_nifti_atomic(label, phantom.affine, folder / "warmup_label.nii.gz")
    return images, label_path, centre


def warmup_request(name: str, image: Path, label: Path, centre: list[int]) -> dict[str, Any]:
    """The request the server would hand task ``name``: a click at ``centre`` for click tasks, the
    uploaded ``label`` with its edited slice for slice propagation, nothing more for others."""
    request: dict[str, Any] = {"model": name, "image": str(image), "client_id": CLIENT_ID, "device": "cpu"}
    if name == "slice_propagation":
        return {**request, "label": str(label), "slices": [centre[2]], "axis": 2}
    if name == "segmentation":
        return request
    return {**request, "label": "gtv", "foreground": [centre], "background": []}


def run_warmup(infers: dict[str, Any], runner: Callable[[Callable[[], Any]], Any] | None = None) -> dict[str, Any]:
    """Call each task of ``infers`` (name -> MONAI Label infer task) once on the warm-up study.

    Args:
        runner: runs each call and returns its result (the inference pool's :meth:`BoundedPool.call`,
            so the threads that answer users are the warm ones); default: in this thread.

    Returns:
        Per task the seconds it took, or the error it raised (as text).
    """
    results: dict[str, Any] = {}
    run = runner or (lambda fn: fn())
    folder = Path(tempfile.mkdtemp(prefix="monailabel_warmup_"))
    try:
        images, label, centre = warmup_files(folder)
        for name, task in infers.items():
            start = time.perf_counter()
            image = images.get(getattr(task, "image_channels", 1), images[1])  # PET-CT tasks want both channels
            try:
                request = warmup_request(name, image, label, centre)
                answer, _ = run(lambda: task(request))  # noqa: B023 (called at once)
                results[name] = {"seconds": round(time.perf_counter() - start, 2)}
                if isinstance(answer, str):
                    Path(answer).unlink(missing_ok=True)
                logger.info(f"warm-up: {name} answered in {results[name]['seconds']} s")
            except Exception as error:  # a warm-up must never stop the server; the first request pays instead
                results[name] = {"error": f"{type(error).__name__}: {error}"}
                logger.warning(f"warm-up: {name} failed ({results[name]['error']}); its first request pays")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def start_warmup(app, runner: Callable[[Callable[[], Any]], Any] | None = None) -> threading.Thread | None:
    """Start the warm-up of ``app``'s infer tasks in a daemon thread, unless ``--conf warmup false``.

    Args:
        app: the MONAI Label app (its ``conf`` and its built infer tasks, ``_infers``).
        runner: where each call runs (see :func:`run_warmup`).

    Returns:
        The started thread, or None when turned off.
    """
    if str(app.conf.get("warmup", "true")).lower() in ("false", "0", "no", "off"):
        logger.info("warm-up: off (--conf warmup false)")
        return None
    infers = dict(getattr(app, "_infers", {}) or {})

    def work() -> None:
        WARMUP.update(state="running", tasks={})
        start = time.perf_counter()
        WARMUP["tasks"] = run_warmup(infers, runner)
        WARMUP["state"] = "done"
        logger.info(f"warm-up done in {time.perf_counter() - start:.1f} s: {WARMUP['tasks']}")

    thread = threading.Thread(target=work, name="warmup", daemon=True)
    thread.start()
    return thread


__all__ = ["CLIENT_ID", "STUDY", "WARMUP", "run_warmup", "start_warmup", "warmup_files", "warmup_request"]
