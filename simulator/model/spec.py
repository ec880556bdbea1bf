"""The topology spec: providers > regions > zones, services, failures and targets.

These are frozen pydantic models: they validate one document and compute nothing.
YAML keys carry units in their values (``mttr: 10m``); the Python attributes carry
them in their names (``mttr_s``). Cross-references (zone and service names, cycles,
quorum sizes) are checked by :func:`simulator.model.validate.check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, NonNegativeInt, PositiveInt, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from simulator.errors import ModelError
from simulator.model.base import Bytes, Duration, Fraction, Name, OrAlso, PositiveDuration, Spec, suggest
from simulator.model.distributions import Dist, exponential
from simulator.model.pricing import PricingSpec
from simulator.model.recovery import AutoscalingSpec, DatastoreSpec, ResiliencySpec
from simulator.model.resilience import BackoffSpec, CircuitBreakerSpec, LoadBalancerSpec, RetryBudgetSpec
from simulator.model.sweeps import SweepSpec
from simulator.model.traffic import NetworkSpec, TrafficSpec
from simulator.units import YEAR

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "FailureSpec",
    "ZoneSpec",
    "RegionSpec",
    "ProviderSpec",
    "CallSpec",
    "ServiceSpec",
    "CommonCauseSpec",
    "SLOSpec",
    "LatencySLOSpec",
    "Topology",
]


class FailureSpec(Spec):
    """How a component fails and is repaired.

    Either the shorthand ``{mtbf: 30d, mttr: 10m}`` (exponential both ways; ``mtbf`` is
    the mean time the component stays up) or ``{ttf: DIST, ttr: DIST}``; the two
    styles may be mixed, e.g. ``{mtbf: 1y, ttr: {lognormal: {median: 2h, sigma: 1}}}``.
    """

    mtbf_s: PositiveDuration | None = Field(
        default=None, alias="mtbf", description="mean time between failures (mean up time)"
    )
    mttr_s: PositiveDuration | None = Field(default=None, alias="mttr", description="mean time to repair")
    ttf: Dist | None = Field(default=None, description="distribution of the time to failure")
    ttr: Dist | None = Field(default=None, description="distribution of the time to repair")

    @model_validator(mode="after")
    def _complete(self) -> FailureSpec:
        if (self.mtbf_s is None) == (self.ttf is None):
            raise PydanticCustomError("failure", "give exactly one of 'mtbf' or 'ttf'")
        if (self.mttr_s is None) == (self.ttr is None):
            raise PydanticCustomError("failure", "give exactly one of 'mttr' or 'ttr'")
        return self

    @property
    def ttf_dist(self) -> Any:
        return self.ttf if self.ttf is not None else exponential(self.mtbf_s)  # type: ignore[arg-type]

    @property
    def ttr_dist(self) -> Any:
        return self.ttr if self.ttr is not None else exponential(self.mttr_s)  # type: ignore[arg-type]

    @property
    def availability(self) -> float:
        """Steady-state availability MTTF / (MTTF + MTTR) of the component alone."""
        up, down = self.ttf_dist.mean, self.ttr_dist.mean
        return up / (up + down)


class ZoneSpec(Spec):
    """An availability zone: an independent failure domain inside a region."""

    failure: FailureSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)


def _empty_is_default(value: Any) -> Any:
    return {} if value is None else value


#: A zone may be written with no value (``use1-az2:``): it never fails on its own.
_Zone = Annotated[ZoneSpec, BeforeValidator(_empty_is_default), OrAlso({"type": "null"})]


class RegionSpec(Spec):
    failure: FailureSpec | None = None
    zones: dict[Name, _Zone] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class ProviderSpec(Spec):
    failure: FailureSpec | None = None
    regions: dict[Name, RegionSpec] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class CallSpec(Spec):
    """A dependency: the service calls ``service`` for each request it serves.

    Calls run one after another, in order; consecutive calls marked ``parallel`` are
    sent together and awaited together (fan-out). The caller's worker is held while it
    waits, as in a thread-per-request server.
    """

    service: Name
    optional: bool = Field(
        default=False, description="a soft dependency: its failure does not fail the caller"
    )
    parallel: bool = Field(default=False, description="sent together with the neighbouring parallel calls")
    timeout_s: PositiveDuration | None = Field(
        default=None, alias="timeout", description="per attempt; default: wait as long as it takes"
    )
    retries: NonNegativeInt = Field(default=0, description="extra attempts after a failed one")
    backoff: BackoffSpec | None = Field(default=None, description="wait before each retry; default: none")
    retry_budget: RetryBudgetSpec | None = None
    circuit_breaker: CircuitBreakerSpec | None = None
    request_bytes: Bytes = Field(default=0.0, description="sent per attempt (priced by pricing.transfer)")
    response_bytes: Bytes = Field(default=0.0, description="returned per attempt")


class LatencySLOSpec(Spec):
    """Latency targets on successful requests, e.g. ``{p99: 300ms}``."""

    p50_s: PositiveDuration | None = Field(default=None, alias="p50")
    p90_s: PositiveDuration | None = Field(default=None, alias="p90")
    p99_s: PositiveDuration | None = Field(default=None, alias="p99")
    p999_s: PositiveDuration | None = Field(default=None, alias="p999")

    def targets(self) -> dict[str, float]:
        """``{"p99": seconds, ...}`` for the targets that are set."""
        out = {"p50": self.p50_s, "p90": self.p90_s, "p99": self.p99_s, "p999": self.p999_s}
        return {k: v for k, v in out.items() if v is not None}


class SLOSpec(Spec):
    """Reliability targets; each is judged against the estimate's confidence interval."""

    availability: Fraction | None = Field(default=None, description="time-based, e.g. 99.95%")
    request_availability: Fraction | None = Field(
        default=None, description="successful requests / requests (needs traffic)"
    )
    latency: LatencySLOSpec | None = None
    rto_s: PositiveDuration | None = Field(
        default=None, alias="rto", description="95th percentile of outage duration"
    )


