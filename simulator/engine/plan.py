"""Compile a topology into flat, indexed arrays the engine and evaluators work on.

A :class:`Plan` is plain data (no simpy): components in containment order
(providers, regions, zones, replicas) each with its container's index, services with
the indices of their replicas and required dependencies, and beta-factor shock groups.
One plan runs any number of replications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.engine.spot import with_interruptions
from simulator.graph import dependency_order, replica_name
from simulator.model.pricing import spot_interruption
from simulator.model.spec import FailureSpec, Topology
from simulator.rng import name_key

__all__ = ["Component", "ServiceNode", "ShockGroup", "Plan", "compile_plan", "unfailing_scopes", "SYSTEM"]

#: Name of the pseudo-service that is up when every entry service is up.
SYSTEM = "system"


@dataclass(frozen=True)
class Component:
    index: int
    name: str  # stable stream name, e.g. "replica/api/use1-az1/0"
    kind: str  # provider | region | zone | replica
    parent: int  # index of the container, -1 for a provider
    group: str  # what statistics are pooled under, e.g. "service:api" or "zone:use1-az1"
    ttf: Any = None  # Dist, or None when the component never fails
    ttr: Any = None
    ttf_scale: float = 1.0  # beta-factor stretch of own failures; inf = only shocks
    crewed: bool = False  # repairs wait for the shared crews
    ttf_key: int = 0  # name keys of its two random streams
    ttr_key: int = 0

    @property
    def fails(self) -> bool:
        return self.ttf is not None


@dataclass(frozen=True)
class ServiceNode:
    index: int
    name: str
    replicas: np.ndarray  # component indices
    min_healthy: int
    requires: tuple[int, ...]  # service indices of required (not optional) calls
    optional: tuple[int, ...]
    zones: tuple[str, ...]  # zone of each replica, aligned with ``replicas``


@dataclass(frozen=True)
class ShockGroup:
    name: str
    members: tuple[int, ...]  # component indices
    rate_per_s: float
    key: int = 0  # name key of the shock stream


@dataclass(frozen=True)
class Plan:
    name: str
    components: tuple[Component, ...]
    services: tuple[ServiceNode, ...]
    order: tuple[int, ...]  # service indices, dependencies first
    entries: tuple[int, ...]
    shocks: tuple[ShockGroup, ...]
    repair_crews: int | None
    horizon_s: float
    warmup_s: float
    parents: np.ndarray = field(repr=False)  # parent index per component, -1 for none
    groups: tuple[str, ...] = field(repr=False, default=())
    topology: Any = field(repr=False, default=None)  # the spec, for data planes
    group_of: np.ndarray = field(repr=False, default=None)  # group index of each component
    by_kind: dict = field(repr=False, default_factory=dict)  # kind -> component indices
    timeline_s: float | None = None  # bin width of request timelines, if recorded

    @property
    def has_traffic(self) -> bool:
        return bool(self.topology is not None and self.topology.traffic)

    @property
    def end_s(self) -> float:
        """Simulated time per replication: warm-up plus the measured horizon."""
        return self.warmup_s + self.horizon_s



def _dists(failure: FailureSpec | None, cache: dict[int, tuple[Any, Any]]) -> tuple[Any, Any]:
    """The two distributions of a spec, one object per spec (so replicas share them)."""
    if failure is None:
        return None, None
    if id(failure) not in cache:
        cache[id(failure)] = (failure.ttf_dist, failure.ttr_dist)
    return cache[id(failure)]


def compile_plan(
    top: Topology, *, horizon_s: float | None = None, warmup_s: float | None = None, timeline_s: float | None = None
) -> Plan:
    """Flatten ``top`` into a :class:`Plan` (optionally overriding horizon and warm-up)."""
    beta_of: dict[str, float] = {}
    for group in top.common_cause:
        for member in group.members:
            beta_of[member] = group.beta
    comps: list[Component] = []
    index: dict[str, int] = {}
    cache: dict[int, tuple[Any, Any]] = {}  # the specs live in ``top`` all along

    def add(name: str, kind: str, parent: int, group: str, failure: FailureSpec | None, spot=None, **kw: Any) -> int:
        ttf, ttr = _dists(failure, cache)
        if spot:  # spot interruptions: a second failure process on the replica's own streams
            ttf, ttr = with_interruptions(ttf, ttr, spot, top.pricing.spot_replacement, cache)
        keys = {"ttf_key": name_key(name + "#ttf"), "ttr_key": name_key(name + "#ttr")}
        comps.append(Component(len(comps), name, kind, parent, group, ttf, ttr, **kw, **keys))
        index[name] = len(comps) - 1
        return len(comps) - 1

    for p, prov in top.providers.items():
        pi = add(f"provider/{p}", "provider", -1, f"provider:{p}", prov.failure)
        for r, reg in prov.regions.items():
            ri = add(f"region/{r}", "region", pi, f"region:{r}", reg.failure)
            for z, zone in reg.zones.items():
                add(f"zone/{z}", "zone", ri, f"zone:{z}", zone.failure)
    services: list[ServiceNode] = []
    names = list(top.services)
    for si, (s, svc) in enumerate(top.services.items()):
        beta = beta_of.get(s, 0.0)
        scale = np.inf if beta >= 1.0 else 1.0 / (1.0 - beta)
        members, zones = [], []
        for zone, count in svc.replicas.items():
            for i in range(count):
                members.append(
                    add(
                        f"replica/{replica_name(s, zone, i)}", "replica", index[f"zone/{zone}"],
                        f"service:{s}", svc.failure, ttf_scale=scale, crewed=top.repair_crews is not None,
                        spot=spot_interruption(top, s, zone),
                    )
                )
                zones.append(zone)
        services.append(
            ServiceNode(
                si, s, np.asarray(members, dtype=np.intp), svc.min_healthy,
                tuple(names.index(c.service) for c in svc.calls if not c.optional),
                tuple(names.index(c.service) for c in svc.calls if c.optional),
                tuple(zones),
            )
        )
    shocks = []
    for group in top.common_cause:
        members = tuple(int(m) for s in group.members for m in services[names.index(s)].replicas)
        rates = [1.0 / comps[m].ttf.mean for m in members if comps[m].fails]
        shocks.append(
            ShockGroup(group.label, members, group.beta * float(np.mean(rates)), name_key("ccf/" + group.label))
        )
    return Plan(
        name=top.name,
        components=tuple(comps),
        services=tuple(services),
        order=tuple(names.index(s) for s in dependency_order(top)),
        entries=tuple(names.index(s) for s in top.entry_services()),
        shocks=tuple(shocks),
        repair_crews=top.repair_crews,
        horizon_s=top.horizon_s if horizon_s is None else horizon_s,
        warmup_s=top.warmup_s if warmup_s is None else warmup_s,
        parents=np.asarray([c.parent for c in comps], dtype=np.intp),
        groups=(groups := tuple(dict.fromkeys(c.group for c in comps))),
        topology=top,
        timeline_s=timeline_s,
        group_of=np.asarray([groups.index(c.group) for c in comps], dtype=np.intp),
        by_kind={
            kind: np.asarray([c.index for c in comps if c.kind == kind], dtype=np.intp)
            for kind in ("provider", "region", "zone", "replica")
        },
    )


def unfailing_scopes(plan: Plan) -> tuple[frozenset[str], frozenset[str]]:
    """The scopes that can never be down, because nothing they stand on ever fails (no
    failure spec, no common-cause shock, on their replicas, the replicas' zones, regions
    and providers, nor, for the first set, their required dependencies): their time-based
    figures are exact. Returns (counting dependencies, counting only the own quorum)."""
    shocked = {m for g in plan.shocks for m in g.members}
    comps = plan.components

    def chain_fails(i: int) -> bool:
        while i >= 0:
            if comps[i].fails or i in shocked:
                return True
            i = comps[i].parent
        return False

    own = {s.index: any(chain_fails(int(r)) for r in s.replicas) for s in plan.services}
    full: dict[int, bool] = {}
    for si in plan.order:  # dependencies first
        node = plan.services[si]
        full[si] = own[si] or any(full[d] for d in node.requires)
    names = {s.index: s.name for s in plan.services}
    with_deps = {names[i] for i, f in full.items() if not f}
    if not any(full[e] for e in plan.entries):
        with_deps.add(SYSTEM)
    return frozenset(with_deps), frozenset(names[i] for i, f in own.items() if not f)
