"""Tests of simulator.report_sweep: the sweep tables render whatever intervals are missing."""

from __future__ import annotations

from types import SimpleNamespace

from simulator.report_sweep import differences_table


def test_differences_without_bounds_render_as_dashes():
    """A difference with no interval, or one with unknown bounds, shows '-' (it used to raise TypeError)."""
    diffs = [{
        "variant": "b", "per_extra_nine": None,
        "availability": {"difference": 0.0, "ci95": [None, None], "independent_ci95": None, "gain": None},
        "tco_per_year": {"difference": 5.0, "ci95": None, "independent_ci95": [1.0, 9.0], "gain": None},
    }]
    res = SimpleNamespace(differences=lambda: diffs)
    _, rows = differences_table(res)
    assert [r[3] for r in rows] == ["-", "-"]
    assert [r[4] for r in rows] == ["-", "[1, 9]"]
