"""Scale-out: replications per second on 1 vs 2 local processes, and Dask's cost per task.

Run from the repository root:

    python benchmarks/bench_scaleout.py            # 64 replications, best of 3 rounds
    python benchmarks/bench_scaleout.py --quick    # smoke run

Goal: 2 processes run at least 1.7x the replications per second of 1 process.
Figures go to benchmarks/results/bench_scaleout.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_figures  # noqa: E402

GOAL = 1.7
OUT = Path(__file__).resolve().parent / "results" / "bench_scaleout.json"


def model():
    """Three tiers over three zones, failure engine (simpy) only: each replication is
    real work (tens of milliseconds), so the measure is the executor, not the import."""
    import simulator

    zones = {f"z{i}": {"failure": {"mtbf": "1y", "mttr": "1h"}} for i in range(3)}
    services = {
        "web": {"replicas": {z: 4 for z in zones}, "min_healthy": 6, "failure": {"mtbf": "30d", "mttr": "10m"},
                "calls": [{"service": "app"}]},
        "app": {"replicas": {z: 4 for z in zones}, "min_healthy": 6, "failure": {"mtbf": "30d", "mttr": "20m"},
                "calls": [{"service": "db"}]},
        "db": {"replicas": {z: 1 for z in zones}, "min_healthy": 2, "failure": {"mtbf": "90d", "mttr": "1h"}},
    }
    return simulator.from_dict({
        "name": "scaleout", "providers": {"p": {"regions": {"r": {"zones": zones, "failure": {"mtbf": "2y", "mttr": "2h"}}}}},
        "services": services, "repair_crews": 2,  # crews: the simpy engine, not the fast path
    })


def rate(n: int, rounds: int, **kw) -> dict:
    import simulator

    m = model()
    best, walls, json_text = None, [], None
    for _ in range(rounds):
        wall, cpu, res = timed(simulator.run, m, replications=n, seed=1, horizon="10y", **kw)
        walls.append(wall)
        best = wall if best is None else min(best, wall)
        json_text = res.to_json()
    return {"replications": n, "best_s": best, "rounds_s": walls, "replications_per_s": n / best, "json": json_text}


def dask_overhead(tasks: int) -> dict:
    """Seconds per task a one-worker LocalCluster adds over running the same chunks serially."""
    from dask.distributed import Client, LocalCluster

    import simulator

    m = model()
    kw = {"replications": tasks, "seed": 2, "horizon": "1d", "chunk_size": 1}
    serial, _, ref = timed(simulator.run, m, executor="serial", **kw)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        simulator.run(m, executor="dask", client=client, **{**kw, "replications": 4})  # warm the worker
        wall, _, res = timed(simulator.run, m, executor="dask", client=client, **kw)
    return {
        "tasks": tasks, "serial_s": serial, "dask_s": wall,
        "overhead_per_task_s": (wall - serial) / tasks, "identical": res.to_json() == ref.to_json(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=200, help="tasks for the Dask overhead measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 replications, 1 round, 40 tasks")
    args = parser.parse_args(argv)
    if args.quick:
        args.replications, args.rounds, args.tasks = 16, 1, 40
    one = rate(args.replications, args.rounds, executor="processes", workers=1)
    two = rate(args.replications, args.rounds, executor="processes", workers=2)
    ratio = two["replications_per_s"] / one["replications_per_s"]
    identical = one.pop("json") == two.pop("json")
    print(f"1 process : {one['replications_per_s']:.2f} replications/s (best {one['best_s']:.2f} s)")
    print(f"2 processes: {two['replications_per_s']:.2f} replications/s (best {two['best_s']:.2f} s)")
    print(f"speed-up {ratio:.2f}x (goal >= {GOAL}x); identical results: {identical}")
    try:
        dask = dask_overhead(args.tasks)
        print(f"dask: {dask['overhead_per_task_s'] * 1000:.1f} ms per task over serial "
              f"({dask['tasks']} tasks; identical: {dask['identical']})")
    except ImportError:
        dask = None
        print("dask: not installed (pip install 'failsim[dask]')")
    passed = ratio >= GOAL and identical
    write_figures(OUT, {
        "one_process": one, "two_processes": two, "speedup": ratio, "goal": GOAL, "identical": identical,
        "dask": dask, "passed": passed,
    })
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
