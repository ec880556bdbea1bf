"""Intervals for quantiles of samples pooled over replications.

A pooled quantile (the p95 of all outage durations, the p99 of all requests' latencies)
is bounded through the share of samples below it (Woodruff 1952): that share is a ratio
of sums over replications, so its spread between replications (which keeps the
correlation of samples inside one replication: a queue's latencies, outages that share
a cause) gives its standard error; the share's interval, mapped back through the pooled
distribution, is the quantile's.

- Outage durations (:func:`quantile_ci`): the share's interval is the exact binomial
  (order statistic) one, with the number of samples replaced by the effective number
  the replications' spread allows (never more than there are). It is distribution-free;
  the price is that a high quantile of few samples has no upper bound (a p95 needs at
  least 72 samples for one), which is then ``None`` with the reason.
- Histograms (:func:`histogram_quantile_ci`): the same binomial interval, the share's
  variance from the replications' spread plus, for the ``flow`` backend whose counts are
  expected values computed from sets of virtual requests, the spread between those
  sets; the bounds are widened by half a bucket (the histogram knows a value to its
  bucket).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from simulator.metrics.histogram import RATIO, quantiles
from simulator.metrics.stats import LEVEL, Estimate, positive_mean_ci, t_quantile

__all__ = ["order_statistic_ci", "quantile_ci", "histogram_quantile_ci", "share_variance", "samples_for_upper"]


def share_variance(below: np.ndarray, totals: np.ndarray) -> float:
    """Variance of ``sum(below) / sum(totals)`` from the spread of replications
    (the delta method for a ratio of sums)."""
    n = len(below)
    if n < 2 or not totals.sum() > 0:
        return 0.0
    p = float(below.sum() / totals.sum())
    resid = below - p * totals
    return math.fsum(resid * resid) / (n * (n - 1)) / float(totals.mean()) ** 2


def _ranks(m: int, q: float, level: float) -> tuple[float, float]:
    """Shares of ``m`` independent samples below the lower and upper order-statistic bounds
    of quantile ``q``: ``P(Bin(m, q) < l) <= alpha/2`` and ``P(Bin(m, q) >= u) <= alpha/2``."""
    alpha = 1 - level
    return float(stats.binom.ppf(alpha / 2, m, q)) / m, (float(stats.binom.ppf(1 - alpha / 2, m, q)) + 1) / m


def order_statistic_ci(values, q: float, level: float = LEVEL, what: str = "replications") -> Estimate:
    """Quantile ``q`` of independent values (one per replication) with the exact,
    distribution-free order-statistic interval. Values may be infinite (a recovery that
    never happened). The point is the next higher observation (conservative)."""
    x = np.sort(np.asarray(values, dtype=float))
    m = len(x)
    if m == 0:
        return Estimate(None, None, None, 0, f"no {what}")
    point = float(np.percentile(x, 100 * q, method="higher"))
    lo_rank, hi_rank = _ranks(m, q, level)
    lo_i, hi_i = int(round(lo_rank * m)), int(round(hi_rank * m))
    lo = float(x[lo_i - 1]) if lo_i >= 1 else None
    if hi_i > m:
        return Estimate(point, lo, None, m,
                        f"{m} {what}: too few to bound the p{100 * q:g} above (needs {samples_for_upper(q, level)})")
    return Estimate(point, lo, float(x[hi_i - 1]), m)


def quantile_ci(samples: list[np.ndarray], q: float, level: float = LEVEL, floor: float | None = 0.0,
                what: str = "samples") -> Estimate:
    """Quantile ``q`` of every replication's samples pooled, with an order-statistic
    interval whose sample size is the effective one the replications allow.

    Parameters
    ----------
    samples : list of arrays
        Each replication's samples (e.g. its outage durations).
    floor : float or None
        The lower bound when no order statistic is low enough (0 for durations).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> e = quantile_ci([rng.exponential(1.0, 40) for _ in range(10)], 0.5)
    >>> e.lo < e.mean < e.hi
    True
    """
    n = len(samples)
    pooled = np.sort(np.concatenate(samples)) if samples else np.zeros(0)
    k = len(pooled)
    if k == 0:
        return Estimate(None, None, None, n, f"no {what}")
    point = float(np.quantile(pooled, q))
    if n < 2 and k < 2:
        return Estimate(point, None, None, n, f"1 {what[:-1] if what.endswith('s') else what}: no interval")
    k_eff = float(k)
    if n > 1:
        below = np.array([np.count_nonzero(s <= point) for s in samples], dtype=float)
        sizes = np.array([len(s) for s in samples], dtype=float)
        # the spread of n replications is itself uncertain: inflate its variance by (t/z)²
        k_eff = _effective(q, share_variance(below, sizes) * _inflation(n - 1, level), k_eff)
    m = max(int(math.floor(min(k_eff, 1e12))), 1)
    lo_rank, hi_rank = _ranks(m, q, level)  # shares of the samples below the bounds
    lo_i, hi_i = int(math.floor(lo_rank * k)), int(math.ceil(hi_rank * k))
    lo = float(pooled[lo_i - 1]) if lo_i >= 1 else floor
    lo = None if lo is None else min(lo, point)
    if hi_i > k:
        need = samples_for_upper(q, level)
        note = (f"{k} {what}" + (f" ({m} effective)" if m < k else "")
                + f": too few to bound the p{100 * q:g} above (needs {need})")
        return Estimate(point, lo, None, n, note)
    return Estimate(point, lo, max(float(pooled[hi_i - 1]), point), n)


def samples_for_upper(q: float, level: float) -> int:
    """The fewest independent samples that bound quantile ``q`` above: ``q^k <= alpha/2``."""
    return int(math.ceil(math.log((1 - level) / 2) / math.log(q)))


def _effective(q: float, var: float, most: float) -> float:
    """The number of independent samples whose binomial variance of a share ``q`` is ``var``
    (at most ``most``)."""
    return most if not var > 0 else min(most, q * (1 - q) / var)


def _inflation(df: float, level: float) -> float:
    """(t/z)²: a variance estimated with ``df`` degrees of freedom, scaled so a normal
    quantile gives the t interval."""
    return (t_quantile(df, level) / float(stats.norm.ppf(0.5 + level / 2))) ** 2 if df >= 1 else 1.0


def histogram_quantile_ci(
    dense: np.ndarray, q: float, level: float = LEVEL, virtual: np.ndarray | None = None, samples: bool = True,
) -> Estimate:
    """Quantile ``q`` of the pooled histogram of every replication's counts.

    The share below the quantile is bounded by the binomial order-statistic interval of
    the effective number of samples its variance allows (exact and skewed where the tail
    holds few samples, where a normal interval would be too short on the tail's side);
    the variance is that of the replications' spread (inflated by (t/z)² for their
    number) plus, for ``flow``, that of its sets of virtual requests.

    Parameters
    ----------
    dense : array (replications, buckets)
        Each replication's bucket counts.
    virtual : array (sets, buckets), optional
        The same counts, pooled over replications, split by the set of virtual requests
        that produced them (``flow``): their spread is the virtual requests' error.
    samples : bool
        Whether the counts are of independent samples (``requests``), so the binomial
        error of their number bounds the share's error from below; ``flow``'s are not.
    """
    dense = np.atleast_2d(dense)
    n = dense.shape[0]
    pooled = dense.sum(axis=0)
    total = float(pooled.sum())
    if not total > 0:
        return Estimate(None, None, None, n, "no requests")
    point = float(quantiles(pooled, q)[0])
    if n < 2 and virtual is None:
        return Estimate(point, None, None, n, "one replication: no interval")
    at = int(np.searchsorted(np.cumsum(pooled), q * total))  # the point's bucket
    var = 0.0
    if n > 1:
        var += share_variance(dense[:, : at + 1].sum(axis=1), dense.sum(axis=1)) * _inflation(n - 1, level)
    if virtual is not None and len(virtual) > 1:
        sets = virtual.sum(axis=1)
        shares = virtual[:, : at + 1].sum(axis=1) / np.where(sets > 0, sets, 1.0)
        var += float(shares.var(ddof=1)) / len(shares) * _inflation(len(shares) - 1, level)
    m = _effective(q, var, total if samples else math.inf)
    if m > 1e12:  # its binomial spread is far below a bucket's width
        lo_share = hi_share = q
    else:
        lo_share, hi_share = _ranks(max(int(m), 1), q, level)
    if n > 1:  # the tail share as positive, skewed samples: a few replications may hold most of it
        sizes = dense.sum(axis=1)
        tail = positive_mean_ci(1.0 - dense[:, : at + 1].sum(axis=1) / np.where(sizes > 0, sizes, 1.0),
                                level, min_samples=2)
        if tail.bounded:
            lo_share = min(lo_share, q - (tail.mean - tail.lo))
            hi_share = max(hi_share, q + (tail.hi - tail.mean))
    half = math.sqrt(RATIO)
    lo = min(float(quantiles(pooled, lo_share)[0]) / half, point) if lo_share > 0 else 0.0
    if hi_share > 1.0:
        what = "requests" if samples else "virtual requests (flow)"
        return Estimate(point, lo, None, n, f"too few {what} to bound the p{100 * q:g} above")
    return Estimate(point, lo, max(float(quantiles(pooled, hi_share)[0]) * half, point), n)
