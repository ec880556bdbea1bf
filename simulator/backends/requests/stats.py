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

    __slots__ = ("calls", "outcomes", "lat_ok", "lat_all", "attempts", "attempt_outcomes", "inflight")

    def __init__(self) -> None:
        self.calls = 0
        self.outcomes = [0] * len(OUTCOMES)
        self.lat_ok = LogHistogram()
        self.lat_all = LogHistogram()
        self.attempts = 0
        self.attempt_outcomes = [0] * len(OUTCOMES)
        self.inflight = 0

    def freeze(self) -> dict:
        return {
            "calls": self.calls,
            "outcomes": dict(zip(OUTCOMES, self.outcomes, strict=True)),
            "attempts": self.attempts,
            "attempt_outcomes": dict(zip(OUTCOMES, self.attempt_outcomes, strict=True)),
            "in_flight": self.inflight,
            "latency_ok": self.lat_ok.freeze(),
            "latency_all": self.lat_all.freeze(),
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
