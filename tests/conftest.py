"""Test-suite configuration: the long opt-in suites run only when asked for."""

from __future__ import annotations

import pytest

#: Markers whose tests run only when the ``-m`` expression names them (they take
#: minutes; CI runs each with ``-m NAME``).
OPT_IN = ("calibration", "differential", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the opt-in suites' tests unless the ``-m`` expression names them."""
    expr = config.option.markexpr or ""
    skipped = [m for m in OPT_IN if m not in expr]
    kept = [item for item in items if not any(item.get_closest_marker(m) for m in skipped)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
