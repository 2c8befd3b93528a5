"""The phantom generator: determinism, labels, contrast, spacing, orientation, modes."""

import nibabel as nib
import numpy as np
import pytest

from lib.phantom import LABELS, PhantomConfig, generate_phantom
from lib.phantom.config import stir_config
from lib.phantom.datastore import main as datastore_main
from lib.phantom.generate import HEART_HU

SMALL = {"shape": (56, 48, 20), "spacing": (6.0, 6.0, 12.0)}


def _world_centroid(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    index = np.argwhere(mask).mean(axis=0)
    return affine[:3, :3] @ index + affine[:3, 3]


def test_same_config_same_arrays_and_other_seed_differs():
    a = generate_phantom(PhantomConfig(seed=5, **SMALL))
    b = generate_phantom(PhantomConfig(seed=5, **SMALL))
    c = generate_phantom(PhantomConfig(seed=6, **SMALL))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.label, c.label)


@pytest.mark.parametrize("seed", range(4))
def test_every_case_has_gtv_and_heart(seed):
    phantom = generate_phantom(PhantomConfig(seed=seed))
    assert phantom.label.dtype == np.uint8
    assert set(np.unique(phantom.label)) == {0, *LABELS.values()}
    assert 50 < (phantom.label == LABELS["gtv"]).sum() < (phantom.label == LABELS["heart"]).sum()


def test_tumour_contrast_is_the_one_asked_for():
    config = PhantomConfig(seed=2, tumour_contrast=30.0, noise=0.0, blur_mm=0.0)
    phantom = generate_phantom(config)
    ct, label = phantom.image[0], phantom.label
    tumour = phantom.tumours[0]
    # The first tumour's non-necrotic voxels are exactly HEART_HU + contrast * its scale.
    values = np.unique(np.round(ct[label == LABELS["gtv"]], 3))
    assert np.isclose(values, HEART_HU + 30.0 * tumour.contrast_scale, atol=1e-3).any()
    assert np.allclose(ct[label == LABELS["heart"]].mean(), HEART_HU, atol=12.0)  # heart + soft texture


def test_noise_level_is_the_one_asked_for():
    quiet = generate_phantom(PhantomConfig(seed=1, noise=0.0, **SMALL)).image[0]
    noisy = generate_phantom(PhantomConfig(seed=1, noise=40.0, **SMALL)).image[0]
    assert np.std(noisy - quiet) == pytest.approx(40.0, rel=0.05)


@pytest.mark.parametrize("orientation, codes", [("RAS", ("R", "A", "S")), ("LPS", ("L", "P", "S"))])
def test_header_orientation_and_spacing(orientation, codes):
    phantom = generate_phantom(PhantomConfig(seed=0, orientation=orientation, spacing=(2.0, 3.0, 7.0), **{
        "shape": SMALL["shape"]}))
    assert nib.aff2axcodes(phantom.affine) == codes
    np.testing.assert_allclose(np.linalg.norm(phantom.affine[:3, :3], axis=0), (2.0, 3.0, 7.0))


def test_oblique_header_is_rotated_not_axis_aligned():
    affine = generate_phantom(PhantomConfig(seed=0, orientation="oblique", **SMALL)).affine
    direction = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    assert np.abs(direction - np.round(direction)).max() > 0.1


def test_the_same_anatomy_sits_at_the_same_world_place_in_every_orientation():
    centroids = []
    for orientation in ("RAS", "LPS", "oblique"):
        phantom = generate_phantom(PhantomConfig(seed=3, orientation=orientation, **SMALL))
        centroids.append(_world_centroid(phantom.label == LABELS["heart"], phantom.affine))
    assert np.abs(np.array(centroids) - centroids[0]).max() < 6.0  # mm, under one voxel
    # The heart is left of the midline: negative x in RAS world.
    assert centroids[0][0] < 0


def test_pet_channel_shows_tumour_uptake():
    phantom = generate_phantom(PhantomConfig(seed=4, pet=True))
    assert phantom.image.shape[0] == 2 and phantom.channel_names == ("ct", "pet")
    pet, label = phantom.image[1], phantom.label
    body = phantom.image[0] > -500
    assert pet[label == LABELS["gtv"]].mean() > 2 * pet[body & (label == 0)].mean()


