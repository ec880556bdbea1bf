"""Specs of recovery mechanics: autoscaling, datastore roles, DNS failover, resiliency policy.

These shape what happens *after* something breaks: how fast capacity comes back, which
replica takes writes and what is lost when it dies, how clients find another region,
and what recovery objectives the topology promises per kind of disruption.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from simulator.model.base import Duration, Fraction, PositiveDuration, Spec
from simulator.model.distributions import Dist, fixed
from simulator.model.resilience import HealthCheckSpec

__all__ = [
    "ScalingRulesSpec",
    "AutoscalingSpec",
    "DatastoreSpec",
    "DnsSpec",
    "ObjectiveSpec",
    "ResiliencySpec",
    "DISRUPTIONS",
]


class ScalingRulesSpec(Spec):
    """One direction of a Kubernetes HPA ``behavior``: a stabilization window and a rate
    limit (at most ``max(pods, percent·current)`` replicas per ``period``)."""

    stabilization_s: Duration = Field(default=0.0, alias="stabilization")
    pods: NonNegativeInt = Field(default=4, description="replicas that may be added/removed per period")
    percent: float = Field(default=100.0, ge=0.0, le=1e6, description="percent of the current replicas per period")
    period_s: PositiveDuration = Field(default=15.0, alias="period")


def _down_defaults() -> ScalingRulesSpec:
    return ScalingRulesSpec.model_validate({"stabilization": "5m", "pods": 0, "percent": 100})


class AutoscalingSpec(Spec):
    """A horizontal pod autoscaler (Kubernetes HPA semantics).

    Every ``sync_period`` the controller measures the mean utilization of the ready
    replicas' workers over the last period and wants
    ``ceil(ready · utilization / target_utilization)`` replicas, unless the ratio is
    within ``tolerance`` of 1. Recommendations are smoothed by the stabilization windows
    (scale up to the lowest recommendation of the up window, down to the highest of the
    down window) and limited by the rate rules. New replicas become ready after
    ``provisioning`` and are placed in the service's zones with the fewest replicas
    among those that are serving: an impaired zone gets none. The replicas in
    ``replicas`` are the floor (``min``); ``max`` caps the total.
    """

    max: PositiveInt = Field(description="most replicas in total")
    target_utilization: Fraction = Field(default=0.6, description="mean busy share of workers to aim for")
    sync_period_s: PositiveDuration = Field(default=15.0, alias="sync_period")
    tolerance: Fraction = Field(default=0.1, description="no change while |utilization/target - 1| is within it")
    scale_up: ScalingRulesSpec = Field(default_factory=ScalingRulesSpec)
    scale_down: ScalingRulesSpec = Field(default_factory=_down_defaults)
    provisioning: Dist = Field(
        default_factory=lambda: fixed(30.0),
        description="from the decision until the new replica is ready",
    )

    @model_validator(mode="after")
    def _target(self) -> AutoscalingSpec:
        if self.target_utilization <= 0:
            raise PydanticCustomError("target", "'target_utilization' must be above 0")
        return self


class DatastoreSpec(Spec):
    """A primary/replica datastore with asynchronous replication.

    Calls to the service go to the primary (the writer endpoint). The first replica
    listed is the primary; the others follow it ``lag`` behind. When the primary stops
    serving, the balancer notices (its health checks), a failover of ``failover``
    promotes a serving replica, and the writes acknowledged in the last ``lag`` before
    the failure are lost: that is the RPO.
    """

    lag: Dist = Field(
        default_factory=lambda: fixed(1.0),
        description="asynchronous replication lag, drawn at each primary failure",
    )
    failover: Dist = Field(
        default_factory=lambda: fixed(30.0),
        description="from detection until a replica is promoted",
    )


class DnsSpec(Spec):
    """DNS failover between regions (Route 53-style health-checked records).

    Each client region resolves to the nearest region with the entry service. A DNS
    health check probes the answer's region every ``interval``; after
    ``unhealthy_after`` failed probes the record points at the next nearest healthy
    region (and back after ``healthy_after`` good probes of the nearer one). Clients
    cache answers for ``ttl``: a change reaches them spread evenly over the next
    ``ttl`` (cache ages are uniform), so the move is complete ``ttl`` after the change.
    """

    ttl_s: Duration = Field(default=60.0, alias="ttl")
    health_check: HealthCheckSpec = Field(
        default_factory=lambda: HealthCheckSpec.model_validate({"interval": "30s", "unhealthy_after": 3})
    )


#: Kinds of disruption a resiliency policy speaks of (the AWS Resilience Hub set).
DISRUPTIONS = ("software", "hardware", "zone", "region")


class ObjectiveSpec(Spec):
    """Recovery objectives for one kind of disruption."""

    rto_s: Duration | None = Field(default=None, alias="rto", description="time to recover")
    rpo_s: Duration | None = Field(default=None, alias="rpo", description="data loss, as seconds of writes")


class ResiliencySpec(Spec):
    """A resiliency policy: RTO/RPO per disruption type, judged on chaos results.

    Faults map to disruption types: instance stops, crash loops and capacity loss are
    ``hardware``; latency, errors, slowdowns, blackholes and spikes are ``software``;
    zone outages and partitions between zones are ``zone``; region and provider
    outages and partitions between regions are ``region``.
    """

    software: ObjectiveSpec | None = None
    hardware: ObjectiveSpec | None = None
    zone: ObjectiveSpec | None = None
    region: ObjectiveSpec | None = None
    percentile: float = Field(
        default=95.0, gt=0.0, le=100.0, description="percentile of the recovery distributions compared with the targets"
    )
