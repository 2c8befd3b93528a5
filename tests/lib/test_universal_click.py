"""The universal click model's pieces: intensity policies, the training data generator,
AutoZoom regions and the checkpoint helper (stand-in networks; accuracy is the harness's job)."""

from __future__ import annotations

import numpy as np
import torch

from lib.imaging.intensity import choose_policy, normalise, percentile_range
from lib.interaction.clicks import Click
from lib.phantom.config import PhantomConfig
from lib.phantom.generate import generate_phantom
from lib.synth.appearance import synthesise
from lib.synth.samples import SampleGenerator
from lib.synth.scene import random_scene
from lib.training import BestCheckpoint
from lib.universal_click.space import MAX_ZOOM_STEPS
from lib.universal_click.zoom import Region, from_model, prepare, resolution_ceiling_mask, segment, to_model


class GuidanceEcho(torch.nn.Module):
    """Logit = 20 * (foreground guidance - 0.5): foreground exactly near the clicks."""

    def forward(self, x):
        return 20.0 * (x[:, 1:2] - 0.5)


class Everything(torch.nn.Module):
    """Foreground everywhere: the answer always touches the region's border."""

    def forward(self, x):
        return torch.ones_like(x[:, :1]) * 10.0


def test_policy_is_ct_for_hu_and_percentile_for_inverted_or_mri():
    ct = generate_phantom(PhantomConfig(seed=3)).image[0]
    assert choose_policy(ct) == "ct"
    assert choose_policy(-ct) == "percentile"
    assert choose_policy(ct, "percentile") == "percentile"
    mri = np.zeros((20, 20, 20), np.float32)
    mri[5:15, 5:15, 5:15] = 300.0
    mri[8:12, 8:12, 8:12] = 900.0
    low, high = percentile_range(mri)
    assert low >= 300.0 and high <= 900.0  # the zero background is not the scale
    values = normalise(mri, "percentile")
    assert values[10, 10, 10] > values[6, 6, 6] > values[0, 0, 0]


def test_scenes_and_samples_have_a_target_and_finite_images():
    rng = np.random.default_rng(0)
    scene = random_scene((32, 32, 16), rng)
    assert scene.truth.sum() >= 20
    image = synthesise(scene.labels, scene.spacing, rng)
    assert image.shape == (32, 32, 16) and np.isfinite(image).all()
    generator = SampleGenerator((32, 32, 16), ["heart", "lung"], rng, ct_studies=1, stir_studies=0)
    for _ in range(4):
        image, truth, source = generator.sample()
        assert image.shape == truth.shape == (32, 32, 16) and np.isfinite(image).all()
        assert source in generator.mixture


def test_resampling_round_trip_is_exact_at_zoom_one_and_coarser_when_zoomed():
    truth = np.zeros((40, 40, 20), bool)
    truth[10:30, 12:28, 5:15] = True
    native = Region((0, 0, 0), (48, 48, 32), (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(resolution_ceiling_mask(truth, native), truth)
    zoomed = Region((0, 0, 0), (16, 16, 16), (2.5, 2.5, 1.25))
    assert to_model(truth.astype(np.float32), zoomed, 0.0).shape == (16, 16, 16)
    assert from_model(np.zeros((16, 16, 16), np.float32), zoomed, truth.shape).shape == truth.shape


def test_click_lands_on_its_voxel_in_an_oblique_lps_image():
    phantom = generate_phantom(PhantomConfig(seed=1, orientation="LPS"))
    prepared = prepare(phantom.image, phantom.affine)
    click = Click((40, 30, 20), True)
    answer = segment(GuidanceEcho(), prepared, [click])
    assert answer.probability.shape == phantom.label.shape
    assert answer.probability[40, 30, 20] > 0.5
    assert answer.probability[5, 5, 5] < 0.5


def test_autozoom_grows_while_the_answer_touches_the_border_and_stops():
    phantom = generate_phantom(PhantomConfig(seed=1, shape=(200, 200, 80), spacing=(1.0, 1.0, 1.0)))
    prepared = prepare(phantom.image, phantom.affine)
    answer = segment(Everything(), prepared, [Click((100, 100, 40), True)])
    assert 1 < answer.passes <= MAX_ZOOM_STEPS + 1
    assert answer.region.extent[0] > 64


def test_best_checkpoint_writes_only_on_improvement(tmp_path):
    network = torch.nn.Linear(2, 1)
    best = BestCheckpoint(tmp_path / "weights.pt", {"policy": "ct"})
    assert best.offer(network, 0.5, 10)
    assert not best.offer(network, 0.4, 20)
    assert best.step == 10 and torch.load(tmp_path / "weights.pt", weights_only=True)["policy"] == "ct"


def test_the_evaluation_takes_validation_phantoms_apart_from_held_out_ones():
    from lib.universal_click.evaluate import cases_of

    validation = cases_of("3x3x6:ct", 1, ["spinal_canal"], 30.0, first_seed=800)
    held_out = cases_of("3x3x6:ct", 1, ["spinal_canal"], 30.0)
    assert validation[0].case_id.startswith("phantom_0800_spinal_canal")
    assert held_out[0].case_id.startswith("phantom_0900_spinal_canal")


def test_per_structure_table_averages_each_structure_at_each_click_count():
    from lib.universal_click.evaluate import per_structure

    rows = [{"case_id": case, "k": k, "dsc": dsc} for case, k, dsc in [
        ("a", 0, 0.0), ("a", 1, 0.2), ("a", 5, 0.6), ("b", 1, 0.4), ("b", 5, 0.8), ("c", 1, 0.9), ("c", 5, 1.0)]]
    table = per_structure({"m": {"rows": rows}}, {"a": "liver", "b": "liver", "c": "gtv"}, (1, 5, 10))
    assert list(table["m"]) == ["liver", "gtv"]
    assert abs(table["m"]["liver"]["1"] - 0.3) < 1e-9 and abs(table["m"]["liver"]["5"] - 0.7) < 1e-9
    assert table["m"]["gtv"] == {"1": 0.9, "5": 1.0}
    assert "10" not in table["m"]["gtv"]  # no rows that far: left out, not 0
