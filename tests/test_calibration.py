"""How honest are the intervals, measured: coverage of every figure with an interval,
and how often a verdict is wrong, on systems with known answers (``calibration.py``).

Marked ``calibration``: the default run skips it (several minutes on two cores); CI runs
it with ``python -m pytest -m calibration``.
"""

from __future__ import annotations

import re
from pathlib import Path

import calibration as cal
import pytest

pytestmark = pytest.mark.calibration

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("case", cal.CASES, ids=lambda c: c.key)
def test_intervals_cover_the_truth(case):
    """Every figure's 95 % interval contains the truth in at least 93 % of the experiments, at every n."""
    rows = cal.measured(case.key)
    low = [f"{r.figure} ({r.scope}) n={r.n}: {r.coverage:.1%}" for r in rows if r.coverage < cal.MIN_COVERAGE]
    assert not low, "; ".join(low)


@pytest.mark.parametrize("target", cal.TARGETS, ids=lambda t: t.label)
def test_verdicts_are_wrong_at_most_5_percent(target):
    """A target is met or missed only when the interval excludes it: over every experiment
    and n, the verdict that contradicts the truth is given at most 5 % of the time."""
    case = next(c for c in cal.CASES if c.key == target.case)
    for n in case.ns:
        counts = cal.verdicts(target, n)
        total = sum(counts.values())
        assert counts[target.wrong] <= 0.05 * total, (n, counts)


def test_clear_targets_are_decided():
    """Targets far from the truth are decided (not left inconclusive) once the run is large
    enough: the intervals are honest, not uselessly wide."""
    for target in cal.TARGETS:
        if "clearly" not in target.label:
            continue
        case = next(c for c in cal.CASES if c.key == target.case)
        counts = cal.verdicts(target, max(case.ns))
        right = "met" if target.wrong == "missed" else "missed"
        assert counts[right] >= 0.8 * sum(counts.values()), (target.label, counts)


def _readme_cells() -> dict[tuple[str, str, int], float]:
    text = README.read_text(encoding="utf-8")
    part = text.split("<!-- calibration table -->")[1]
    cells = {}
    for line in part.splitlines():
        if not line.startswith("| ") or line.startswith("| system") or line.startswith("|---"):
            continue
        system, figure, coverage = (c.strip() for c in line.strip("|").split("|")[:3])
        for n, pct in re.findall(r"n=(\d+): ([\d.]+)%", coverage):
            cells[(system, figure, int(n))] = float(pct) / 100
    return cells


def test_readme_table_is_the_measured_one():
    """The README's table "How honest are the intervals" is what this suite measures (to 2
    points: a library update may move an experiment or two)."""
    readme = _readme_cells()
    rows = [r for c in cal.CASES for r in cal.measured(c.key)]
    assert len(readme) == len(rows)
    for r in rows:
        where = "" if r.scope == "system" else f" ({r.scope})"
        assert abs(readme[(r.case, r.figure + where, r.n)] - r.coverage) <= 0.02, r
