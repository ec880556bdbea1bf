"""The ``failsim`` command: parse options, call the library, render.

Exit codes: 0 success (``check``: every target met), 1 a target missed, 2 bad input
(one line on stderr naming the file and key path), 3 a target inconclusive, 130 (143)
interrupted by SIGINT (SIGTERM): see :mod:`simulator.interrupt`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from simulator._version import __version__
from simulator.analysis.budget import check_model
from simulator.cli_options import (
    BackendOpt,
    ExecutorOpt,
    FileArg,
    HorizonOpt,
    MaxMemoryOpt,
    MaxRequestsOpt,
    MaxTimeOpt,
    ProgressOpt,
    ReplicationsOpt,
    SchedulerOpt,
    SeedOpt,
    WarmupOpt,
    WorkersOpt,
    estimate_notice,
)
from simulator.cli_output import VERDICT_STYLE, err, out, progress_bar, render, rich_table, write_atomic
from simulator.errors import ModelError, ModelErrors, SimulatorError
from simulator.model.loader import MAX_FILE_SIZE_ENV

app = typer.Typer(
    name="failsim",
    help=(
        "Discrete-event reliability and failure-mode simulator for infrastructure.\n\n"
        "Describe providers, regions, zones and services in YAML; failsim simulates failures, "
        "repairs and traffic over many replications and reports availability (with 95% confidence "
        "intervals), downtime, latency, recovery times, cost and SLO verdicts. Chaos plans inject "
        "faults and measure detection, failover and recovery (RTO/RPO); sweeps compare variants "
        "with common random numbers; report writes an HTML page."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# wide enough for the tables when the output is a file or a CI log

EXIT_OK, EXIT_MISSED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3

def _version(value: bool) -> None:
    if value:
        out.print(f"failsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    max_file_size: Annotated[
        str | None,
        typer.Option(
            "--max-file-size", metavar="SIZE", show_default=False,
            help=f"Refuse input files larger than this (default 2MiB; also ${MAX_FILE_SIZE_ENV}), e.g. 50MB.",
        ),
    ] = None,
) -> None:
    """failsim: simulate failures, repairs and outages; estimate availability with CIs."""
    if max_file_size is not None:
        # The loaders read the limit from the environment, so worker processes see it too.
        os.environ[MAX_FILE_SIZE_ENV] = max_file_size


def _fail(error: SimulatorError, file: Path | None = None) -> typer.Exit:
    """One line on stderr, exit 2; an option's refusal names the ``file`` it was about."""
    if isinstance(error, ModelError) and not isinstance(error, ModelErrors) and error.file is None and file:
        error = error.with_file(str(file))
    text = error.one_line() if hasattr(error, "one_line") else str(error)
    err.print(text, markup=False, highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def _simulate(
    file: Path, replications, horizon, warmup, seed, executor, workers, progress,
    backend: str = "auto", max_requests: float = 5e7, scheduler: str | None = None, model=None, limits=(None, None),
):
    """Run ``file`` (its ``model`` when the caller has loaded it already) with a progress bar."""
    import simulator

    model = model if model is not None else simulator.load(file)
    with progress_bar(progress, f"{file.name}") as update:
        return simulator.run(
            model, replications=replications, seed=seed, horizon=horizon, warmup=warmup,
            executor=executor, workers=workers, progress=update, backend=backend, max_requests=max_requests,
            scheduler=scheduler, max_memory=limits[0] or "auto", max_time=limits[1] or "auto",
            on_estimate=estimate_notice(err, str(file)),
        )


@app.command()
def run(
    file: FileArg,
    replications: ReplicationsOpt = None,
    horizon: HorizonOpt = None,
    warmup: WarmupOpt = None,
    seed: SeedOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result instead of the table.")] = False,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the JSON result to this file.")
    ] = None,
    backend: BackendOpt = "auto",
    max_requests: MaxRequestsOpt = 5e7,
    max_memory: MaxMemoryOpt = None, max_time: MaxTimeOpt = None,
    executor: ExecutorOpt = "processes",
    workers: WorkersOpt = None,
    progress: ProgressOpt = True,
    scheduler: SchedulerOpt = None,
) -> None:
    """Simulate a topology and report availability, downtime, outages, requests, latency and SLO verdicts."""
    try:
        results = _simulate(
            file, replications, horizon, warmup, seed, executor, workers, progress, backend, max_requests, scheduler,
            limits=(max_memory, max_time),
        )
        text = results.to_json()
        if output is not None:
            write_atomic(output, text + "\n")
    except SimulatorError as exc:
        raise _fail(exc, file) from None
    except OSError as exc:
        err.print(f"{exc.filename or output}: cannot write: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        out.print_json(text) if out.is_terminal else sys.stdout.write(text + "\n")
    else:
        render(results)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Topology YAML files with slo targets.", show_default=False, readable=False)],
    replications: ReplicationsOpt = None,
    horizon: HorizonOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = "auto",
    max_requests: MaxRequestsOpt = 5e7,
    max_memory: MaxMemoryOpt = None, max_time: MaxTimeOpt = None,
    executor: ExecutorOpt = "processes",
    workers: WorkersOpt = None,
    progress: ProgressOpt = True,
    scheduler: SchedulerOpt = None,
) -> None:
    """Judge every slo target of each file; for CI gates.

    Exit 0 when every target is met (CI lower bound at or above the target), 1 when any
    is missed (CI upper bound below it), 3 when any is inconclusive (the CI straddles
    the target: run more replications), 2 on bad input.
    """
    verdicts: list[str] = []
    for file in files:
        try:
            results = _simulate(
                file, replications, horizon, None, seed, executor, workers, progress, backend, max_requests, scheduler,
                limits=(max_memory, max_time),
            )
        except SimulatorError as exc:
            raise _fail(exc, file) from None
        if not results.slo:
            err.print(f"{file}: slo: no targets to check (add slo.availability, slo.latency...)", markup=False)
            raise typer.Exit(EXIT_BAD_INPUT)
        from simulator.report_text import slo_table

        headers, rows = slo_table(results)
        for r in rows:
            r[-1] = f"[{VERDICT_STYLE[r[-1]]}]{r[-1]}[/]"
        out.print(rich_table(headers, rows, title=f"{file}: {results.verdict}"))
        verdicts.append(results.verdict)
    if "missed" in verdicts:
        raise typer.Exit(EXIT_MISSED)
    if "inconclusive" in verdicts:
        raise typer.Exit(EXIT_INCONCLUSIVE)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Topology YAML files.", show_default=False, readable=False)],
) -> None:
    """Check topology files without running them; list every problem, one per line."""
    import simulator

    bad = False
    for file in files:
        try:
            model = simulator.load(file)
            check_model(model)
        except ModelErrors as exc:
            for e in exc.errors:
                err.print(e.one_line(), markup=False, highlight=False)
            bad = True
            continue
        except SimulatorError as exc:
            err.print(exc.one_line() if hasattr(exc, "one_line") else str(exc), markup=False, highlight=False)
            bad = True
            continue
        n_rep = sum(s.replica_count for s in model.services.values())
        out.print(f"{file}: ok ({len(model.services)} services, {n_rep} replicas, {len(model.zones())} zones)", highlight=False)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def chaos(
    file: FileArg,
    plan_file: Annotated[Path, typer.Argument(help="Chaos plan YAML file (see topologies/plans/).", show_default=False, readable=False)],
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Simulated time per replication, e.g. 2h (default: the plan's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result instead of the tables.")] = False,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the JSON result to this file.")] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Write a Chaos Toolkit-style journal (JSON) to this file.")
    ] = None,
    timeline: Annotated[
        Path | None,
        typer.Option("--timeline", help="Write the timeline (SLI, p99, replicas, queues, breakers, faults) as CSV or .json."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the plan against the topology and print its schedule; run nothing.")
    ] = False,
    executor: ExecutorOpt = "processes",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    progress: ProgressOpt = True,
    max_memory: MaxMemoryOpt = None, max_time: MaxTimeOpt = None,
) -> None:
    """Run a chaos plan: inject its faults, measure detection, failover, recovery (RTO), data lost (RPO).

    Every request is simulated (the requests backend) with the topology's own failures
    underneath unless the plan says background_failures: false. Exit 0 when the steady
    state held before and after, nothing was metastable and the resiliency policy was
    met; 1 otherwise; 2 on bad input.
    """
    import simulator
    from simulator import chaos as chaos_lib

    try:
        model = simulator.load(file)
        plan = chaos_lib.load_plan(plan_file)
        if dry_run:
            exp = chaos_lib.compile_experiment(model, plan)
            from simulator.units import format_duration

            rows = [[s.name, s.spec.fault, s.disruption, format_duration(s.start_s),
                     "end" if s.end_s >= exp.end_s else format_duration(s.end_s),
                     s.spec.mode, ", ".join(s.candidates)] for s in exp.steps]
            out.print(rich_table(["step", "fault", "disruption", "start", "end", "mode", "matching targets"], rows,
                                  title=f"{plan.title}: {format_duration(exp.end_s)} per replication"))
            return
        with progress_bar(progress, plan_file.name) as update:
            results = chaos_lib.run_chaos(
                model, plan, replications=replications, seed=seed, duration=duration,
                executor=executor, workers=workers, progress=update, scheduler=scheduler,
                max_memory=max_memory or "auto", max_time=max_time or "auto",
            )
        text = results.to_json()
        writes = []
        if output is not None:
            writes.append((output, text + "\n"))
        if journal is not None:
            writes.append((journal, json.dumps(results.journal(), indent=2, allow_nan=False) + "\n"))
        if timeline is not None:
            frame = results.timeline()
            body = frame.to_json(orient="table", indent=None) if timeline.suffix == ".json" else frame.to_csv()
            writes.append((timeline, body))
        for path, body in writes:
            write_atomic(path, body)
    except SimulatorError as exc:
        raise _fail(exc, plan_file) from None
    except OSError as exc:
        err.print(f"{exc.filename}: cannot write: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        out.print_json(text) if out.is_terminal else sys.stdout.write(text + "\n")
    else:
        out.print(results.summary(), highlight=False, markup=False)
    if results.verdict == "failed":
        raise typer.Exit(EXIT_MISSED)
    if results.verdict == "inconclusive":
        raise typer.Exit(EXIT_INCONCLUSIVE)


@app.command()
def report(
    file: FileArg,
    plan_file: Annotated[
        Path | None, typer.Argument(help="Optional chaos plan to run and include.", show_default=False, readable=False)
    ] = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path("report.html"),
    replications: ReplicationsOpt = None,
    horizon: HorizonOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = "auto",
    max_requests: MaxRequestsOpt = 5e7,
    max_memory: MaxMemoryOpt = None, max_time: MaxTimeOpt = None,
    chaos_replications: Annotated[
        int | None, typer.Option("--chaos-replications", help="Replications of the plan (default: the plan's).", min=1)
    ] = None,
    executor: ExecutorOpt = "processes",
    workers: WorkersOpt = None,
    progress: ProgressOpt = True,
    scheduler: SchedulerOpt = None,
) -> None:
    """Write one self-contained HTML page: topology, tables, SLO verdicts, plots (and a chaos plan's results)."""
    import simulator
    from simulator.report_html import build_report

    try:
        model = simulator.load(file)
        plan = None
        if plan_file is not None:  # check the plan before spending time on the run
            from simulator import chaos as chaos_lib

            plan = chaos_lib.load_plan(plan_file)
            chaos_lib.compile_experiment(model, plan)
        results = _simulate(
            file, replications, horizon, None, seed, executor, workers, progress, backend, max_requests, scheduler, model,
            (max_memory, max_time),
        )
        chaos_results = None
        if plan is not None:
            with progress_bar(progress, plan_file.name) as update:
                chaos_results = chaos_lib.run_chaos(
                    model, plan, replications=chaos_replications, seed=seed,
                    executor=executor, workers=workers, scheduler=scheduler, progress=update,
                )
        page = build_report(results, chaos_results)
        write_atomic(output, page)
    except SimulatorError as exc:
        raise _fail(exc, file) from None
    except OSError as exc:
        err.print(f"{exc.filename or output}: cannot write: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    out.print(f"wrote {output} ({len(page) // 1024} KiB)", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of topology files (for editors and CI linters)."""
    from simulator.model.spec import Topology

    sys.stdout.write(json.dumps(Topology.model_json_schema(by_alias=True), indent=2) + "\n")


@app.command()
def sweep(
    file: FileArg,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="PATH=V1,V2,... e.g. services.api.replicas.use1-az1=2,3,4 or traffic[*].rate=x1,x10,x100; "
            "repeat for a grid. Default: the file's sweep section.",
        ),
    ] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Variant the others are compared with.")] = None,
    replications: ReplicationsOpt = None,
    horizon: HorizonOpt = None,
    warmup: WarmupOpt = None,
    seed: SeedOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON sweep result instead of the tables.")] = False,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the JSON sweep result to this file.")] = None,
    backend: BackendOpt = "auto",
    max_requests: MaxRequestsOpt = 5e7,
    max_memory: MaxMemoryOpt = None, max_time: MaxTimeOpt = None,
    executor: ExecutorOpt = "processes",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Run variants with common random numbers; compare cost, availability and latency.

    Every variant uses the same seeds, so the paired differences against the baseline
    have much narrower intervals than independent runs. Marks the Pareto frontier
    (cost, availability, p99) and the cheapest variant that meets every SLO.
    """
    import simulator
    from simulator.analysis.sweep import parse_set_option

    try:
        model = simulator.load(file)
        grid = dict(parse_set_option(s) for s in settings) if settings else None
        with progress_bar(progress, f"{file.name} sweep") as update:
            res = simulator.sweep(
                model, grid, baseline=baseline, replications=replications, seed=seed, horizon=horizon,
                warmup=warmup, backend=backend, max_requests=max_requests, executor=executor, workers=workers,
                max_memory=max_memory or "auto", max_time=max_time or "auto",
                scheduler=scheduler, progress=update,
            )
        text = res.to_json()
        if output is not None:
            write_atomic(output, text + "\n")
    except SimulatorError as exc:
        raise _fail(exc, file) from None
    except OSError as exc:
        err.print(f"{exc.filename or output}: cannot write: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        sys.stdout.write(text + "\n")
        return
    from simulator.report_sweep import differences_table, variants_table

    out.print(rich_table(*variants_table(res), title=f"{file}: {len(res.names)} variants"))
    out.print(rich_table(*differences_table(res), title=f"Paired differences vs {res.baseline} (common random numbers)"))
    out.print(
        "* Pareto frontier (cost, availability, p99)   ** cheapest variant meeting every SLO: "
        f"{res.best or 'none'}", highlight=False,
    )


def main() -> None:
    """Entry point of the ``failsim`` console script (with Ctrl-C handled: ``simulator.interrupt``)."""
    from simulator.interrupt import main as run_handled

    run_handled(_app_within_memory)


def _app_within_memory() -> None:
    """The command; running out of memory is one line and exit 2 (the run size estimate
    should have refused it first)."""
    try:
        app()
    except MemoryError:
        err.print("failsim: out of memory; lower --replications or --horizon", markup=False, highlight=False)
        sys.exit(EXIT_BAD_INPUT)
