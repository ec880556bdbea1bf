"""Runtime state of circuit breakers, retry budgets and backoff."""

from __future__ import annotations

import math

from simulator.model.resilience import BackoffSpec, CircuitBreakerSpec, RetryBudgetSpec
from simulator.rng import Stream

__all__ = ["Breaker", "Budget", "backoff_delay", "CLOSED", "OPEN", "HALF_OPEN"]

CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class Breaker:
    """A count-based circuit breaker with resilience4j's state machine."""

    __slots__ = (
        "threshold", "minimum", "size", "open_s", "trials", "state", "ring", "pos", "recorded",
        "failures", "open_until", "permits", "trial_done", "trial_failed", "opened", "open_time",
        "_opened_at",
    )

    def __init__(self, spec: CircuitBreakerSpec) -> None:
        self.threshold = spec.failure_rate
        self.minimum = spec.minimum_calls
        self.size = spec.window
        self.open_s = spec.open_duration_s
        self.trials = spec.half_open_calls
        self.state = CLOSED
        self.ring = [False] * spec.window  # True = failure
        self.pos = 0
        self.recorded = 0
        self.failures = 0
        self.open_until = 0.0
        self.permits = 0
        self.trial_done = 0
        self.trial_failed = 0
        self.opened = 0  # how many times it opened
        self.open_time = 0.0  # seconds spent open (closed intervals only)
        self._opened_at = 0.0

    def permit(self, now: float) -> bool:
        """May a call go through now? (OPEN rejects; HALF_OPEN admits a few trials.)"""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now < self.open_until:
                return False
            self.state = HALF_OPEN
            self.open_time += now - self._opened_at
            self.permits, self.trial_done, self.trial_failed = self.trials, 0, 0
        if self.permits > 0:
            self.permits -= 1
            return True
        return False

    def record(self, failed: bool, now: float) -> None:
        """The outcome of a permitted call."""
        if self.state == CLOSED:
            if self.recorded == self.size:
                self.failures -= self.ring[self.pos]
            else:
                self.recorded += 1
            self.ring[self.pos] = failed
            self.failures += failed
            self.pos = (self.pos + 1) % self.size
            if self.recorded >= self.minimum and self.failures >= self.threshold * self.recorded:
                self._open(now)
        elif self.state == HALF_OPEN:
            self.trial_done += 1
            self.trial_failed += failed
            if self.trial_done >= self.trials:
                if self.trial_failed >= self.threshold * self.trial_done:
                    self._open(now)
                else:
                    self.state = CLOSED
                    self.ring = [False] * self.size
                    self.pos = self.recorded = self.failures = 0
        # outcomes that arrive while OPEN (calls admitted before it opened) are ignored

    def _open(self, now: float) -> None:
        self.state = OPEN
        self.open_until = now + self.open_s
        self.opened += 1
        self._opened_at = now

    def restart_counters(self, now: float) -> None:
        """Forget openings and open time so far (the end of the warm-up)."""
        self.opened = 0
        self.open_time = 0.0
        if self.state == OPEN:
            self._opened_at = now

    def time_open(self, now: float) -> float:
        """Seconds spent open so far."""
        return self.open_time + (now - self._opened_at if self.state == OPEN else 0.0)


class Budget:
    """Retries allowed while retries < ratio × original calls over a sliding window.

    The window is kept in ten buckets, so it slides in steps of a tenth of its length.
    """

    __slots__ = ("ratio", "width", "calls", "retries", "stamp", "denied")

    def __init__(self, spec: RetryBudgetSpec) -> None:
        self.ratio = spec.ratio
        self.width = spec.window_s / 10.0
        self.calls = [0] * 10
        self.retries = [0] * 10
        self.stamp = [-1] * 10
        self.denied = 0

    def _slot(self, now: float) -> int:
        k = int(now / self.width)
        i = k % 10
        if self.stamp[i] != k:
            self.stamp[i], self.calls[i], self.retries[i] = k, 0, 0
        return i

    def _sums(self, now: float) -> tuple[int, int]:
        k = int(now / self.width)
        calls = retries = 0
        for i in range(10):
            if k - self.stamp[i] < 10:
                calls += self.calls[i]
                retries += self.retries[i]
        return calls, retries

    def on_call(self, now: float) -> None:
        self.calls[self._slot(now)] += 1

    def allow_retry(self, now: float) -> bool:
        calls, retries = self._sums(now)
        if retries + 1 > self.ratio * calls:
            self.denied += 1
            return False
        self.retries[self._slot(now)] += 1
        return True


def backoff_delay(spec: BackoffSpec | None, retry: int, prev: float, u: Stream) -> float:
    """Wait before retry number ``retry`` (1 for the first), AWS-style jitter."""
    if spec is None:
        return 0.0
    base, cap = spec.base_s, spec.cap_s
    if spec.jitter == "decorrelated":
        prev = prev if prev > 0 else base
        return min(cap, base + u() * (3.0 * prev - base))
    d = min(cap, base * math.pow(2.0, retry - 1))
    if spec.jitter == "full":
        return u() * d
    if spec.jitter == "equal":
        return d / 2.0 + u() * d / 2.0
    return d
