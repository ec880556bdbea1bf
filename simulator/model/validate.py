"""Cross-reference checks a single key cannot make on its own.

Zone and region names are unique across the whole document, every name used is
defined, quorums fit their replica counts and calls form no cycle. Each problem is a
:class:`~simulator.errors.ModelError` with the key path where it is best fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.errors import ModelError
from simulator.model.base import suggest
from simulator.model.pricing import check_pricing

if TYPE_CHECKING:
    from simulator.model.spec import Topology

__all__ = ["check", "find_call_cycle"]


def _check_unique_places(top: Topology) -> list[ModelError]:
    errors: list[ModelError] = []
    region_at: dict[str, tuple] = {}
    zone_at: dict[str, tuple] = {}
    for p, prov in top.providers.items():
        for r, reg in prov.regions.items():
            here = ("providers", p, "regions", r)
            if r in region_at:
                errors.append(ModelError(f"duplicate region name {r!r} (also under providers.{region_at[r][1]})", here))
            region_at.setdefault(r, here)
            for z in reg.zones:
                zhere = (*here, "zones", z)
                if z in zone_at:
                    other = ".".join(str(x) for x in zone_at[z])
                    errors.append(ModelError(f"duplicate zone name {z!r} (also at {other})", zhere))
                zone_at.setdefault(z, zhere)
    return errors


def _check_services(top: Topology) -> list[ModelError]:
    errors: list[ModelError] = []
    zones = top.zones()
    for name, svc in top.services.items():
        base = ("services", name)
        for zone in svc.replicas:
            if zone not in zones:
                errors.append(
                    ModelError(f"unknown zone {zone!r}{suggest(zone, zones)}", (*base, "replicas", zone))
                )
        if svc.min_healthy > svc.replica_count:
            errors.append(
                ModelError(
                    f"min_healthy is {svc.min_healthy} but the service has only "
                    f"{svc.replica_count} replica(s)",
                    (*base, "min_healthy"),
                )
            )
        seen: set[str] = set()
        for i, call in enumerate(svc.calls):
            where = (*base, "calls", i, "service")
            if call.service not in top.services:
                errors.append(
                    ModelError(f"unknown service {call.service!r}{suggest(call.service, top.services)}", where)
                )
            elif call.service == name:
                errors.append(ModelError(f"service {name!r} calls itself", where))
            elif call.service in seen:
                errors.append(ModelError(f"service {name!r} calls {call.service!r} twice", where))
            seen.add(call.service)
        scaling = svc.autoscaling
        if scaling is not None and scaling.max < svc.replica_count:
            errors.append(
                ModelError(
                    f"max is {scaling.max} but 'replicas' already places {svc.replica_count} (the floor)",
                    (*base, "autoscaling", "max"),
                )
            )
        if scaling is not None and svc.service_time is None:
            errors.append(
                ModelError("a pass-through service (no service_time) has no utilization to scale on",
                           (*base, "autoscaling"))
            )
        if scaling is not None and svc.datastore is not None:
            errors.append(ModelError("a datastore cannot also autoscale", (*base, "autoscaling")))
    return errors


def find_call_cycle(top: Topology) -> list[str] | None:
    """Return one dependency cycle as ``[a, b, ..., a]``, or ``None`` when there is none."""
    calls = {
        s: [c.service for c in svc.calls if c.service in top.services and c.service != s]
        for s, svc in top.services.items()
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in calls[node]:
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in top.services:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _check_cycle(top: Topology) -> list[ModelError]:
    cycle = find_call_cycle(top)
    if not cycle:
        return []
    first, second = cycle[0], cycle[1]
    index = [c.service for c in top.services[first].calls].index(second)
    return [
        ModelError(
            "dependency cycle " + " -> ".join(cycle), ("services", first, "calls", index, "service")
        )
    ]


def _check_groups(top: Topology) -> list[ModelError]:
    errors: list[ModelError] = []
    group_of: dict[str, int] = {}
    for i, group in enumerate(top.common_cause):
        for j, member in enumerate(group.members):
            where = ("common_cause", i, "members", j)
            if member not in top.services:
                errors.append(ModelError(f"unknown service {member!r}{suggest(member, top.services)}", where))
            elif top.services[member].failure is None:
                errors.append(
                    ModelError(
                        f"service {member!r} has no failure spec, so it has no failure rate to share"
                        " and no repair time after a shock",
                        where,
                    )
                )
            elif member in group_of and group_of[member] != i:
                errors.append(
                    ModelError(f"service {member!r} is already in common_cause[{group_of[member]}]", where)
                )
            elif member in group_of:
                errors.append(ModelError(f"service {member!r} is listed twice", where))
            group_of.setdefault(member, i)
    for i, entry in enumerate(top.entries or ()):
        if entry not in top.services:
            errors.append(ModelError(f"unknown service {entry!r}{suggest(entry, top.services)}", ("entries", i)))
    return errors


def _check_traffic(top: Topology) -> list[ModelError]:
    errors: list[ModelError] = []
    regions = top.regions()
    for i, t in enumerate(top.traffic):
        if t.entry not in top.services:
            errors.append(ModelError(f"unknown service {t.entry!r}{suggest(t.entry, top.services)}", ("traffic", i, "entry")))
        for region in t.from_ or {}:
            if region not in regions:
                errors.append(
                    ModelError(f"unknown region {region!r}{suggest(region, regions)}", ("traffic", i, "from", region))
                )
    labels = [t.label for t in top.traffic]
    for i, label in enumerate(labels):
        if labels.index(label) != i:
            errors.append(ModelError(f"two traffic entries are called {label!r}; give them a 'name'", ("traffic", i)))
    for i, pair in enumerate(top.network.region_pairs):
        for j, region in enumerate(pair.between):
            if region not in regions:
                errors.append(
                    ModelError(
                        f"unknown region {region!r}{suggest(region, regions)}", ("network", "region_pairs", i, "between", j)
                    )
                )
    return errors


def check(top: Topology) -> list[ModelError]:
    """Return every cross-reference problem of ``top`` (an empty list when it is sound)."""
    return [
        *_check_unique_places(top),
        *_check_services(top),
        *_check_cycle(top),
        *_check_groups(top),
        *_check_traffic(top),
        *check_pricing(top),
    ]
