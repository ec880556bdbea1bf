"""Speed benchmark: failsim's ``requests`` backend against plain simpy and Ciw on an M/M/4 queue.

The system: one service with one replica of 4 workers, Poisson arrivals at 3.2/s and
exponential service times with mean 1 s (M/M/4, utilisation rho = 0.8), no failures.
Three implementations simulate the same queue in the same process:

- *failsim*: the model built with :func:`simulator.from_dict` and run with
  ``simulator.run(..., backend="requests")`` (every request simulated);
- *simpy*: the textbook simpy model, one process per customer holding a
  ``simpy.Resource(capacity=4)``;
- *ciw*: ``ciw.create_network`` with one node and ``simulate_until_max_time``.

They alternate over a few rounds on the same horizon; the best round of each is kept
(medians are reported too). The figure is requests simulated per wall-clock second, and
the goals are

    failsim / simpy >= 3   and   failsim / ciw >= 6

The comparison only counts if all three do the same work, so the script checks that each
mean sojourn time is within a few standard errors of the M/M/4 value (1.7455 s).

It also runs failsim alone in fresh subprocesses at 1e5, 1e6 and 1e7 simulated requests
and reads their peak RSS: goal, the 1e7 run's peak <= 150 MB and at most 30 MB above the
1e5 run's (memory does not grow with the number of requests).

Usage::

    python benchmarks/bench_requests.py                  # ~3e5 requests a round, 5 rounds, RSS to 1e7
    python benchmarks/bench_requests.py --requests 5e5 --rounds 7
    python benchmarks/bench_requests.py --quick          # 2 rounds of 1e5; RSS at 1e5 and 1e6 only

Exit code 0 when every goal is met (and the sojourn checks hold), 1 otherwise. The figures
are written to ``benchmarks/results/bench_requests.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import timed, write_figures

RESULTS = Path(__file__).resolve().parent / "results" / "bench_requests.json"

GOAL_VS_SIMPY = 3.0
GOAL_VS_CIW = 6.0
GOAL_RSS_MB = 150.0  # peak RSS of the largest run
GOAL_RSS_GROWTH_MB = 30.0  # largest run's peak minus the 1e5 run's
SE_TOLERANCE = 3.0  # |mean sojourn - theory| <= this many standard errors

# -- the queue, described once --------------------------------------------------------------

ARRIVAL_RATE = 3.2  # per second
SERVICE_MEAN = 1.0  # seconds, exponential
SERVERS = 4


def mmc_sojourn(lam: float = ARRIVAL_RATE, mu: float = 1.0 / SERVICE_MEAN, c: int = SERVERS) -> float:
    """Mean time in system of an M/M/c queue (Erlang C)."""
    a = lam / mu
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1.0 - rho)
    erlang_c = tail / (head + tail)
    return erlang_c / (c * mu - lam) + 1.0 / mu


THEORY_SOJOURN = mmc_sojourn()  # 1.7455 s


def failsim_model():
    """The queue as a failsim topology (built with :func:`simulator.from_dict`)."""
    import simulator

    doc = {
        "name": "bench-requests-mm4",
        "horizon": "1d",  # overridden by the run's horizon
        "warmup": "0s",
        "providers": {"cloud": {"regions": {"r1": {"zones": {"z1": {}}}}}},
        "services": {
            "queue": {
                "replicas": {"z1": 1},
                "workers": SERVERS,
                "service_time": {"exponential": f"{SERVICE_MEAN:g}s"},
            }
        },
        "traffic": [{"entry": "queue", "rate": f"{ARRIVAL_RATE:g}/s"}],
    }
    return simulator.from_dict(doc)


# -- the three implementations ----------------------------------------------------------------
# Each returns the number of requests (arrivals) simulated and the mean sojourn time of the
# finished ones; the baselines also return the sojourn times (for the standard error),
# which are collected while simulating, as the textbook models do.


def run_failsim(model, horizon_s: float, seed: int) -> dict:
    import simulator

    results = simulator.run(
        model, replications=1, horizon=horizon_s, seed=seed, backend="requests", max_requests=None
    )
    system = results.requests["system"]
    return {
        "requests": int(system["requests"]),
        "finished": int(system["finished"]),
        "mean_sojourn_s": float(system["latency_all"]["mean"]),
        "sojourns": None,
    }


def run_simpy(horizon_s: float, seed: int) -> dict:
    import simpy

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    res = simpy.Resource(env, capacity=SERVERS)
    sojourns: list[float] = []
    arrivals = [0]

    def customer():
        t0 = env.now
        with res.request() as req:
            yield req
            yield env.timeout(rng.exponential(SERVICE_MEAN))
        sojourns.append(env.now - t0)

    def source():
        while True:
            yield env.timeout(rng.exponential(1.0 / ARRIVAL_RATE))
            arrivals[0] += 1
            env.process(customer())

    env.process(source())
    env.run(until=horizon_s)
    return {
        "requests": arrivals[0],
        "finished": len(sojourns),
        "mean_sojourn_s": sum(sojourns) / len(sojourns),
        "sojourns": sojourns,
    }


def run_ciw(horizon_s: float, seed: int) -> dict:
    import ciw

    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(1.0 / SERVICE_MEAN)],
        number_of_servers=[SERVERS],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon_s)
    records = sim.get_all_records()
    sojourns = [r.exit_date - r.arrival_date for r in records]
    in_system = sum(len(node.all_individuals) for node in sim.transitive_nodes)
    return {
        "requests": len(records) + in_system,
        "finished": len(sojourns),
        "mean_sojourn_s": sum(sojourns) / len(sojourns),
        "sojourns": sojourns,
    }


def batch_means_var(x: list[float], batches: int = 30) -> float:
    """Time-average variance constant of a stationary series: ``n · Var(mean)``, by batch means.

    Sojourn times of successive customers are strongly correlated at rho = 0.8, so the
    naive ``s² / n`` would understate the standard error many times over.
    """
    arr = np.asarray(x, dtype=float)
    size = len(arr) // batches
    means = arr[: size * batches].reshape(batches, size).mean(axis=1)
    return float(size * np.var(means, ddof=1))


# -- peak RSS in a fresh process -------------------------------------------------------------


def rss_child(n_requests: float, seed: int) -> None:
    """Run failsim alone for ``n_requests`` expected requests; print figures as JSON."""
    model = failsim_model()
    horizon_s = n_requests / ARRIVAL_RATE
    start = time.perf_counter()
    out = run_failsim(model, horizon_s, seed)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "target_requests": n_requests,
                "horizon_s": horizon_s,
                "requests": out["requests"],
                "mean_sojourn_s": out["mean_sojourn_s"],
                "wall_s": wall,
                "peak_rss_mb": peak_kib / 1024.0,
                "vm_hwm_mb": _vm_hwm_kib() / 1024.0,
            }
        )
    )


def _vm_hwm_kib() -> float:
    """Peak RSS of this process's own address space (``VmHWM``), a cross-check; NaN if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return math.nan


