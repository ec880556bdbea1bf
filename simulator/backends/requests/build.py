"""Bind a plan's specs to the run-time objects of the ``requests`` data plane."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.backends.requests.balancer import Balancer
from simulator.backends.requests.dataplane import DataPlane
from simulator.backends.requests.loop import Loop
from simulator.backends.requests.network import Network
from simulator.backends.requests.recovery import Autoscaler, Datastore, DnsFailover
from simulator.backends.requests.runtime import EdgeRT, EntryRT, Replica, ServiceRT
from simulator.backends.requests.traffic import Arrivals, RateFunction, flash_schedule
from simulator.engine.control import ControlPlane
from simulator.engine.plan import Plan
from simulator.rng import UNIT_EXPONENTIAL, UNIT_UNIFORM, Stream, named_stream, replication_key

__all__ = ["build_dataplane", "call_groups"]

_BLOCK = 256  # hot streams: draws computed at a time


def _stream(rep: tuple[int, int], name: str, dist: Any, block: int = _BLOCK) -> Stream:
    return named_stream(rep, name, dist, block)


def call_groups(calls: tuple) -> list[list[Any]]:
    """Calls in order; consecutive ``parallel`` calls form one group sent together."""
    groups: list[list[Any]] = []
    for call in calls:
        if call.parallel and groups and groups[-1][-1].parallel:
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


def make_replica(rep: tuple[int, int], comp: int, name: str, svc: ServiceRT, zone: str, region: str) -> Replica:
    """A replica with its own named streams (service times, errors, health-check phase)."""
    r = Replica(comp, name, svc, zone, region)
    if not svc.passthrough:
        r.svc_time = _stream(rep, f"svc/{name}", svc.service_time)
    r.err_u = _stream(rep, f"err/{name}", UNIT_UNIFORM)
    if svc.hc is not None:
        r.hc_phase = _stream(rep, f"hc/{name}", UNIT_UNIFORM, block=1)() * svc.hc.interval_s
    return r


def _services(plan: Plan, rep: tuple[int, int]) -> list[ServiceRT]:
    top = plan.topology
    zones = top.zones()
    services = []
    for node in plan.services:
        spec = top.services[node.name]
        svc = ServiceRT(node.index, node.name, spec)
        for comp, zone in zip(node.replicas, node.zones, strict=True):
            name = plan.components[comp].name.removeprefix("replica/")
            svc.replicas.append(make_replica(rep, int(comp), name, svc, zone, zones[zone][1]))
        policy = spec.load_balancer
        svc.balancer = Balancer(policy.policy, policy.locality, svc.replicas, _stream(rep, f"lb/{node.name}", UNIT_UNIFORM))
        services.append(svc)
    by_name = {s.name: s for s in services}
    for svc in services:
        spec = top.services[svc.name]
        svc.groups = [
            [EdgeRT(f"{svc.name}->{c.service}", by_name[c.service], c, rep) for c in group]
            for group in call_groups(spec.calls)
        ]
    return services


def _entries(plan: Plan, rep: tuple[int, int], services: list[ServiceRT], network: Network) -> list[EntryRT]:
    top = plan.topology
    by_name = {s.name: s for s in services}
    regions_of = {s.name: sorted({r.region for r in s.replicas}) for s in services}
    entries = []
    for spec in top.traffic:
        label = spec.label
        callee = by_name[spec.entry]
        edge = EdgeRT(f"traffic:{label}->{spec.entry}", callee, spec, rep)
        edge.timeout = None  # the deadline is the only limit of an entry request
        flashes = []
        if spec.flash_crowds is not None:
            fc = spec.flash_crowds
            flashes = flash_schedule(
                spec, plan.end_s,
                _stream(rep, f"traffic/{label}/flash", UNIT_EXPONENTIAL, block=16),
                _stream(rep, f"traffic/{label}/flash-duration", fc.duration, block=16),
                _stream(rep, f"traffic/{label}/flash-multiplier", fc.multiplier, block=16),
            )
        arrivals = Arrivals(
            RateFunction(spec, flashes),
            _stream(rep, f"traffic/{label}/gaps", UNIT_EXPONENTIAL),
            _stream(rep, f"traffic/{label}/thin", UNIT_UNIFORM),
        )
        shares, pick = None, None
        if spec.from_:
            cum, shares = 0.0, []
            for region, share in spec.from_.items():
                cum += share
                shares.append((region, cum))
            shares[-1] = (shares[-1][0], 1.0 + 1e-12)
            pick = _stream(rep, f"traffic/{label}/from", UNIT_UNIFORM)
            edge.client_order = {
                client: sorted(regions_of[spec.entry], key=lambda r, c=client: (network.expected_client_rtt(c, r), r))
                for client in spec.from_
            }
        entry = EntryRT(label, spec, edge, arrivals, shares, pick)
        edge.entry = entry
        entries.append(entry)
    return entries


def build_dataplane(plan: Plan, control: ControlPlane, loop: Loop, rep_seed: np.random.SeedSequence) -> DataPlane:
    """Everything the ``requests`` backend needs for one replication, wired to ``control``."""
    rep = replication_key(rep_seed)
    network = Network(plan.topology)
    services = _services(plan, rep)
    entries = _entries(plan, rep, services, network)
    under: list[list[Replica]] = [[] for _ in plan.components]
    parents = plan.parents
    for svc in services:
        for r in svc.replicas:
            c = r.comp
            while c >= 0:
                under[c].append(r)
                c = int(parents[c])
    dp = DataPlane(loop, control, services, entries, under, network, plan.warmup_s, plan.end_s)
    dp.chaos_u = _stream(rep, "chaos/jitter", UNIT_UNIFORM)
    dp.zone_comps = {c.name.removeprefix("zone/"): c.index for c in plan.components if c.kind == "zone"}
    _recovery(plan, dp, rep)
    return dp


def _recovery(plan: Plan, dp: DataPlane, rep: tuple[int, int]) -> None:
    """Wire DNS failover, datastore roles and autoscalers where the topology asks for them."""
    top = plan.topology
    zones = top.zones()
    for entry in dp.entries:
        if entry.spec.dns is not None:
            label = entry.label
            phase = _stream(rep, f"dns/{label}/phase", UNIT_UNIFORM, block=1)() * entry.spec.dns.health_check.interval_s
            entry.dns = DnsFailover(
                dp, label, entry.edge.callee, entry.spec.dns, entry.edge.client_order, phase,
                _stream(rep, f"dns/{label}/cache", UNIT_UNIFORM),
            )
    for svc in dp.services:
        spec = top.services[svc.name]
        if spec.datastore is not None:
            svc.store = Datastore(
                dp, svc, spec.datastore,
                _stream(rep, f"datastore/{svc.name}/lag", spec.datastore.lag, block=16),
                _stream(rep, f"datastore/{svc.name}/failover", spec.datastore.failover, block=16),
            )
        if spec.autoscaling is not None:

            def make_pod(zone: str, name: str, svc: ServiceRT = svc) -> Replica:
                comp = dp.zone_comps[zone]
                pod = make_replica(rep, comp, name, svc, zone, zones[zone][1])
                pod.dynamic = True
                pod.up = pod.in_rotation = pod.eligible = False
                pod.last_t = dp.loop.now
                svc.replicas.append(pod)
                c = comp
                while c >= 0:
                    dp.under[c].append(pod)
                    c = int(plan.parents[c])
                return pod

            svc.scaler = Autoscaler(
                dp, svc, spec.autoscaling,
                _stream(rep, f"autoscaling/{svc.name}/provisioning", spec.autoscaling.provisioning, block=16),
                make_pod,
            )
