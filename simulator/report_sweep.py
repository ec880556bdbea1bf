"""Plain-text tables of a sweep (the CLI wraps them in rich tables)."""

from __future__ import annotations

from typing import Any

from simulator.analysis.sweep_results import PAIRED

__all__ = ["variants_table", "differences_table"]


def _f(x: Any, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _ci(pair: Any, fmt: str) -> str:
    """``[lo, hi]``, or ``-`` when there is no interval (or a bound is unknown)."""
    if pair is None or any(x is None for x in pair):
        return "-"
    return f"[{pair[0]:{fmt}}, {pair[1]:{fmt}}]"


def variants_table(res) -> tuple[list[str], list[list[str]]]:
    """One row per variant: availability, p99, monthly cost, TCO, verdict, frontier marks."""
    headers = ["variant", "availability", "95% CI", "nines", "p99", "infra $/month", "TCO $/year", "SLO", ""]
    rows = []
    for r in res.rows:
        ci = "-" if r["availability_lo"] is None else f"{r['availability_lo']:.6f}-{r['availability_hi']:.6f}"
        mark = "**" if r["best"] else "*" if r["pareto"] else ""
        rows.append([
            r["variant"], _f(r["availability"], ".6f"), ci, _f(r["nines"], ".2f"),
            "-" if r["p99_s"] is None else f"{r['p99_s'] * 1000:.1f} ms",
            _f(r["infra_per_month"], ",.0f"), _f(r["tco_per_year"], ",.0f"), r["verdict"] or "-", mark,
        ])
    return headers, rows


def differences_table(res) -> tuple[list[str], list[list[str]]]:
    """Each variant minus the baseline: paired interval, independent interval, gain."""
    headers = ["variant", "figure", "difference", "paired 95% CI", "independent 95% CI", "gain", "$ per extra nine"]
    rows = []
    for d in res.differences():
        for key in PAIRED:
            if key not in d:
                continue
            v = d[key]
            fmt = ".3g"
            paired, indep = _ci(v["ci95"], fmt), _ci(v["independent_ci95"], fmt)
            gain = "-" if v["gain"] is None else f"{v['gain']:.1f}x"
            nine = _f(d["per_extra_nine"], ",.0f") if key == "tco_per_year" else ""
            rows.append([d["variant"], key, _f(v["difference"], fmt), paired, indep, gain, nine])
    return headers, rows
