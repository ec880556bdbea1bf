"""Closed-form answers of the calibration systems (see ``tests/calibration.py``).

Every formula here is textbook reliability or queueing theory, computed independently of
failsim's code: alternating renewal processes (availability = E[up] / (E[up] + E[down])),
a k-of-n system of independent, identical replicas with independent exponential repair
as a birth-death chain, whose time below quorum is a phase-type distribution, and the
M/M/1 sojourn time (exponential with rate mu - lambda).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg, optimize, stats

YEAR = 365.25 * 86400.0
MIN_PER_YEAR = YEAR / 60.0
Z95 = float(stats.norm.ppf(0.95))


def k_of_n(n: int, k: int, mtbf_s: float, mttr_s: float) -> dict[str, float]:
    """Availability, outage rate (per second), mean outage and outage-duration quantiles
    of ``k``-of-``n`` identical replicas, each up Exp(mtbf) and down Exp(mttr), with
    independent repair (one repairer per replica)."""
    lam, mu = 1.0 / mtbf_s, 1.0 / mttr_s
    u = lam / (lam + mu)
    # j = replicas down; the system is down when fewer than k are up: j > n - k
    pi = np.array([math.comb(n, j) * u**j * (1 - u) ** (n - j) for j in range(n + 1)])
    limit = n - k  # most replicas down while the system is still up
    avail = float(pi[: limit + 1].sum())
    rate = float(pi[limit] * (n - limit) * lam)  # entering the down set
    down_states = list(range(limit + 1, n + 1))
    size = len(down_states)
    sub = np.zeros((size, size))  # generator restricted to the down set
    for a, j in enumerate(down_states):
        out_fail = (n - j) * lam if j < n else 0.0
        out_repair = j * mu
        sub[a, a] = -(out_fail + out_repair)
        if j < n:
            sub[a, a + 1] = out_fail
        if a > 0:
            sub[a, a - 1] = out_repair
    start = np.zeros(size)
    start[0] = 1.0
    ones = np.ones(size)
    mean = float(start @ np.linalg.solve(-sub, ones))

    def survival(t: float) -> float:
        return float(start @ linalg.expm(sub * t) @ ones)

    def quantile(q: float) -> float:
        return float(optimize.brentq(lambda t: 1.0 - survival(t) - q, 0.0, 200.0 * mean))

    return {
        "availability": avail, "rate_per_s": rate, "mean_outage_s": mean, "mtbf_s": avail / rate,
        "p50_s": quantile(0.5), "p95_s": quantile(0.95),
    }


def renewal(mean_up_s: float, mean_down_s: float, down_quantile) -> dict[str, float]:
    """An alternating renewal process (one component): availability, outage rate, mean
    outage and outage-duration quantiles (``down_quantile(q)``)."""
    cycle = mean_up_s + mean_down_s
    return {
        "availability": mean_up_s / cycle, "rate_per_s": 1.0 / cycle, "mean_outage_s": mean_down_s,
        "mtbf_s": mean_up_s, "p50_s": down_quantile(0.5), "p95_s": down_quantile(0.95),
    }


def weibull_mean(shape: float, scale_s: float) -> float:
    return scale_s * math.gamma(1.0 + 1.0 / shape)


def lognormal(median_s: float, sigma: float) -> tuple[float, object]:
    """Mean and quantile function of a lognormal."""
    return median_s * math.exp(sigma * sigma / 2), lambda q: median_s * math.exp(sigma * float(stats.norm.ppf(q)))


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    """Quantile ``q`` of the M/M/1 (FIFO) time in system: exponential with rate mu - lambda."""
    return -math.log1p(-q) / (mu - lam)


def mmck_blocking(c: int, k: int, offered: float) -> float:
    """Probability an arrival finds all ``k`` places of an M/M/c/K queue taken."""
    terms = [offered**j / math.factorial(j) if j <= c else offered**j / (math.factorial(c) * c ** (j - c))
             for j in range(k + 1)]
    return terms[-1] / sum(terms)


def mm1k_within(k: int, offered: float, mu: float, deadline_s: float) -> float:
    """Share of arrivals to an M/M/1/K queue that are admitted and done within
    ``deadline_s``: an arrival admitted behind ``n`` others spends Erlang(n + 1, mu) in
    the system (FIFO; giving up does not take its work out of the queue)."""
    p = np.array([offered**j for j in range(k + 1)])
    p /= p.sum()
    return float(sum(p[n] * stats.gamma.cdf(deadline_s, n + 1, scale=1.0 / mu) for n in range(k)))


def erlang_b(c: int, offered: float) -> float:
    b = 1.0
    for j in range(1, c + 1):
        b = offered * b / (j + offered * b)
    return b


def erlang_c(c: int, offered: float) -> float:
    b = erlang_b(c, offered)
    return c * b / (c - offered * (1 - b))


__all__ = [
    "YEAR", "MIN_PER_YEAR", "Z95", "k_of_n", "renewal", "weibull_mean", "lognormal", "mm1_sojourn_quantile",
    "mmck_blocking", "mm1k_within", "erlang_b", "erlang_c",
]
