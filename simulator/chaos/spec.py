"""Chaos plan files: steady-state probes, a method of faults, rollbacks.

The shape follows Chaos Toolkit experiments and AWS FIS templates::

    title: use1-az1 loses power at peak
    duration: 3h                      # simulated time of each replication
    replications: 20
    steady_state:
      probes:
        - {sli: success_ratio, at_least: 99.5%}
        - {sli: p99, at_most: 400ms}
    method:
      - name: az1-power
        fault: zone_outage
        target: {zone: use1-az1}
        at: 1h                        # from the start of the replication
        duration: 30m
    rollbacks:
      - {undo: az1-power, at: 1h20m}  # ends a fault early (or one without a duration)

Each fault's parameters sit next to it (``multiplier: 5``); a parameter that does not
apply to the fault, or a missing one it needs, is an error naming the key path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from simulator import units
from simulator.model.base import Duration, Fraction, Name, PositiveDuration, Spec

__all__ = ["FAULTS", "DISRUPTION_OF", "TargetSpec", "FaultStep", "ProbeSpec", "SteadyStateSpec",
           "RollbackSpec", "MetastabilitySpec", "ChaosPlan"]

#: fault -> (required parameters, optional parameters)
FAULTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "instance_stop": ((), ()),
    "crash_loop": ((), ("up_for", "backoff", "backoff_cap")),
    "zone_outage": ((), ()),
    "region_outage": ((), ()),
    "provider_outage": ((), ()),
    "partition": ((), ("direction",)),
    "latency": (("delay",), ("jitter",)),
    "error_injection": (("rate",), ()),
    "slowdown": (("multiplier",), ()),
    "capacity_loss": (("fraction",), ()),
    "dependency_blackhole": ((), ()),
    "traffic_spike": (("multiplier",), ("ramp",)),
    "replication_pause": ((), ()),
}
PARAMETERS = ("up_for", "backoff", "backoff_cap", "direction", "delay", "jitter", "rate", "multiplier",
              "fraction", "ramp")

#: Which kind of disruption each fault is, for the resiliency policy.
DISRUPTION_OF = {
    "instance_stop": "hardware",
    "crash_loop": "hardware",
    "capacity_loss": "hardware",
    "zone_outage": "zone",
    "region_outage": "region",
    "provider_outage": "region",
    "partition": "zone",  # "region" when it cuts between regions (decided at compile time)
    "latency": "software",
    "error_injection": "software",
    "slowdown": "software",
    "dependency_blackhole": "software",
    "traffic_spike": "software",
    "replication_pause": "software",
}


class TargetSpec(Spec):
    """What a fault hits: every selector given must match (labels: all of them)."""

    service: Name | None = None
    zone: Name | None = None
    region: Name | None = None
    provider: Name | None = None
    entry: Name | None = Field(default=None, description="a traffic entry (its name, or its entry service)")
    labels: dict[str, str] = Field(default_factory=dict)
    between: tuple[Name, Name] | None = Field(default=None, description="a partition's two sides: zones or regions")


class FaultStep(Spec):
    """One action of the method: a fault on a target, from ``at`` (or ``after`` a step) for ``duration``."""

    name: Name | None = None
    fault: Literal[
        "instance_stop", "crash_loop", "zone_outage", "region_outage", "provider_outage", "partition",
        "latency", "error_injection", "slowdown", "capacity_loss", "dependency_blackhole",
        "traffic_spike", "replication_pause",
    ]
    target: TargetSpec = Field(default_factory=TargetSpec)
    mode: Literal["all", "one", "count", "percent"] = Field(
        default="all", description="how many of the matching targets: all, one, count (N), percent (P)"
    )
    count: PositiveInt | None = None
    percent: Fraction | None = None
    at_s: Duration | None = Field(default=None, alias="at", description="start, from the beginning of the replication")
    after: Name | None = Field(default=None, description="start when this step ends")
    delay_s: Duration = Field(default=0.0, alias="delay_after", description="wait after 'after'")
    duration_s: PositiveDuration | None = Field(
        default=None, alias="duration", description="default: until a rollback, or the end"
    )
    # parameters (which apply depends on the fault)
    up_for_s: PositiveDuration | None = Field(default=None, alias="up_for", description="crash_loop: runs this long before crashing")
    backoff_s: PositiveDuration | None = Field(default=None, alias="backoff", description="crash_loop: first restart delay (doubles)")
    backoff_cap_s: PositiveDuration | None = Field(default=None, alias="backoff_cap", description="crash_loop: longest restart delay")
    direction: Literal["both", "one_way"] | None = Field(default=None, description="partition: both ways or first side -> second")
    delay_added_s: Duration | None = Field(default=None, alias="delay", description="latency: added one-way delay")
    jitter_s: Duration | None = Field(default=None, alias="jitter", description="latency: +- uniform jitter")
    rate: Fraction | None = Field(default=None, description="error_injection: share of requests failed")
    multiplier: float | None = Field(default=None, gt=0, le=1e6, description="slowdown: service-time factor; traffic_spike: rate factor")
    fraction: Fraction | None = Field(default=None, description="capacity_loss: share of workers lost")
    ramp_s: Duration | None = Field(default=None, alias="ramp", description="traffic_spike: linear ramp up and down")

    @model_validator(mode="after")
    def _consistent(self) -> FaultStep:
        if (self.at_s is None) == (self.after is None):
            raise PydanticCustomError("timing", "give exactly one of 'at' or 'after'")
        if self.mode == "count" and self.count is None:
            raise PydanticCustomError("mode", "mode 'count' needs 'count'")
        if self.mode == "percent" and self.percent is None:
            raise PydanticCustomError("mode", "mode 'percent' needs 'percent'")
        required, optional = FAULTS[self.fault]
        given = {p for p in PARAMETERS if getattr(self, _FIELD[p]) is not None}
        for p in sorted(given - set(required) - set(optional)):
            raise PydanticCustomError("parameter", f"'{p}' does not apply to {self.fault}")
        for p in required:
            if p not in given:
                raise PydanticCustomError("parameter", f"{self.fault} needs '{p}'")
        if self.fault == "slowdown" and self.multiplier is not None and self.multiplier < 1:
            raise PydanticCustomError("parameter", "slowdown 'multiplier' must be at least 1")
        if self.fault == "traffic_spike" and self.duration_s is None:
            raise PydanticCustomError("parameter", "traffic_spike needs 'duration'")
        if self.fault == "partition" and self.target.between is None:
            raise PydanticCustomError("parameter", "partition needs 'target: {between: [A, B]}'")
        if self.ramp_s is not None and self.duration_s is not None and 2 * self.ramp_s > self.duration_s:
            raise PydanticCustomError("parameter", "two ramps (up and down) must fit in 'duration'")
        return self

    def label(self, index: int) -> str:
        return self.name or f"{self.fault}-{index}"


_FIELD = {
    "up_for": "up_for_s", "backoff": "backoff_s", "backoff_cap": "backoff_cap_s", "direction": "direction",
    "delay": "delay_added_s", "jitter": "jitter_s", "rate": "rate", "multiplier": "multiplier",
    "fraction": "fraction", "ramp": "ramp_s",
}

_LATENCY_SLIS = ("p50", "p90", "p99", "p999")


class ProbeSpec(Spec):
    """A steady-state probe: an SLI of the entry traffic and its tolerance.

    ``success_ratio`` (successful / all entry requests) wants ``at_least``;
    ``error_ratio`` and the latency percentiles ``p50 p90 p99 p999`` (of successful
    requests) want ``at_most``.
    """

    name: Name | None = None
    sli: Literal["success_ratio", "error_ratio", "p50", "p90", "p99", "p999"]
    at_least: Fraction | None = None
    at_most: float | str | None = None
    entry: Name | None = Field(default=None, description="one traffic entry; default: all of them")

    @model_validator(mode="after")
    def _tolerance(self) -> ProbeSpec:
        if self.sli == "success_ratio":
            if self.at_least is None or self.at_most is not None:
                raise PydanticCustomError("tolerance", "success_ratio takes 'at_least' (e.g. 99.9%)")
        else:
            if self.at_most is None or self.at_least is not None:
                raise PydanticCustomError("tolerance", f"{self.sli} takes 'at_most'")
            try:
                value = (units.parse_duration if self.sli in _LATENCY_SLIS else units.parse_fraction)(self.at_most)
            except units.UnitError as exc:
                raise PydanticCustomError("tolerance", f"'at_most': {exc}") from None
            object.__setattr__(self, "at_most", value)
        return self

    @property
    def label(self) -> str:
        return self.name or self.sli

    @property
    def limit(self) -> float:
        return float(self.at_least if self.sli == "success_ratio" else self.at_most)  # type: ignore[arg-type]

    def ok(self, value: float) -> bool:
        """Whether an observed value is within tolerance (no requests: nothing violated)."""
        if value != value:  # NaN
            return True
        return value >= self.limit if self.sli == "success_ratio" else value <= self.limit


class SteadyStateSpec(Spec):
    """The hypothesis: what must hold before, and again after, the method."""

    title: str = "the system serves within its SLO"
    probes: tuple[ProbeSpec, ...] = Field(min_length=1)


class RollbackSpec(Spec):
    """End a step early (or end one that has no duration)."""

    undo: Name
    at_s: Duration | None = Field(default=None, alias="at")
    after: Name | None = None
    delay_s: Duration = Field(default=0.0, alias="delay_after")

    @model_validator(mode="after")
    def _timing(self) -> RollbackSpec:
        if (self.at_s is None) == (self.after is None):
            raise PydanticCustomError("timing", "give exactly one of 'at' or 'after'")
        return self


class MetastabilitySpec(Spec):
    """When to call a collapse metastable: the success ratio stays below ``below`` for
    longer than ``after`` once every fault has ended."""

    below: Fraction = 0.5
    after_s: PositiveDuration = Field(default=300.0, alias="after")


class ChaosPlan(Spec):
    """A chaos experiment on a topology (see the module docstring for the shape)."""

    title: str
    description: str = ""
    topology: str | None = Field(
        default=None, description="the topology file the plan was written for, relative to the plan (informative)"
    )
    duration_s: PositiveDuration | None = Field(
        default=None, alias="duration", description="simulated time per replication; default: last fault end + 1h"
    )
    replications: PositiveInt = 20
    seed: NonNegativeInt | None = Field(default=None, description="default: the topology's seed")
    background_failures: bool = Field(default=True, description="the topology's own failures keep running")
    clock_s: Duration = Field(
        default=0.0, alias="clock",
        description="time of day at which each replication starts (shifts the diurnal cycle), e.g. 14h for a peak at 15h",
    )
    timeline_s: PositiveDuration = Field(default=10.0, alias="timeline", description="bin width of the timeline")
    settle_s: Duration = Field(default=120.0, alias="settle", description="how long the SLI must stay good to count as recovered")
    metastability: MetastabilitySpec = Field(default_factory=MetastabilitySpec)
    steady_state: SteadyStateSpec | None = Field(default=None, description="default: from the topology's slo")
    method: tuple[FaultStep, ...] = Field(min_length=1)
    rollbacks: tuple[RollbackSpec, ...] = ()
    tags: tuple[str, ...] = ()
    _source: str | None = None

    def steps(self) -> list[tuple[str, FaultStep]]:
        return [(s.label(i), s) for i, s in enumerate(self.method)]

    def probes(self, topology: Any) -> tuple[ProbeSpec, ...]:
        """The steady-state probes, or the topology's request SLOs (99.9 % success by default)."""
        if self.steady_state is not None:
            return self.steady_state.probes
        slo = topology.slo
        probes = [ProbeSpec(sli="success_ratio", at_least=(slo.request_availability if slo and slo.request_availability else 0.999))]
        if slo is not None and slo.latency is not None:
            for k, v in slo.latency.targets().items():
                probes.append(ProbeSpec(sli=k, at_most=v))  # type: ignore[arg-type]
        return tuple(probes)
