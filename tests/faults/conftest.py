"""Fault tests (issue #17): real processes started, killed and restarted by the test itself."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/faults/ carries the `faults` marker (select with -m faults, or leave it out)."""
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)
