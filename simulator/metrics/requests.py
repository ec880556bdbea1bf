"""Request-based figures from the per-replication counters of a data plane (pure functions).

Request availability is successful requests over finished ones (requests still in
flight at the end are left out), pooled over replications, with a delta-method
interval. Latency percentiles are of the pooled histogram of all replications, with a
bootstrap over replications for their intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.metrics.histogram import BUCKETS, RATIO, FrozenHistogram, quantiles
from simulator.metrics.outcomes import OUTCOMES
from simulator.metrics.stats import Estimate, ratio_ci, resample_counts

__all__ = ["PERCENTILES", "combine", "latency_summary", "request_summary", "service_load"]

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
    return out


def _dense(hists: list[FrozenHistogram]) -> np.ndarray:
    out = np.zeros((len(hists), BUCKETS))
    for i, h in enumerate(hists):
        out[i, h.index] = h.counts
    return out


def latency_summary(hists: list[FrozenHistogram], seed: int = 0, resamples: int = 200) -> dict | None:
    """Mean and percentiles of the pooled histogram, each with a replication-bootstrap CI."""
    n = sum(h.n for h in hists)
    if n == 0:
        return None
    dense = _dense(hists)
    pooled = dense.sum(axis=0)
    out: dict[str, Any] = {"mean": sum(h.total for h in hists) / n}
    boots = None
    if len(hists) > 1:
        rng = np.random.default_rng(seed)
        weights = resample_counts(rng, len(hists), resamples)
        boots = weights @ dense
        totals = np.array([h.total for h in hists])
        counts = np.array([h.n for h in hists])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (weights @ totals) / (weights @ counts)
    ci: dict[str, list[float] | None] = {}
    half_bucket = float(np.sqrt(RATIO))  # a percentile is known to a bucket, whatever the sample
    for name, q in PERCENTILES.items():
        out[name] = float(quantiles(pooled, q)[0])
        if boots is not None:
            draws = quantiles(boots, q)
            draws = draws[np.isfinite(draws)]
            ci[name] = (
                [float(np.quantile(draws, 0.025)) / half_bucket, float(np.quantile(draws, 0.975)) * half_bucket]
                if len(draws)
                else None
            )
    if boots is not None:
        means = means[np.isfinite(means)]
        ci["mean"] = [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))] if len(means) else None
    out["ci95"] = ci or None
    out["requests"] = n
    return out


def request_summary(per_rep: list[dict], seed: int = 0) -> dict:
    """Availability by requests, outcome shares and latency of one scope over replications."""
    calls = np.array([p["calls"] for p in per_rep], dtype=float)
    inflight = np.array([p["in_flight"] for p in per_rep], dtype=float)
    finished = calls - inflight
    ok = np.array([p["outcomes"]["success"] for p in per_rep], dtype=float)
    total_finished = finished.sum()
    avail: Estimate = ratio_ci(ok, finished)
    if avail.hi is not None:
        avail = Estimate(avail.mean, avail.lo, min(avail.hi, 1.0), avail.n)
    outcomes = {
        k: (sum(p["outcomes"][k] for p in per_rep) / total_finished if total_finished else None) for k in OUTCOMES
    }
    attempts = sum(p["attempts"] for p in per_rep)
    return {
        "availability": avail,
        "requests": int(calls.sum()),
        "finished": int(total_finished),
        "in_flight": int(inflight.sum()),
        "outcomes": outcomes,
        "attempts_per_call": attempts / calls.sum() if calls.sum() else None,
        "latency_ok": latency_summary([p["latency_ok"] for p in per_rep], seed),
        "latency_all": latency_summary([p["latency_all"] for p in per_rep], seed),
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
