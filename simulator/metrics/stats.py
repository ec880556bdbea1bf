"""Confidence intervals across independent replications, chosen by measured coverage.

Replications are independent, so every interval comes from how the replications spread.
But what failsim measures per replication is skewed: most replication-years see a few
outages, some see a long one, and a run often rests on a handful of events. There the
Student-t interval is too narrow (on a two-replica pair at 10 replications it covers the
truth 89 % of the time, not 95 %). The methods here are the ones the calibration suite
(``tests/test_calibration.py``, README "How honest are the intervals") measures at 5 to
50 replications:

- a mean: Hall's (1992) skewness-corrected t interval (:func:`mean_ci`);
- a mean of positive, skewed samples (outage durations): the hull of Hall's interval and
  a gamma interval (the sum taken as gamma with the samples' mean and variance, its
  upper bound as if one more sample, as far above the smallest as the largest, were
  added: Fay & Feuer 1997) (:func:`positive_mean_ci`);
- a ratio of sums: the delta method, its linearised values given Hall's correction
  (:func:`ratio_ci`); for a positive, skewed numerator also the replications' ratios as
  positive samples (:func:`positive_ratio_ci`).

Event counts, downtime and quantiles have their own module (:mod:`.events`,
:mod:`.quantiles`). A bound that the data cannot give (too few events, nothing
observed) is ``None`` and the estimate says why in ``note``; it is never replaced by a
narrow guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "LEVEL", "Estimate", "mean_ci", "positive_mean_ci", "ratio_ci", "positive_ratio_ci", "hall_interval",
    "gamma_interval",
    "t_quantile", "resample_counts",
]

LEVEL = 0.95


def resample_counts(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """How often each of ``n`` replications is picked in each of ``draws`` bootstrap resamples."""
    picks = rng.integers(0, n, size=(draws, n)) + n * np.arange(draws)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided 95 % confidence interval.

    Either bound may be ``None``: the data cannot bound the figure on that side (``note``
    says why, e.g. "2 outages observed: too few to bound it above").
    """

    mean: float | None
    lo: float | None
    hi: float | None
    n: int
    note: str | None = None

    @property
    def half_width(self) -> float | None:
        if self.lo is None or self.hi is None:
            return None
        return (self.hi - self.lo) / 2

    @property
    def bounded(self) -> bool:
        """Whether both bounds are known."""
        return self.lo is not None and self.hi is not None

    def to_dict(self) -> dict:
        out: dict = {"mean": _plain(self.mean), "ci95": self.ci95()}
        if self.note:
            out["note"] = self.note
        return out

    def ci95(self) -> list | None:
        """``[lo, hi]`` (either may be ``None``), or ``None`` when neither is known."""
        if self.lo is None and self.hi is None:
            return None
        return [_plain(self.lo), _plain(self.hi)]

    def map(self, f, decreasing: bool = False) -> Estimate:
        """The estimate of ``f(figure)`` for a monotone ``f`` (bounds swap if it decreases)."""

        def g(x):
            return None if x is None else float(f(x))

        lo, hi = (g(self.hi), g(self.lo)) if decreasing else (g(self.lo), g(self.hi))
        return Estimate(g(self.mean), lo, hi, self.n, self.note)

    def clip(self, low: float = -math.inf, high: float = math.inf) -> Estimate:
        """The same estimate with its bounds kept inside ``[low, high]``."""

        def c(x):
            return None if x is None else min(max(x, low), high)

        return Estimate(self.mean, c(self.lo), c(self.hi), self.n, self.note)


def _plain(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def t_quantile(df: float, level: float = LEVEL) -> float:
    """The two-sided Student-t quantile for ``df`` degrees of freedom."""
    return float(stats.t.ppf(0.5 + level / 2, df))


def _skewness(x: np.ndarray) -> float:
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d * d * d)) / m2**1.5 if m2 > 0 else 0.0


def hall_interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """Hall's (1992) transformation interval for the mean of ``x``: the t statistic
    ``T`` is mapped through ``g(T) = T + aT² + a²T³/3 + b`` (``a = γ/(3√n)``,
    ``b = γ/(6√n)``, ``γ`` the sample skewness), which removes the skewness term of its
    Edgeworth expansion, and ``g`` is inverted in closed form. ``None`` for fewer than 2
    values."""
    n = len(x)
    if n < 2:
        return None
    m = float(x.mean())
    s = float(x.std(ddof=1))
    if not s > 0:
        return m, m
    se = s / math.sqrt(n)
    tq = t_quantile(n - 1, level)
    gamma = _skewness(x) if n > 2 else 0.0
    a, b = gamma / (3 * math.sqrt(n)), gamma / (6 * math.sqrt(n))

    def inverse(v: float) -> float:
        if abs(a) < 1e-12:
            return v - b
        return (float(np.cbrt(1 + 3 * a * (v - b))) - 1) / a

    return m - se * inverse(tq), m - se * inverse(-tq)