def measure_rss(n_requests: float, seed: int) -> dict:
    """Peak RSS of failsim alone, in a fresh interpreter.

    On Linux, a child's ``ru_maxrss`` starts from its parent's resident size at the
    ``fork``/``vfork`` that created it (exec folds the old address space's high-water mark
    in), so these children are started before this process imports simulator, simpy or
    Ciw, while it is still small (its own peak so far is recorded next to the figure).
    """
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--rss-child",
            f"{n_requests:g}",
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"RSS child for {n_requests:g} requests failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["parent_peak_rss_mb_at_spawn"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


# -- driver -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=float, default=3e5, help="expected requests per timed run (default 3e5)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating timed rounds; best kept (default 5)"
    )
    parser.add_argument("--seed", type=int, default=2024, help="seed for all three (default 2024)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1e5 requests, 2 rounds, RSS at 1e5 and 1e6 only"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    parser.add_argument("--rss-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child is not None:  # internal: one failsim run in a fresh process
        rss_child(args.rss_child, args.seed)
        return 0

    if args.quick:
        args.requests, args.rounds = 1e5, 2
    if args.requests < 1e4 or args.rounds < 1:
        parser.error("need --requests >= 1e4 and --rounds >= 1")
    rss_sizes = [1e5, 1e6] if args.quick else [1e5, 1e6, 1e7]

    # first, while this process has imported nothing heavy (see measure_rss)
    print("peak RSS of failsim alone (fresh process each):", flush=True)
    rss = []
    for n in rss_sizes:
        r = measure_rss(n, args.seed)
        rss.append(r)
        print(
            f"  {n:8.0e} target  {r['requests']:>10d} requests  {r['wall_s']:8.1f} s  "
            f"peak RSS {r['peak_rss_mb']:6.1f} MB  (VmHWM {r['vm_hwm_mb']:.1f} MB)",
            flush=True,
        )
    peak_small, peak_large = rss[0]["peak_rss_mb"], rss[-1]["peak_rss_mb"]
    growth = peak_large - peak_small
    pass_rss = bool(peak_large <= GOAL_RSS_MB and growth <= GOAL_RSS_GROWTH_MB)
    print()

    import ciw
    import simpy


    model = failsim_model()
    horizon_s = args.requests / ARRIVAL_RATE

    # warm-up (imports, caches) outside the timing
    short = 2_000 / ARRIVAL_RATE
    run_failsim(model, short, args.seed)
    run_simpy(short, args.seed)
    run_ciw(short, args.seed)

    sides = {
        "failsim": lambda: run_failsim(model, horizon_s, args.seed),
        "simpy": lambda: run_simpy(horizon_s, args.seed),
        "ciw": lambda: run_ciw(horizon_s, args.seed),
    }
    names = list(sides)
    wall: dict[str, list[float]] = {s: [] for s in names}
    cpu: dict[str, list[float]] = {s: [] for s in names}
    last: dict[str, dict] = {}
    for k in range(args.rounds):
        # rotate which side goes first, so drift on a shared machine hits all of them
        order = names[k % 3 :] + names[: k % 3]
        for side in order:
            dt, c, out = timed(sides[side])
            wall[side].append(dt)
            cpu[side].append(c)
            last[side] = out
        print(
            f"round {k + 1}/{args.rounds}: " + ", ".join(f"{s} {wall[s][-1]:.3f} s" for s in names),
            flush=True,
        )

    # -- same work? mean sojourn vs M/M/4 theory ---------------------------------------------
    # The baselines give every sojourn, hence a batch-means standard error; failsim keeps a
    # histogram, so its standard error uses the same queue's variance constant (pooled from
    # the two baselines) over its own number of requests.
    tavc = {s: batch_means_var(last[s]["sojourns"]) for s in ("simpy", "ciw")}
    tavc_pooled = float(np.mean(list(tavc.values())))
    se = {
        "failsim": math.sqrt(tavc_pooled / last["failsim"]["finished"]),
        "simpy": math.sqrt(tavc["simpy"] / last["simpy"]["finished"]),
        "ciw": math.sqrt(tavc["ciw"] / last["ciw"]["finished"]),
    }
    sojourn_ok = {}
    for s in names:
        z = (last[s]["mean_sojourn_s"] - THEORY_SOJOURN) / se[s]
        sojourn_ok[s] = {
            "mean_s": last[s]["mean_sojourn_s"],
            "se_s": se[s],
            "z": z,
            "ok": bool(abs(z) <= SE_TOLERANCE),
        }

    rate = {s: last[s]["requests"] / min(wall[s]) for s in names}
    rate_med = {s: last[s]["requests"] / float(np.median(wall[s])) for s in names}
    ratio_simpy = rate["failsim"] / rate["simpy"]
    ratio_ciw = rate["failsim"] / rate["ciw"]
    rate_cpu = {s: last[s]["requests"] / min(cpu[s]) for s in names}  # a cross-check, less noisy
    ratio_simpy_med = rate_med["failsim"] / rate_med["simpy"]
    ratio_ciw_med = rate_med["failsim"] / rate_med["ciw"]
    pass_simpy = bool(ratio_simpy >= GOAL_VS_SIMPY)
    pass_ciw = bool(ratio_ciw >= GOAL_VS_CIW)
    pass_sojourn = all(v["ok"] for v in sojourn_ok.values())

    print()
    print(
        f"M/M/{SERVERS}: arrivals {ARRIVAL_RATE:g}/s, service exp(mean {SERVICE_MEAN:g} s), "
        f"rho {ARRIVAL_RATE * SERVICE_MEAN / SERVERS:g}; horizon {horizon_s:.0f} s "
        f"(~{args.requests:.3g} requests), best of {args.rounds} round(s)"
    )
    print(f"mean sojourn (theory {THEORY_SOJOURN:.4f} s; within {SE_TOLERANCE:g} standard errors?)")
    for s in names:
        v = sojourn_ok[s]
        print(
            f"  {s:8s} {v['mean_s']:.4f} s  se {v['se_s']:.4f}  z {v['z']:+.2f}  {'ok' if v['ok'] else 'OFF'}"
        )
    print(
        f"{'':8s} {'requests':>10s} {'best s':>8s} {'median s':>9s} {'req/s (best)':>13s} {'req/s (median)':>15s} {'req/cpu-s':>10s}"
    )
    for s in names:
        print(
            f"{s:8s} {last[s]['requests']:10d} {min(wall[s]):8.3f} {np.median(wall[s]):9.3f} "
            f"{rate[s]:13,.0f} {rate_med[s]:15,.0f} {rate_cpu[s]:10,.0f}"
        )
    print(
        f"failsim / simpy  {ratio_simpy:6.2f}x  (goal >= {GOAL_VS_SIMPY:g}x; medians {ratio_simpy_med:.2f}x, "
        f"CPU {rate_cpu['failsim'] / rate_cpu['simpy']:.2f}x)  "
        f"{_verdict(pass_simpy)}"
    )
    print(
        f"failsim / ciw    {ratio_ciw:6.2f}x  (goal >= {GOAL_VS_CIW:g}x; medians {ratio_ciw_med:.2f}x, "
        f"CPU {rate_cpu['failsim'] / rate_cpu['ciw']:.2f}x)  "
        f"{_verdict(pass_ciw)}"
    )
    print(
        "peak RSS         " + ", ".join(f"{r['target_requests']:.0e}: {r['peak_rss_mb']:.1f} MB" for r in rss)
    )
    print(
        f"  largest run {peak_large:.1f} MB (goal <= {GOAL_RSS_MB:g}), growth over 1e5 {growth:+.1f} MB "
        f"(goal <= {GOAL_RSS_GROWTH_MB:g})  {_verdict(pass_rss)}"
    )

    passed = pass_simpy and pass_ciw and pass_rss and pass_sojourn
    reasons = [
        r
        for r, bad in (
            (f"failsim/simpy {ratio_simpy:.2f}x < {GOAL_VS_SIMPY:g}x", not pass_simpy),
            (f"failsim/ciw {ratio_ciw:.2f}x < {GOAL_VS_CIW:g}x", not pass_ciw),
            ("peak RSS goal missed", not pass_rss),
            ("a mean sojourn is off the M/M/4 value", not pass_sojourn),
        )
        if bad
    ]
    print()
    print(_verdict(passed) + (f": {'; '.join(reasons)}" if reasons else ""))

    out = {
        "benchmark": "bench_requests",
        "queue": {
            "arrival_rate_per_s": ARRIVAL_RATE,
            "service_mean_s": SERVICE_MEAN,
            "servers": SERVERS,
            "rho": ARRIVAL_RATE * SERVICE_MEAN / SERVERS,
            "theory_mean_sojourn_s": THEORY_SOJOURN,
        },
        "target_requests": args.requests,
        "horizon_s": horizon_s,
        "rounds": args.rounds,
        "seed": args.seed,
        "quick": args.quick,
        **{
            s: {
                "requests": last[s]["requests"],
                "finished": last[s]["finished"],
                "seconds": wall[s],
                "cpu_seconds": cpu[s],
                "best_s": min(wall[s]),
                "median_s": float(np.median(wall[s])),
                "requests_per_s": rate[s],
                "requests_per_s_median": rate_med[s],
                "requests_per_cpu_s": rate_cpu[s],
                "mean_sojourn_s": sojourn_ok[s]["mean_s"],
                "sojourn_se_s": sojourn_ok[s]["se_s"],
                "sojourn_z": sojourn_ok[s]["z"],
                "sojourn_ok": sojourn_ok[s]["ok"],
            }
            for s in names
        },
        "sojourn_variance_constant": {**tavc, "pooled": tavc_pooled},
        "ratio_vs_simpy": ratio_simpy,
        "ratio_vs_ciw": ratio_ciw,
        "ratio_vs_simpy_medians": ratio_simpy_med,
        "ratio_vs_ciw_medians": ratio_ciw_med,
        "ratio_vs_simpy_cpu": rate_cpu["failsim"] / rate_cpu["simpy"],
        "ratio_vs_ciw_cpu": rate_cpu["failsim"] / rate_cpu["ciw"],
        "goal_vs_simpy": GOAL_VS_SIMPY,
        "goal_vs_ciw": GOAL_VS_CIW,
        "pass_vs_simpy": pass_simpy,
        "pass_vs_ciw": pass_ciw,
        "rss": {
            "runs": rss,
            "goal_peak_mb": GOAL_RSS_MB,
            "goal_growth_mb": GOAL_RSS_GROWTH_MB,
            "growth_mb": growth,
            "passed": pass_rss,
        },
        "sojourns_agree": pass_sojourn,
        "passed": passed,
    }
    write_figures(args.output, out, simpy=simpy.__version__, ciw=ciw.__version__)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
