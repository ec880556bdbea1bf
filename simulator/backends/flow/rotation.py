"""What the load balancers see: each replica's serving and in-rotation changes.

From the control plane's trace, a replica *serves* while it and its containers are
up; it is *in rotation* as the health checks of the ``requests`` backend decide:
probes at ``phase + k·interval`` (the same phase, from the same stream), out after
``unhealthy_after`` failed probes in a row, back after ``healthy_after`` good ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.engine.control import Trace
from simulator.engine.plan import Plan
from simulator.rng import name_key, stream_keys, uniforms

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
    """Merge serving flips with the probes that matter: (time, serving, in rotation)."""
    events: list[tuple[float, bool, bool]] = []
    serving, rotation = True, True
    fails = succs = 0
    probe = math.inf
    i = 0
    while True:
        t_flip = flips[i][0] if i < len(flips) else math.inf
        if min(t_flip, probe) >= end:
            return events
        if t_flip <= probe:  # the control plane goes first at equal times
            serving = flips[i][1]
            i += 1
            events.append((t_flip, serving, rotation))
            if probe == math.inf and hc is not None:
                k = math.floor((t_flip - phase) / hc.interval_s) + 1
                probe = phase + k * hc.interval_s
            continue
        if serving:
            succs, fails = succs + 1, 0
            if not rotation and succs >= hc.healthy_after:
                rotation = True
                events.append((probe, serving, rotation))
        else:
            fails, succs = fails + 1, 0
            if rotation and fails >= hc.unhealthy_after:
                rotation = False
                events.append((probe, serving, rotation))
        probe = math.inf if rotation == serving else probe + hc.interval_s


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
        hc = top.services[svc.name].load_balancer.health_check
        for r in svc.replicas:
            for t, serving, rotation in _rotation(flips[int(r)], phase.get(int(r), 0.0), hc, plan.end_s):
                changes.append((t, int(r), serving, rotation))
    changes.sort(key=lambda ch: ch[0])
    return changes

