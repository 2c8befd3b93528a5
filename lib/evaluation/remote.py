"""A live MONAI Label server as an interactive segmenter (end-to-end evaluation of a deployed app).

The case's image is written once as NIfTI (channels last when there are several, with the
case's affine) and uploaded with ``create_session``; every answer is one infer request on that
session with the clicks as MONAI Label's Slicer and OHIF clients send them,
``{"foreground": [[i, j, k], ...], "background": [...]}``, in voxel indices of the uploaded
file. The returned label file is read back with nibabel, on the same grid.

Only MONAI Label's client library is used (imported when a segmenter is made, so ``lib``
imports nothing from MONAI Label at import time); never the server.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from lib.evaluation.protocol import Case
from lib.interaction.clicks import Click, split_clicks
from lib.phantom.io import save_nifti_atomic


class RemoteSegmenter:
    """:class:`lib.evaluation.protocol.InteractiveSegmenter` answered by a running MONAI Label server.

    Args:
        server: the server's URL.
        model: the infer model's name on that server.
        label_value: the label value of the structure in the server's answer; None takes
            every non-zero voxel as foreground.
        foreground_key: the params key of the foreground clicks (``"foreground"``, or a label
            name for DeepEdit-style models).
        params: extra infer params sent with every request.
        name: the method's name in reports; default ``"server:<model>"``.
    """

    def __init__(
        self,
        server: str = "http://127.0.0.1:8000",
        model: str = "",
        label_value: int | None = None,
        foreground_key: str = "foreground",
        params: Mapping[str, object] | None = None,
        name: str | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must name the server's infer model (--model NAME)")
        from monailabel.client import MONAILabelClient  # the client library only, never the server

        self._folder = Path(tempfile.mkdtemp(prefix="remote_segmenter_"))
        self.client = MONAILabelClient(server, tmpdir=str(self._folder))
        self.model = model
        self.label_value = label_value
        self.foreground_key = foreground_key
        self.params = dict(params or {})
        self.name = name or f"server:{model}"
        self._sessions: dict[str, str] = {}

    def _session(self, case: Case) -> str:
        """The server session holding ``case``'s image, created (uploaded) on first use."""
        if case.case_id not in self._sessions:
            image = case.image[0] if case.image.shape[0] == 1 else np.moveaxis(case.image, 0, -1)
            path = save_nifti_atomic(image.astype(np.float32), case.affine, self._folder / f"{case.case_id}.nii.gz")
            response = self.client.create_session(str(path))
            self._sessions[case.case_id] = response["session_id"]
            path.unlink(missing_ok=True)
        return self._sessions[case.case_id]

    def request_params(self, clicks: Sequence[Click]) -> dict:
        """The infer params for ``clicks``: extra params plus foreground and background points."""
        foreground, background = split_clicks(clicks)
        return {
            **self.params,
            self.foreground_key: [list(p) for p in foreground],
            "background": [list(p) for p in background],
        }

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """The server's answer after ``clicks`` as a (X, Y, Z) float32 mask in {0, 1}."""
        result, _ = self.client.infer(self.model, "", self.request_params(clicks), session_id=self._session(case))
        if not result:
            raise RuntimeError(f"server model {self.model!r} returned no label file for case {case.case_id!r}")
        try:
            label = np.asarray(nib.load(result).dataobj)
        finally:
            Path(result).unlink(missing_ok=True)
        if label.ndim > 3 and all(n == 1 for n in label.shape[3:]):
            label = label.reshape(label.shape[:3])  # (X, Y, Z, 1) as some writers store a label
        if label.shape != case.spatial_shape:
            raise ValueError(
                f"server model {self.model!r} answered shape {label.shape} for case {case.case_id!r}, "
                f"expected the image's (X, Y, Z) shape {case.spatial_shape}"
            )
        mask = label != 0 if self.label_value is None else label == self.label_value
        return mask.astype(np.float32)

    def close(self) -> None:
        """Remove this segmenter's server sessions and temporary files."""
        for session_id in self._sessions.values():
            try:
                self.client.remove_session(session_id)
            except Exception:  # noqa: BLE001  (a session the server already expired is fine)
                pass
        self._sessions.clear()
        shutil.rmtree(self._folder, ignore_errors=True)
