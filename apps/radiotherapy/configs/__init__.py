"""One ``TaskConfig`` per method; ``CONFIGS`` names them for ``--conf models``."""

from apps.radiotherapy.configs.segmentation import SegmentationConfig

CONFIGS = {"segmentation": SegmentationConfig}
