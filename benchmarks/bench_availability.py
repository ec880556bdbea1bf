"""Speed benchmark: failsim's failure engine against a plain simpy model of the same system.

The system: one provider, one region (which fails), three zones (each fails) and four
services with 50 replicas in all, every component failing and being repaired with
exponential times::

    web (18, min 12) -> app (18, min 12) -> db (6, min 4, a quorum)
    web -> cache (8, min 4), optional

The system is up while ``web`` (the only entry service) is up. Each replication
simulates one year.

Both sides run the same number of replications in the same process, alternating over
a few rounds; the best round of each is kept. The figure is system-years per second
(replications x simulated years / wall-clock seconds), and the goal is

    ratio = failsim rate / reference rate >= 1

The comparison is only meaningful if both compute the same thing, so the script also
checks that both availability estimates agree within their combined 95 % confidence
intervals (the intervals overlap).

Usage::

    python benchmarks/bench_availability.py                  # 200 replications, 3 rounds
    python benchmarks/bench_availability.py --replications 500 --rounds 5
    python benchmarks/bench_availability.py --quick          # smoke run

Exit code 0 when the goal is met (and the estimates agree), 1 otherwise. The figures are
written to ``benchmarks/results/bench_availability.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import simpy
from scipy import stats

import simulator

GOAL_RATIO = 1.0
RESULTS = Path(__file__).resolve().parent / "results" / "bench_availability.json"

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0
YEAR = 365.25 * DAY  # failsim's "1y"

# -- the system, described once --------------------------------------------------------
# Failure specs are (mean time to failure, mean time to repair) in seconds, exponential
# both ways. failsim gets them as a topology document; the reference reads them directly.

REGION = "r1"
ZONES = ("az1", "az2", "az3")
REGION_FAILURE = (2 * 365 * DAY, 2 * HOUR)
ZONE_FAILURE = (365 * DAY, 1 * HOUR)
SERVICES = {
    # name: replicas per zone, min_healthy, (mtbf, mttr), [(dependency, optional)]
    "web": {
        "replicas": (6, 6, 6),
        "min_healthy": 12,
        "failure": (30 * DAY, 10 * MINUTE),
        "calls": [("app", False), ("cache", True)],
    },
    "app": {
        "replicas": (6, 6, 6),
        "min_healthy": 12,
        "failure": (30 * DAY, 15 * MINUTE),
        "calls": [("db", False)],
    },
    "cache": {"replicas": (3, 3, 2), "min_healthy": 4, "failure": (30 * DAY, 20 * MINUTE), "calls": []},
    "db": {"replicas": (2, 2, 2), "min_healthy": 4, "failure": (30 * DAY, 30 * MINUTE), "calls": []},
}
ENTRY = "web"
assert sum(sum(s["replicas"]) for s in SERVICES.values()) == 50


def _failure_doc(failure: tuple[float, float]) -> dict:
    mtbf, mttr = failure
    return {"mtbf": f"{mtbf:g}s", "mttr": f"{mttr:g}s"}


def failsim_model() -> simulator.Topology:
    """The system as a failsim topology (built with :func:`simulator.from_dict`)."""
    doc = {
        "name": "bench-availability-50",
        "horizon": "1y",
        "warmup": "0s",
        "providers": {
            "cloud": {
                "regions": {
                    REGION: {
                        "failure": _failure_doc(REGION_FAILURE),
                        "zones": {z: {"failure": _failure_doc(ZONE_FAILURE)} for z in ZONES},
                    }
                }
            }
        },
        "services": {
            name: {
                "replicas": dict(zip(ZONES, svc["replicas"], strict=True)),
                "min_healthy": svc["min_healthy"],
                "failure": _failure_doc(svc["failure"]),
                "calls": [{"service": dep, "optional": opt} for dep, opt in svc["calls"]],
            }
            for name, svc in SERVICES.items()
        },
    }
    return simulator.from_dict(doc)


# -- the reference: plain simpy, one process per component ------------------------------


def reference_replication(rng: np.random.Generator, horizon_s: float) -> float:
    """System availability over one replication, written the straightforward way.

    Every component (region, zones, replicas) is a simpy process alternating
    up-time and repair-time draws from the replication's one generator; after each
    state change the system state is re-evaluated and system downtime accumulated.
    """
    env = simpy.Environment()
    up: dict[str, bool] = {}
    zone_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}

    def system_is_up() -> bool:
        if not up[REGION]:
            return False
        service_up: dict[str, bool] = {}
        for name in ("db", "cache", "app", "web"):  # dependencies first
            svc = SERVICES[name]
            serving = sum(1 for r in members[name] if up[r] and up[zone_of[r]])
            ok = serving >= svc["min_healthy"]
            for dep, optional in svc["calls"]:
                if not optional:
                    ok = ok and service_up[dep]
            service_up[name] = ok
        return service_up[ENTRY]

    acc = {"down_s": 0.0, "down_since": 0.0, "system_up": True}

    def state_changed() -> None:
        now_up = system_is_up()
        if acc["system_up"] and not now_up:
            acc["down_since"] = env.now
        elif not acc["system_up"] and now_up:
            acc["down_s"] += env.now - acc["down_since"]
        acc["system_up"] = now_up

    def component(name: str, mttf: float, mttr: float):
        while True:
            yield env.timeout(rng.exponential(mttf))
            up[name] = False
            state_changed()
            yield env.timeout(rng.exponential(mttr))
            up[name] = True
            state_changed()

    up[REGION] = True
    env.process(component(REGION, *REGION_FAILURE))
    for z in ZONES:
        up[z] = True
        env.process(component(z, *ZONE_FAILURE))
    for name, svc in SERVICES.items():
        members[name] = []
        for z, count in zip(ZONES, svc["replicas"], strict=True):
            for i in range(count):
                rid = f"{name}/{z}/{i}"
                up[rid] = True
                zone_of[rid] = z
                members[name].append(rid)
                env.process(component(rid, *svc["failure"]))

    env.run(until=horizon_s)
    if not acc["system_up"]:
        acc["down_s"] += horizon_s - acc["down_since"]
    return 1.0 - acc["down_s"] / horizon_s


def mean_ci95(values: np.ndarray) -> dict:
    n = len(values)
    m = float(np.mean(values))
    half = float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": m, "ci95": [m - half, m + half]}


def run_reference(replications: int, seed: int, horizon_s: float) -> dict:
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(replications)]
    values = np.array([reference_replication(rng, horizon_s) for rng in rngs])
    return mean_ci95(values)


def run_failsim(model: simulator.Topology, replications: int, seed: int) -> dict:
    results = simulator.run(model, replications=replications, seed=seed, executor="serial")
    time_based = results.to_dict()["availability"]["time"]  # the system scope
    return {"mean": time_based["mean"], "ci95": time_based["ci95"]}


# -- driver -------------------------------------------------------------------------------


def _timed(fn, *args):
    """Wall-clock seconds (the figure used), CPU seconds (for reference) and the result."""
    cpu, start = time.process_time(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu, out


def _fmt_est(e: dict) -> str:
    lo, hi = e["ci95"]
    return f"{e['mean']:.6f}  95% CI [{lo:.6f}, {hi:.6f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replications", type=int, default=200, help="replications per timed run (default 200)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating timed rounds; best kept (default 3)"
    )
    parser.add_argument("--seed", type=int, default=2024, help="root seed for both sides (default 2024)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 replications, 1 round")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.quick:
        args.replications, args.rounds = 20, 1
    if args.replications < 2 or args.rounds < 1:
        parser.error("need --replications >= 2 and --rounds >= 1")

    model = failsim_model()
    horizon_s = model.horizon_s
    years = args.replications * horizon_s / YEAR

    # warm-up (imports, caches) outside the timing
    run_failsim(model, 2, args.seed)
    run_reference(2, args.seed, horizon_s)

    times_f: list[float] = []
    times_r: list[float] = []
    cpu_f: list[float] = []
    cpu_r: list[float] = []
    est_f = est_r = None
    for k in range(args.rounds):
        # alternate which side goes first, so drift on a shared machine hits both
        order = ("failsim", "reference") if k % 2 == 0 else ("reference", "failsim")
        for side in order:
            if side == "failsim":
                dt, cpu, est_f = _timed(run_failsim, model, args.replications, args.seed)
                times_f.append(dt)
                cpu_f.append(cpu)
            else:
                dt, cpu, est_r = _timed(run_reference, args.replications, args.seed, horizon_s)
                times_r.append(dt)
                cpu_r.append(cpu)
        print(
            f"round {k + 1}/{args.rounds}: failsim {times_f[-1]:.3f} s, reference {times_r[-1]:.3f} s",
            flush=True,
        )

    best_f, best_r = min(times_f), min(times_r)
    rate_f, rate_r = years / best_f, years / best_r
    ratio = rate_f / rate_r

    diff = abs(est_f["mean"] - est_r["mean"])
    half_f = (est_f["ci95"][1] - est_f["ci95"][0]) / 2
    half_r = (est_r["ci95"][1] - est_r["ci95"][0]) / 2
    agree = bool(diff <= half_f + half_r)
    fast = bool(ratio >= GOAL_RATIO)
    passed = agree and fast

    print()
    print(
        f"system: 50 replicas, 3 zones, 1 region; {args.replications} replications x "
        f"{horizon_s / YEAR:g} y, best of {args.rounds} round(s)"
    )
    print(f"availability  failsim    {_fmt_est(est_f)}")
    print(f"availability  reference  {_fmt_est(est_r)}")
    print(
        f"estimates agree within combined 95% CIs: {'yes' if agree else 'NO'} "
        f"(|diff| {diff:.2e} <= {half_f + half_r:.2e})"
    )
    print(f"failsim    {rate_f:10.1f} system-years/s  ({best_f:.3f} s)")
    print(f"reference  {rate_r:10.1f} system-years/s  ({best_r:.3f} s)")
    print(
        f"ratio      {ratio:10.2f}  (goal >= {GOAL_RATIO:g}; "
        f"ratio of median times {np.median(times_r) / np.median(times_f):.2f})"
    )
    verdict = "PASS" if passed else "FAIL"
    reasons = (
        []
        if passed
        else [r for r, bad in (("slower than reference", not fast), ("estimates disagree", not agree)) if bad]
    )
    print(verdict + (f": {', '.join(reasons)}" if reasons else ""))

    out = {
        "benchmark": "bench_availability",
        "replications": args.replications,
        "rounds": args.rounds,
        "seed": args.seed,
        "quick": args.quick,
        "horizon_s": horizon_s,
        "system_years": years,
        "components": 1 + len(ZONES) + 50,
        "failsim": {
            "seconds": times_f,
            "cpu_seconds": cpu_f,
            "best_s": best_f,
            "median_s": float(np.median(times_f)),
            "system_years_per_s": rate_f,
            "availability": est_f,
        },
        "reference": {
            "seconds": times_r,
            "cpu_seconds": cpu_r,
            "best_s": best_r,
            "median_s": float(np.median(times_r)),
            "system_years_per_s": rate_r,
            "availability": est_r,
        },
        "ratio": ratio,
        "ratio_of_medians": float(np.median(times_r) / np.median(times_f)),
        "goal_ratio": GOAL_RATIO,
        "estimates_agree": agree,
        "passed": passed,
        "versions": {
            "failsim": simulator.__version__,
            "simpy": simpy.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": platform.machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"figures written to {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
