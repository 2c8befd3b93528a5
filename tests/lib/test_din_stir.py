"""DIN on MRI STIR: the STIR model space (own thick-slice grid, per-image body-median scaling),
weights that say their modality, and the CT path unchanged."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
import torch

from lib.din.guides import GuideSettings
from lib.din.network import din_network
from lib.din.predict import DinSegmenter, modality_of
from lib.din.preprocess import STIR_RANGE, STIR_SPACING_MM, model_space, prepare_array, stir_intensity
from lib.din.samples import STIR_CLICK_SAMPLER, click_sampler
from lib.din.segmenter import DinHarnessSegmenter, shipped_weights
from lib.evaluation.cases import case_from_phantom
from lib.imaging.prepare import prepare_array as gaussian_click_prepare_array
from lib.interaction.clicks import Click
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.config import stir_config
from lib.phantom.io import save_phantom
from lib.session_cache import SessionCache
from tests.lib.test_din_predict import GuideEcho

TINY_WIDTHS = (2, 3, 4, 5, 6)


def tiny_stir(orientation: str = "LPS", seed: int = 5):
    return generate_phantom(stir_config(seed=seed, shape=(48, 40, 12), orientation=orientation))


def test_stir_intensity_puts_the_body_median_at_0_no_signal_at_minus_1_and_ignores_the_scale():
    rng = np.random.default_rng(0)
    image = np.concatenate([np.full(600, 10.0), rng.normal(100.0, 5.0, 400), [2000.0]]).astype(np.float32)
    scaled = stir_intensity(torch.from_numpy(image)).numpy()
    body = scaled[600:1000]
    assert abs(np.median(body)) < 0.01 and scaled[0] == pytest.approx(10.0 / np.median(image[600:1000]) - 1, abs=1e-3)
    assert scaled.max() == STIR_RANGE[1]  # the outlier is clipped
    assert stir_intensity(torch.zeros(3)).tolist() == [-1.0, -1.0, -1.0]  # no signal, no division by zero
    np.testing.assert_allclose(stir_intensity(torch.from_numpy(7.0 * image)).numpy(), scaled, atol=1e-5)


def test_the_ct_model_space_is_unchanged():
    phantom = generate_phantom(PhantomConfig(seed=2, shape=(40, 32, 12), orientation="oblique"))
    ours = prepare_array(phantom.image, phantom.affine)
    before = gaussian_click_prepare_array(phantom.image, phantom.affine, 3)
    np.testing.assert_array_equal(ours.image.numpy(), before.image.numpy())
    np.testing.assert_allclose(ours.image.affine.numpy(), before.image.affine.numpy())


def test_stir_model_space_keeps_the_thick_slice_grid_and_scales_the_image_by_itself():
    phantom = tiny_stir("LPS")
    prepared = model_space("mri_stir").prepare_array(phantom.image, phantom.affine)
    assert prepared.spatial_shape == phantom.image.shape[1:]  # 2.4 x 2.4 x 7.5 mm: no resampling, only RAS
    np.testing.assert_allclose(np.abs(np.diag(prepared.image.affine.numpy())[:3]), STIR_SPACING_MM)
    values = prepared.image[0].numpy()
    tumour = np.flip(np.flip(phantom.label == 1, 0), 1)  # LPS -> RAS flips i and j
    assert values.min() >= -1.0 and values.max() <= 9.0
    assert abs(np.median(values[values > values.mean()])) < 0.05  # soft tissue at 0
    assert values[tumour].mean() > 1.0  # tumours well above it (small ones blurred into their surroundings)
    assert prepare_array(phantom.image, phantom.affine).spatial_shape != prepared.spatial_shape  # CT: 3 x 3 x 6 mm


def test_unknown_modality_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"modality must be one of \('ct', 'mri_stir'\), got 'pet'"):
        model_space("pet")
    with pytest.raises(ValueError, match="modality"):
        click_sampler("pet")
    assert click_sampler("mri_stir") is STIR_CLICK_SAMPLER


def test_weights_say_their_modality_and_old_ones_are_ct(tmp_path):
    base = {"model": din_network(TINY_WIDTHS).state_dict(), "widths": list(TINY_WIDTHS)}
    torch.save(base, tmp_path / "old.pt")
    torch.save({**base, "modality": "mri_stir"}, tmp_path / "stir.pt")
    torch.save({**base, "modality": "xray"}, tmp_path / "bad.pt")
    assert modality_of(tmp_path / "old.pt") == "ct" and modality_of(tmp_path / "old.pt", "mri_stir") == "mri_stir"
    assert modality_of(tmp_path / "stir.pt") == "mri_stir"
    with pytest.raises(ValueError, match="'xray'"):
        modality_of(tmp_path / "bad.pt")
    harness = DinHarnessSegmenter(tmp_path / "stir.pt")
    assert harness.space.modality == "mri_stir"
    served = DinSegmenter.from_weights(tmp_path / "stir.pt", cache=SessionCache(max_entries=2, max_bytes=10**8))
    assert served.space.cache_tag == "din_mri_stir"


@pytest.mark.parametrize("orientation", ["RAS", "oblique"])
def test_a_click_on_a_stir_study_acts_on_its_voxel(tmp_path, orientation):
    phantom = tiny_stir(orientation)
    path = tmp_path / "stir.nii.gz"
    save_phantom(phantom, path)
    click = tuple(int(v) for v in np.argwhere(phantom.label == 1)[0])
    model = DinSegmenter(GuideEcho(), GuideSettings(), cache=SessionCache(max_entries=2, max_bytes=10**8),
                         modality="mri_stir")
    answer = model.segment(path, [Click(click, True)])
    assert answer.shape == phantom.label.shape
    assert np.unravel_index(answer.argmax(), answer.shape) == click


@pytest.mark.slow
@pytest.mark.skipif(not shipped_weights("din_stir").exists(), reason="models/din_stir not trained")
def test_the_shipped_stir_model_loads_and_segments_a_tumour_it_is_clicked_on():
    phantom = generate_phantom(stir_config(seed=990))  # past the held-out 900+ cases reported
    case = case_from_phantom(phantom, "gtv", "stir_990", margin_mm=30.0)
    din = DinHarnessSegmenter(shipped_weights("din_stir"))
    assert din.space.modality == "mri_stir"
    components = cc3d.connected_components(case.truth, connectivity=26)
    largest = np.argmax(np.bincount(components.ravel())[1:]) + 1
    tumour = components == largest
    centre = np.argwhere(tumour)[np.argmin(((np.argwhere(tumour) - np.argwhere(tumour).mean(0)) ** 2).sum(1))]
    answer = din.segment(case, [Click(tuple(int(v) for v in centre), True)], None) > 0.5
    # most of the clicked tumour, and mostly tumour (others may come along: they are foreground too)
    assert answer[tuple(centre)] and (answer & tumour).sum() > 0.5 * tumour.sum()
    assert (answer & case.truth).sum() > 0.5 * answer.sum()
