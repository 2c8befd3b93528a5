"""One ``TaskConfig`` per method; ``CONFIGS`` names them for ``--conf models``."""

from apps.radiotherapy.configs.din import DinConfig
from apps.radiotherapy.configs.gaussian_click import GaussianClickConfig
from apps.radiotherapy.configs.online import OnlineConfig
from apps.radiotherapy.configs.segmentation import SegmentationConfig
from apps.radiotherapy.configs.slice_propagation import SlicePropagationConfig
from apps.radiotherapy.configs.two_stage import TwoStageConfig
from apps.radiotherapy.configs.universal_click import UniversalClickConfig

CONFIGS = {
    "segmentation": SegmentationConfig,
    "gaussian_click": GaussianClickConfig,
    "slice_propagation": SlicePropagationConfig,
    "online": OnlineConfig,
    "two_stage": TwoStageConfig,
    "din": DinConfig,
    "universal_click": UniversalClickConfig,
}
