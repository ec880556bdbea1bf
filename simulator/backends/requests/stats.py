"""Counters kept while requests run, and their plain, picklable snapshot."""

from __future__ import annotations

from simulator.metrics.histogram import LogHistogram
from simulator.metrics.outcomes import (
    CIRCUIT_OPEN,
    CONNECTION_ERROR,
    DEPENDENCY_FAILURE,
    ERROR,
    OUTCOMES,
    SHED,
    SUCCESS,
    TIMEOUT,
)

__all__ = ["OUTCOMES", "SUCCESS", "TIMEOUT", "SHED", "CONNECTION_ERROR", "DEPENDENCY_FAILURE",
           "CIRCUIT_OPEN", "ERROR", "CallStats", "EdgeStats"]


class CallStats:
    """Logical calls to one service (or requests of one entry) and their attempts.

    A logical call is what the caller asked for; its attempts are the tries sent
    (first one plus retries). Only calls that started after the warm-up are counted.
    """

    __slots__ = ("calls", "outcomes", "lat_ok", "lat_fail", "attempts", "attempt_outcomes", "inflight")

    def __init__(self) -> None:
        self.calls = 0
        self.outcomes = [0] * len(OUTCOMES)
        self.lat_ok = LogHistogram()  # successful calls
        self.lat_fail = LogHistogram()  # the others; "all" is the two added up
        self.attempts = 0
        self.attempt_outcomes = [0] * len(OUTCOMES)
        self.inflight = 0

    def freeze(self, also: list[CallStats] = ()) -> dict:
        """Plain counters; ``also``: stats whose latencies count here too (an entry's
        requests are recorded once, under the entry, and count for its service)."""
        ok = LogHistogram.merged([self.lat_ok, *(a.lat_ok for a in also)])
        fail = LogHistogram.merged([self.lat_fail, *(a.lat_fail for a in also)])
        return {
            "calls": self.calls,
            "outcomes": dict(zip(OUTCOMES, self.outcomes, strict=True)),
            "attempts": self.attempts,
            "attempt_outcomes": dict(zip(OUTCOMES, self.attempt_outcomes, strict=True)),
            "in_flight": self.inflight,
            "latency_ok": ok.freeze(),
            "latency_all": LogHistogram.merged([ok, fail]).freeze(),
        }


class EdgeStats:
    """One caller -> callee edge: retries, budget denials, breaker rejections."""

    __slots__ = ("calls", "attempts", "retries", "rejected", "budget_denied")

    def __init__(self) -> None:
        self.calls = self.attempts = self.retries = self.rejected = self.budget_denied = 0

    def freeze(self) -> dict:
        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.retries,
            "breaker_rejected": self.rejected,
            "budget_denied": self.budget_denied,
        }
