"""Which models the app builds from ``--conf models``."""

import pytest

from apps.radiotherapy.configs import CONFIGS
from apps.radiotherapy.main import selected_models


def test_default_is_every_model_with_weights():
    with_weights = [name for name, config in CONFIGS.items() if config.has_weights()]
    assert "segmentation" in with_weights  # the shipped automatic model
    assert selected_models({}) == with_weights
    assert selected_models({"models": "all"}) == with_weights


def test_named_models_are_taken_in_order():
    assert selected_models({"models": " gaussian_click , segmentation "}) == ["gaussian_click", "segmentation"]


def test_unknown_model_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['nope'\].*segmentation"):
        selected_models({"models": "segmentation,nope"})
