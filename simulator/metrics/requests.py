"""Request-based figures from the per-replication counters of a data plane (pure functions).

Request availability is successful requests over finished ones (requests still in
flight at the end are left out), pooled over replications, with a delta-method interval
(:func:`~simulator.metrics.stats.ratio_ci`). Latency percentiles are of the pooled
histogram of all replications, with Woodruff intervals
(:func:`~simulator.metrics.quantiles.histogram_quantile_ci`). For the ``flow`` backend
the spread between its sets of virtual requests (:class:`~simulator.metrics.virtual.VirtualSplit`)
widens both.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.metrics.histogram import BUCKETS, FrozenHistogram
from simulator.metrics.outcomes import OUTCOMES
from simulator.metrics.quantiles import histogram_quantile_ci
from simulator.metrics.stats import Estimate, hall_interval, positive_ratio_ci

__all__ = ["PERCENTILES", "combine", "latency_estimates", "latency_summary", "request_summary", "service_load"]


PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}


def combine(parts: list[dict]) -> dict:
    """Add up several scopes' counters of one replication (e.g. all entries = the system)."""
    out: dict[str, Any] = {
        "calls": sum(p["calls"] for p in parts),
        "attempts": sum(p["attempts"] for p in parts),
        "in_flight": sum(p["in_flight"] for p in parts),
        "outcomes": {k: sum(p["outcomes"][k] for p in parts) for k in OUTCOMES},
        "attempt_outcomes": {k: sum(p["attempt_outcomes"][k] for p in parts) for k in OUTCOMES},
    }
    for key in ("latency_ok", "latency_all"):
        dense = np.zeros(BUCKETS)  # float: the flow backend counts expected requests
        n, total = 0, 0.0
        for p in parts:
            h = p[key]
            np.add.at(dense, h.index, h.counts)
            n += h.n
            total += h.total
        nz = np.flatnonzero(dense)
        out[key] = FrozenHistogram(nz.astype(np.int32), dense[nz], n, total)
    splits = [p.get("virtual") for p in parts]
    if splits and splits[0] is not None:
        out["virtual"] = sum(splits[1:], splits[0])
    return out


def _dense(hists: list[FrozenHistogram]) -> np.ndarray:
    out = np.zeros((len(hists), BUCKETS))
    for i, h in enumerate(hists):
        out[i, h.index] = h.counts
    return out


def _widen(est: Estimate, per_set: np.ndarray | None) -> Estimate:
    """``est`` with each side widened, in quadrature, by the virtual requests' error: Hall's
    interval of the mean of ``per_set`` (the figure computed from each set of virtual
    requests alone; skewed when a set's requests are, so its sides differ)."""
    if per_set is None or len(per_set) < 2 or est.mean is None:
        return est
    got = hall_interval(np.asarray(per_set, dtype=float))
    center = float(np.mean(per_set))
    down, up = max(center - got[0], 0.0), max(got[1] - center, 0.0)
    if down == 0.0 and up == 0.0:
        return est
    if est.lo is None and est.hi is None and est.n < 2:  # one replication: the virtual error is all there is
        return Estimate(est.mean, est.mean - down, est.mean + up, est.n)
    lo = None if est.lo is None else est.mean - math.hypot(est.mean - est.lo, down)
    hi = None if est.hi is None else est.mean + math.hypot(est.hi - est.mean, up)
    return Estimate(est.mean, lo, hi, est.n, est.note if lo is None or hi is None else None)


def _per_set_share(num: np.ndarray | None, den: np.ndarray | float) -> np.ndarray | None:
    """A ratio computed from each set of virtual requests alone: ``num`` holds each set's
    numerator (pooled over replications, each set scaled to the whole rate), ``den`` the
    denominator (one for all, or one per set)."""
    if num is None:
        return None
    den = np.broadcast_to(np.asarray(den, dtype=float), num.shape)
    return num / np.where(den > 0, den, 1.0)


