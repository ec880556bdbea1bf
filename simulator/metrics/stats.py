"""Confidence intervals across independent replications.

Replications are i.i.d., so a mean over them gets a Student-t interval; a ratio of
sums (mean outage = downtime / outages) gets the delta-method interval; a quantile of
pooled samples gets a bootstrap over replications (resampling whole replications
keeps their internal correlation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Estimate", "mean_ci", "ratio_ci", "quantile_ci", "resample_counts"]


def resample_counts(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """How often each of ``n`` replications is picked in each of ``draws`` bootstrap resamples."""
    picks = rng.integers(0, n, size=(draws, n)) + n * np.arange(draws)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided 95 % confidence interval (``None`` if unknown)."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        if self.lo is None or self.hi is None:
            return None
        return (self.hi - self.lo) / 2

    def to_dict(self) -> dict:
        ci = None if self.lo is None else [self.lo, self.hi]
        return {"mean": self.mean, "ci95": ci}


def _t(n: int, level: float) -> float:
    return float(stats.t.ppf(0.5 + level / 2, n - 1))


def mean_ci(values: np.ndarray, level: float = 0.95, bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean of per-replication values with a Student-t interval.

    Parameters
    ----------
    values : array_like
        One value per replication.
    bounds : (float, float), optional
        Clip the interval to these (e.g. ``(0, 1)`` for availability).
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(None, None, None, 0)
    m = float(x.mean())
    if n < 2:
        return Estimate(m, None, None, n)
    half = _t(n, level) * float(x.std(ddof=1)) / np.sqrt(n)
    lo, hi = m - half, m + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Estimate(m, lo, hi, n)


def ratio_ci(num: np.ndarray, den: np.ndarray, level: float = 0.95) -> Estimate:
    """``sum(num) / sum(den)`` with a delta-method interval over replications."""
    a = np.asarray(num, dtype=float)
    b = np.asarray(den, dtype=float)
    n = len(a)
    if n == 0 or b.sum() <= 0:
        return Estimate(None, None, None, n)
    r = float(a.sum() / b.sum())
    if n < 2:
        return Estimate(r, None, None, n)
    resid = a - r * b
    se = float(np.sqrt(np.sum(resid**2) / (n * (n - 1)))) / float(b.mean())
    half = _t(n, level) * se
    return Estimate(r, max(r - half, 0.0), r + half, n)


def _weighted_quantiles(sorted_x: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Inverted-CDF quantile of ``sorted_x`` under each row of ``weights``."""
    cum = np.cumsum(weights, axis=1)
    target = q * cum[:, -1:]
    idx = (cum < target).sum(axis=1)
    return sorted_x[np.minimum(idx, len(sorted_x) - 1)]


def quantile_ci(
    samples: list[np.ndarray], q: float, level: float = 0.95, resamples: int = 400, seed: int = 0
) -> Estimate:
    """Quantile ``q`` of all replications' samples pooled, with a replication bootstrap.

    Each bootstrap draw resamples whole replications with replacement (their samples
    are not independent of each other); the interval is the percentile interval of the
    draws. The bootstrap's generator is seeded from ``seed``, so the interval is as
    reproducible as the rest of the result.
    """
    n = len(samples)
    pooled = np.concatenate(samples) if samples else np.zeros(0)
    if len(pooled) == 0:
        return Estimate(None, None, None, n)
    point = float(np.quantile(pooled, q))
    if n < 2:
        return Estimate(point, None, None, n)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n), [len(s) for s in samples])
    order = np.argsort(pooled, kind="stable")
    sorted_x, sorted_labels = pooled[order], labels[order]
    boots = []
    # bounded memory: at most ~4M weights at a time
    step = max(1, min(resamples, 4_000_000 // max(len(pooled), 1)))
    for start in range(0, resamples, step):
        b = min(step, resamples - start)
        counts = resample_counts(rng, n, b)
        weights = counts[:, sorted_labels].astype(float)
        ok = weights.sum(axis=1) > 0
        if ok.any():
            boots.append(_weighted_quantiles(sorted_x, weights[ok], q))
    draws = np.concatenate(boots) if boots else np.zeros(0)
    if len(draws) < 2:
        return Estimate(point, None, None, n)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return Estimate(point, float(min(lo, point)), float(max(hi, point)), n)
