"""Which models the app builds from ``--conf models``."""

import pytest

from apps.radiotherapy.main import selected_models


def test_default_is_every_model_with_weights():
    assert selected_models({}) == ["segmentation"]
    assert selected_models({"models": "all"}) == ["segmentation"]


def test_named_models_are_taken_in_order():
    assert selected_models({"models": " segmentation "}) == ["segmentation"]


def test_unknown_model_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['nope'\].*segmentation"):
        selected_models({"models": "segmentation,nope"})
