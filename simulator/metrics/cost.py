"""Cost arithmetic (pure functions): compute, data transfer, downtime, SLA credits.

A month is a twelfth of a 365.25-day year (730.5 hours), a GB is 10^9 bytes. Nothing
here knows about simpy or graphs: the inputs are prices, counts and durations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from simulator.units import HOUR, YEAR

__all__ = [
    "MONTH_S",
    "HOURS_PER_MONTH",
    "GB",
    "LOCALITIES",
    "compute_monthly",
    "transfer_monthly",
    "locality_shares",
    "credit_share",
    "sla_credits",
    "monthly_downtime",
    "cost_per_nine",
]

#: A month: a twelfth of a 365.25-day year.
MONTH_S = YEAR / 12.0
HOURS_PER_MONTH = MONTH_S / HOUR  # 730.5
#: Transfer is priced per GB of 10^9 bytes.
GB = 1e9
LOCALITIES = ("same_zone", "cross_zone", "cross_region", "internet_egress", "internet_ingress")


def compute_monthly(hourly: float, replica_seconds: float | None = None, observed_s: float | None = None) -> float:
    """Monthly compute bill of one service.

    Parameters
    ----------
    hourly : float
        Price per hour of all its replicas together (the static replica count).
    replica_seconds : float, optional
        Replica-seconds actually running during ``observed_s`` (autoscaling); when
        given, the bill is for the time replicas existed, at the average per-replica
        price: pass ``hourly`` per replica then.
    """
    if replica_seconds is None:
        return hourly * HOURS_PER_MONTH
    if not observed_s:
        raise ValueError("observed_s is needed with replica_seconds")
    return hourly * replica_seconds / HOUR * (MONTH_S / observed_s)


def transfer_monthly(bytes_per_month: Mapping[str, float], prices: Mapping[str, float]) -> float:
    """Monthly transfer bill: bytes by locality (``LOCALITIES``) times the price per GB."""
    return sum(b / GB * prices[loc] for loc, b in bytes_per_month.items() if b)


def locality_shares(
    callers: Mapping[str, int], callees: Mapping[str, int], region_of: Mapping[str, str], locality: str = "any"
) -> dict[str, float]:
    """Expected share of calls that stay in a zone, cross zones, or cross regions.

    Callers' calls are spread over their replicas evenly (``callers``: zone -> count);
    with ``locality`` ``zone`` (or ``region``) a caller prefers callee replicas in its
    own zone (or region) when there are any, else every callee replica takes an equal
    share (``any``, and the spill-over).
    """
    out = {"same_zone": 0.0, "cross_zone": 0.0, "cross_region": 0.0}
    n_callers = sum(callers.values())
    for zone, count in callers.items():
        region = region_of[zone]
        pool = dict(callees)
        if locality == "zone" and callees.get(zone):
            pool = {zone: callees[zone]}
        elif locality in ("zone", "region"):
            near = {z: c for z, c in callees.items() if region_of[z] == region}
            pool = near or pool
        total = sum(pool.values())
        for z, c in pool.items():
            kind = "same_zone" if z == zone else "cross_zone" if region_of[z] == region else "cross_region"
            out[kind] += count / n_callers * c / total
    return out


def credit_share(availability: float, tiers: Iterable[tuple[float, float]]) -> float:
    """The share of the bill credited for a month at ``availability``.

    ``tiers`` are ``(below, credit)`` pairs; the tier with the lowest ``below`` that
    the availability is under applies (0 when it is under none).

    >>> credit_share(0.9990, [(0.9995, 0.10), (0.99, 0.25)])
    0.1
    >>> credit_share(0.98, [(0.9995, 0.10), (0.99, 0.25)])
    0.25
    """
    reached = [(below, credit) for below, credit in tiers if availability < below]
    return min(reached)[1] if reached else 0.0


def sla_credits(
    down_s: np.ndarray, month_s: np.ndarray, bill_per_month: float, tiers: Iterable[tuple[float, float]]
) -> float:
    """Credits owed over a run of months: each month's share of its (pro-rated) bill.

    ``down_s`` and ``month_s`` give each month's downtime and length; a partial month
    at the end is billed and credited pro rata.
    """
    tiers = list(tiers)
    total = 0.0
    for down, length in zip(np.asarray(down_s).tolist(), np.asarray(month_s).tolist(), strict=True):
        if length > 0:
            total += credit_share(1.0 - down / length, tiers) * bill_per_month * length / MONTH_S
    return total


def month_bounds(t0: float, t1: float, month_s: float = MONTH_S) -> np.ndarray:
    """Boundaries of the months of the window ``[t0, t1]``; the last may be partial."""
    k = max(1, math.ceil((t1 - t0) / month_s - 1e-9))
    bounds = t0 + month_s * np.arange(k + 1, dtype=float)
    bounds[-1] = t1
    return bounds


def monthly_downtime(
    rep: np.ndarray, up: np.ndarray, start: np.ndarray, dur: np.ndarray, t0: float, t1: float, r_count: int
) -> np.ndarray:
    """Down time in each month of each replication: shape ``(r_count, months)``.

    ``rep``, ``up``, ``start`` and ``dur`` describe rows (a replication, whether the
    scope is up, when the row starts and how long it holds inside the window).
    """
    bounds = month_bounds(t0, t1)
    out = np.zeros((r_count, len(bounds) - 1))
    sel = np.flatnonzero(~up & (dur > 0))
    if len(sel):
        a = np.maximum(start[sel], t0)
        b = a + dur[sel]
        overlap = np.minimum(b[:, None], bounds[None, 1:]) - np.maximum(a[:, None], bounds[None, :-1])
        np.add.at(out, rep[sel], np.clip(overlap, 0.0, None))
    return out


def cost_per_nine(cost_a: float, avail_a: float, cost_b: float, avail_b: float) -> float | None:
    """Extra cost of B over A per extra nine of availability (``None`` if B adds none)."""
    if avail_a >= 1.0 or avail_b >= 1.0:
        return None
    gain = math.log10(1.0 - avail_a) - math.log10(1.0 - avail_b)
    if gain <= 0:
        return None
    return (cost_b - cost_a) / gain
