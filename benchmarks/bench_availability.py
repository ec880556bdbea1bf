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
import math
import sys
from pathlib import Path

import numpy as np
import simpy
from _common import timed, write_figures
from scipy import stats

import simulator

GOAL_RATIO = 1.0  # the simpy engine against the plain simpy reference
GOAL_FAST = 10.0  # the vectorised fast path against the same reference
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


def run_failsim(model: simulator.Topology, replications: int, seed: int, backend: str = "engine") -> dict:
    results = simulator.run(model, replications=replications, seed=seed, executor="serial", backend=backend)
    time_based = results.to_dict()["availability"]["time"]  # the system scope
    return {"mean": time_based["mean"], "ci95": time_based["ci95"]}


# -- driver -------------------------------------------------------------------------------


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
    sides = {
        "engine": lambda: run_failsim(model, args.replications, args.seed, "engine"),
        "fast": lambda: run_failsim(model, args.replications, args.seed, "fast"),
        "reference": lambda: run_reference(args.replications, args.seed, horizon_s),
    }

    # warm-up (imports, caches) outside the timing
    run_failsim(model, 2, args.seed, "engine")
    run_failsim(model, 2, args.seed, "fast")
    run_reference(2, args.seed, horizon_s)

    times: dict[str, list[float]] = {k: [] for k in sides}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    est: dict[str, dict] = {}
    names = list(sides)
    for k in range(args.rounds):
        # rotate which side goes first, so drift on a shared machine hits all of them
        for side in names[k % 3 :] + names[: k % 3]:
            dt, cpu, est[side] = timed(sides[side])
            times[side].append(dt)
            cpus[side].append(cpu)
        print(
            f"round {k + 1}/{args.rounds}: "
            + ", ".join(f"{side} {times[side][-1]:.3f} s" for side in names),
            flush=True,
        )

    best = {side: min(v) for side, v in times.items()}
    rate = {side: years / b for side, b in best.items()}
    ratio = rate["engine"] / rate["reference"]
    ratio_fast = rate["fast"] / rate["reference"]

    diff = abs(est["engine"]["mean"] - est["reference"]["mean"])
    half = {side: (e["ci95"][1] - e["ci95"][0]) / 2 for side, e in est.items()}
    agree = bool(diff <= half["engine"] + half["reference"])
    same = est["engine"] == est["fast"]  # the fast path reproduces the engine exactly
    fast_enough = bool(ratio >= GOAL_RATIO)
    fast_path_enough = bool(ratio_fast >= GOAL_FAST)
    passed = agree and same and fast_enough and fast_path_enough

    print()
    print(
        f"system: 50 replicas, 3 zones, 1 region; {args.replications} replications x "
        f"{horizon_s / YEAR:g} y, best of {args.rounds} round(s)"
    )
    for side in names:
        print(f"availability  {side:10s} {_fmt_est(est[side])}")
    print(
        f"engine and reference agree within combined 95% CIs: {'yes' if agree else 'NO'} "
        f"(|diff| {diff:.2e} <= {half['engine'] + half['reference']:.2e}); "
        f"fast path identical to the engine: {'yes' if same else 'NO'}"
    )
    for side in names:
        print(f"{side:10s} {rate[side]:10.1f} system-years/s  ({best[side]:.3f} s)")
    print(
        f"engine / reference {ratio:8.2f}  (goal >= {GOAL_RATIO:g}; ratio of medians "
        f"{np.median(times['reference']) / np.median(times['engine']):.2f})"
    )
    print(
        f"fast / reference   {ratio_fast:8.2f}  (goal >= {GOAL_FAST:g}; ratio of medians "
        f"{np.median(times['reference']) / np.median(times['fast']):.2f})"
    )
    problems = [
        text
        for text, bad in (
            ("engine slower than reference", not fast_enough),
            (f"fast path below {GOAL_FAST:g}x", not fast_path_enough),
            ("estimates disagree", not agree),
            ("fast path differs from the engine", not same),
        )
        if bad
    ]
    print("PASS" if passed else "FAIL: " + ", ".join(problems))

    out = {
        "benchmark": "bench_availability",
        "replications": args.replications,
        "rounds": args.rounds,
        "seed": args.seed,
        "quick": args.quick,
        "horizon_s": horizon_s,
        "system_years": years,
        "components": 1 + len(ZONES) + 50,
        **{
            side: {
                "seconds": times[side],
                "cpu_seconds": cpus[side],
                "best_s": best[side],
                "median_s": float(np.median(times[side])),
                "system_years_per_s": rate[side],
                "availability": est[side],
            }
            for side in names
        },
        "ratio_engine": ratio,
        "ratio_fast": ratio_fast,
        "goal_engine": GOAL_RATIO,
        "goal_fast": GOAL_FAST,
        "estimates_agree": agree,
        "passed": passed,
    }
    write_figures(args.output, out, simpy=simpy.__version__)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
