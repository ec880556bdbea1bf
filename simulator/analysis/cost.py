"""What a run costs: a topology's prices resolved once, then applied to each replication.

:func:`cost_model` turns the ``pricing:`` section into a :class:`CostModel` (plain
data: it travels with the results to worker processes). :func:`replication_cost`
prices one replication from what it measured (calls on each edge, failed requests,
down time per month, and replica-seconds when the simulation reports them);
:func:`cost_block` turns all replications into the result contract's ``cost`` block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.engine.plan import SYSTEM
from simulator.metrics.cost import (
    HOURS_PER_MONTH,
    MONTH_S,
    compute_monthly,
    locality_shares,
    month_bounds,
    sla_credits,
    transfer_monthly,
)
from simulator.metrics.stats import Estimate, positive_mean_ci
from simulator.model.pricing import instance_price
from simulator.units import YEAR

__all__ = ["CostModel", "EdgeBytes", "cost_model", "replication_cost", "cost_estimates", "cost_block", "COST_FIGURES"]

#: Per-replication figures, in the order of the cost block.
COST_FIGURES = (
    "compute_per_month", "transfer_per_month", "infrastructure_per_month",
    "outage_per_year", "failed_requests_per_year", "sla_credits_per_year", "downtime_per_year", "tco_per_year",
)


@dataclass(frozen=True)
class EdgeBytes:
    """Bytes one call (or entry request) moves, and where they go."""

    name: str  # as the data planes name it: "api->db", or the traffic label for an entry
    request_bytes: float
    response_bytes: float
    shares: dict  # locality -> share of the calls (entries: internet)
    expected_per_s: float  # attempts per second assumed when the run simulated no traffic


@dataclass(frozen=True)
class CostModel:
    """A topology's prices, resolved: enough to price any replication of it."""

    currency: str
    hourly: dict  # service -> price per hour of all its replicas
    replicas: dict  # service -> static replica count
    transfer_prices: dict  # locality -> price per GB
    edges: tuple[EdgeBytes, ...]
    entries: tuple[EdgeBytes, ...]
    per_minute: float
    per_failed_request: float
    sla_tiers: tuple[tuple[float, float], ...] = ()
    sla_bill: float | None = None
    spot: dict = field(default_factory=dict)  # service -> interruptions per replica-year


def _visits(top) -> dict[str, float]:
    """Expected calls each service receives per second, ignoring retries and failures."""
    from simulator.backends.requests.traffic import RateFunction
    from simulator.graph import dependency_order

    visits = dict.fromkeys(top.services, 0.0)
    for t in top.traffic:
        visits[t.entry] += RateFunction(t).mean_rate(0.0, top.horizon_s)
    for s in reversed(dependency_order(top)):  # callers first
        for c in top.services[s].calls:
            visits[c.service] += visits[s]
    return visits


def cost_model(top) -> CostModel | None:
    """Resolve ``top.pricing`` (``None`` when the model prices nothing)."""
    pricing = getattr(top, "pricing", None)
    if pricing is None:
        return None
    zones = top.zones()
    region_of = {z: r for z, (_, r) in zones.items()}
    hourly, spot = {}, {}
    for name, sp in pricing.services.items():
        svc = top.services[name]
        prices = [instance_price(top, name, z) for z, n in svc.replicas.items() for _ in range(n)]
        hourly[name] = sum(p for p, _ in prices)
        if sp.billing == "spot":
            spot[name] = float(np.mean([r or 0.0 for _, r in prices])) * YEAR
    visits = _visits(top) if top.traffic else dict.fromkeys(top.services, 0.0)
    edges = tuple(
        EdgeBytes(
            f"{s}->{c.service}", c.request_bytes, c.response_bytes,
            locality_shares(svc.replicas, top.services[c.service].replicas, region_of,
                            top.services[c.service].load_balancer.locality),
            visits[s],
        )
        for s, svc in top.services.items() for c in svc.calls
    )
    entries = tuple(
        EdgeBytes(t.label, t.request_bytes, t.response_bytes, {}, visits_entry)
        for t, visits_entry in ((t, _visits_of(t, top)) for t in top.traffic)
    )
    credits = pricing.sla_credits
    return CostModel(
        currency=pricing.currency,
        hourly=hourly,
        replicas={s: top.services[s].replica_count for s in hourly},
        transfer_prices=pricing.transfer.model_dump(),
        edges=edges,
        entries=entries,
        per_minute=pricing.downtime.per_minute,
        per_failed_request=pricing.downtime.per_failed_request,
        sla_tiers=tuple((t.below, t.credit) for t in credits.tiers) if credits else (),
        sla_bill=credits.monthly_bill if credits else None,
        spot=spot,
    )


def _visits_of(t, top) -> float:
    from simulator.backends.requests.traffic import RateFunction

    return RateFunction(t).mean_rate(0.0, top.horizon_s)


