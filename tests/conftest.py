"""Test-suite configuration: the calibration and fuzz suites run only when asked for."""

from __future__ import annotations

import pytest

#: markers whose tests run only when the ``-m`` expression names them (they take minutes;
#: CI runs them with ``-m calibration`` and ``-m fuzz``)
ONLY_WHEN_SELECTED = ("calibration", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out ``calibration`` and ``fuzz`` tests unless the ``-m`` expression names them."""
    expression = config.option.markexpr or ""
    left_out = [m for m in ONLY_WHEN_SELECTED if m not in expression]
    kept = [item for item in items if not any(item.get_closest_marker(m) for m in left_out)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
