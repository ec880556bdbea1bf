"""Test-suite configuration: the calibration suite runs only when asked for."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out ``calibration`` tests unless the ``-m`` expression names them (they take
    minutes; CI runs them with ``-m calibration``)."""
    if "calibration" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("calibration") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
