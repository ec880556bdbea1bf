"""Specs of what a topology costs: the ``pricing:`` section and byte sizes.

Prices are plain numbers in the section's ``currency`` (default USD): compute per
replica-hour, data transfer per GB (10^9 bytes), downtime per minute and per failed
request. Sizes are written ``2KB``, ``1.5MiB`` or a number of bytes. Cross-references
(instance classes available in each region, services that exist, spot replicas whose
failure model can carry interruptions) are checked by :func:`check_pricing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, model_validator
from pydantic_core import PydanticCustomError

from simulator.errors import ModelError
from simulator.model.base import Bytes, Fraction, Name, Rate, Spec, suggest
from simulator.model.distributions import Dist, Exponential

if TYPE_CHECKING:
    from simulator.model.spec import Topology

__all__ = [
    "Bytes",
    "InstancePriceSpec",
    "ServicePricingSpec",
    "TransferPricingSpec",
    "DowntimeCostSpec",
    "SLACreditTierSpec",
    "SLACreditsSpec",
    "PricingSpec",
    "check_pricing",
]

class InstancePriceSpec(Spec):
    """Prices of one instance class in one region, per replica-hour."""

    on_demand: NonNegativeFloat | None = None
    reserved_1y: NonNegativeFloat | None = Field(default=None, description="effective hourly price of a 1-year reservation")
    reserved_3y: NonNegativeFloat | None = Field(default=None, description="effective hourly price of a 3-year reservation")
    spot: NonNegativeFloat | None = None
    spot_interruption_rate_per_s: Rate | None = Field(
        default=None, alias="spot_interruption_rate", description="interruptions per spot replica, e.g. 1/w"
    )


class ServicePricingSpec(Spec):
    """How one service's replicas are billed: a direct hourly price or an instance class."""

    hourly: NonNegativeFloat | None = Field(default=None, description="price per replica-hour, set directly")
    instance: str | None = Field(default=None, description="instance class, looked up in `catalog` per region")
    billing: Literal["on_demand", "reserved_1y", "reserved_3y", "spot"] = "on_demand"
    spot_interruption_rate_per_s: Rate | None = Field(
        default=None, alias="spot_interruption_rate", description="overrides the catalog's rate (spot billing)"
    )

    @model_validator(mode="after")
    def _one_price(self) -> ServicePricingSpec:
        if (self.hourly is None) == (self.instance is None):
            raise PydanticCustomError("price", "give exactly one of 'hourly' or 'instance'")
        return self


class TransferPricingSpec(Spec):
    """Data transfer prices per GB (10^9 bytes), by where the bytes go."""

    same_zone: NonNegativeFloat = 0.0
    cross_zone: NonNegativeFloat = Field(default=0.02, description="both directions billed: 0.01 out + 0.01 in")
    cross_region: NonNegativeFloat = 0.02
    internet_egress: NonNegativeFloat = Field(default=0.09, description="responses to clients on the internet")
    internet_ingress: NonNegativeFloat = Field(default=0.0, description="requests from clients")


class DowntimeCostSpec(Spec):
    """What an outage costs beyond the infrastructure."""

    per_minute: NonNegativeFloat = Field(default=0.0, description="per minute the system is down")
    per_failed_request: NonNegativeFloat = Field(default=0.0, description="per entry request that failed")


class SLACreditTierSpec(Spec):
    below: Fraction = Field(description="monthly availability under this...")
    credit: Fraction = Field(description="...credits this share of the month's bill")


class SLACreditsSpec(Spec):
    """Credits owed when a month's availability falls below a tier (the lowest tier reached applies)."""

    monthly_bill: NonNegativeFloat | None = Field(
        default=None, description="the bill the credits are a share of; default: the monthly infrastructure cost"
    )
    tiers: tuple[SLACreditTierSpec, ...] = Field(min_length=1)


class PricingSpec(Spec):
    """The ``pricing:`` section: what replicas, bytes and downtime cost."""

    currency: str = "USD"
    catalog: dict[Name, dict[Name, dict[str, InstancePriceSpec]]] = Field(
        default_factory=dict, description="provider -> region -> instance class -> prices per hour"
    )
    services: dict[Name, ServicePricingSpec] = Field(default_factory=dict, description="service -> how it is billed")
    spot_replacement: Dist = Field(
        default_factory=lambda: Exponential.model_validate({"exponential": {"mean": "5m"}}),
        description="time to replace an interrupted spot replica",
    )
    transfer: TransferPricingSpec = Field(default_factory=TransferPricingSpec)
    downtime: DowntimeCostSpec = Field(default_factory=DowntimeCostSpec)
    sla_credits: SLACreditsSpec | None = None


def instance_price(top: Topology, service: str, zone: str) -> tuple[float, float | None]:
    """Hourly price and spot interruption rate (per second, or ``None``) of one replica."""
    pricing = top.pricing
    sp = pricing.services[service]
    if sp.hourly is not None:
        return sp.hourly, sp.spot_interruption_rate_per_s if sp.billing == "spot" else None
    provider, region = top.zones()[zone]
    row = pricing.catalog[provider][region][sp.instance]
    price = getattr(row, sp.billing)
    rate = None
    if sp.billing == "spot":
        rate = sp.spot_interruption_rate_per_s or row.spot_interruption_rate_per_s
    return price, rate


def _check_service(top: Topology, name: str, sp: ServicePricingSpec) -> list[ModelError]:
    where = ("pricing", "services", name)
    if name not in top.services:
        return [ModelError(f"unknown service {name!r}{suggest(name, top.services)}", where)]
    errors = []
    if sp.instance is not None:
        zones = top.zones()  # an unknown zone is reported under services
        places = dict.fromkeys(zones[z] for z in top.services[name].replicas if z in zones)
        for provider, region in places:
            row = top.pricing.catalog.get(provider, {}).get(region, {}).get(sp.instance)
            if row is None:
                errors.append(
                    ModelError(f"no price for {sp.instance!r} in {provider}/{region} (add it to pricing.catalog)", (*where, "instance"))
                )
            elif getattr(row, sp.billing) is None:
                errors.append(
                    ModelError(f"{sp.instance!r} in {provider}/{region} has no {sp.billing} price", (*where, "billing"))
                )
    failure = top.services[name].failure
    if sp.billing == "spot" and failure is not None and not isinstance(failure.ttf_dist, Exponential):
        errors.append(
            ModelError(
                "spot interruptions combine with an exponential time to failure only; "
                "write the service's failure with 'mtbf'", (*where, "billing"),
            )
        )
    return errors


def check_pricing(top: Topology) -> list[ModelError]:
    """Every cross-reference problem of ``top.pricing`` (none when there is no section)."""
    pricing = getattr(top, "pricing", None)
    if pricing is None:
        return []
    errors: list[ModelError] = []
    regions = top.regions()
    for provider, by_region in pricing.catalog.items():
        for region in by_region:
            if regions.get(region) != provider:
                errors.append(
                    ModelError(f"unknown region {region!r} of provider {provider!r}{suggest(region, regions)}",
                               ("pricing", "catalog", provider, region))
                )
    for name, sp in pricing.services.items():
        errors.extend(_check_service(top, name, sp))
    return errors


def spot_interruption(top: Topology, service: str, zone: str) -> float | None:
    """Interruption rate (per second) of a spot replica of ``service`` in ``zone``, else ``None``."""
    pricing = getattr(top, "pricing", None)
    if pricing is None or service not in pricing.services or pricing.services[service].billing != "spot":
        return None
    rate = instance_price(top, service, zone)[1]
    return rate if rate else None