class ServiceSpec(Spec):
    """A service: replicas placed in zones, a quorum, a per-replica failure and calls."""

    replicas: dict[Name, PositiveInt] = Field(min_length=1, description="zone -> replica count")
    min_healthy: PositiveInt = Field(
        default=1, description="replicas that must serve for the service to be up (k of n)"
    )
    failure: FailureSpec | None = Field(default=None, description="per replica")
    calls: tuple[CallSpec, ...] = ()
    workers: PositiveInt = Field(default=1, description="requests each replica serves at once")
    service_time: Dist | None = Field(
        default=None, description="work per request on a worker; default: none (a pass-through)"
    )
    queue_limit: NonNegativeInt | None = Field(
        default=None, description="requests that may wait per replica (not counting those in service); default: unlimited"
    )
    error_rate: Fraction = Field(default=0.0, description="share of requests that fail with an application error")
    load_balancer: LoadBalancerSpec = Field(default_factory=LoadBalancerSpec)
    slo: SLOSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    autoscaling: AutoscalingSpec | None = Field(default=None, description="horizontal autoscaler (requests backend)")
    datastore: DatastoreSpec | None = Field(
        default=None, description="primary/replica roles with asynchronous replication (requests backend)"
    )

    @property
    def replica_count(self) -> int:
        return sum(self.replicas.values())


class CommonCauseSpec(Spec):
    """A beta-factor group.

    With the members' failure rate λ, each member fails on its own at (1 − β)·λ and a
    shared shock at β·λ fails every member that is up at that moment.
    """

    name: Name | None = None
    members: tuple[Name, ...] = Field(min_length=1, description="services whose replicas share the shock")
    beta: Fraction = Field(description="fraction of failures that are common-cause")

    @model_validator(mode="after")
    def _beta_positive(self) -> CommonCauseSpec:
        if self.beta <= 0:
            raise PydanticCustomError("beta", "'beta' must be above 0 (remove the group instead)")
        return self

    @property
    def label(self) -> str:
        return self.name or "+".join(self.members)


