"""The results of a run: raw per-replication records plus derived statistics.

:class:`Results` keeps every replication's plain summary and derives estimates with
confidence intervals on demand (cached). It renders as a text table (``summary()``),
an HTML table in notebooks, a pandas DataFrame (``to_frame()``) and the JSON result
contract (``to_dict()`` / ``to_json()``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from simulator.engine.plan import SYSTEM
from simulator.engine.replication import ReplicationRecord
from simulator.metrics.availability import nines
from simulator.metrics.events import downtime_ci, duration_mean_ci, mtbf_ci, rate_ci
from simulator.metrics.quantiles import quantile_ci
from simulator.metrics.requests import combine, request_summary, service_load
from simulator.metrics.stats import Estimate
from simulator.units import YEAR

__all__ = ["Results", "ScopeStats", "RunInfo"]

_MIN_PER_YEAR = YEAR / 60.0


@dataclass(frozen=True)
class RunInfo:
    """What was run: enough to reproduce it."""

    name: str
    seed: int | None
    replications: int
    horizon_s: float
    warmup_s: float
    version: str
    model_hash: str
    backend: str
    entries: tuple[str, ...]
    slo: dict  # scope -> {"availability": fraction, "rto_s": seconds, ...}
    notes: tuple[str, ...] = ()  # where the chosen backend approximates this model
    cost_model: Any = None  # simulator.analysis.cost.CostModel when the model is priced
    unfailing: frozenset = frozenset()  # scopes nothing can take down: their time figures are exact
    own_unfailing: frozenset = frozenset()  # services whose own quorum never fails
    libraries: dict = field(default_factory=dict)  # numpy, scipy, simpy, networkx versions


@dataclass(frozen=True)
class ScopeStats:
    """Availability, downtime and recovery of one service (or of the whole system)."""

    availability: Estimate
    own_availability: Estimate  # the service's own quorum, ignoring its dependencies
    minutes_per_year: Estimate
    outages_per_year: Estimate
    mean_outage_s: Estimate
    mtbf_s: Estimate
    rto_p50_s: Estimate
    rto_p95_s: Estimate

    @property
    def nines(self) -> float | None:
        return None if self.availability.mean is None else nines(self.availability.mean)


def _exact(n: int, value: float) -> Estimate:
    return Estimate(value, value, value, n)


def _scope_stats(records: list[ReplicationRecord], scope: str, info: RunInfo) -> ScopeStats:
    stats = [r.services[scope] for r in records]
    own = [r.own.get(scope, s) for r, s in zip(records, stats, strict=True)]
    observed = np.array([s.observed_s for s in stats])
    down = np.array([s.down_s for s in stats])
    outages = np.array([s.outages for s in stats], dtype=float)
    durations = [np.asarray(s.durations_s, dtype=float) for s in stats]
    n = len(records)
    never = f"nothing in {scope} can fail: no outage to measure"
    if scope in info.unfailing:
        unavailable = _exact(n, 0.0)
        outages_per_year = _exact(n, 0.0)
        mean_outage = mtbf = p50 = p95 = Estimate(None, None, None, n, never)
    else:
        unavailable = downtime_ci(down, observed, durations)
        outages_per_year = rate_ci(outages, observed, per_s=YEAR)
        mean_outage, mtbf = duration_mean_ci(durations), mtbf_ci(observed - down, outages)
        p50 = quantile_ci(durations, 0.50, what="outages")
        p95 = quantile_ci(durations, 0.95, what="outages")
    if scope in info.own_unfailing or scope in info.unfailing:
        own_unavailable = _exact(n, 0.0)
    else:
        own_unavailable = downtime_ci([s.down_s for s in own], observed, [np.asarray(s.durations_s, dtype=float) for s in own])
    return ScopeStats(
        availability=unavailable.map(lambda u: 1.0 - u, decreasing=True),
        own_availability=own_unavailable.map(lambda u: 1.0 - u, decreasing=True),
        minutes_per_year=unavailable.map(lambda u: u * _MIN_PER_YEAR),
        outages_per_year=outages_per_year,
        mean_outage_s=mean_outage,
        mtbf_s=mtbf,
        rto_p50_s=p50,
        rto_p95_s=p95,
    )


def _request_block(rs: dict[str, Any]) -> dict[str, Any]:
    out = {
        "total": rs["requests"],
        "finished": rs["finished"],
        "in_flight": rs["in_flight"],
        "outcomes": rs["outcomes"],
        "attempts_per_call": rs["attempts_per_call"],
        "latency_all_s": rs["latency_all"],
    }
    if "attempts_per_request" in rs:
        out["attempts_per_request"] = rs["attempts_per_request"]
    if "load" in rs:
        out["load"] = rs["load"]
    return out


def _notes(estimates: dict[str, Estimate]) -> dict[str, Any]:
    """``{"notes": {figure: why a bound is missing}}`` when any is, else nothing."""
    notes = {k: e.note for k, e in estimates.items() if e.note}
    return {"notes": notes} if notes else {}


def _num(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return float(x)


class Results:
    """Everything a run produced.

    Parameters
    ----------
    info : RunInfo
        What was run (seed, horizon, model hash...).
    records : list of ReplicationRecord
        One plain summary per replication, in replication order.
    wall_s : float
        Wall-clock time of the run (not part of the JSON, which must be reproducible).
    """

    def __init__(self, info: RunInfo, records: list[ReplicationRecord], wall_s: float = 0.0, model: Any = None) -> None:
        self.info = info
        self.records = sorted(records, key=lambda r: r.index)
        self.wall_s = wall_s
        self.model = model  # the Topology that was run (for plots and variants)

    @property
    def plot(self):
        """Figures of these results: ``results.plot.availability()``, ``.latency_cdf()``,
        ``.topology()``... (see :mod:`simulator.plot`)."""
        from simulator.plot import ResultsPlots

        return ResultsPlots(self)

    def latency_counts(self, scope: str = SYSTEM) -> np.ndarray:
        """Pooled latency histogram (bucket counts) of successful requests of a scope:
        ``system`` (every entry), a traffic entry's label, or a service."""
        from simulator.metrics.histogram import BUCKETS

        out = np.zeros(BUCKETS)
        for r in self.records:
            snap = r.extra.get("requests")
            if snap is None:
                continue
            if scope == SYSTEM:
                parts = list(snap["entries"].values())
            elif scope in snap["services"]:
                parts = [snap["services"][scope]]
            elif scope in snap["entries"]:
                parts = [snap["entries"][scope]]
            else:
                raise KeyError(f"no scope {scope!r}: expected system, a service or a traffic entry")
            for p in parts:
                h = p["latency_ok"]
                np.add.at(out, h.index, h.counts)
        return out

    # -- estimates -------------------------------------------------------------------

    @property
    def services(self) -> list[str]:
        return [k for k in self.records[0].services if k != SYSTEM]

    @cached_property
    def _scopes(self) -> dict[str, ScopeStats]:
        return {s: _scope_stats(self.records, s, self.info) for s in [SYSTEM, *self.services]}

    def scope(self, name: str = SYSTEM) -> ScopeStats:
        """Statistics of one service, or of the system (``"system"``, the default)."""
        try:
            return self._scopes[name]
        except KeyError:
            raise KeyError(f"no service {name!r}; known: {', '.join(self.services)}") from None

    @property
    def availability(self) -> Estimate:
        """Time-based availability of the system (every entry service up)."""
        return self.scope().availability

    @cached_property
    def components(self) -> dict[str, dict[str, float | None]]:
        """Per component group: failures per year, observed MTTR and own availability."""
        out = {}
        for g in self.records[0].groups:
            stats = [r.groups[g] for r in self.records]
            observed = sum(r.observed_s for r in self.records) * stats[0].members
            failures = sum(s.failures for s in stats)
            repairs = sum(s.repairs for s in stats)
            out[g] = {
                "members": stats[0].members,
                "failures_per_year": failures / observed * YEAR if observed else None,
                "mttr_s": sum(s.repair_s for s in stats) / repairs if repairs else None,
                "availability": 1.0 - sum(s.down_s for s in stats) / observed if observed else None,
            }
        return out

    @cached_property
    def requests(self) -> dict[str, Any] | None:
        """Request-based figures (``None`` when no traffic was simulated).

        ``system`` pools every traffic entry; ``entries`` and ``services`` hold the same
        per entry and per service (a service's calls are counted from its callers'
        side, retries included); ``edges`` holds each caller -> callee edge.
        """
        snaps = [r.extra.get("requests") for r in self.records]
        if not snaps or snaps[0] is None:
            return None
        seed = self.info.seed or 0
        observed = self.records[0].observed_s
        system = request_summary([combine(list(s["entries"].values())) for s in snaps], seed)
        total_attempts = sum(sv["attempts"] for s in snaps for sv in s["services"].values())
        system["attempts_per_request"] = total_attempts / system["requests"] if system["requests"] else None
        entries = {e: request_summary([s["entries"][e] for s in snaps], seed) for e in snaps[0]["entries"]}
        services = {}
        for name in snaps[0]["services"]:
            per_rep = [s["services"][name] for s in snaps]
            services[name] = {**request_summary(per_rep, seed), "load": service_load(per_rep, observed)}
        edges = {}
        for name in snaps[0]["edges"]:
            per_rep = [s["edges"][name] for s in snaps]
            calls = sum(p["calls"] for p in per_rep)
            attempts = sum(p["attempts"] for p in per_rep)
            edges[name] = {
                "calls": calls,
                "attempts": attempts,
                "retries": sum(p["retries"] for p in per_rep),
                "amplification": attempts / calls if calls else None,
                "breaker_rejected": sum(p["breaker_rejected"] for p in per_rep),
                "budget_denied": sum(p["budget_denied"] for p in per_rep),
                "breaker_opened": sum(p["breaker_opened"] for p in per_rep),
                "breaker_open_fraction": sum(p["breaker_open_s"] for p in per_rep) / (observed * len(per_rep)),
            }
        return {"system": system, "entries": entries, "services": services, "edges": edges}

    def timeline_data(self):
        """The timeline of all replications added up (``None`` if none was recorded)."""
        parts = [r.extra.get("timeline") for r in self.records]
        if not parts or parts[0] is None:
            return None
        total = parts[0]
        for p in parts[1:]:
            total = total.add(p)
        return total

    def timeline(self):
        """What users saw over time, pooled over replications: one row per bin.

        Columns: requests per second, success ratio, p50 / p99 latency of successful
        requests; indexed by the bin's start (seconds).
        """
        import pandas as pd

        tl = self.timeline_data()
        if tl is None:
            raise ValueError("no timeline was recorded: run with timeline=... (e.g. '10s')")
        reps = len(self.records)
        return pd.DataFrame(
            {
                "requests_per_s": tl.requests / (tl.width_s * reps),
                "success_ratio": tl.success_ratio(),
                "p50_s": tl.quantile(0.5),
                "p99_s": tl.quantile(0.99),
            },
            index=pd.Index(tl.times, name="time_s"),
        )

    def _request_scope(self, scope: str) -> dict[str, Any] | None:
        req = self.requests
        if req is None:
            return None
        return req["system"] if scope == SYSTEM else req["services"].get(scope)

    @cached_property
    def slo(self) -> dict[str, dict[str, Any]]:
        """Each target with its estimate, interval and verdict (met / missed / inconclusive)."""
        from simulator.slo import judge

        return judge(self)

    @property
    def verdict(self) -> str:
        """``missed`` if any target is missed, else ``inconclusive`` if any is, else ``met``."""
        verdicts = {v["verdict"] for v in self.slo.values()}
        if "missed" in verdicts:
            return "missed"
        if "inconclusive" in verdicts:
            return "inconclusive"
        return "met"

    @cached_property
    def cost(self) -> dict[str, Any] | None:
        """The ``cost`` block: monthly infrastructure, yearly downtime cost and TCO, with
        95 % intervals (``None`` when the model has no ``pricing`` section)."""
        from simulator.analysis.cost import cost_block

        return cost_block(self.info.cost_model, self.replication_costs, self.scope().minutes_per_year)

    @cached_property
    def replication_costs(self) -> list[dict[str, float]]:
        """Each replication's cost figures (empty when the model has no ``pricing``)."""
        from simulator.analysis.cost import replication_cost

        cm = self.info.cost_model
        return [] if cm is None else [replication_cost(cm, r) for r in self.records]

    # -- exports ---------------------------------------------------------------------

    def _scope_dict(self, name: str) -> dict[str, Any]:
        st = self.scope(name)
        rs = self._request_scope(name)
        downtime = {"minutes_per_year": st.minutes_per_year, "outages_per_year": st.outages_per_year,
                    "mean_outage_s": st.mean_outage_s, "mtbf_s": st.mtbf_s}
        recovery = {"rto_p50_s": st.rto_p50_s, "rto_p95_s": st.rto_p95_s}
        return {
            "availability": {
                "time": {**st.availability.to_dict(), "nines": _num(st.nines)},
                "requests": None if rs is None else rs["availability"].to_dict(),
                **({} if name == SYSTEM else {"own": st.own_availability.to_dict()}),
            },
            "downtime": {
                **{k: _num(e.mean) for k, e in downtime.items()},
                "ci95": {k: e.ci95() for k, e in downtime.items()},
                **_notes(downtime),
            },
            "recovery": {
                "mttr_s": _num(st.mean_outage_s.mean),
                **{k: _num(e.mean) for k, e in recovery.items()},
                "ci95": {k: e.ci95() for k, e in recovery.items()},
                **_notes(recovery),
            },
            "latency_s": None if rs is None else rs["latency_ok"],
            **({} if rs is None else {"requests": _request_block(rs)}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON result contract (see the README); reproducible for a given seed."""
        info = self.info
        return {
            "name": info.name,
            "seed": info.seed,
            "replications": info.replications,
            "horizon_s": info.horizon_s,
            "warmup_s": info.warmup_s,
            "version": info.version,
            "versions": {"failsim": info.version, **info.libraries},
            "model_hash": info.model_hash,
            "backend": info.backend,
            "notes": list(info.notes),
            "entries": list(info.entries),
            **self._scope_dict(SYSTEM),
            "services": {s: self._scope_dict(s) for s in self.services},
            **({} if self.requests is None else self._traffic_dict()),
            "components": self.components,
            "cost": self.cost,
            "slo": self.slo,
            "verdict": self.verdict if self.slo else None,
        }

    def _traffic_dict(self) -> dict[str, Any]:
        req = self.requests
        assert req is not None
        return {
            "entries": {
                e: {
                    "availability": {"requests": v["availability"].to_dict()},
                    "latency_s": v["latency_ok"],
                    "requests": _request_block(v),
                }
                for e, v in req["entries"].items()
            },
            "edges": req["edges"],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_frame(self):
        """One row per scope (``system`` then each service) with estimates and intervals."""
        import pandas as pd

        rows = []
        for name in [SYSTEM, *self.services]:
            st = self.scope(name)
            rows.append(
                {
                    "scope": name,
                    "availability": st.availability.mean,
                    "availability_lo": st.availability.lo,
                    "availability_hi": st.availability.hi,
                    "nines": st.nines,
                    "own_availability": None if name == SYSTEM else st.own_availability.mean,
                    "downtime_min_per_year": st.minutes_per_year.mean,
                    "outages_per_year": st.outages_per_year.mean,
                    "mean_outage_s": st.mean_outage_s.mean,
                    "mtbf_s": st.mtbf_s.mean,
                    "rto_p95_s": st.rto_p95_s.mean,
                }
            )
        return pd.DataFrame(rows).set_index("scope")

    def replications_frame(self):
        """One row per replication and scope: the raw figures the estimates come from."""
        import pandas as pd

        rows = [
            {
                "replication": r.index,
                "scope": name,
                "availability": s.availability,
                "down_s": s.down_s,
                "outages": s.outages,
                "observed_s": s.observed_s,
            }
            for r in self.records
            for name, s in r.services.items()
        ]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A readable text table of the main figures."""
        from simulator.report_text import render_text

        return render_text(self)

    def __repr__(self) -> str:
        a = self.availability
        return (
            f"<Results {self.info.name!r}: {self.info.replications} replications x "
            f"{self.info.horizon_s / YEAR:.3g}y, availability {a.mean:.6f} ({self.info.backend})>"
        )

    def _repr_html_(self) -> str:
        from simulator.report_text import render_html

        return render_html(self)
