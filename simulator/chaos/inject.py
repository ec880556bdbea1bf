"""Put a plan's faults into one running replication (the ``requests`` data plane).

Each step picks its targets from its own named stream, then starts and ends on the
loop at its resolved times. Faults act where a real one would:

- ``instance_stop``, ``crash_loop``, ``zone_outage``, ``region_outage``,
  ``provider_outage`` hold components down in the control plane (their own failure
  clocks keep running; the trace and availability see the outage);
- ``partition`` drops packets between zones (callers see connect timeouts); health
  checks are not cut (the balancer sits beside its replicas);
- ``latency`` adds a one-way delay (± uniform jitter) to every call of the service;
- ``error_injection`` fails a share of the requests the service completes;
- ``slowdown`` multiplies service times (a gray failure: health checks still pass);
- ``capacity_loss`` removes a share of each replica's workers;
- ``dependency_blackhole`` makes calls to the service hang until their timeout;
- ``traffic_spike`` is part of the arrival process (added to the traffic spec);
- ``replication_pause`` stops a datastore's replication, so its lag grows.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.backends.requests.dataplane import DataPlane
from simulator.backends.requests.runtime import Replica
from simulator.chaos.compile import Experiment, Step
from simulator.engine.control import ControlPlane
from simulator.rng import UNIT_UNIFORM, named_stream

__all__ = ["Injector", "pick_targets"]


def pick_targets(step: Step, rep: tuple[int, int]) -> list[str]:
    """The units ``step`` hits in this replication (all, or a seeded sample)."""
    cands = list(step.candidates)
    spec = step.spec
    if spec.mode == "all" or step.unit in ("pair", "entry"):
        return cands
    n = {"one": 1, "count": spec.count or 1, "percent": math.ceil((spec.percent or 0.0) * len(cands))}[spec.mode]
    n = max(1, min(n, len(cands)))
    u = named_stream(rep, f"chaos/{step.name}/pick", UNIT_UNIFORM, max(n, 1))
    for i in range(n):  # a partial Fisher-Yates shuffle
        j = i + int(u() * (len(cands) - i))
        cands[i], cands[j] = cands[j], cands[i]
    return sorted(cands[:n])


class Injector:
    """Starts and ends the faults of ``exp`` in one replication."""

    def __init__(self, exp: Experiment, dp: DataPlane, control: ControlPlane, rep: tuple[int, int]) -> None:
        self.exp, self.dp, self.control = exp, dp, control
        plan = exp.sim
        self.comp = {c.name: c.index for c in plan.components}
        self.replica = {r.comp: r for svc in dp.services for r in svc.replicas}
        self.service = {svc.name: svc for svc in dp.services}
        self.zones_of = {}
        for z, (_p, region) in exp.topology.zones().items():
            self.zones_of[z] = [z]
            self.zones_of.setdefault(region, []).append(z)
        self.targets: dict[str, list[str]] = {}
        self.errs: dict[str, list[float]] = {}
        self.losses: dict[int, list[float]] = {}
        self.loops: dict[str, Any] = {}
        for step in exp.steps:
            self.targets[step.name] = pick_targets(step, rep)
            if step.spec.fault == "traffic_spike":
                continue  # already in the arrival process
            dp.loop.at(step.start_s, self.begin, step)
            if step.end_s < exp.end_s:
                dp.loop.at(step.end_s, self.finish, step)

    # -- targets -----------------------------------------------------------------

    def _replicas(self, step: Step) -> list[Replica]:
        return [self.replica[self.comp[name]] for name in self.targets[step.name]]

    def _services(self, step: Step) -> list[Any]:
        return [self.service[name.split("/", 1)[1]] for name in self.targets[step.name]]

    def _cuts(self, step: Step) -> list[tuple[str, str]]:
        a, b = step.candidates
        pairs = [(x, y) for x in self.zones_of[a] for y in self.zones_of[b] if x != y]
        if (step.spec.direction or "both") == "both":
            pairs += [(y, x) for x, y in pairs]
        return pairs

    # -- start and end -------------------------------------------------------------

    def begin(self, step: Step) -> None:
        fault = step.spec.fault
        self.dp.event("fault_start", step.name)
        if fault in ("zone_outage", "region_outage", "provider_outage", "instance_stop"):
            for name in self.targets[step.name]:
                self.control.hold(self.comp[name])
        elif fault == "crash_loop":
            for r in self._replicas(step):
                self._crash(step, r, 0)
        elif fault == "partition":
            for pair in self._cuts(step):
                self.dp.cuts[pair] = self.dp.cuts.get(pair, 0) + 1
        elif fault == "latency":
            for svc in self._services(step):
                svc.extra_delay.append((step.spec.delay_added_s, step.spec.jitter_s or 0.0))
        elif fault == "error_injection":
            for svc in self._services(step):
                self.errs.setdefault(svc.name, []).append(step.spec.rate)
                self._set_err(svc)
        elif fault == "slowdown":
            for r in self._replicas(step):
                r.slow *= step.spec.multiplier
        elif fault == "capacity_loss":
            for r in self._replicas(step):
                self.losses.setdefault(r.comp, []).append(step.spec.fraction)
                self._set_workers(r)
        elif fault == "dependency_blackhole":
            for svc in self._services(step):
                svc.blackhole += 1
        elif fault == "replication_pause":
            for svc in self._services(step):
                svc.store.pause()

    def finish(self, step: Step) -> None:
        fault = step.spec.fault
        self.dp.event("fault_end", step.name)
        if fault in ("zone_outage", "region_outage", "provider_outage", "instance_stop"):
            for name in self.targets[step.name]:
                self.control.release(self.comp[name])
        elif fault == "crash_loop":
            for r in self._replicas(step):
                key = (step.name, r.comp)
                held = self.loops.pop(key, False)
                if held:
                    self.control.release(r.comp)
        elif fault == "partition":
            for pair in self._cuts(step):
                self.dp.cuts[pair] -= 1
                if not self.dp.cuts[pair]:
                    del self.dp.cuts[pair]
        elif fault == "latency":
            for svc in self._services(step):
                svc.extra_delay.remove((step.spec.delay_added_s, step.spec.jitter_s or 0.0))
        elif fault == "error_injection":
            for svc in self._services(step):
                self.errs[svc.name].remove(step.spec.rate)
                self._set_err(svc)
        elif fault == "slowdown":
            for r in self._replicas(step):
                r.slow /= step.spec.multiplier
        elif fault == "capacity_loss":
            for r in self._replicas(step):
                self.losses[r.comp].remove(step.spec.fraction)
                self._set_workers(r)
                self.dp.fill(r)
        elif fault == "dependency_blackhole":
            for svc in self._services(step):
                svc.blackhole -= 1
        elif fault == "replication_pause":
            for svc in self._services(step):
                svc.store.resume()

    def _set_err(self, svc: Any) -> None:
        ok = 1.0
        for rate in self.errs.get(svc.name, ()):
            ok *= 1.0 - rate
        svc.extra_err = 1.0 - ok

    def _set_workers(self, r: Replica) -> None:
        kept = 1.0
        for f in self.losses.get(r.comp, ()):
            kept *= 1.0 - f
        r.workers = max(0, round(r.base_workers * kept))

    # -- crash loops: crash, wait a doubling back-off, run a while, crash again ------

    def _crash(self, step: Step, r: Replica, k: int) -> None:
        key = (step.name, r.comp)
        if k > 0 and key not in self.loops:
            return  # the step ended
        self.control.hold(r.comp)
        self.loops[key] = True
        spec = step.spec
        base, cap = spec.backoff_s or 10.0, spec.backoff_cap_s or 300.0
        wait = min(cap, base * 2.0**k)
        self.dp.loop.at(self.dp.loop.now + wait, self._restart, (step, r, k))

    def _restart(self, arg: tuple[Step, Replica, int]) -> None:
        step, r, k = arg
        key = (step.name, r.comp)
        if not self.loops.get(key):
            return  # the step ended meanwhile (and released it)
        self.control.release(r.comp)
        self.loops[key] = False
        up_for = step.spec.up_for_s or 30.0
        self.dp.loop.at(self.dp.loop.now + up_for, lambda _a: self._crash(step, r, k + 1), None)
