"""One ``TaskConfig`` per method; ``CONFIGS`` names them for ``--conf models``."""

from apps.radiotherapy.configs.gaussian_click import GaussianClickConfig
from apps.radiotherapy.configs.segmentation import SegmentationConfig

CONFIGS = {"segmentation": SegmentationConfig, "gaussian_click": GaussianClickConfig}
