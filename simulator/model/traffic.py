"""Specs of traffic (where requests come from, and when) and of the network."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from simulator.model.base import Bytes, Duration, Fraction, Name, PositiveDuration, Rate, Spec
from simulator.model.distributions import Dist, LogNormal
from simulator.model.recovery import DnsSpec

__all__ = ["DiurnalSpec", "SpikeSpec", "FlashCrowdSpec", "TrafficSpec", "RegionPairSpec", "NetworkSpec"]


class DiurnalSpec(Spec):
    """A daily sinusoid: ``rate`` is the daily mean, the peak is ``peak_to_trough`` times the trough."""

    peak_to_trough: float = Field(ge=1.0, le=1e6)
    peak_hour: float = Field(default=14.0, ge=0.0, lt=24.0, description="hour of the day of the peak, 0-24")


class SpikeSpec(Spec):
    """A scheduled traffic spike: the rate is multiplied during ``[at, at + duration]``,
    rising linearly over the first ``ramp`` and falling over the last ``ramp``."""

    at_s: Duration = Field(alias="at", description="start, from the beginning of the replication")
    duration_s: PositiveDuration = Field(alias="duration")
    multiplier: float = Field(gt=0, le=1e6)
    ramp_s: Duration = Field(default=0.0, alias="ramp")

    @model_validator(mode="after")
    def _ramp_fits(self) -> SpikeSpec:
        if 2 * self.ramp_s > self.duration_s:
            raise PydanticCustomError("ramp", "two ramps (up and down) must fit in 'duration'")
        return self


class FlashCrowdSpec(Spec):
    """Random flash crowds: Poisson occurrences, each with a random duration and multiplier."""

    rate_per_s: Rate = Field(alias="rate", description="occurrences, e.g. 2/w")
    duration: Dist
    multiplier: Dist = Field(description="a distribution of multipliers (plain numbers), e.g. {uniform: {low: 2, high: 6}}")


class TrafficSpec(Spec):
    """Requests arriving at an entry service as a (non-homogeneous) Poisson process."""

    name: Name | None = None
    entry: Name
    rate_per_s: Rate = Field(alias="rate", description="mean arrival rate, e.g. 400/s")
    diurnal: DiurnalSpec | None = None
    spikes: tuple[SpikeSpec, ...] = ()
    flash_crowds: FlashCrowdSpec | None = None
    from_: dict[Name, Fraction] | None = Field(
        default=None, alias="from", description="client regions and their share; routed to the nearest healthy region"
    )
    deadline_s: PositiveDuration | None = Field(
        default=None, alias="deadline", description="end-to-end deadline: the client gives up after it"
    )
    dns: DnsSpec | None = Field(
        default=None, description="DNS failover between regions for the clients in 'from' (default: instant)"
    )
    request_bytes: Bytes = Field(default=0.0, description="sent by the client per request (priced as internet ingress)")
    response_bytes: Bytes = Field(default=0.0, description="returned per request (priced as internet egress)")

    @model_validator(mode="after")
    def _shares(self) -> TrafficSpec:
        if self.rate_per_s <= 0:
            raise PydanticCustomError("rate", "'rate' must be above 0")
        if self.from_ is not None and abs(sum(self.from_.values()) - 1.0) > 1e-6:
            raise PydanticCustomError("shares", "the shares in 'from' must add up to 100%")
        if self.dns is not None and self.from_ is None:
            raise PydanticCustomError("dns", "'dns' needs client regions in 'from'")
        return self

    @property
    def label(self) -> str:
        return self.name or self.entry


def _lognormal(median: str, p99: str) -> LogNormal:
    return LogNormal.model_validate({"lognormal": {"median": median, "p99": p99}})


class RegionPairSpec(Spec):
    between: tuple[Name, Name]
    rtt: Dist


class NetworkSpec(Spec):
    """Round-trip times of a call by locality (each is a distribution of the RTT)."""

    same_zone: Dist = Field(default_factory=lambda: _lognormal("0.3ms", "1.5ms"))
    cross_zone: Dist = Field(default_factory=lambda: _lognormal("1ms", "4ms"))
    cross_region: Dist = Field(default_factory=lambda: _lognormal("70ms", "110ms"))
    client: Dist = Field(
        default_factory=lambda: _lognormal("20ms", "100ms"),
        description="client to the front door of a region in its own region (the last mile)",
    )
    region_pairs: tuple[RegionPairSpec, ...] = ()
