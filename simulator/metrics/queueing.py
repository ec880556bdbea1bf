"""Queueing formulas (pure functions): Erlang B and C, M/M/c/K state probabilities."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["erlang_b", "erlang_c", "mmck_probabilities"]


def erlang_b(servers: int, offered_erlangs: float) -> float:
    """Blocking probability of M/M/c/c (or M/G/c/c) with offered load ``a = λ/μ``."""
    b = 1.0
    for c in range(1, servers + 1):
        b = offered_erlangs * b / (c + offered_erlangs * b)
    return b


def erlang_c(servers: int, offered_erlangs: float) -> float:
    """Probability that an arrival waits in M/M/c (1 when ``a >= c``)."""
    c, a = servers, offered_erlangs
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


def mmck_probabilities(servers: int, capacity: int, offered_erlangs: float) -> np.ndarray:
    """Stationary probabilities of 0..capacity requests in M/M/c/K (any load)."""
    a, c = offered_erlangs, servers
    if a <= 0:
        p = np.zeros(capacity + 1)
        p[0] = 1.0
        return p
    n = np.arange(capacity + 1)
    logs = np.where(
        n <= c,
        n * math.log(a) - special.gammaln(n + 1),
        n * math.log(a) - special.gammaln(c + 1) - (n - c) * math.log(c),
    )
    p = np.exp(logs - logs.max())
    return p / p.sum()
