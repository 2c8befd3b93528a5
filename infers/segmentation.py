"""Automatic GTV + heart segmentation: the infer task (the 2S-ICR first stage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from monai.inferers import Inferer
from monai.transforms import SqueezeDimd
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.answer import AnswerTask
from infers.errors import HttpErrors
from lib.labels import LABELS
from lib.segmentation.network import segmentation_unet
from lib.segmentation.transforms import infer_pre_transforms, inferer, restore_to_input_grid


class Segmentation(HttpErrors, AnswerTask, BasicInferTask):
    """Segment GTV (1) and heart (2) on the whole image; the label comes back on the image's own grid."""

    def __init__(self, path: str | Sequence[str], network=None, description: str = "Automatic GTV and heart"):
        super().__init__(
            path=path,
            network=network if network is not None else segmentation_unet(),
            type=InferType.SEGMENTATION,
            labels=dict(LABELS),
            dimension=3,
            description=description,
            load_strict=True,
        )
        # Invertd recognises a transform by its identity: pre and post share these instances.
        self._pre_transforms = infer_pre_transforms()

    def pre_transforms(self, data=None) -> Sequence[Callable]:
        return self._pre_transforms

    def inferer(self, data=None) -> Inferer:
        return inferer()

    def post_transforms(self, data=None) -> Sequence[Callable]:
        # The label keeps the input's affine through the inversion; MONAI Label's writer uses it.
        return [*restore_to_input_grid(self.pre_transforms(data)), SqueezeDimd(keys="pred", dim=0)]
