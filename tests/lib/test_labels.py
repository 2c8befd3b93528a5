"""The app's label map (lib.labels) and the phantom generator's own: apart, and in agreement."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lib.labels import BACKGROUND, BY_NAME, LABELS, STRUCTURES, Structure, relabel, value_map
from lib.phantom.config import ALL_LABELS as PHANTOM_ALL_LABELS
from lib.phantom.config import LABELS as PHANTOM_LABELS

REPO = Path(__file__).resolve().parents[2]


def test_the_served_values_are_unchanged():
    assert BACKGROUND == 0 and LABELS == {"gtv": 1, "heart": 2}
    assert [s.name for s in STRUCTURES] == ["gtv", "heart"] and BY_NAME["heart"].value == 2
    assert BY_NAME["gtv"].code == ("86049000", "Neoplasm, Primary")
    assert BY_NAME["heart"].code == ("80891009", "Heart")


def test_the_phantoms_label_files_agree_with_the_app_structure_by_structure():
    """The phantom datastores the trainers and tests read are app labels only while these agree."""
    assert value_map(PHANTOM_LABELS) == {v: v for v in LABELS.values()}
    for name, value in LABELS.items():
        assert PHANTOM_LABELS[name] == value and PHANTOM_ALL_LABELS[name] == value, name


def test_relabel_maps_by_name_and_drops_what_the_app_does_not_contour():
    source = {"heart": 7, "liver": 3, "gtv": 5}
    label = np.array([[0, 7, 3], [5, 5, 9]], dtype=np.uint8)
    out = relabel(label, source)
    assert out.dtype == np.uint8 and out.shape == label.shape
    assert out.tolist() == [[0, LABELS["heart"], 0], [LABELS["gtv"], LABELS["gtv"], 0]]
    assert np.array_equal(relabel(label, PHANTOM_LABELS), np.where(np.isin(label, (1, 2)), label, 0))


def test_a_source_without_an_app_structure_is_refused():
    with pytest.raises(ValueError, match="heart"):
        value_map({"gtv": 1})


def test_a_structure_with_the_background_value_is_refused():
    with pytest.raises(ValueError, match="background"):
        Structure("x", 0, "X", ("1", "a"), ("2", "b"))


def test_the_dicom_seg_codes_come_from_the_label_map():
    from lib.dicom.seg import SEGMENT_CODES

    assert set(SEGMENT_CODES) == set(LABELS)
    category, kind, text = SEGMENT_CODES["gtv"]
    assert (category.value, category.scheme_designator, category.meaning) == (
        "49755003", "SCT", "Morphologically Abnormal Structure")
    assert (kind.value, kind.meaning, text) == ("86049000", "Neoplasm, Primary", "Gross tumour volume")
    category, kind, text = SEGMENT_CODES["heart"]
    assert (category.value, category.meaning) == ("123037004", "Anatomical Structure")
    assert (kind.value, kind.meaning, text) == ("80891009", "Heart", "Heart")


def test_the_phantom_generator_knows_nothing_of_the_app():
    code = ("import sys, lib.phantom, lib.phantom.datastore, lib.phantom.io; "
            "print([m for m in sys.modules if m == 'lib.labels' or m.startswith(('apps', 'infers', 'trainers'))])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (REPO / "lib" / "phantom").glob("*.py"):
        assert "lib.labels" not in path.read_text(), path
