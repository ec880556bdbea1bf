"""The results of a sweep: one :class:`~simulator.results.Results` per variant, the
paired differences against a baseline, the Pareto frontier and the cheapest variant
that meets every SLO."""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import Any

import numpy as np

from simulator.engine.plan import SYSTEM
from simulator.metrics.cost import cost_per_nine
from simulator.metrics.stats import mean_ci
from simulator.units import YEAR

__all__ = ["SweepResults", "paired_difference", "pareto_front"]

#: Per-replication figures compared between variants: name -> higher is better?
PAIRED = {"availability": True, "downtime_min_per_year": False, "request_availability": True, "tco_per_year": False}


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """``mean(b - a)`` with its paired 95 % interval, next to the interval the same
    difference would have from two independent runs (half-widths added in quadrature),
    and the gain: how many times narrower pairing makes the interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    paired = mean_ci(b - a)
    ea, eb = mean_ci(a), mean_ci(b)
    out: dict[str, Any] = {"difference": paired.mean, "ci95": None, "independent_ci95": None, "gain": None}
    if paired.lo is None:
        return out
    indep = math.hypot(ea.half_width or 0.0, eb.half_width or 0.0)
    out["ci95"] = [paired.lo, paired.hi]
    out["independent_ci95"] = [paired.mean - indep, paired.mean + indep]
    hw = paired.half_width or 0.0
    out["gain"] = indep / hw if hw > 0 else None  # identical in every replication: no interval to compare
    return out


def pareto_front(points: list[tuple[float | None, ...]], higher_is_better: tuple[bool, ...]) -> list[bool]:
    """Whether each point is on the Pareto frontier (no other point is at least as good
    in every objective and better in one). ``None`` objectives are left out."""
    keep = [i for i in range(len(higher_is_better)) if all(p[i] is not None for p in points)]

    def score(p):
        return [p[i] if higher_is_better[i] else -p[i] for i in keep]

    scores = [score(p) for p in points]
    out = []
    for i, s in enumerate(scores):
        dominated = any(
            all(o >= v for o, v in zip(t, s, strict=True)) and any(o > v for o, v in zip(t, s, strict=True))
            for j, t in enumerate(scores) if j != i
        )
        out.append(not dominated)
    return out


def _per_replication(res) -> dict[str, np.ndarray | None]:
    recs = res.records
    sys = [r.services[SYSTEM] for r in recs]
    out: dict[str, np.ndarray | None] = {
        "availability": np.array([s.availability for s in sys]),
        "downtime_min_per_year": np.array([s.down_s / s.observed_s * YEAR / 60.0 for s in sys]),
        "request_availability": None,
        "tco_per_year": None,
    }
    snaps = [r.extra.get("requests") for r in recs]
    if snaps and snaps[0] is not None:
        ok = [sum(e["outcomes"]["success"] for e in s["entries"].values()) for s in snaps]
        total = [sum(sum(e["outcomes"].values()) for e in s["entries"].values()) for s in snaps]
        out["request_availability"] = np.array([o / t if t else 1.0 for o, t in zip(ok, total, strict=True)])
    if res.info.cost_model is not None:
        out["tco_per_year"] = np.array([c["tco_per_year"] for c in res.replication_costs])
    return out


class SweepResults:
    """Every variant's results, compared.

    Parameters
    ----------
    names : list of str
        Variant names, in sweep order.
    settings : list of dict
        What each variant changed (path -> value).
    results : list of Results
        Each variant's results (same seed, same replications: common random numbers).
    baseline : str
        The variant the others are compared with.
    """

    def __init__(self, names: list[str], settings: list[dict], results: list, baseline: str, wall_s: float = 0.0):
        self.names, self.settings, self.results, self.baseline = names, settings, results, baseline
        self.wall_s = wall_s

    def plot(self):
        """The variants side by side (availability, p99, downtime) with 95 % CIs."""
        from simulator.plot import compare

        return compare(dict(zip(self.names, self.results, strict=True)))

    def __getitem__(self, name: str):
        return self.results[self.names.index(name)]

    @cached_property
    def _figures(self) -> list[dict[str, np.ndarray | None]]:
        return [_per_replication(r) for r in self.results]

    def _row(self, k: int) -> dict[str, Any]:
        res = self.results[k]
        a = res.availability
        lat = (res.requests or {}).get("system", {}).get("latency_ok") if res.requests else None
        req = res.requests["system"]["availability"].mean if res.requests else None
        cost = res.cost
        return {
            "variant": self.names[k],
            **{p: v for p, v in self.settings[k].items()},
            "availability": a.mean, "availability_lo": a.lo, "availability_hi": a.hi,
            "nines": res.scope().nines,
            "downtime_min_per_year": res.scope().minutes_per_year.mean,
            "request_availability": req,
            "p99_s": lat["p99"] if lat else None,
            "infra_per_month": cost["infrastructure_per_month"]["mean"] if cost else None,
            "downtime_cost_per_year": cost["downtime_per_year"]["mean"] if cost else None,
            "tco_per_year": cost["tco_per_year"]["mean"] if cost else None,
            "verdict": res.verdict if res.slo else None,
        }

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per variant (what :meth:`table` shows)."""
        rows = [self._row(k) for k in range(len(self.results))]
        points = [(r["tco_per_year"], r["availability"], r["p99_s"]) for r in rows]
        front = pareto_front(points, (False, True, False))
        best = self.best
        for r, on in zip(rows, front, strict=True):
            r["pareto"] = on
            r["best"] = r["variant"] == best
        return rows

    @cached_property
    def best(self) -> str | None:
        """The cheapest variant (total cost of ownership, else monthly infrastructure)
        whose every SLO target is met; ``None`` when none is, or nothing is priced."""
        candidates = []
        for k, res in enumerate(self.results):
            if res.slo and res.verdict == "met" and res.cost is not None:
                candidates.append((res.cost["tco_per_year"]["mean"], k))
        return self.names[min(candidates)[1]] if candidates else None

    def table(self):
        """A pandas DataFrame: one row per variant, indexed by name."""
        import pandas as pd

        return pd.DataFrame(self.rows).set_index("variant")

    def differences(self, baseline: str | None = None) -> list[dict[str, Any]]:
        """Each variant minus the baseline, per figure, with paired and independent intervals.

        ``usd_per_extra_nine`` is the extra total cost of ownership per extra nine of
        availability over the baseline (``None`` without a gain or without prices).
        """
        base = self.names.index(baseline or self.baseline)
        fb = self._figures[base]
        out = []
        for k, name in enumerate(self.names):
            if k == base:
                continue
            f = self._figures[k]
            row: dict[str, Any] = {"variant": name, "baseline": self.names[base]}
            for key in PAIRED:
                if fb[key] is not None and f[key] is not None:
                    row[key] = paired_difference(fb[key], f[key])
            rb, rk = self.rows[base], self.rows[k]
            row["per_extra_nine"] = (
                cost_per_nine(rb["tco_per_year"], rb["availability"], rk["tco_per_year"], rk["availability"])
                if rb["tco_per_year"] is not None else None
            )
            out.append(row)
        return out

    def differences_frame(self, baseline: str | None = None):
        """:meth:`differences` flattened into a DataFrame: one row per variant and figure."""
        import pandas as pd

        rows = []
        for d in self.differences(baseline):
            for key in PAIRED:
                if key in d:
                    v = d[key]
                    rows.append({
                        "variant": d["variant"], "figure": key, "difference": v["difference"],
                        "ci95_lo": v["ci95"][0] if v["ci95"] else None, "ci95_hi": v["ci95"][1] if v["ci95"] else None,
                        "independent_lo": v["independent_ci95"][0] if v["ci95"] else None,
                        "independent_hi": v["independent_ci95"][1] if v["ci95"] else None,
                        "gain": v["gain"],
                    })
        return pd.DataFrame(rows)

    def pareto(self):
        """The rows of :meth:`table` on the Pareto frontier (cost, availability, p99)."""
        t = self.table()
        return t[t["pareto"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "best": self.best,
            "variants": [
                {"name": n, "settings": s, "pareto": r["pareto"], "result": res.to_dict()}
                for n, s, r, res in zip(self.names, self.settings, self.rows, self.results, strict=True)
            ],
            "differences": self.differences(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, default=_plain)

    def summary(self) -> str:
        """The variants table and the paired differences as text."""
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 30):
            return f"{self.table()}\n\npaired differences vs {self.baseline}:\n{self.differences_frame()}"

    def __repr__(self) -> str:
        return f"<SweepResults: {len(self.names)} variants, baseline {self.baseline!r}, best {self.best!r}>"

    def _repr_html_(self) -> str:
        return self.table().to_html() + self.differences_frame().to_html()


def _plain(x: Any) -> Any:
    value = float(x)
    return value if math.isfinite(value) else None
