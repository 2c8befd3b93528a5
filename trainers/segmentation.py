"""Train the automatic GTV + heart model from the datastore's final labels (the server's /train)."""

from __future__ import annotations

import torch
from monai.losses import DiceCELoss
from monai.transforms import Activationsd, AsDiscreted
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from lib.labels import LABELS
from lib.segmentation.transforms import inferer, load_transforms, train_transforms
from trainers.publish import PublishesAtomically


class SegmentationTrainer(PublishesAtomically, BasicTrainTask):
    """Fine-tunes the served model (or trains from scratch) on every image with a final label."""

    def __init__(
        self, model_dir: str, network: torch.nn.Module, publish_path: str, load_path: str | None = None, **kwargs
    ):
        # MONAI Label's own publisher copies non-atomically: publish_path goes to PublishesAtomically.
        super().__init__(
            model_dir,
            description="Train the automatic GTV + heart model on saved final labels",
            load_path=load_path,
            publish_path=publish_path,
            labels=dict(LABELS),
            amp=False,
            disable_meta_tracking=False,
            **kwargs,
        )
        self._network = network

    def network(self, context: Context):
        return self._network

    def optimizer(self, context: Context):
        return torch.optim.AdamW(context.network.parameters(), lr=1e-3, weight_decay=1e-5)

    def loss_function(self, context: Context):
        return DiceCELoss(to_onehot_y=True, softmax=True)

    def train_pre_transforms(self, context: Context):
        return train_transforms()

    def train_post_transforms(self, context: Context):
        return [
            Activationsd(keys="pred", softmax=True),
            AsDiscreted(keys=("pred", "label"), argmax=(True, False), to_onehot=len(LABELS) + 1),
        ]

    def val_pre_transforms(self, context: Context):
        return load_transforms()

    def val_inferer(self, context: Context):
        return inferer()