class Topology(Spec):
    """A whole infrastructure: what fails, what depends on what, and the targets.

    Build it with :func:`simulator.load` from YAML or directly in Python; run it with
    :func:`simulator.run`.
    """

    name: Name
    description: str = ""
    horizon_s: PositiveDuration = Field(
        default=YEAR, alias="horizon", description="measured time per replication"
    )
    warmup_s: Duration = Field(
        default=0.0, alias="warmup", description="simulated before the horizon and ignored"
    )
    replications: PositiveInt = 100
    seed: int = Field(default=0, ge=0)
    repair_crews: PositiveInt | None = Field(
        default=None, description="shared on-call capacity for replica repairs (FIFO); default unlimited"
    )
    providers: dict[Name, ProviderSpec] = Field(min_length=1)
    services: dict[Name, ServiceSpec] = Field(min_length=1)
    common_cause: tuple[CommonCauseSpec, ...] = ()
    entries: tuple[Name, ...] | None = Field(
        default=None, description="entry services; default: traffic entries, else services nobody calls"
    )
    traffic: tuple[TrafficSpec, ...] = ()
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    slo: SLOSpec | None = None
    resiliency: ResiliencySpec | None = Field(
        default=None, description="RTO/RPO per disruption type, judged by chaos plans"
    )
    pricing: PricingSpec | None = Field(default=None, description="what replicas, bytes and downtime cost")
    sweep: SweepSpec | None = Field(default=None, description="variants for `failsim sweep`")
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file the model was loaded from, if any."""
        return self._source

    # -- derived views -------------------------------------------------------------

    def zones(self) -> dict[str, tuple[str, str]]:
        """Map each zone name to its ``(provider, region)``."""
        return {
            z: (p, r)
            for p, prov in self.providers.items()
            for r, reg in prov.regions.items()
            for z in reg.zones
        }

    def regions(self) -> dict[str, str]:
        """Map each region name to its provider."""
        return {r: p for p, prov in self.providers.items() for r in prov.regions}

    def entry_services(self) -> tuple[str, ...]:
        """Entry points: ``entries`` if given, else the traffic entries, else the services
        no other service calls."""
        if self.entries is not None:
            return self.entries
        if self.traffic:
            return tuple(dict.fromkeys(t.entry for t in self.traffic))
        called = {c.service for s in self.services.values() for c in s.calls}
        return tuple(s for s in self.services if s not in called)

    def graph(self) -> nx.DiGraph:
        """The topology as a networkx DiGraph (see :func:`simulator.graph.build_graph`)."""
        from simulator.graph import build_graph

        return build_graph(self)

    # -- variants (for notebooks and sweeps; every variant is validated) ------------

    def _document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude={"sweep"})

    def _revalidate(self, doc: dict[str, Any]) -> Topology:
        from simulator.model.loader import from_dict

        return from_dict(doc, file=self.source)

    def evolve(self, changes: dict[str, Any] | None = None, /, **keys: Any) -> Topology:
        """A variant of this model with some keys changed, validated like a file.

        ``changes`` maps key paths (``"services.api.replicas.use1-az1"``,
        ``"traffic[0].rate"``, ``"traffic[*].rate": "x10"``) to values; keyword
        arguments replace top-level keys (``horizon="30d"``). Random streams are keyed by
        component names, so running a variant with the same seed compares it with
        common random numbers.

        >>> model.evolve({"services.api.workers": 16}, name="api-16")  # doctest: +SKIP
        """
        from simulator.model.edit import apply_setting

        doc = self._document()
        for path, value in (changes or {}).items():
            apply_setting(doc, path, value)
        doc.update(keys)
        return self._revalidate(doc)

    def with_replicas(self, service: str, replicas: int | dict[str, int]) -> Topology:
        """This model with ``service`` placed differently.

        An int is the total, spread as evenly as possible over the zones the service
        already uses (in their order); a mapping gives each zone's count.
        """
        if service not in self.services:
            raise ModelError(f"unknown service {service!r}{suggest(service, self.services)}", ("services",))
        if isinstance(replicas, int):
            zones = list(self.services[service].replicas)
            if replicas < 1:
                raise ModelError("must be at least 1", ("services", service, "replicas"))
            base, extra = divmod(replicas, len(zones))
            placement = {z: base + (i < extra) for i, z in enumerate(zones)}
            placement = {z: n for z, n in placement.items() if n > 0}
        else:
            placement = dict(replicas)
        doc = self._document()
        doc["services"][service]["replicas"] = placement
        return self._revalidate(doc)

    def without_region(self, region: str) -> Topology:
        """This model with ``region`` gone: its zones, the replicas placed there, and its
        share of client traffic (the other client regions' shares are scaled up)."""
        regions = self.regions()
        if region not in regions:
            raise ModelError(f"unknown region {region!r}{suggest(region, regions)}", ("regions",))
        provider = regions[region]
        doc = self._document()
        gone = set(doc["providers"][provider]["regions"].pop(region)["zones"])
        if not doc["providers"][provider]["regions"]:
            raise ModelError(f"region {region!r} is the last of provider {provider!r}", ("providers", provider))
        for name, svc in doc["services"].items():
            for zone in gone:
                svc["replicas"].pop(zone, None)
            if not svc["replicas"]:
                raise ModelError(f"service {name!r} runs only in region {region!r}", ("services", name, "replicas"))
            svc["min_healthy"] = min(svc.get("min_healthy", 1), sum(svc["replicas"].values()))
        for t in doc.get("traffic", []):
            shares = t.get("from")
            if shares and region in shares:
                rest = {r: v for r, v in shares.items() if r != region}
                total = sum(rest.values())
                t["from"] = {r: v / total for r, v in rest.items()} if total > 0 else None
                if t["from"] is None:
                    t.pop("dns", None)
        doc["network"]["region_pairs"] = [p for p in doc["network"]["region_pairs"] if region not in p["between"]]
        return self._revalidate(doc)

    def without_zone(self, zone: str) -> Topology:
        """This model with ``zone`` gone, and every replica placed there."""
        zones = self.zones()
        if zone not in zones:
            raise ModelError(f"unknown zone {zone!r}{suggest(zone, zones)}", ("zones",))
        provider, region = zones[zone]
        doc = self._document()
        reg = doc["providers"][provider]["regions"][region]
        del reg["zones"][zone]
        if not reg["zones"]:
            raise ModelError(f"zone {zone!r} is the last of region {region!r}", ("providers", provider, "regions", region))
        for name, svc in doc["services"].items():
            svc["replicas"].pop(zone, None)
            if not svc["replicas"]:
                raise ModelError(f"service {name!r} runs only in zone {zone!r}", ("services", name, "replicas"))
            svc["min_healthy"] = min(svc.get("min_healthy", 1), sum(svc["replicas"].values()))
        return self._revalidate(doc)

    def model_hash(self) -> str:
        """A short, stable hash of everything that defines the model."""
        import hashlib
        import json

        unset = {k for k in ("pricing", "sweep") if getattr(self, k) is None}  # hashes predate them
        text = json.dumps(self.model_dump(mode="json", by_alias=True, exclude=unset), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
