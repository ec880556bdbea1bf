"""Load a chaos plan, check it against its topology, and resolve its schedule.

Step times are deterministic (``at``, or the end of another step plus a delay, cut
short by rollbacks), so they are resolved once; which replicas, zones or services a
step hits may be random (``mode: one | count | percent``) and is drawn in each
replication from a stream named after the step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from simulator.chaos.spec import DISRUPTION_OF, ChaosPlan, FaultStep
from simulator.engine.plan import Plan, compile_plan
from simulator.errors import ModelError, ModelErrors
from simulator.model.base import suggest
from simulator.model.loader import errors_from_validation, load_yaml, read_text
from simulator.model.spec import Topology
from simulator.model.traffic import SpikeSpec

__all__ = ["load_plan", "plan_from_dict", "Step", "Experiment", "compile_experiment"]

#: what each fault's target selects
UNIT = {
    "instance_stop": "replica", "crash_loop": "replica", "slowdown": "replica", "capacity_loss": "replica",
    "zone_outage": "zone", "region_outage": "region", "provider_outage": "provider",
    "latency": "service", "error_injection": "service", "dependency_blackhole": "service",
    "replication_pause": "service", "traffic_spike": "entry", "partition": "pair",
}


@dataclass(frozen=True)
class Step:
    """A resolved step: when it runs and what it may hit."""

    index: int
    name: str
    spec: FaultStep
    start_s: float
    end_s: float  # inf: until the end of the replication
    candidates: tuple[str, ...]  # unit names matching the target (replica / zone / region / service...)
    disruption: str

    @property
    def unit(self) -> str:
        return UNIT[self.spec.fault]


@dataclass(frozen=True)
class Experiment:
    """A plan bound to its topology, ready to run replications of."""

    plan: ChaosPlan
    topology: Topology  # as run: spikes of traffic_spike steps added
    sim: Plan = field(repr=False)
    steps: tuple[Step, ...]
    end_s: float
    source: str | None = None

    @property
    def trigger_end_s(self) -> float:
        """When the last fault ends (the end of the run if one never does)."""
        return max(min(s.end_s, self.end_s) for s in self.steps)

    @property
    def first_start_s(self) -> float:
        return min(s.start_s for s in self.steps)


def plan_from_dict(data: Any, file: str | None = None) -> ChaosPlan:
    if not isinstance(data, Mapping):
        raise ModelError("a chaos plan must be a mapping of keys at the top level", file=file)
    try:
        plan = ChaosPlan.model_validate(dict(data))
    except ValidationError as exc:
        raise ModelErrors(errors_from_validation(exc, file)) from None
    object.__setattr__(plan, "_source", file)
    return plan


def load_plan(path: str | os.PathLike[str]) -> ChaosPlan:
    """Read and validate a chaos plan file (safe YAML; errors name the file and key path)."""
    file = os.fspath(path)
    data = load_yaml(read_text(file, "chaos plan file"), file)
    if data is None:
        raise ModelError("the file is empty", file=file)
    return plan_from_dict(data, file)


# -- targets ------------------------------------------------------------------------


def _places(top: Topology) -> dict[str, dict[str, Any]]:
    """Every selectable unit with what a selector can match on."""
    zones = top.zones()
    regions = top.regions()
    out: dict[str, dict[str, Any]] = {}
    for p, prov in top.providers.items():
        out[f"provider/{p}"] = {"provider": p, "labels": prov.labels}
        for r, reg in prov.regions.items():
            out[f"region/{r}"] = {"provider": p, "region": r, "labels": {**prov.labels, **reg.labels}}
            for z, zone in reg.zones.items():
                out[f"zone/{z}"] = {"provider": p, "region": r, "zone": z,
                                    "labels": {**prov.labels, **reg.labels, **zone.labels}}
    for s, svc in top.services.items():
        out[f"service/{s}"] = {"service": s, "labels": svc.labels}
        for zone, count in svc.replicas.items():
            p, r = zones[zone]
            for i in range(count):
                out[f"replica/{s}/{zone}/{i}"] = {
                    "service": s, "zone": zone, "region": r, "provider": p,
                    "labels": {**out[f"zone/{zone}"]["labels"], **svc.labels},
                }
    for t in top.traffic:
        out[f"entry/{t.label}"] = {"entry": t.label, "service": t.entry, "labels": {}}
    del regions
    return out


def _matches(info: dict[str, Any], target: Any) -> bool:
    for key in ("service", "zone", "region", "provider"):
        want = getattr(target, key)
        if want is not None and info.get(key) != want:
            return False
    if target.entry is not None and ("entry" not in info or target.entry not in (info["entry"], info["service"])):
        return False
    return all(info["labels"].get(k) == v for k, v in target.labels.items())


def _check_names(top: Topology, step: FaultStep, where: tuple) -> list[ModelError]:
    t = step.target
    errors = []
    known = {
        "service": top.services, "zone": top.zones(), "region": top.regions(), "provider": top.providers,
        "entry": {x.label for x in top.traffic} | {x.entry for x in top.traffic},
    }
    for key, names in known.items():
        value = getattr(t, key)
        if value is not None and value not in names:
            errors.append(ModelError(f"unknown {key} {value!r}{suggest(value, names)}", (*where, "target", key)))
    if t.between is not None:
        places = set(top.zones()) | set(top.regions())
        for j, side in enumerate(t.between):
            if side not in places:
                errors.append(ModelError(f"unknown zone or region {side!r}{suggest(side, places)}",
                                         (*where, "target", "between", j)))
    return errors


def _candidates(top: Topology, places: dict, step: FaultStep, where: tuple) -> tuple[tuple[str, ...], list[ModelError]]:
    unit = UNIT[step.fault]
    if unit == "pair":
        a, b = step.target.between  # type: ignore[misc]
        return (a, b), []
    names = tuple(n for n, info in places.items() if n.startswith(unit + "/") and _matches(info, step.target))
    if not names:
        return (), [ModelError(f"no {unit} matches this target", (*where, "target"))]
    if step.fault == "replication_pause":
        plain = [n for n in names if top.services[n.split("/", 1)[1]].datastore is None]
        if plain:
            return (), [ModelError(f"replication_pause needs a datastore; {plain[0].split('/', 1)[1]!r} has no 'datastore'",
                                   (*where, "target"))]
    if step.mode == "count" and step.count > len(names):  # type: ignore[operator]
        return (), [ModelError(f"count is {step.count} but only {len(names)} {unit}(s) match", (*where, "count"))]
    return names, []


def _shift_clock(top: Topology, clock_s: float) -> Topology:
    """The topology as seen from a replication that starts at ``clock_s`` into the day:
    the diurnal peak moves earlier, the spikes the topology schedules too."""
    traffic = []
    for t in top.traffic:
        update: dict[str, Any] = {}
        if t.diurnal is not None:
            peak = (t.diurnal.peak_hour - clock_s / 3600.0) % 24.0
            update["diurnal"] = t.diurnal.model_copy(update={"peak_hour": peak})
        spikes = [s.model_copy(update={"at_s": s.at_s - clock_s}) for s in t.spikes if s.at_s + s.duration_s > clock_s]
        update["spikes"] = tuple(s for s in spikes if s.at_s >= 0.0)
        traffic.append(t.model_copy(update=update))
    return top.model_copy(update={"traffic": tuple(traffic)})


def compile_experiment(top: Topology, plan: ChaosPlan, *, duration_s: float | None = None) -> Experiment:
    """Check ``plan`` against ``top`` and resolve its schedule.

    Raises
    ------
    ModelErrors
        Unknown names, a step ``after`` itself (or a cycle), a target that matches
        nothing, a fault that needs traffic on a topology without, etc.
    """
    file = plan._source
    errors: list[ModelError] = []
    steps = plan.steps()
    names = [n for n, _ in steps]
    for i, n in enumerate(names):
        if names.index(n) != i:
            errors.append(ModelError(f"two steps are called {n!r}", ("method", i, "name")))
    if not top.traffic:
        errors.append(ModelError("a chaos plan needs traffic in the topology (it measures what users see)", ()))
    places = _places(top)
    cands: list[tuple[str, ...]] = []
    for i, (_, step) in enumerate(steps):
        where = ("method", i)
        problems = _check_names(top, step, where)
        if not problems:
            c, problems = _candidates(top, places, step, where)
        else:
            c = ()
        errors += problems
        cands.append(c)
        if step.after is not None and step.after not in names:
            errors.append(ModelError(f"unknown step {step.after!r}{suggest(step.after, names)}", (*where, "after")))
    for j, rb in enumerate(plan.rollbacks):
        if rb.undo not in names:
            errors.append(ModelError(f"unknown step {rb.undo!r}{suggest(rb.undo, names)}", ("rollbacks", j, "undo")))
        if rb.after is not None and rb.after not in names:
            errors.append(ModelError(f"unknown step {rb.after!r}{suggest(rb.after, names)}", ("rollbacks", j, "after")))
    probes = plan.probes(top)
    entries = {t.label for t in top.traffic}
    for j, probe in enumerate(probes):
        if probe.entry is not None and probe.entry not in entries:
            errors.append(ModelError(f"unknown traffic entry {probe.entry!r}{suggest(probe.entry, entries)}",
                                     ("steady_state", "probes", j, "entry")))
    if errors:
        raise ModelErrors([e.with_file(file) for e in errors])

    # schedule: starts in dependency order, then rollbacks cut ends short
    start: dict[str, float] = {}
    end: dict[str, float] = {}
    by_name = dict(steps)
    visiting: set[str] = set()

    def resolve(name: str, path: tuple) -> float:
        if name in start:
            return start[name]
        if name in visiting:
            raise ModelErrors([ModelError(f"steps wait for each other in a cycle through {name!r}", path).with_file(file)])
        visiting.add(name)
        step = by_name[name]
        if step.at_s is not None:
            t = step.at_s
        else:
            prev = step.after
            resolve(prev, path)  # type: ignore[arg-type]
            t = end[prev] + step.delay_s  # type: ignore[index]
        visiting.discard(name)
        start[name] = t
        end[name] = t + step.duration_s if step.duration_s is not None else math.inf
        return t

    for i, n in enumerate(names):
        resolve(n, ("method", i, "after"))
    for j, rb in enumerate(plan.rollbacks):
        t = rb.at_s if rb.at_s is not None else end[rb.after] + rb.delay_s  # type: ignore[index]
        if not math.isfinite(t):
            raise ModelErrors([ModelError(f"step {rb.after!r} never ends, so this rollback never runs",
                                          ("rollbacks", j, "after")).with_file(file)])
        if t < start[rb.undo]:
            raise ModelErrors([ModelError(f"rolls back {rb.undo!r} before it starts", ("rollbacks", j)).with_file(file)])
        end[rb.undo] = min(end[rb.undo], t)
    last = max(max(start.values()), max((e for e in end.values() if math.isfinite(e)), default=0.0))
    total = duration_s if duration_s is not None else (plan.duration_s if plan.duration_s is not None else last + 3600.0)
    if max(start.values()) >= total:
        raise ModelErrors([ModelError(f"a step starts at or after the end of the run ({total:g} s); lengthen 'duration'",
                                      ("duration",)).with_file(file)])

    resolved = []
    for i, (n, step) in enumerate(steps):
        disruption = DISRUPTION_OF[step.fault]
        if step.fault == "partition":
            regions = top.regions()
            disruption = "region" if all(side in regions for side in step.target.between) else "zone"  # type: ignore[union-attr]
        resolved.append(Step(i, n, step, start[n], end[n], cands[i], disruption))

    if plan.clock_s:
        top = _shift_clock(top, plan.clock_s)
    # traffic spikes are part of the arrival process: add them to the traffic spec
    spikes: dict[int, list[SpikeSpec]] = {}
    for s in resolved:
        if s.spec.fault != "traffic_spike":
            continue
        for k, t in enumerate(top.traffic):
            if f"entry/{t.label}" in s.candidates:
                spike = SpikeSpec(at=s.start_s, duration=min(s.end_s, total) - s.start_s,
                                  multiplier=s.spec.multiplier, ramp=s.spec.ramp_s or 0.0)
                spikes.setdefault(k, []).append(spike)
    if spikes:
        traffic = tuple(
            t.model_copy(update={"spikes": (*t.spikes, *spikes.get(k, ()))}) for k, t in enumerate(top.traffic)
        )
        top = top.model_copy(update={"traffic": traffic})
    sim = compile_plan(top, horizon_s=total, warmup_s=0.0, timeline_s=plan.timeline_s)
    if not plan.background_failures:
        comps = tuple(replace(c, ttf=None, ttr=None) for c in sim.components)
        sim = replace(sim, components=comps, shocks=())
    return Experiment(plan, top, sim, tuple(resolved), total, file)