def _bytes_per_month(cm: CostModel, req: dict | None, observed_s: float) -> dict[str, float]:
    """Bytes moved per month by locality: measured attempts when traffic was simulated."""
    out = dict.fromkeys(cm.transfer_prices, 0.0)
    to_month = MONTH_S / observed_s
    for e in cm.edges:
        measured = req["edges"].get(e.name) if req else None
        per_month = measured["attempts"] * to_month if measured else e.expected_per_s * MONTH_S
        for loc, share in e.shares.items():
            out[loc] += per_month * share * (e.request_bytes + e.response_bytes)
    for e in cm.entries:
        measured = req["entries"].get(e.name) if req else None
        per_month = measured["attempts"] * to_month if measured else e.expected_per_s * MONTH_S
        out["internet_ingress"] += per_month * e.request_bytes
        out["internet_egress"] += per_month * e.response_bytes
    return out


def _failed_requests(req: dict | None) -> float:
    if not req:
        return 0.0
    failed = 0.0
    for e in req["entries"].values():
        outcomes = e["outcomes"]
        failed += sum(outcomes.values()) - outcomes["success"]
    return failed


def replication_cost(cm: CostModel, record: Any) -> dict[str, float]:
    """Every figure of :data:`COST_FIGURES` for one replication record."""
    observed = record.observed_s
    measured = record.extra.get("replica_seconds") or {}
    compute = 0.0
    for s, hourly in cm.hourly.items():
        if s in measured:  # autoscaling: billed for the time replicas existed
            compute += compute_monthly(hourly / cm.replicas[s], measured[s], observed)
        else:
            compute += compute_monthly(hourly)
    req = record.extra.get("requests")
    transfer = transfer_monthly(_bytes_per_month(cm, req, observed), cm.transfer_prices)
    infra = compute + transfer
    to_year = YEAR / observed
    outage = record.services[SYSTEM].down_s / 60.0 * cm.per_minute * to_year
    failed = _failed_requests(req) * cm.per_failed_request * to_year
    credits = 0.0
    if cm.sla_tiers:
        months = np.diff(month_bounds(0.0, observed))
        bill = infra if cm.sla_bill is None else cm.sla_bill
        credits = sla_credits(record.extra["monthly_down_s"], months, bill, cm.sla_tiers) * to_year
    downtime = outage + failed + credits
    return dict(zip(COST_FIGURES, (compute, transfer, infra, outage, failed, credits, downtime, infra * 12 + downtime),
                    strict=True))


def _sum_bounds(parts: list[Estimate]) -> tuple[float | None, float | None]:
    """Bounds of a sum from its parts' bounds (conservative: each part at its own bound)."""
    lo = None if any(p.lo is None for p in parts) else sum(p.lo for p in parts)
    hi = None if any(p.hi is None for p in parts) else sum(p.hi for p in parts)
    return lo, hi


def _hull(est: Estimate, bounds: tuple[float | None, float | None]) -> Estimate:
    lo = None if est.lo is None or bounds[0] is None else min(est.lo, bounds[0])
    hi = None if est.hi is None or bounds[1] is None else max(est.hi, bounds[1])
    return Estimate(est.mean, lo, hi, est.n, est.note)


def cost_estimates(cm: CostModel, per_rep: list[dict[str, float]], downtime_min: Estimate) -> dict[str, Estimate]:
    """Every cost figure's mean over replications with its 95 % interval.

    Costs that cannot be negative get :func:`~simulator.metrics.stats.positive_mean_ci`;
    the cost of down time is the price times the system's downtime estimate, whose
    interval rests on the outages themselves (:func:`~simulator.metrics.events.downtime_ci`);
    a sum also gets the bounds of its parts (whichever is wider)."""
    est = {key: positive_mean_ci([p[key] for p in per_rep], min_samples=2, what="replications") for key in COST_FIGURES}
    est["outage_per_year"] = downtime_min.map(lambda m: m * cm.per_minute)
    parts = [est["outage_per_year"], est["failed_requests_per_year"], est["sla_credits_per_year"]]
    est["downtime_per_year"] = _hull(est["downtime_per_year"], _sum_bounds(parts))
    yearly_infra = est["infrastructure_per_month"].map(lambda m: 12 * m)
    est["tco_per_year"] = _hull(est["tco_per_year"], _sum_bounds([yearly_infra, est["downtime_per_year"]]))
    return est


def cost_block(cm: CostModel | None, per_rep: list[dict[str, float]], downtime_min: Estimate) -> dict[str, Any] | None:
    """The result contract's ``cost`` block: each figure of :func:`cost_estimates`."""
    if cm is None:
        return None
    out: dict[str, Any] = {"currency": cm.currency}
    for key, e in cost_estimates(cm, per_rep, downtime_min).items():
        out[key] = e.to_dict()
    out["services"] = {
        s: {"replicas": cm.replicas[s], "hourly": h, "compute_per_month": h * HOURS_PER_MONTH,
            **({"spot_interruptions_per_replica_year": cm.spot[s]} if s in cm.spot else {})}
        for s, h in cm.hourly.items()
    }
    return out
