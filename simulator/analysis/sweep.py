"""Variant sweeps with common random numbers.

Every variant runs the same replications with the same seeds, so replication ``i`` of
one variant sees the same failures as replication ``i`` of another wherever the
model did not change (random streams are keyed by component names). Differences
between variants are therefore estimated on pairs: the interval of the mean paired
difference is much narrower than the one from two independent runs, whenever the
variants' figures are positively correlated.

All variants' replications are independent tasks for one executor, so a sweep
scales out like a single run.
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

from simulator.analysis import budget
from simulator.analysis.executors import run_jobs
from simulator.analysis.executors import slots as worker_slots
from simulator.analysis.runner import MAX_REQUESTS, make_results, prepare
from simulator.analysis.sweep_results import SweepResults
from simulator.errors import ModelError, ModelErrors, short_repr
from simulator.model.base import suggest
from simulator.model.edit import _TOKEN, apply_setting
from simulator.model.loader import from_dict
from simulator.model.spec import Topology
from simulator.model.sweeps import unpaired

__all__ = ["sweep", "apply_setting", "expand", "parse_set_option"]  # apply_setting: from simulator.model.edit

def _label(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def expand(grid: dict[str, list] | None = None, variants: list | None = None) -> list[tuple[str, dict]]:
    """``(name, {path: value})`` for each variant: every combination of a grid, or the
    named variants as given (``[(name, settings), ...]`` or VariantSpec objects)."""
    if variants:
        out = []
        for v in variants:
            name, settings = (v.name, v.set) if hasattr(v, "name") else v
            out.append((name, dict(settings)))
        return out
    grid = grid or {}
    if not grid:
        return [("base", {})]
    paths = list(grid)
    short = [_TOKEN.sub("", p.rsplit(".", 1)[-1]) for p in paths]
    if len(set(short)) < len(short):
        short = paths
    out = []
    for combo in itertools.product(*(grid[p] for p in paths)):
        settings = dict(zip(paths, combo, strict=True))
        out.append((" ".join(f"{k}={_label(v)}" for k, v in zip(short, combo, strict=True)), settings))
    return out


def parse_set_option(text: str) -> tuple[str, list[Any]]:
    """``services.api.replicas.z1=2,3,4`` -> ``("services.api.replicas.z1", [2, 3, 4])``.

    Each value is read as YAML the way files are (plain data; dates stay strings)."""
    from simulator.model.yaml_safe import parse_document

    path, sep, values = text.partition("=")
    if not sep or not path.strip() or not values.strip():
        raise ModelError(f"expected PATH=VALUE[,VALUE...], got {short_repr(text)}", ("--set",))
    try:
        return path.strip(), [parse_document(v.strip()) for v in values.split(",")]
    except ModelError as exc:
        raise ModelError(exc.message, ("--set", path.strip())) from None


def _variant_model(base: dict, name: str, settings: dict, source: str | None) -> Topology:
    doc = copy.deepcopy(base)
    try:
        for path, value in settings.items():
            apply_setting(doc, path, value)
    except ModelError as exc:
        raise exc.with_file(source) from None
    try:
        return from_dict(doc, file=source)
    except ModelErrors as exc:
        first = exc.errors[0]
        raise ModelError(f"variant {name!r}: {first.message}", first.path, source) from None


def sweep(
    model: Topology,
    grid: dict[str, list] | None = None,
    *,
    variants: list | None = None,
    baseline: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    horizon: float | str | None = None,
    warmup: float | str | None = None,
    backend: str = "auto",
    executor: str = "serial",
    workers: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    progress: Any = None,
    max_requests: float | None = MAX_REQUESTS,
    max_memory: float | str | None = "auto",
    max_time: float | str | None = "auto",
) -> SweepResults:
    """Run variants of ``model`` with common random numbers and compare them.

    Parameters
    ----------
    model : Topology
    grid : dict of path -> list of values, optional
        Every combination is a variant, e.g. ``{"services.api.replicas.use1-az1": [2, 3, 4],
        "traffic[0].rate": ["200/s", "800/s"]}``. A value ``"x10"`` multiplies the
        model's value (``{"traffic[*].rate": ["x1", "x10", "x100"]}`` is a growth scenario).
    variants : list of (name, {path: value}), optional
        Named variants instead of a grid. Without either, the model's ``sweep:`` section.
    baseline : str, optional
        The variant the others are compared with; default: the first.
    replications, seed, horizon, warmup, backend, max_requests, max_memory, max_time
        As for :func:`simulator.run`; every variant uses the same seed, and the limits
        apply to all variants together.
    executor, workers, client, scheduler, chunk_size
        As for :func:`simulator.run`; all variants' replications share the executor.
    progress : callable(done, total) or True, optional
        ``True`` writes ``done/total, ETA`` to stderr (a notebook shows it).

    Returns
    -------
    SweepResults
        ``table()`` (pandas), ``differences()``, ``pareto()``, ``best``.
    """
    spec = model.sweep
    if grid is None and variants is None and spec is not None:
        grid, variants = dict(spec.grid) or None, list(spec.variants) or None
        baseline = baseline or spec.baseline
    if not grid and not variants:
        raise ModelError("nothing to sweep: give a grid or variants (--set PATH=V1,V2), or add a sweep section",
                         ("sweep",), model.source)
    named = expand(grid, variants)
    names = [name for name, _ in named]
    if baseline is not None and baseline not in names:  # before anything runs
        raise ModelError(f"unknown variant {baseline!r}{suggest(baseline, names)}", ("sweep", "baseline"), model.source)
    for _, settings in named:  # before anything runs
        for path in settings:
            if (why := unpaired(path)) is not None:
                raise ModelError(why, ("sweep", path.strip()), model.source)
    base_doc = model.model_dump(mode="json", by_alias=True, exclude={"sweep"})
    models = [_variant_model(base_doc, name, settings, model.source) for name, settings in named]
    estimates: list[budget.Budget] = []  # each variant's, checked alone by prepare, then together
    slots = worker_slots(executor, workers, client)
    prepared = [prepare(m, replications, seed, horizon, warmup, backend, max_requests, max_memory=max_memory,
                        max_time=max_time, slots=slots, on_estimate=estimates.append) for m in models]
    if len({(s, n) for _, _, s, n in prepared}) > 1:  # the pairing below needs it whatever changed them
        raise ModelError("the variants would run different replications or seeds; they cannot be paired",
                         ("sweep",), model.source)
    budget.check_all(estimates, model.source or model.name, *budget.limits(max_memory, max_time))
    if progress is True:
        progress = _stderr_progress()
    start = time.perf_counter()
    with budget.memory_guard(model.source or model.name):
        records = run_jobs(prepared, executor, workers=workers, client=client, scheduler=scheduler,
                           chunk_size=chunk_size, progress=progress)
    wall = time.perf_counter() - start
    results = [
        make_results(m, plan, chosen, s, recs, wall / len(models))
        for m, (plan, chosen, s, _), recs in zip(models, prepared, records, strict=True)
    ]
    return SweepResults(names, [s for _, s in named], results, baseline or names[0], wall_s=wall)


def _stderr_progress():
    import sys

    from simulator.analysis.executors import ETA

    eta = ETA()

    def report(done: int, total: int) -> None:
        sys.stderr.write(f"\rsweep: {eta(done, total)}   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
