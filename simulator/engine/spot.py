"""Spot interruptions as a second failure process of a replica.

A spot replica fails on its own (its ``failure`` spec, exponential with rate λ) and is
also interrupted by the provider (a Poisson process with rate μ), after which a
replacement takes ``spot_replacement``. With two competing exponential clocks the time
to the next failure is exponential with rate λ + μ, and which clock fired is
independent of when it fired, with probability μ / (λ + μ) for an interruption. So
the replica stays one alternating renewal process: its time to failure is
``Exp(λ + μ)`` and its repair is drawn from the mixture of the two repair
distributions. Both are read from the replica's own named streams (``#ttf``,
``#ttr``), so no other component's numbers move.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.model.distributions import exponential

__all__ = ["Mixture", "with_interruptions"]


class Mixture:
    """A two-part mixture: ``first`` with probability ``p``, else ``second``.

    ``ppf(u)`` maps ``u < p`` to ``first.ppf(u / p)`` and the rest to
    ``second.ppf((u - p) / (1 - p))``: one uniform per draw, as every stream expects.
    """

    def __init__(self, first: Any, second: Any, p: float) -> None:
        self.first, self.second, self.p = first, second, float(p)

    @property
    def mean(self) -> float:
        return self.p * self.first.mean + (1 - self.p) * self.second.mean

    @property
    def variance(self) -> float:
        m = self.mean
        parts = ((self.p, self.first), (1 - self.p, self.second))
        return sum(w * (d.variance + (d.mean - m) ** 2) for w, d in parts)

    @property
    def scv(self) -> float:
        return self.variance / self.mean**2

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        p = self.p
        lo = u < p
        a = self.first.ppf(np.where(lo, u / p, 0.5)) if p > 0 else np.zeros_like(u)
        b = self.second.ppf(np.where(lo, 0.5, (u - p) / (1 - p))) if p < 1 else np.zeros_like(u)
        return np.where(lo, a, b)

    def __reduce__(self):
        return (Mixture, (self.first, self.second, self.p))


def with_interruptions(ttf: Any, ttr: Any, rate_per_s: float, replacement: Any, cache: dict) -> tuple[Any, Any]:
    """The (time to failure, time to repair) of a replica that is also interrupted at
    ``rate_per_s``; one pair per distinct input, so replicas share the objects."""
    key = ("spot", id(ttf), id(ttr), rate_per_s, id(replacement))
    if key not in cache:
        own = 0.0 if ttf is None else 1.0 / ttf.mean  # check_pricing ensures it is exponential
        total = own + rate_per_s
        repair = replacement if ttf is None else Mixture(ttr, replacement, own / total)
        cache[key] = (exponential(1.0 / total), repair)
    return cache[key]
