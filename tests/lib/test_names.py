"""Names a client may give: single safe path components only."""

import pytest

from lib.names import check_name, is_name


@pytest.mark.parametrize("value", ["phantom_0000", "case-1.2", "1.2.840.113619", "final", "a+b"])
def test_plain_names_pass_unchanged(value):
    assert check_name(value, "image id") == value


@pytest.mark.parametrize("value", ["", "..", ".", "../x", "a/b", "/etc/passwd", "a\\b", ".hidden", "a..b", "a b",
                                   "x" * 201, None, 3, "a\x00b", "~root"])
def test_paths_and_non_names_are_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="label tag"):
        check_name(value, "label tag")
    assert not is_name(value)