def gamma_interval(total: float, var: float, extra: float, level: float = LEVEL) -> tuple[float, float]:
    """Fay & Feuer's (1997) interval for a positive sum ``total`` with variance ``var``:
    the lower bound from the gamma with that mean and variance, the upper from the gamma
    of the sum with one more term ``extra`` (the term the data may not have shown)."""
    alpha = 1 - level
    lo = 0.0 if total <= 0 or not var > 0 else float(stats.gamma.ppf(alpha / 2, total * total / var, scale=var / total))
    up_total, up_var = total + extra, var + extra * extra
    if not (up_total > 0 and up_var > 0):
        return lo, max(total, 0.0)
    hi = float(stats.gamma.ppf(1 - alpha / 2, up_total * up_total / up_var, scale=up_var / up_total))
    return lo, hi


def mean_ci(values, level: float = LEVEL, bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean of per-replication values with Hall's skewness-corrected t interval.

    Parameters
    ----------
    values : array_like
        One value per replication.
    bounds : (float, float), optional
        Keep the interval inside these (e.g. ``(0, 1)`` for a fraction).

    Examples
    --------
    >>> e = mean_ci([1.0, 2.0, 3.0, 10.0])
    >>> e.lo < e.mean < e.hi
    True
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(None, None, None, 0, "no replications")
    m = float(x.mean())
    got = hall_interval(x, level)
    if got is None:
        return Estimate(m, None, None, n, "one replication: no interval")
    est = Estimate(m, min(got[0], m), max(got[1], m), n)
    return est.clip(*bounds) if bounds is not None else est


def positive_mean_ci(samples, level: float = LEVEL, min_samples: int = 5, what: str = "samples") -> Estimate:
    """Mean of positive, possibly heavy-tailed samples (outage durations, say): the hull
    of Hall's interval and the gamma interval of :func:`gamma_interval`, whose extra term
    is the range of the samples. Fewer than ``min_samples`` give no upper bound: no
    interval for a mean can promise coverage from so few draws of a long tail."""
    x = np.maximum(np.asarray(samples, dtype=float), 0.0)  # shares computed as 1 - a/b can be -1e-16
    k = len(x)
    if k == 0:
        return Estimate(None, None, None, 0, f"no {what}")
    m = float(x.mean())
    got = hall_interval(x, level)
    if got is None:
        return Estimate(m, None, None, k, f"1 {what[:-1] if what.endswith('s') else what}: no interval")
    lo, hi = got
    var = k * float(x.var(ddof=1))
    if var > 0:
        g_lo, g_hi = gamma_interval(float(x.sum()), var, float(x.max() - x.min()), level)
        lo, hi = min(lo, g_lo / k), max(hi, g_hi / k)
    lo = max(min(lo, m), 0.0)
    if k < min_samples:
        return Estimate(m, lo, None, k, f"{k} {what}: too few to bound the mean above (needs {min_samples})")
    return Estimate(m, lo, max(hi, m), k)


def ratio_ci(num, den, level: float = LEVEL) -> Estimate:
    """``sum(num) / sum(den)`` with a delta-method interval over replications.

    The linearised values ``(num_i - r·den_i) / mean(den)`` carry the ratio's error;
    Hall's correction is applied to their skewness (a ratio of rare failures to many
    requests is as skewed as the failures)."""
    a = np.asarray(num, dtype=float)
    b = np.asarray(den, dtype=float)
    n = len(a)
    if n == 0 or not b.sum() > 0:
        return Estimate(None, None, None, n, "nothing to divide by")
    r = float(a.sum() / b.sum())
    if n < 2:
        return Estimate(r, None, None, n, "one replication: no interval")
    z = (a - r * b) / float(b.mean())
    got = hall_interval(z, level)
    assert got is not None
    return Estimate(r, min(r + got[0], r), max(r + got[1], r), n)


def positive_ratio_ci(num, den, level: float = LEVEL) -> Estimate:
    """``sum(num) / sum(den)`` for positive, skewed numerators (failed requests, latency
    totals): the hull of :func:`ratio_ci` and :func:`positive_mean_ci` of the
    per-replication ratios (whose gamma bound reaches into the tail when a few
    replications hold most of the numerator)."""
    ratio = ratio_ci(num, den, level)
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if ratio.lo is None or ratio.hi is None or not (b > 0).all():
        return ratio
    per = positive_mean_ci(a / b, level, min_samples=2, what="replications")
    lo = ratio.lo if per.lo is None else min(ratio.lo, per.lo)
    hi = ratio.hi if per.hi is None else max(ratio.hi, per.hi)
    return Estimate(ratio.mean, max(lo, 0.0), hi, ratio.n)
