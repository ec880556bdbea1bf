"""Monte Carlo replications of a model: seeding, executors and progress.

Replication ``i`` always gets the seed ``SeedSequence(seed).spawn_key + (i,)``, so the
result is the same whichever executor ran it and however replications were chunked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator._version import __version__
from simulator.analysis import budget
from simulator.analysis.budget import RunTooLarge, estimate_requests
from simulator.analysis.cost import cost_model
from simulator.analysis.executors import EXECUTORS, Progress, check_executor, run_jobs
from simulator.analysis.executors import slots as worker_slots
from simulator.backends.flow.support import unrepresented
from simulator.engine import fast
from simulator.engine.plan import SYSTEM, Plan, compile_plan, unfailing_scopes
from simulator.engine.replication import ReplicationRecord
from simulator.errors import ModelError
from simulator.model.spec import Topology
from simulator.provenance import library_versions
from simulator.results import Results, RunInfo
from simulator.units import UnitError, parse_duration

__all__ = ["run", "EXECUTORS", "BACKENDS", "MAX_REQUESTS", "RunTooLarge", "estimate_requests"]

BACKENDS = ("auto", "fast", "engine", "requests", "flow")
#: With traffic, ``auto`` simulates every request up to this horizon, flows beyond it.
FLOW_ABOVE_S = 86400.0
#: A ``requests`` run above this many simulated requests is refused unless forced.
MAX_REQUESTS = 50_000_000


def _duration(value: float | str | None, what: str) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        return parse_duration(value)
    except UnitError as exc:
        raise ModelError(str(exc), (what,)) from None


def _targets(slo: Any) -> dict[str, Any]:
    return {
        "availability": slo.availability,
        "rto_s": slo.rto_s,
        "request_availability": slo.request_availability,
        "latency": slo.latency.targets() if slo.latency is not None else {},
    }


def _slo_targets(model: Topology) -> dict[str, dict[str, Any]]:
    targets: dict[str, dict[str, Any]] = {}
    if model.slo is not None:
        targets[SYSTEM] = _targets(model.slo)
    for name, svc in model.services.items():
        if svc.slo is not None:
            targets[name] = _targets(svc.slo)
    return targets


def backend_notes(model: Topology, backend: str, horizon_s: float = 0.0) -> tuple[str, ...]:
    """Where ``backend`` approximates recovery mechanics ``model`` asks for, and why a
    long traffic run simulates every request rather than flows."""
    notes = []
    if model.traffic and (backend == "flow" or (backend == "requests" and horizon_s > FLOW_ABOVE_S)):
        reasons = unrepresented(model)
        if reasons and backend == "flow":
            notes.extend(f"flow approximates: {r}" for r in reasons)
        elif reasons:
            notes.extend(f"every request simulated (auto does not pick flow beyond a day here): {r}" for r in reasons)
    scaled = [s for s, spec in model.services.items() if spec.autoscaling is not None]
    stores = [s for s, spec in model.services.items() if spec.datastore is not None]
    dns = [t.label for t in model.traffic if t.dns is not None]
    if backend == "flow":
        if scaled:
            notes.append(f"flow runs autoscaled services at their floor (no autoscaling): {', '.join(scaled)}")
        if dns:
            notes.append(f"flow moves clients between regions at once (no DNS TTL): {', '.join(dns)}")
    if stores:
        notes.append("time-based availability counts a datastore up while min_healthy replicas serve; "
                     "failover time shows in request figures (and in chaos plans)")
    return tuple(notes)


def choose_backend(plan: Plan, backend: str) -> str:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}", ("backend",))
    if backend == "auto":
        if plan.has_traffic:
            return "flow" if plan.horizon_s > FLOW_ABOVE_S and not unrepresented(plan.topology) else "requests"
        return "fast" if fast.applies(plan) else "engine"
    if backend == "flow" and not plan.has_traffic:
        raise ModelError("the flow backend needs traffic; without it use fast or engine", ("backend",))
    if backend == "fast" and not fast.applies(plan):
        raise ModelError(
            "the fast path needs a model without traffic and without repair_crews; use engine", ("backend",)
        )
    return backend


def run(
    model: Topology,
    *,
    replications: int | None = None,
    seed: int | None = None,
    horizon: float | str | None = None,
    warmup: float | str | None = None,
    backend: str = "auto",
    executor: str = "serial",
    workers: int | None = None,
    progress: Progress | None = None,
    max_requests: float | None = MAX_REQUESTS,
    timeline: float | str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    max_memory: float | str | None = "auto",
    max_time: float | str | None = "auto",
    on_estimate: Callable[[budget.Budget], None] | None = None,
) -> Results:
    """Simulate ``replications`` independent replications of ``model``.

    Parameters
    ----------
    model : Topology
        A validated model, e.g. from :func:`simulator.load`.
    replications : int, optional
        Default: the model's ``replications``.
    seed : int, optional
        Root seed; default: the model's ``seed``. Same model and seed, same result.
    horizon, warmup : float (seconds) or str (``"10y"``), optional
        Measured time per replication and the time simulated before it; default: the model's.
    backend : {"auto", "fast", "engine", "requests", "flow"}
        ``requests`` simulates every request (needs ``traffic``); ``flow`` treats
        traffic as rates between state changes (years in seconds); ``engine`` only
        failures and repairs in simpy (time-based figures); ``fast`` the same failure
        model sampled with numpy, no event loop (no traffic, no ``repair_crews``);
        ``auto`` picks, with traffic, ``requests`` up to a one-day horizon and ``flow``
        beyond; without, ``fast`` when it applies, else ``engine``.
    executor : {"serial", "processes", "dask"}
        Where replications run; the result does not depend on it. ``dask`` runs them on
        a Dask cluster (``client`` or ``scheduler``; needs ``dask[distributed]``).
    workers : int, optional
        Processes for ``executor="processes"``; default: all cores.
    client : dask.distributed.Client, optional
        The cluster for ``executor="dask"`` (e.g. a ``LocalCluster``'s client).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://HOST:8786``) when no ``client`` is given.
    chunk_size : int, optional
        Replications per task; default: a few tasks per worker. The result does not
        depend on it.
    progress : callable(done, total), optional
        Called after each finished chunk of replications.
    max_requests : float or None
        Refuse (:class:`RunTooLarge`) a ``requests`` run estimated to simulate more
        requests than this; ``None`` forces it.
    timeline : float (seconds) or str, optional
        Record what users saw in bins of this width (requests, successes, latency);
        :meth:`Results.timeline` returns it as a DataFrame.
    max_memory, max_time : float, str or None
        Refuse (:class:`RunTooLarge`) a run estimated (:mod:`simulator.analysis.budget`)
        to need more memory (bytes, or ``"8GB"``) or time (seconds, or ``"2h"``);
        ``"auto"``: the memory available and six hours; ``None``: no limit.
    on_estimate : callable(Budget), optional
        Called with the estimate before the replications start.

    Returns
    -------
    Results

    Examples
    --------
    >>> import simulator
    >>> model = simulator.load("topologies/three-tier.yaml")
    >>> res = simulator.run(model, replications=4, horizon="30d", seed=1)
    >>> 0.0 <= res.availability.mean <= 1.0
    True
    """
    check_executor(executor, scheduler, client)
    plan, chosen, seed, n = prepare(model, replications, seed, horizon, warmup, backend, max_requests, timeline,
                                    max_memory=max_memory, max_time=max_time, slots=worker_slots(executor, workers, client),
                                    on_estimate=on_estimate)
    start = time.perf_counter()
    with budget.memory_guard(model.source or model.name):
        (records,) = run_jobs([(plan, chosen, seed, n)], executor, workers=workers, client=client,
                              scheduler=scheduler, chunk_size=chunk_size, progress=progress)
    return make_results(model, plan, chosen, seed, records, time.perf_counter() - start)


def prepare(
    model: Topology, replications: int | None = None, seed: int | None = None, horizon: float | str | None = None,
    warmup: float | str | None = None, backend: str = "auto", max_requests: float | None = MAX_REQUESTS,
    timeline: float | str | None = None, *, max_memory: float | str | None = "auto",
    max_time: float | str | None = "auto", slots: int = 1, on_estimate: Callable[[budget.Budget], None] | None = None,
) -> tuple[Plan, str, int, int]:
    """Check the run's options and compile the plan: ``(plan, backend, seed, replications)``;
    the run's estimate goes to ``on_estimate``.

    A refusal names the model's file, as every error about the input does."""
    try:
        return _prepare(model, replications, seed, horizon, warmup, backend, max_requests, timeline,
                        max_memory, max_time, slots, on_estimate)
    except ModelError as exc:
        if exc.file is None and model.source:
            raise exc.with_file(model.source) from None
        raise


def _prepare(
    model: Topology, replications: int | None, seed: int | None, horizon: float | str | None,
    warmup: float | str | None, backend: str, max_requests: float | None, timeline: float | str | None,
    max_memory: float | str | None, max_time: float | str | None, slots: int,
    on_estimate: Callable[[budget.Budget], None] | None,
) -> tuple[Plan, str, int, int]:
    n = model.replications if replications is None else int(replications)
    if n < 1:
        raise ModelError("must be at least 1", ("replications",))
    seed = model.seed if seed is None else int(seed)
    if seed < 0:
        raise ModelError("must not be negative", ("seed",))
    horizon_s = _duration(horizon, "horizon")
    warmup_s = _duration(warmup, "warmup")
    if horizon_s is not None and horizon_s <= 0:
        raise ModelError("must be a positive duration", ("horizon",))
    timeline_s = _duration(timeline, "timeline")
    if timeline_s is not None and timeline_s <= 0:
        raise ModelError("must be a positive duration", ("timeline",))
    memory_limit, time_limit = budget.limits(max_memory, max_time)
    budget.check_model(model, memory_limit)
    plan = compile_plan(model, horizon_s=horizon_s, warmup_s=warmup_s, timeline_s=timeline_s)
    chosen = choose_backend(plan, backend)
    if chosen == "requests" and max_requests is not None:
        size = estimate_requests(plan, n)
        if size > max_requests:
            why = ""
            reasons = unrepresented(model) if backend == "auto" and plan.horizon_s > FLOW_ABOVE_S else ()
            if reasons:
                why = f" (auto keeps every request: {reasons[0]}; --backend flow runs it approximately)"
            raise RunTooLarge(
                f"{model.source or model.name}: this run would simulate about {size:.3g} requests "
                f"(limit {max_requests:.3g}){why}; shorten --horizon, lower --replications, "
                "or pass --max-requests to allow it"
            )
    estimate = budget.estimate(plan, chosen, n, slots)
    budget.check(estimate, model.source or model.name, memory_limit, time_limit)
    if on_estimate is not None:
        on_estimate(estimate)
    return plan, chosen, seed, n


def make_results(
    model: Topology, plan: Plan, backend: str, seed: int, records: list[ReplicationRecord], wall_s: float = 0.0
) -> Results:
    """Wrap a run's records with what was run."""
    info = RunInfo(
        name=model.name,
        seed=seed,
        replications=len(records),
        horizon_s=plan.horizon_s,
        warmup_s=plan.warmup_s,
        version=__version__,
        model_hash=model.model_hash(),
        backend=backend,
        entries=tuple(plan.services[i].name for i in plan.entries),
        slo=_slo_targets(model),
        notes=backend_notes(model, backend, plan.horizon_s),
        cost_model=cost_model(model),
        unfailing=(unfailing := unfailing_scopes(plan))[0],
        own_unfailing=unfailing[1],
        libraries=library_versions(),
    )
    return Results(info, records, wall_s=wall_s, model=model)
