"""Specs of the request path: load balancers, health checks, retries, circuit breakers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from simulator.model.base import Fraction, PositiveDuration, Spec

__all__ = [
    "HealthCheckSpec",
    "LoadBalancerSpec",
    "BackoffSpec",
    "RetryBudgetSpec",
    "CircuitBreakerSpec",
    "POLICIES",
]

POLICIES = ("round_robin", "random", "least_outstanding", "power_of_two")


class HealthCheckSpec(Spec):
    """Active health checks: a replica leaves rotation after ``unhealthy_after`` failed
    probes in a row and returns after ``healthy_after`` good ones (Kubernetes readiness
    defaults: every 10 s, 3 failures, 1 success)."""

    interval_s: PositiveDuration = Field(default=10.0, alias="interval")
    unhealthy_after: PositiveInt = 3
    healthy_after: PositiveInt = 1


class LoadBalancerSpec(Spec):
    """How requests to a service are spread over the replicas it believes healthy."""

    policy: Literal["round_robin", "random", "least_outstanding", "power_of_two"] = "round_robin"
    health_check: HealthCheckSpec | None = Field(
        default_factory=HealthCheckSpec, description="null: no checks, dead replicas keep receiving traffic"
    )
    locality: Literal["zone", "region", "any"] = Field(
        default="any", description="prefer healthy replicas in the caller's zone or region, spill over when none"
    )
    connect_timeout_s: PositiveDuration = Field(
        default=1.0, alias="connect_timeout", description="time for a caller to notice a dead replica"
    )


class BackoffSpec(Spec):
    """Exponential backoff between retries: ``min(cap, base·2^k)`` with jitter."""

    base_s: PositiveDuration = Field(alias="base")
    cap_s: PositiveDuration = Field(default=10.0, alias="cap")
    jitter: Literal["none", "full", "equal", "decorrelated"] = "full"

    @model_validator(mode="after")
    def _ordered(self) -> BackoffSpec:
        if self.cap_s < self.base_s:
            raise PydanticCustomError("order", "'cap' must not be below 'base'")
        return self


class RetryBudgetSpec(Spec):
    """Retries allowed only while they stay under ``ratio`` of the original calls in the
    last ``window`` (Envoy / Finagle retry budgets)."""

    ratio: Fraction
    window_s: PositiveDuration = Field(default=10.0, alias="window")


class CircuitBreakerSpec(Spec):
    """resilience4j semantics with a count-based sliding window.

    CLOSED: the outcomes of the last ``window`` calls are kept; once at least
    ``minimum_calls`` are recorded and the failure rate reaches ``failure_rate`` the
    breaker OPENs and rejects calls for ``open_duration``; then HALF_OPEN lets
    ``half_open_calls`` trial calls through and closes (or opens again) on their
    failure rate.
    """

    failure_rate: Fraction = 0.5
    minimum_calls: PositiveInt = 20
    window: PositiveInt = 100
    open_duration_s: PositiveDuration = Field(default=30.0, alias="open_duration")
    half_open_calls: PositiveInt = 5

    @model_validator(mode="after")
    def _fits(self) -> CircuitBreakerSpec:
        if self.minimum_calls > self.window:
            raise PydanticCustomError("window", "'minimum_calls' must not exceed 'window'")
        return self

