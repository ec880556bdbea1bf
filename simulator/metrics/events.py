"""Intervals for figures made of events: outage counts, downtime, outage durations.

A replication's downtime is a sum over its outages, so with few outages its spread
between replications says little: 10 replication-years of a pair that fails about once a
year hold a dozen outages. These intervals use the events themselves as well as the
replications, and take the hull of the two (each is honest under its own assumption:
the events' when outages arrive independently, the replications' whatever they do):

- outage rate: the exact Poisson (Garwood) interval of the total count over the
  exposure, and Hall's interval of the per-replication rates (:func:`rate_ci`);
- downtime fraction: Fay & Feuer's gamma interval of the sum of outage durations (its
  upper bound as if one more outage, as long as the longest, had happened) and Hall's
  interval of the per-replication fractions; with fewer than ``MIN_OUTAGES`` outages
  there is no upper bound (:func:`downtime_ci`);
- mean outage duration: :func:`~simulator.metrics.stats.positive_mean_ci` of the pooled
  durations, hulled with the delta method over replications (:func:`duration_mean_ci`);
- time between outages: up time over the outage count's interval (:func:`mtbf_ci`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from simulator.metrics.stats import LEVEL, Estimate, gamma_interval, hall_interval, positive_mean_ci, ratio_ci

__all__ = ["MIN_OUTAGES", "MIN_DURATIONS", "garwood", "rate_ci", "downtime_ci", "duration_mean_ci", "mtbf_ci"]

#: Fewer outages give no upper bound on downtime.
MIN_OUTAGES = 3
#: Fewer outage durations give no upper bound on their mean.
MIN_DURATIONS = 5


def garwood(k: float, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Garwood) interval for the mean of a Poisson count ``k``."""
    alpha = 1 - level
    lo = 0.0 if k <= 0 else float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2
    return lo, float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2


def _count_bounds(counts: np.ndarray, level: float) -> tuple[float, float]:
    """Bounds on the expected total count: the hull of Garwood's and Hall's (times n)."""
    n = len(counts)
    lo, hi = garwood(float(counts.sum()), level)
    got = hall_interval(counts, level)
    if got is not None:
        lo, hi = min(lo, got[0] * n), max(hi, got[1] * n)
    return max(lo, 0.0), hi


def rate_ci(counts, exposure_s, per_s: float = 1.0, level: float = LEVEL) -> Estimate:
    """Events per ``per_s`` seconds of exposure, pooled over replications."""
    k = np.asarray(counts, dtype=float)
    exposure = float(np.sum(exposure_s))
    if len(k) == 0 or not exposure > 0:
        return Estimate(None, None, None, len(k), "no exposure")
    lo, hi = _count_bounds(k, level)
    scale = per_s / exposure
    return Estimate(float(k.sum()) * scale, lo * scale, hi * scale, len(k))


def downtime_ci(down_s, observed_s, durations: list[np.ndarray], level: float = LEVEL) -> Estimate:
    """The down share of the observed time (the mean of the replications' shares).

    ``durations``: each replication's outage durations (their sum is its ``down_s``).
    """
    down = np.asarray(down_s, dtype=float)
    observed = np.asarray(observed_s, dtype=float)
    n = len(down)
    if n == 0:
        return Estimate(None, None, None, 0, "no replications")
    share = down / observed
    point = float(share.mean())
    d = np.concatenate(durations) if durations else np.zeros(0)
    k = len(d)
    total = float(observed.sum())
    lo = hi = None
    if k:
        lo, hi = gamma_interval(float(d.sum()) / total, math.fsum(d * d) / total**2, float(d.max()) / total, level)
    got = hall_interval(share, level)
    if got is not None and k:
        lo, hi = min(lo, got[0]), max(hi, got[1])
    lo = 0.0 if lo is None else max(min(lo, point), 0.0)
    if k < MIN_OUTAGES:
        years = total / (365.25 * 86400)
        seen = "no outage" if k == 0 else f"{k} outage{'s' if k > 1 else ''}"
        note = f"{seen} in {n} replications ({years:.3g} years): too few to bound the downtime above"
        return Estimate(point, lo, None, n, note)
    return Estimate(point, lo, min(max(hi, point), 1.0), n)


def duration_mean_ci(durations: list[np.ndarray], level: float = LEVEL) -> Estimate:
    """Mean outage duration (total down time over outages) of all replications pooled."""
    d = np.concatenate(durations) if durations else np.zeros(0)
    pooled = positive_mean_ci(d, level, MIN_DURATIONS, what="outages")
    if not pooled.bounded or len(durations) < 2:
        return pooled
    clustered = ratio_ci([x.sum() for x in durations], [len(x) for x in durations], level)
    lo = min(pooled.lo, clustered.lo) if clustered.lo is not None else pooled.lo
    hi = max(pooled.hi, clustered.hi) if clustered.hi is not None else pooled.hi
    return Estimate(pooled.mean, max(lo, 0.0), hi, pooled.n)


def mtbf_ci(up_s, counts, level: float = LEVEL) -> Estimate:
    """Mean up time between outages: total up time over the outage count, bounded by
    the count's interval."""
    up = float(np.sum(up_s))
    k = np.asarray(counts, dtype=float)
    n = len(k)
    if n == 0:
        return Estimate(None, None, None, 0, "no replications")
    lo_k, hi_k = _count_bounds(k, level)
    total = float(k.sum())
    lo = up / hi_k if hi_k > 0 else None
    hi = up / lo_k if lo_k > 0 else None
    if total == 0:
        return Estimate(None, lo, None, n, f"no outage in {n} replications: the time between outages is above the lower bound")
    return Estimate(up / total, lo, hi, n)
