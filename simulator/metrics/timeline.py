"""Time-binned request figures: what users saw, second by second (pure data).

A timeline has bins of ``width_s`` over the whole replication (warm-up included, so a
fault injected early is visible). Each bin counts the entry requests that *arrived* in
it (so a bin says what a user arriving then went through), the successful ones, and a
histogram of their latencies (the same log buckets as
everywhere else). Both backends fill the same structure.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.metrics.histogram import BUCKETS, quantiles

__all__ = ["Timeline", "recovery_time"]


class Timeline:
    """Per-bin counters of one replication (or of several, added up)."""

    __slots__ = ("width_s", "requests", "success", "latency")

    def __init__(self, width_s: float, end_s: float) -> None:
        self.width_s = width_s
        bins = max(1, math.ceil(end_s / width_s))
        self.requests = np.zeros(bins)
        self.success = np.zeros(bins)
        self.latency = np.zeros((bins, BUCKETS), dtype=np.float32)

    def __reduce__(self):
        return (_rebuild, (self.width_s, self.requests, self.success, self.latency))

    @property
    def times(self) -> np.ndarray:
        """Start of each bin, seconds."""
        return np.arange(len(self.requests)) * self.width_s

    def add(self, other: Timeline) -> Timeline:
        out = _rebuild(self.width_s, self.requests + other.requests, self.success + other.success,
                       self.latency + other.latency)
        return out

    def quantile(self, q: float) -> np.ndarray:
        """Latency quantile of the successful requests of each bin (NaN when none)."""
        return quantiles(self.latency.astype(float), q)

    def success_ratio(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.requests > 0, self.success / np.maximum(self.requests, 1e-300), np.nan)


def _rebuild(width_s, requests, success, latency) -> Timeline:
    t = Timeline.__new__(Timeline)
    t.width_s, t.requests, t.success, t.latency = width_s, requests, success, latency
    return t


def recovery_time(times: np.ndarray, good: np.ndarray, after: float, settle_s: float) -> float | None:
    """Seconds from ``after`` until the SLI is good and stays good for ``settle_s``.

    ``good`` is a boolean per bin starting at ``times``; ``None`` if it never recovers.
    """
    width = times[1] - times[0] if len(times) > 1 else 1.0
    need = max(1, math.ceil(settle_s / width))
    run = 0
    for i in np.flatnonzero(times >= after - 1e-9):
        run = run + 1 if good[i] else 0
        if run >= need:
            return float(max(times[i - need + 1] - after, 0.0))
    return None
