"""What the load balancers see: each replica's serving and in-rotation changes.

From the control plane's trace, a replica *serves* while it and its containers are
up; it is *in rotation* as the health checks of the ``requests`` backend decide:
probes at ``phase + k·interval`` (the same phase, from the same stream), out after
``unhealthy_after`` failed probes in a row, back after ``healthy_after`` good ones.

A datastore's calls go to its primary only (:func:`_datastore_roles`): its other
replicas count as out of rotation, and the primary moves as the ``requests`` backend's
failover does (detection, then a failover delay from the same stream).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.engine.control import Trace
from simulator.engine.plan import Plan
from simulator.rng import Stream, name_key, named_stream, stream_keys, uniforms

__all__ = ["replica_changes", "Change"]

Change = tuple[float, int, bool, bool]  # time, replica comp, serving, in rotation


def _serving_changes(plan: Plan, trace: Trace, replicas: list[int]) -> dict[int, list[tuple[float, bool]]]:
    """Per replica, the times its serving state flips (it starts serving at 0)."""
    parents = plan.parents
    under: dict[int, list[int]] = {}
    for r in replicas:
        c = r
        while c >= 0:
            under.setdefault(c, []).append(r)
            c = int(parents[c])
    up = [True] * len(plan.components)
    serving = dict.fromkeys(replicas, True)
    out: dict[int, list[tuple[float, bool]]] = {r: [] for r in replicas}
    for t, c, u in zip(trace.times.tolist(), trace.comps.tolist(), trace.ups.tolist(), strict=True):
        up[c] = u
        for r in under.get(c, ()):
            x, ok = r, True
            while x >= 0:
                if not up[x]:
                    ok = False
                    break
                x = int(parents[x])
            if ok != serving[r]:
                serving[r] = ok
                out[r].append((t, ok))
    return out


def _rotation(flips: list[tuple[float, bool]], phase: float, hc: Any, end: float) -> list[tuple[float, bool, bool]]:
    """Merge serving flips with the probes that matter: (time, serving, in rotation).

    Probes run at ``phase + k·interval`` while the balancer's belief and the replica's
    state differ (the ``requests`` backend's rule; the control plane goes first at
    equal times). Between two flips the outcome of every probe is the same, so a
    stretch of probes is counted at once rather than stepped.
    """
    if hc is None:
        return [(t, srv, True) for t, srv in flips if t < end]
    events: list[tuple[float, bool, bool]] = []
    interval = hc.interval_s
    serving, rotation = True, True
    fails = succs = 0
    probe = math.inf
    n_flips = len(flips)
    i = 0
    while True:
        t_flip = flips[i][0] if i < n_flips else math.inf
        if probe < t_flip and probe < end:
            # probes at probe + j·interval before the next flip (and before the end)
            stop = min(t_flip, end)
            n = math.ceil((stop - probe) / interval)
            while n > 0 and probe + (n - 1) * interval >= stop:  # rounding at the edge
                n -= 1
            while probe + n * interval < stop:
                n += 1
            if rotation == serving:  # one probe agrees, and probing stops
                succs, fails = (succs + 1, 0) if serving else (0, fails + 1)
                probe = math.inf
                continue
            need = (hc.healthy_after - succs) if serving else (hc.unhealthy_after - fails)
            need = max(need, 1)
            if n >= need:
                at = probe + (need - 1) * interval
                succs, fails = (succs + need, 0) if serving else (0, fails + need)
                rotation = serving
                events.append((at, serving, rotation))
                probe = math.inf
            else:
                succs, fails = (succs + n, 0) if serving else (0, fails + n)
                probe = probe + n * interval
            continue
        if t_flip >= end:
            return events
        serving = flips[i][1]
        i += 1
        events.append((t_flip, serving, rotation))
        if probe == math.inf:
            k = math.floor((t_flip - phase) / interval) + 1
            probe = phase + k * interval


def replica_changes(plan: Plan, trace: Trace, rep: tuple[int, int]) -> list[Change]:
    """Every change of any replica's (serving, in rotation), in time order."""
    top = plan.topology
    replicas = [int(r) for svc in plan.services for r in svc.replicas]
    flips = _serving_changes(plan, trace, replicas)
    checked = [
        (int(r), top.services[svc.name].load_balancer.health_check)
        for svc in plan.services
        for r in svc.replicas
        if top.services[svc.name].load_balancer.health_check is not None
    ]
    # each replica's probe phase: the first draw of its own stream, all drawn at once
    keys = np.array([name_key(f"hc/{plan.components[r].name.removeprefix('replica/')}") for r, _ in checked], dtype=np.uint64)
    draws = uniforms(stream_keys([rep], keys)[0], 0, 1)[:, 0].tolist() if checked else []
    phase = {r: u * hc.interval_s for (r, hc), u in zip(checked, draws, strict=True)}
    changes: list[Change] = []
    for svc in plan.services:
        spec = top.services[svc.name]
        hc = spec.load_balancer.health_check
        own = {int(r): _rotation(flips[int(r)], phase.get(int(r), 0.0), hc, plan.end_s) for r in svc.replicas}
        if spec.datastore is not None:
            zones = {int(r): z for r, z in zip(svc.replicas, svc.zones, strict=True)}
            failover = named_stream(rep, f"datastore/{svc.name}/failover", spec.datastore.failover, 16)
            changes.extend(_datastore_roles(own, zones, hc is not None, failover, plan.end_s))
            continue
        for r, events in own.items():
            changes.extend((t, r, serving, rotation) for t, serving, rotation in events)
    changes.sort(key=lambda ch: ch[0])
    return changes


