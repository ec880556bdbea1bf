"""Closed-form reliability and queueing results, used as oracles for the simulation.

Availability of reliability block diagrams (series, parallel, k-of-n), birth-death
Markov chains for shared repair crews and beta-factor common cause, Erlang B and C,
M/M/c sojourn times. Each is textbook material; the tests compare the simulation with
these within tolerances derived from the simulation's standard error.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from simulator.metrics.queueing import erlang_b, erlang_c, mmck_probabilities

__all__ = [
    "single",
    "series",
    "parallel",
    "k_of_n",
    "ctmc_steady_state",
    "k_of_n_shared_repair",
    "k_of_n_beta_factor",
    "erlang_b",
    "erlang_c",
    "mmc_wait_probability",
    "mmc_mean_sojourn",
    "mmc_sojourn_cdf",
    "mmc_sojourn_quantile",
    "mm1_sojourn_quantile",
    "mmck_blocking",
    "retry_attempts",
]


def single(mttf: float, mttr: float) -> float:
    """Steady-state availability of one alternating renewal component, any distributions."""
    return mttf / (mttf + mttr)


def series(*avail: float) -> float:
    """Every block is needed (independent blocks)."""
    return float(np.prod(avail))


def parallel(*avail: float) -> float:
    """Any one block suffices (independent blocks)."""
    return 1.0 - float(np.prod([1.0 - a for a in avail]))


def k_of_n(k: int, n: int, a: float) -> float:
    """At least ``k`` of ``n`` independent, identical blocks of availability ``a`` are up."""
    return float(sum(math.comb(n, i) * a**i * (1 - a) ** (n - i) for i in range(k, n + 1)))


def ctmc_steady_state(q: np.ndarray) -> np.ndarray:
    """Stationary distribution of a continuous-time Markov chain with generator ``q``."""
    n = q.shape[0]
    a = np.vstack([q.T, np.ones(n)])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(a, b, rcond=None)
    return pi


def k_of_n_shared_repair(k: int, n: int, failure_rate: float, repair_rate: float, crews: int) -> float:
    """k-of-n with exponential failures and at most ``crews`` repairs at a time.

    The state is the number of failed components: failures at ``(n - i)·λ``, repairs
    at ``min(i, crews)·μ``.
    """
    q = np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        if i < n:
            q[i, i + 1] = (n - i) * failure_rate
        if i > 0:
            q[i, i - 1] = min(i, crews) * repair_rate
        q[i, i] = -q[i].sum()
    pi = ctmc_steady_state(q)
    return float(pi[: n - k + 1].sum())


def k_of_n_beta_factor(k: int, n: int, failure_rate: float, repair_rate: float, beta: float) -> float:
    """k-of-n with a beta-factor common cause and independent repairs.

    Each component fails on its own at ``(1 - β)·λ``; shocks at ``β·λ`` fail every
    component that is up (the state jumps to all failed); each repairs at ``μ``.
    """
    q = np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        if i < n:
            q[i, i + 1] += (n - i) * (1 - beta) * failure_rate
            q[i, n] += beta * failure_rate
        if i > 0:
            q[i, i - 1] += i * repair_rate
        q[i, i] = 0.0
        q[i, i] = -q[i].sum()
    pi = ctmc_steady_state(q)
    return float(pi[: n - k + 1].sum())


mmc_wait_probability = erlang_c


def mmc_mean_sojourn(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean time in system of M/M/c: ``C(c, a) / (cμ - λ) + 1/μ``."""
    c, lam, mu = servers, arrival_rate, service_rate
    return erlang_c(c, lam / mu) / (c * mu - lam) + 1.0 / mu


def mmc_sojourn_cdf(t: float | np.ndarray, servers: int, arrival_rate: float, service_rate: float):
    """P(sojourn ≤ t) in M/M/c under FCFS.

    The sojourn is service S ~ Exp(μ) plus, with probability C, an independent wait
    W ~ Exp(θ) with θ = cμ - λ; the mixture has a closed form (θ ≠ μ).
    """
    c, lam, mu = servers, arrival_rate, service_rate
    t = np.asarray(t, dtype=float)
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam
    cdf_s = 1.0 - np.exp(-mu * t)
    if abs(theta - mu) < 1e-12 * mu:
        conv = 1.0 - np.exp(-mu * t) * (1.0 + mu * t)
    else:
        conv = 1.0 - (theta * np.exp(-mu * t) - mu * np.exp(-theta * t)) / (theta - mu)
    return (1.0 - pw) * cdf_s + pw * conv


def mmc_sojourn_quantile(q: float, servers: int, arrival_rate: float, service_rate: float) -> float:
    """The ``q`` quantile of the M/M/c sojourn time (numerically inverted CDF)."""
    hi = 1.0 / service_rate
    while mmc_sojourn_cdf(hi, servers, arrival_rate, service_rate) < q:
        hi *= 2.0
    return float(
        optimize.brentq(lambda t: mmc_sojourn_cdf(t, servers, arrival_rate, service_rate) - q, 0.0, hi, xtol=1e-12)
    )


def mm1_sojourn_quantile(q: float, arrival_rate: float, service_rate: float) -> float:
    """M/M/1 sojourn is Exp(μ − λ): its quantile is ``-ln(1 - q) / (μ - λ)``."""
    return -math.log(1.0 - q) / (service_rate - arrival_rate)


def mmck_blocking(servers: int, capacity: int, arrival_rate: float, service_rate: float) -> float:
    """Blocking probability of M/M/c/K (``capacity`` = servers + waiting room)."""
    return float(mmck_probabilities(servers, capacity, arrival_rate / service_rate)[-1])


def retry_attempts(p_fail: float, retries: int) -> tuple[float, float]:
    """Independent tries failing with probability ``p``, up to ``1 + retries`` of them.

    Returns the expected number of attempts ``(1 - p^(r+1)) / (1 - p)`` and the
    probability that every attempt fails, ``p^(r+1)``.
    """
    r = retries
    if p_fail >= 1.0:
        return float(r + 1), 1.0
    return (1.0 - p_fail ** (r + 1)) / (1.0 - p_fail), p_fail ** (r + 1)