def test_stir_mode_has_many_small_bright_tumours_on_thick_slices():
    phantom = generate_phantom(stir_config(seed=1))
    assert len(phantom.tumours) >= 6
    assert phantom.config.spacing[2] >= 3 * phantom.config.spacing[0]
    signal, label = phantom.image[0], phantom.label
    assert np.median(signal[label == LABELS["gtv"]]) > 3 * np.median(signal[(label == 0) & (signal > 50)])


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="orientation"):
        PhantomConfig(orientation="XYZ")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spacing"):
        PhantomConfig(spacing=(1.0, 0.0, 1.0))


def test_datastore_command_writes_images_and_final_labels(tmp_path):
    datastore_main(["--out", str(tmp_path), "--cases", "2", "--first-seed", "10"])
    images = sorted(tmp_path.glob("*.nii.gz"))
    labels = sorted((tmp_path / "labels" / "final").glob("*.nii.gz"))
    assert [p.name for p in images] == [p.name for p in labels] == ["phantom_0010.nii.gz", "phantom_0011.nii.gz"]
    image, label = nib.load(images[0]), nib.load(labels[0])
    assert image.shape == label.shape
    np.testing.assert_allclose(image.affine, label.affine)
    assert set(np.unique(np.asarray(label.dataobj))) == {0, 1, 2}


def test_datastore_command_leaves_the_unlabelled_cases_for_the_user(tmp_path):
    datastore_main(["--out", str(tmp_path), "--cases", "3", "--labelled", "1"])
    assert len(list(tmp_path.glob("*.nii.gz"))) == 3
    assert [p.name for p in (tmp_path / "labels" / "final").glob("*.nii.gz")] == ["phantom_0000.nii.gz"]


def test_organ_labels_are_a_superset_of_the_final_label(tmp_path):
    from lib.phantom.config import ALL_LABELS, ORGAN_LABELS
    from lib.phantom.datastore import write_datastore

    (image,) = write_datastore(tmp_path, 1, 5, organ_labels=True)
    final = np.asarray(nib.load(tmp_path / "labels" / "final" / image.name).dataobj)
    organs = np.asarray(nib.load(tmp_path / "labels" / "organs" / image.name).dataobj)
    assert organs.shape == final.shape
    np.testing.assert_array_equal(organs[final > 0], final[final > 0])  # gtv and heart as in the final label
    assert set(np.unique(organs)) <= {0, *ALL_LABELS.values()}
    for name in ("lung", "liver", "bone"):
        assert (organs == ORGAN_LABELS[name]).sum() > 100, name
    write_datastore(tmp_path / "plain", 1, 5)
    assert not (tmp_path / "plain" / "labels" / "organs").exists()  # only when asked


def test_spinal_canal_label_is_the_whole_canal_the_image_shows():
    """The canal (a 6 mm-radius tube) sits partly inside the spine's ellipse; the image draws the
    canal over the bone there, so its label must too (not leave that part labelled bone)."""
    from lib.phantom.anatomy import draw_anatomy
    from lib.phantom.config import ALL_LABELS

    x, y = draw_anatomy(PhantomConfig(seed=902)).canal.centre  # world mm; the anatomy depends on the seed
    config = PhantomConfig(seed=902, shape=(40, 40, 8), spacing=(1.0, 1.0, 1.0), orientation="RAS",
                           centre_mm=(float(x), float(y), 0.0), noise=0.0, blur_mm=0.0)
    phantom = generate_phantom(config)
    canal = phantom.organs == ALL_LABELS["spinal_canal"]
    per_slice = canal.sum(axis=(0, 1))
    np.testing.assert_allclose(per_slice, np.pi * 6.0**2, rtol=0.08)  # the tube's cross-section, mm^2
    assert np.abs(phantom.image[0][canal] - 15.0).max() < 20.0  # canal HU (plus tissue texture), never bone