def _datastore_roles(
    own: dict[int, list[tuple[float, bool, bool]]], zones: dict[int, str], checked: bool, failover: Stream, end: float
) -> list[Change]:
    """A datastore's replicas as its callers see them: only the primary takes calls.

    The first replica is the primary. When it stops serving, a failover starts once
    the balancer takes it out of rotation (at once without health checks) and, a
    ``failover`` draw later, promotes a serving replica, another zone first; if the old
    primary serves again before anyone failed over, it stays primary. Returns each
    replica's (serving, in rotation and primary) changes; the others start out of rotation.
    """
    order = list(own)  # as listed: the first is the primary
    merged = sorted((t, k, r, srv, rot) for k, r in enumerate(order) for t, srv, rot in own[r])
    serving = dict.fromkeys(order, True)
    rotation = dict.fromkeys(order, True)
    seen = {r: (True, r == order[0]) for r in order}  # what the balancer was last told
    out: list[Change] = [(0.0, r, True, False) for r in order[1:]]
    primary = order[0]
    failed = failing = waiting = False
    promote_at = math.inf

    def tell(t: float) -> None:
        for r in order:
            view = (serving[r], rotation[r] and r == primary)
            if view != seen[r]:
                seen[r] = view
                out.append((t, r, *view))

    def promote(t: float) -> None:
        nonlocal primary, failed, waiting
        old = primary
        if serving[old] and not waiting and not failed:
            return
        cands = [r for r in order if r != old and serving[r]]
        if not cands:
            if serving[old]:  # back first
                failed = waiting = False
            else:
                waiting = True
            return
        cands.sort(key=lambda r: zones[r] == zones[old])  # another zone first (stable)
        primary = cands[0]
        failed = waiting = False

    i = 0
    while True:
        t_ev = merged[i][0] if i < len(merged) else math.inf
        if min(t_ev, promote_at) >= end:
            return out
        if promote_at < t_ev:  # a promotion scheduled before the next change
            t, promote_at, failing = promote_at, math.inf, False
            promote(t)
            tell(t)
            continue
        t, _, r, srv, rot = merged[i]
        i += 1
        was_serving, was_rotation = serving[r], rotation[r]
        serving[r], rotation[r] = srv, rot
        if r == primary:
            if not srv and was_serving and not failed:
                failed = True
                if not checked:
                    failing, promote_at = True, t + failover()
            elif srv and failed and not failing:
                failed = waiting = False
            if was_rotation and not rot and failed and not failing:
                failing, promote_at = True, t + failover()
        elif srv and not was_serving and waiting:
            promote(t)
        tell(t)

