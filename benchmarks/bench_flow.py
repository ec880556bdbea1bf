"""Speed benchmark: the ``flow`` backend against the ``requests`` backend on the bundled shop.

The system: ``topologies/shop-two-regions.yaml`` as shipped (two AWS regions, four
zones, a shared DNS / edge provider, five services, 200 requests/s with a diurnal
cycle). Two ways of simulating the same traffic against the same failures:

- *requests*: every request simulated, ``simulator.run(model, backend="requests",
  replications=1, horizon="1h", max_requests=None)``; its time is scaled to one
  simulated year (x 8766, a year being 365.25 days);
- *flow*: traffic as rates between state changes, one replication of one year
  (``horizon="1y"``). The flow backend caches per-state solutions across the
  replications of a run, so it is timed twice:

  (a) *cold*: a run of one replication with the cache cleared (in this process, after
      a warm-up; a fresh interpreter's first run is reported too);
  (b) *amortized*: a run of ``--replications`` (default 50) replications, divided by
      their number. This is the headline figure: it is what a year-long study costs
      per replication.

The goals, on the headline figure, are

    ratio = requests seconds per simulated year / flow seconds per replication-year >= 1000
    flow seconds per replication-year <= 0.050

The sides alternate over a few rounds (which one goes first rotates); the best round of
each is kept (on a shared machine rounds of the same work differ by up to 60 %: the
best one is the least disturbed). Both sides' request availability and p99 latency are printed as a sanity
check (different horizons, so they need not agree closely).

Usage::

    python benchmarks/bench_flow.py                  # 1 h of requests, 50 flow years, 5 rounds
    python benchmarks/bench_flow.py --replications 100 --rounds 7
    python benchmarks/bench_flow.py --quick          # smoke run: 10 min of requests, 10 years, 1 round
    python benchmarks/bench_flow.py --profile        # also print where a flow run spends its time

Exit code 0 when both goals are met, 1 otherwise. The figures are written to
``benchmarks/results/bench_flow.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import timed, write_figures

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY = ROOT / "topologies" / "shop-two-regions.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "bench_flow.json"

GOAL_RATIO = 1000.0  # requests-mode seconds per simulated year / flow seconds per replication-year
GOAL_PER_YEAR_S = 0.050  # flow wall-clock seconds per replication-year

HOUR = 3600.0
YEAR = 365.25 * 86400.0  # failsim's "1y" (8766 h)


def _span(seconds: float) -> str:
    return f"{seconds / HOUR:g} h" if seconds >= HOUR else f"{seconds / 60:g} min"


def _load():
    import simulator

    return simulator.load(TOPOLOGY)


def _request_figures(results) -> dict:
    """Request availability, p99 of successful requests and request count (system scope)."""
    system = results.requests["system"]
    avail = system["availability"]
    return {
        "requests": float(system["requests"]),
        "request_availability": float(avail.mean),
        "p99_s": float(system["latency_ok"]["p99"]),
        "time_availability": float(results.availability.mean),
    }


def run_requests(model, horizon_s: float, seed: int) -> dict:
    """Every request simulated for ``horizon_s`` (one replication)."""
    import simulator

    results = simulator.run(
        model,
        backend="requests",
        replications=1,
        horizon=horizon_s,
        seed=seed,
        max_requests=None,
        executor="serial",
    )
    return _request_figures(results)


def run_flow(model, replications: int, seed: int, cold: bool = False) -> dict:
    """``replications`` flow replications of one year each; ``cold`` clears the solution cache."""
    import simulator
    from simulator.backends import flow

    if cold:
        flow._CACHE.clear()  # a new run compiles a new plan anyway; this makes it explicit
    results = simulator.run(
        model, backend="flow", replications=replications, horizon="1y", seed=seed, executor="serial"
    )
    out = _request_figures(results)
    out["replication_wall_s"] = [r.wall_s for r in results.records]
    return out


# -- a fresh interpreter's first flow replication ------------------------------------------


def cold_child(seed: int) -> None:
    """Import, load and run one flow replication-year in this (fresh) process; print JSON."""
    start = time.perf_counter()
    import simulator  # noqa: F401

    imported = time.perf_counter()
    model = _load()
    loaded = time.perf_counter()
    out = run_flow(model, 1, seed)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - start,
                "load_s": loaded - imported,
                "run_s": done - loaded,
                "request_availability": out["request_availability"],
            }
        )
    )


def measure_fresh(seed: int) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--cold-child", "--seed", str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cold child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- driver -------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def profile_flow(model, replications: int, seed: int, top: int = 25) -> list[dict]:
    """cProfile one amortized flow run; print and return the top functions by cumulative time."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_flow(model, replications, seed)
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append(
            {"function": f"{Path(file).name}:{line}({func})", "calls": nc, "tottime_s": tt, "cumtime_s": ct}
        )
    rows.sort(key=lambda r: -r["cumtime_s"])
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replications",
        type=int,
        default=50,
        help="flow replications in the amortized run (default 50)",
    )
    parser.add_argument(
        "--requests-horizon",
        type=float,
        default=1.0,
        help="hours of requests-mode simulation per round (default 1)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating timed rounds; best kept (default 5)"
    )
    parser.add_argument("--seed", type=int, default=2024, help="seed for both sides (default 2024)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 10 min of requests, 10 flow replications, 1 round"
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile one amortized flow run")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.cold_child:  # internal: one flow replication-year in a fresh interpreter
        cold_child(args.seed)
        return 0

    if args.quick:
        args.replications, args.requests_horizon, args.rounds = 10, 1.0 / 6.0, 1
    if args.replications < 2 or args.rounds < 1 or args.requests_horizon <= 0:
        parser.error("need --replications >= 2, --rounds >= 1 and --requests-horizon > 0")

    import numpy as np


    model = _load()
    req_horizon_s = args.requests_horizon * HOUR
    req_scale = YEAR / req_horizon_s  # 8766 for one hour

    # warm-up (imports, lazily built tables) outside the timing
    run_requests(model, 60.0, args.seed)
    run_flow(model, 1, args.seed, cold=True)

    sides = {
        "requests": lambda: run_requests(model, req_horizon_s, args.seed),
        "flow_cold": lambda: run_flow(model, 1, args.seed, cold=True),
        "flow_amortized": lambda: run_flow(model, args.replications, args.seed, cold=True),
    }
    names = list(sides)
    wall: dict[str, list[float]] = {s: [] for s in names}
    cpu: dict[str, list[float]] = {s: [] for s in names}
    fresh: list[dict] = []
    last: dict[str, dict] = {}
    for k in range(args.rounds):
        order = names[k % 3 :] + names[: k % 3]  # rotate who goes first
        for side in order:
            dt, c, out = timed(sides[side])
            wall[side].append(dt)
            cpu[side].append(c)
            last[side] = out
        fresh.append(measure_fresh(args.seed))
        print(
            f"round {k + 1}/{args.rounds}: "
            + ", ".join(f"{s} {wall[s][-1]:.3f} s" for s in names)
            + f", fresh interpreter {fresh[-1]['run_s']:.3f} s (+ import {fresh[-1]['import_s']:.2f} s)",
            flush=True,
        )

    best = {s: min(v) for s, v in wall.items()}
    # seconds of wall-clock per simulated year (per replication-year for flow)
    req_per_year = best["requests"] * req_scale
    per_year = {
        "cold": best["flow_cold"],
        "amortized": best["flow_amortized"] / args.replications,
    }
    fresh_run = min(f["run_s"] for f in fresh)
    per_year["fresh_interpreter"] = fresh_run
    ratio = {k: req_per_year / v for k, v in per_year.items()}
    # the same with the requests side scaled by request count instead of simulated time
    flow_req_per_year = last["flow_amortized"]["requests"] / args.replications
    req_per_year_by_count = best["requests"] / last["requests"]["requests"] * flow_req_per_year
    ratio_by_count = req_per_year_by_count / per_year["amortized"]
    rep_wall = np.asarray(last["flow_amortized"]["replication_wall_s"])
    tail = rep_wall[len(rep_wall) // 2 :]  # the second half: cache mostly warm
    warm_per_year = float(np.median(tail))

    headline = "amortized"
    pass_ratio = bool(ratio[headline] >= GOAL_RATIO)
    pass_time = bool(per_year[headline] <= GOAL_PER_YEAR_S)
    passed = pass_ratio and pass_time

    print()
    print(
        f"{TOPOLOGY.relative_to(ROOT)}: requests mode {_span(req_horizon_s)} x {req_scale:g} "
        f"vs flow mode 1 y per replication; best of {args.rounds} round(s)"
    )
    print("sanity (different horizons, shown side by side):")
    print(f"  {'':22s} {'requests':>14s} {'req. avail.':>12s} {'p99 (ok)':>9s} {'time avail.':>12s}")
    for label, key in (
        (f"requests, {_span(req_horizon_s)}", "requests"),
        ("flow, 1 replication", "flow_cold"),
        (f"flow, {args.replications} replications", "flow_amortized"),
    ):
        f = last[key]
        print(
            f"  {label:22s} {f['requests']:14,.0f} {f['request_availability']:12.6f} "
            f"{f['p99_s'] * 1e3:7.1f}ms {f['time_availability']:12.6f}"
        )
    print(
        f"requests mode: {best['requests']:.3f} s per {_span(req_horizon_s)} "
        f"-> {req_per_year:,.0f} s per simulated year "
        f"({req_per_year_by_count:,.0f} s if scaled by flow's {flow_req_per_year:.3g} requests a year)"
    )
    print(
        f"flow (a) cold, 1 replication:        {per_year['cold'] * 1e3:9.1f} ms per replication-year  "
        f"ratio {ratio['cold']:10,.0f}x"
    )
    print(
        f"    fresh interpreter, first run:    {fresh_run * 1e3:9.1f} ms per replication-year  "
        f"ratio {ratio['fresh_interpreter']:10,.0f}x  (import {min(f['import_s'] for f in fresh):.2f} s not counted)"
    )
    print(
        f"flow (b) amortized, {args.replications:3d} replications: {per_year['amortized'] * 1e3:8.1f} ms per "
        f"replication-year  ratio {ratio['amortized']:10,.0f}x   <- headline"
    )
    print(
        f"    second half of that run (cache warm), median replication: {warm_per_year * 1e3:.1f} ms; "
        f"first replication {rep_wall[0] * 1e3:.1f} ms"
    )
    print(
        f"ratio (headline, amortized) {ratio[headline]:,.0f}x  (goal >= {GOAL_RATIO:g}x; "
        f"{ratio_by_count:,.0f}x if scaled by request count)  {_verdict(pass_ratio)}"
    )
    print(
        f"flow per replication-year (headline, amortized) {per_year[headline] * 1e3:.1f} ms  "
        f"(goal <= {GOAL_PER_YEAR_S * 1e3:g} ms)  {_verdict(pass_time)}"
    )
    reasons = [
        r
        for r, bad in (
            (f"ratio {ratio[headline]:,.0f}x < {GOAL_RATIO:g}x", not pass_ratio),
            (
                f"{per_year[headline] * 1e3:.1f} ms per replication-year > {GOAL_PER_YEAR_S * 1e3:g} ms",
                not pass_time,
            ),
        )
        if bad
    ]

    profile = None
    if args.profile:
        print()
        print(f"cProfile of one amortized flow run ({args.replications} replications):")
        profile = profile_flow(model, args.replications, args.seed)

    print()
    print(_verdict(passed) + (f": {'; '.join(reasons)}" if reasons else ""))

    out = {
        "benchmark": "bench_flow",
        "topology": str(TOPOLOGY.relative_to(ROOT)),
        "seed": args.seed,
        "rounds": args.rounds,
        "quick": args.quick,
        "requests": {
            "horizon_s": req_horizon_s,
            "scale_to_year": req_scale,
            "seconds": wall["requests"],
            "cpu_seconds": cpu["requests"],
            "best_s": best["requests"],
            "median_s": float(np.median(wall["requests"])),
            "seconds_per_simulated_year": req_per_year,
            "seconds_per_year_by_request_count": req_per_year_by_count,
            **{k: v for k, v in last["requests"].items()},
        },
        "flow": {
            "horizon_s": YEAR,
            "replications": args.replications,
            "cold": {
                "seconds": wall["flow_cold"],
                "cpu_seconds": cpu["flow_cold"],
                "best_s": best["flow_cold"],
                "seconds_per_replication_year": per_year["cold"],
                "ratio": ratio["cold"],
                **{k: v for k, v in last["flow_cold"].items() if k != "replication_wall_s"},
            },
            "fresh_interpreter": {
                "runs": fresh,
                "seconds_per_replication_year": fresh_run,
                "ratio": ratio["fresh_interpreter"],
            },
            "amortized": {
                "seconds": wall["flow_amortized"],
                "cpu_seconds": cpu["flow_amortized"],
                "best_s": best["flow_amortized"],
                "median_s": float(np.median(wall["flow_amortized"])),
                "seconds_per_replication_year": per_year["amortized"],
                "warm_median_replication_s": warm_per_year,
                "ratio": ratio["amortized"],
                "ratio_by_request_count": ratio_by_count,
                **last["flow_amortized"],
            },
        },
        "headline": headline,
        "ratio": ratio[headline],
        "seconds_per_replication_year": per_year[headline],
        "goal_ratio": GOAL_RATIO,
        "goal_seconds_per_replication_year": GOAL_PER_YEAR_S,
        "pass_ratio": pass_ratio,
        "pass_time": pass_time,
        "passed": passed,
        "profile": profile,
    }
    write_figures(args.output, out)
    return 0 if passed else 1



if __name__ == "__main__":
    sys.exit(main())
