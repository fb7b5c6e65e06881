"""The one reference-code pattern (core.ids.REFERENCE_CODE) and the places that use it."""

from __future__ import annotations

import re

import pytest

from core.errors import ValidationFailed
from core.ids import REFERENCE_CODE, is_reference_code
from evidence.items import check_location


@pytest.mark.parametrize("value", ["S-1", "FORM:12/a", "evidence-store-1", "a" * 64])
def test_codes_are_accepted_everywhere(value) -> None:
    assert is_reference_code(value)
    assert check_location(value) == value


@pytest.mark.parametrize("value", ["", "-S1", "seal 1", "S1\n", "Jane Doe", "a" * 65, "ÄB"])
def test_free_text_is_refused_everywhere(value) -> None:
    assert not is_reference_code(value)
    with pytest.raises(ValidationFailed):
        check_location(value)


def test_the_pattern_is_the_one_that_was_copied() -> None:
    assert REFERENCE_CODE == r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
    assert re.match(REFERENCE_CODE, "S-1") and not re.match(REFERENCE_CODE, "S 1")