def latency_estimates(per_rep: list[dict], key: str, samples: bool) -> dict[str, Estimate] | None:
    """Mean and percentiles of the pooled ``key`` histogram (``latency_ok`` or
    ``latency_all``), each an :class:`Estimate` (see :mod:`simulator.metrics.quantiles`)."""
    hists = [p[key] for p in per_rep]
    n = sum(h.n for h in hists)
    if n == 0:
        return None
    dense = _dense(hists)
    splits = [p.get("virtual") for p in per_rep]
    virtual = None
    if splits[0] is not None:
        virtual = sum(v.dense(key) for v in splits)
    out = {name: histogram_quantile_ci(dense, q, virtual=virtual, samples=samples) for name, q in PERCENTILES.items()}
    totals = np.array([h.total for h in hists])
    counts = np.array([float(h.n) for h in hists])
    mean = positive_ratio_ci(totals, counts)
    if virtual is not None:
        split = sum(splits[1:], splits[0])
        mean = _widen(mean, split.latency_mean(key, float(counts.sum())))
    out["mean"] = mean.clip(0.0)
    return out


def latency_summary(estimates: dict[str, Estimate] | None, requests: float) -> dict | None:
    """The JSON block of :func:`latency_estimates`: mean, percentiles, their intervals."""
    if estimates is None:
        return None
    out: dict[str, Any] = {"mean": estimates["mean"].mean}
    out.update({name: estimates[name].mean for name in PERCENTILES})
    ci = {name: estimates[name].ci95() for name in PERCENTILES}
    ci["mean"] = estimates["mean"].ci95()
    out["ci95"] = ci
    notes = {name: e.note for name, e in estimates.items() if e.note}
    if notes:
        out["notes"] = notes
    out["requests"] = requests
    return out


def request_summary(per_rep: list[dict], seed: int = 0) -> dict:
    """Availability by requests, outcome shares and latency of one scope over replications.

    The counts of the ``requests`` backend are of simulated requests; those of ``flow``
    are expected values, with a ``virtual`` split by sets of virtual requests whose
    spread enters the intervals.
    """
    calls = np.array([p["calls"] for p in per_rep], dtype=float)
    inflight = np.array([p["in_flight"] for p in per_rep], dtype=float)
    finished = calls - inflight
    ok = np.array([p["outcomes"]["success"] for p in per_rep], dtype=float)
    total_finished = finished.sum()
    splits = [p.get("virtual") for p in per_rep]
    samples = splits[0] is None
    avail = positive_ratio_ci(finished - ok, finished).map(lambda u: 1.0 - u, decreasing=True)
    if not samples:
        avail = _widen(avail, _per_set_share(sum(v.success for v in splits), total_finished))
    outcomes = {
        k: (sum(p["outcomes"][k] for p in per_rep) / total_finished if total_finished else None) for k in OUTCOMES
    }
    attempts = sum(p["attempts"] for p in per_rep)
    est_ok = latency_estimates(per_rep, "latency_ok", samples)
    est_all = latency_estimates(per_rep, "latency_all", samples)
    return {
        "availability": avail.clip(0.0, 1.0),
        "requests": int(calls.sum()),
        "finished": int(total_finished),
        "in_flight": int(inflight.sum()),
        "outcomes": outcomes,
        "attempts_per_call": attempts / calls.sum() if calls.sum() else None,
        "latency_ok": latency_summary(est_ok, sum(p["latency_ok"].n for p in per_rep)),
        "latency_all": latency_summary(est_all, sum(p["latency_all"].n for p in per_rep)),
        "latency_ok_estimates": est_ok,
    }


def service_load(per_rep: list[dict], observed_s: float) -> dict:
    """Offered load, goodput, utilization and queue length of one service (pooled)."""
    reps = len(per_rep)
    span = observed_s * reps
    attempts = sum(p["attempts"] for p in per_rep)
    ok = sum(p["outcomes"]["success"] for p in per_rep)
    capacity = sum(p["capacity_s"] for p in per_rep)
    shed = sum(p["attempt_outcomes"]["shed"] for p in per_rep)
    rejected = sum(p["outcomes"]["circuit_open"] for p in per_rep)
    calls = sum(p["calls"] for p in per_rep)
    return {
        "offered_per_s": attempts / span if span else None,
        "goodput_per_s": ok / span if span else None,
        "utilization": sum(p["busy_s"] for p in per_rep) / capacity if capacity else None,
        "mean_queue": sum(p["queue_s"] for p in per_rep) / span if span else None,
        "retry_amplification": attempts / calls if calls else None,
        "shed_fraction": shed / attempts if attempts else None,
        "breaker_open_fraction": rejected / calls if calls else None,
    }
