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
from simulator.metrics.stats import Estimate, mean_ci, positive_mean_ci
from simulator.units import YEAR

__all__ = ["SweepResults", "paired_difference", "pareto_front"]

#: Per-replication figures compared between variants: name -> higher is better?
PAIRED = {"availability": True, "downtime_min_per_year": False, "request_availability": True, "tco_per_year": False}


def paired_difference(a: np.ndarray, b: np.ndarray, ea: Estimate | None = None,
                      eb: Estimate | None = None, same_history: bool = True) -> dict[str, Any]:
    """``mean(b - a)`` with its paired 95 % interval, next to the interval the same
    difference would have from two independent runs (half-widths added in quadrature),
    and the gain: how many times narrower pairing makes the interval.

    The paired interval is Hall's over the differences, or, when they all have one sign
    (more redundancy never hurts on the same trace), that of positive samples
    (:func:`~simulator.metrics.stats.positive_mean_ci`: a few replications may hold the
    whole difference). ``ea``, ``eb``: the two variants' own estimates of the figure
    (default: Hall's interval of ``a`` and ``b``), for the independent interval. When
    every replication differs by the same amount but the variants differ in what the
    system stands on (``same_history`` false, see :func:`system_signature`: no
    replication met what they differ in), the replications say nothing about the
    spread, and the paired interval is the independent one."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    paired = _paired_ci(b - a)
    ea = mean_ci(a) if ea is None else ea
    eb = mean_ci(b) if eb is None else eb
    out: dict[str, Any] = {"difference": paired.mean, "ci95": None, "independent_ci95": None, "gain": None}
    if paired.lo is None:
        return out
    if ea.half_width is None or eb.half_width is None:
        out["independent_ci95"] = None
        indep = None
    else:
        indep = math.hypot(ea.half_width, eb.half_width)
        out["independent_ci95"] = [paired.mean - indep, paired.mean + indep]
    if paired.lo == paired.hi and not same_history and (indep is None or indep > 0):  # no spread seen
        out["ci95"] = out["independent_ci95"] or [None, None]
        out["note"] = "every replication differs by the same amount: the interval is the independent runs' one"
        return out
    out["ci95"] = [paired.lo, paired.hi]
    hw = paired.half_width or 0.0
    out["gain"] = indep / hw if hw > 0 and indep is not None else None  # identical in every replication: nothing to compare
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


def _paired_ci(d: np.ndarray) -> Estimate:
    if len(d) and ((d >= 0).all() or (d <= 0).all()):
        sign = 1.0 if (d >= 0).all() else -1.0
        est = positive_mean_ci(sign * d, min_samples=2, what="replications")
        return est if sign > 0 else est.map(lambda x: -x, decreasing=True)
    return mean_ci(d)


def system_signature(model) -> str:
    """Everything the system's figures can depend on: the entry services and all they call
    (their specs), the zones, regions and providers they run in, the common-cause groups
    and repair crews, the traffic and the network. Two variants with the same signature
    have the same system figures in every replication (common random numbers)."""
    seen: list[str] = []
    todo = list(model.entry_services())
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        todo += [c.service for c in model.services[name].calls]
    zones = model.zones()
    used = sorted({z for n in seen for z in model.services[n].replicas})
    places = []
    for z in used:
        p, r = zones[z]
        region = model.providers[p].regions[r]
        places.append((z, repr(region.zones[z].failure), r, repr(region.failure), p, repr(model.providers[p].failure)))
    return repr((sorted((n, repr(model.services[n])) for n in seen), places,
                 repr([g for g in model.common_cause if set(g.members) & set(seen)]), model.repair_crews,
                 repr(model.traffic), repr(model.network), model.horizon_s, model.warmup_s))


def _estimate(res, key: str) -> Estimate | None:
    """A variant's own estimate of a paired figure (with its calibrated interval)."""
    if key == "availability":
        return res.scope(SYSTEM).availability
    if key == "downtime_min_per_year":
        return res.scope(SYSTEM).minutes_per_year
    if key == "request_availability":
        return res.requests["system"]["availability"] if res.requests else None
    block = (res.cost or {}).get("tco_per_year")
    if block is None:
        return None
    lo, hi = block["ci95"] if block["ci95"] is not None else (None, None)
    return Estimate(block["mean"], lo, hi, len(res.records))


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
            same = system_signature(self.results[base].model) == system_signature(self.results[k].model)
            for key in PAIRED:
                if fb[key] is not None and f[key] is not None:
                    row[key] = paired_difference(fb[key], f[key], _estimate(self.results[base], key),
                                                 _estimate(self.results[k], key), same)
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
                        "independent_lo": v["independent_ci95"][0] if v["independent_ci95"] else None,
                        "independent_hi": v["independent_ci95"][1] if v["independent_ci95"] else None,
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
