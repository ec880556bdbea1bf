"""How honest are the intervals: coverage of every figure that carries one, measured.

Each *case* is a small system with a known answer (``calibration_theory``). A case is
simulated as many independent *experiments* of ``n`` replications (n = 5, 10, 20 and a
larger n); every figure's 95 % interval is read from the public :class:`Results` API
exactly as a user gets it, and its coverage is the share of experiments whose interval
contains the truth. A bound the data cannot give (``None``) contains everything; the
share of such open bounds is reported next to the coverage, so an interval cannot pass
by being open.

Experiments are disjoint groups of one long run's replications (replications are
independent), except on ``flow``, whose virtual requests are shared by the replications
of a run: there every experiment is its own run with its own seed.

``python tests/calibration.py`` prints the README table "How honest are the intervals".
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import calibration_theory as th  # noqa: E402
from helpers import topology  # noqa: E402

import simulator  # noqa: E402
from simulator import chaos  # noqa: E402
from simulator.analysis.sweep_results import SweepResults  # noqa: E402
from simulator.chaos.results import ChaosResults  # noqa: E402
from simulator.metrics.stats import Estimate  # noqa: E402

#: Coverage every figure must reach at every n (the nominal 95 %, less the binomial
#: uncertainty of a few hundred experiments).
MIN_COVERAGE = 0.93

METHODS = {
    "availability": "hull of Fay-Feuer gamma on outage durations and Hall's t on replications; no upper downtime bound under 3 outages",
    "own availability": "as availability, on the service's own-quorum outages",
    "downtime/yr": "as availability",
    "outages/yr": "hull of Garwood (exact Poisson) and Hall's t on per-replication counts",
    "mean outage": "hull of Hall's t and a range-shifted gamma on pooled durations, and the delta method over replications; no upper bound under 5 outages",
    "MTBF": "up time over the outage count's interval",
    "rto p50": "order statistics, binomial, effective sample size from the spread of replications",
    "rto p95": "order statistics, binomial, effective sample size from the spread of replications",
    "request availability": "delta method (Hall-corrected) over replications; flow: + spread of 16 virtual-request sets",
    "latency p50": "Woodruff: share below the quantile, its SE over replications (+ virtual sets on flow), ±half a bucket",
    "latency p99": "Woodruff (as p50)",
    "latency p99.9": "Woodruff (as p50)",
    "latency mean": "delta method over replications (+ virtual sets on flow)",
    "outage cost/yr": "price × the downtime interval",
    "TCO/yr": "hull of Hall's t / range-shifted gamma over replications and the sum of its parts' bounds",
    "paired difference": "Hall's t over the replications' paired differences (common random numbers)",
    "detect p50": "exact order statistics over replications",
    "detect p95": "exact order statistics over replications",
    "recover p50": "exact order statistics over replications",
    "recover p95": "exact order statistics over replications",
}


@dataclass(frozen=True)
class Figure:
    """One figure of a case: its name (a key of ``METHODS``), scope, how to read its
    :class:`Estimate` from a result, and the truth."""

    name: str
    scope: str
    get: Callable
    truth: float


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    build: Callable
    figures: tuple[Figure, ...]
    horizon: str = "1y"
    warmup: str = "0s"
    backend: str = "fast"
    ns: tuple[int, ...] = (5, 10, 20, 50)
    experiments: int = 800
    seed: int = 2026
    separate_runs: bool = False  # one run per experiment (flow: virtual requests are per run)
    kind: str = "run"  # run | sweep (build gives (model, variants)) | chaos (build gives (model, plan))


def _time(scope: str, attr: str) -> Callable:
    return lambda r: getattr(r.scope(scope), attr)


def _requests(scope: str) -> Callable:
    def get(r):
        req = r.requests
        return (req["system"] if scope == "system" else req["services"][scope])["availability"]
    return get


def _latency(scope: str, q: str) -> Callable:
    def get(r):
        req = r.requests
        block = req["system"] if scope == "system" else req["services"][scope]
        return block["latency_ok_estimates"][q]
    return get


def _cost(key: str) -> Callable:
    def get(r):
        block = r.cost[key]
        lo, hi = block["ci95"] if block["ci95"] is not None else (None, None)
        return Estimate(block["mean"], lo, hi, len(r.records))
    return get


def _failure_figures(scope: str, t: dict, own: str | None = None) -> list[Figure]:
    figs = [
        Figure("availability", scope, _time(scope, "availability"), t["availability"]),
        Figure("downtime/yr", scope, _time(scope, "minutes_per_year"), (1 - t["availability"]) * th.MIN_PER_YEAR),
        Figure("outages/yr", scope, _time(scope, "outages_per_year"), t["rate_per_s"] * th.YEAR),
        Figure("mean outage", scope, _time(scope, "mean_outage_s"), t["mean_outage_s"]),
        Figure("MTBF", scope, _time(scope, "mtbf_s"), t["mtbf_s"]),
        Figure("rto p50", scope, _time(scope, "rto_p50_s"), t["p50_s"]),
        Figure("rto p95", scope, _time(scope, "rto_p95_s"), t["p95_s"]),
    ]
    if own is not None:
        figs.append(Figure("own availability", own, _time(own, "own_availability"), t["availability"]))
    return figs


# -- the systems -----------------------------------------------------------------------

PAIR = {"replicas": {"z1": 1, "z2": 1}, "min_healthy": 1, "failure": {"mtbf": "10d", "mttr": "4h"}}
PAIR_T = th.k_of_n(2, 1, 10 * 86400.0, 4 * 3600.0)


def pair() -> simulator.Topology:
    """The pair of the issue: 1 of 2 replicas in two zones, each mtbf 10 d, mttr 4 h."""
    return topology({"api": PAIR}, zones={"z1": {}, "z2": {}})


DB_T = th.k_of_n(3, 2, 5 * 86400.0, 6 * 3600.0)
API_T = th.k_of_n(2, 1, 20 * 86400.0, 2 * 3600.0)


def quorum() -> simulator.Topology:
    """An api pair (mtbf 20 d, mttr 2 h) over a 2-of-3 quorum store (mtbf 5 d, mttr 6 h)."""
    return topology(
        {"api": {"replicas": {"z1": 1, "z2": 1}, "min_healthy": 1, "failure": {"mtbf": "20d", "mttr": "2h"},
                 "calls": [{"service": "db"}]},
         "db": {"replicas": {"z1": 1, "z2": 1, "z3": 1}, "min_healthy": 2, "failure": {"mtbf": "5d", "mttr": "6h"}}},
        zones={"z1": {}, "z2": {}, "z3": {}},
    )


_LN_MEAN, _LN_Q = th.lognormal(3600.0, 1.2)
WEIBULL_T = th.renewal(th.weibull_mean(0.7, 5 * 86400.0), _LN_MEAN, _LN_Q)


def weibull() -> simulator.Topology:
    """One replica: Weibull time to failure (shape 0.7, scale 5 d), lognormal repair (median 1 h, sigma 1.2)."""
    return topology({"api": {"replicas": {"z1": 1}, "failure": {
        "ttf": {"weibull": {"shape": 0.7, "scale": "5d"}}, "ttr": {"lognormal": {"median": "1h", "sigma": 1.2}}}}})


_RARE_MEAN, _RARE_Q = th.lognormal(12 * 3600.0, 1.0)
RARE_T = th.renewal(5 * th.YEAR, _RARE_MEAN, _RARE_Q)


def rare() -> simulator.Topology:
    """Rare, long outages: one replica, mtbf 5 y, lognormal repair (median 12 h, sigma 1)."""
    return topology({"api": {"replicas": {"z1": 1}, "failure": {
        "mtbf": "5y", "ttr": {"lognormal": {"median": "12h", "sigma": 1.0}}}}})


HOURLY, PER_MINUTE = 0.10, 50.0


def priced_pair() -> simulator.Topology:
    """The pair, priced: 0.10 per replica-hour, 50 per minute of downtime."""
    return topology({"api": PAIR}, zones={"z1": {}, "z2": {}},
                    pricing={"services": {"api": {"hourly": HOURLY}}, "downtime": {"per_minute": PER_MINUTE}})


LAM, MU = 5.0, 10.0  # M/M/1 at utilization 0.5
F_MTBF, F_MTTR = 120.0, 20.0


def traffic() -> simulator.Topology:
    """Two entries: ``q``, an M/M/1 queue (5/s, exponential 100 ms, no failures), and
    ``f``, a pass-through replica failing every 2 min for 20 s with no health check (a
    request fails while it is down: request availability = time availability)."""
    return topology(
        {"q": {"replicas": {"z1": 1}, "workers": 1, "service_time": {"exponential": "100ms"},
               "load_balancer": {"health_check": None}},
         "f": {"replicas": {"z1": 1}, "failure": {"mtbf": f"{F_MTBF}s", "mttr": f"{F_MTTR}s"},
               "load_balancer": {"health_check": None}}},
        traffic=[{"entry": "q", "rate": f"{LAM}/s"}, {"entry": "f", "rate": "10/s"}],
    )


def _traffic_figures() -> tuple[Figure, ...]:
    figs = [Figure("request availability", "f", _requests("f"), F_MTBF / (F_MTBF + F_MTTR))]
    for name, q in (("latency p50", 0.5), ("latency p99", 0.99), ("latency p99.9", 0.999)):
        key = {"latency p50": "p50", "latency p99": "p99", "latency p99.9": "p999"}[name]
        figs.append(Figure(name, "q", _latency("q", key), th.mm1_sojourn_quantile(LAM, MU, q)))
    figs.append(Figure("latency mean", "q", _latency("q", "mean"), 1.0 / (MU - LAM)))
    return tuple(figs)


def mm1k(deadline: str | None = None) -> simulator.Topology:
    """M/M/1/K: 1 worker, exponential 1 s service, 0.9/s, queue_limit 4 (K = 5)."""
    entry = {"entry": "q", "rate": "0.9/s", **({"deadline": deadline} if deadline else {})}
    return topology({"q": {"replicas": {"z1": 1}, "workers": 1, "service_time": {"exponential": "1s"},
                           "queue_limit": 4, "load_balancer": {"health_check": None}}},
                    traffic=[entry])


def mm1k_deadline() -> simulator.Topology:
    """M/M/1/K as above, requests given up after 3 s (their work stays queued): the
    share done in time rests on the virtual requests' waits."""
    return mm1k("3s")


def pair_or_triple():
    """The pair against a third replica in a third zone, with common random numbers: the
    availability gained is u² - u³ (u = 4 h / 244 h, a replica's unavailability)."""
    model = topology({"api": PAIR}, zones={"z1": {}, "z2": {}, "z3": {}})
    return model, [("pair", {}), ("triple", {"services.api.replicas.z3": 1})]


_U = 4.0 / 244.0


def _paired(key: str) -> Callable:
    def get(sw):
        d = sw.differences()[0][key]
        lo, hi = d["ci95"] if d["ci95"] is not None else (None, None)
        return Estimate(d["difference"], lo, hi, len(sw.results[0].records))
    return get


HC_INTERVAL, HC_AFTER = 10.0, 3


def stop_one():
    """A chaos plan on two replicas behind a balancer probing every 10 s (out after 3
    failures, at a random phase): one replica stops at 60 s. Detection and failover are
    uniform on [20 s, 30 s]; the SLI (1 s bins) is good again from the bin after."""
    model = topology(
        {"web": {"replicas": {"z1": 1, "z2": 1}, "workers": 4, "service_time": {"exponential": "5ms"},
                 "load_balancer": {"health_check": {"interval": f"{HC_INTERVAL}s", "unhealthy_after": HC_AFTER}}}},
        zones={"z1": {}, "z2": {}}, traffic=[{"entry": "web", "rate": "20/s"}])
    from simulator.chaos.compile import plan_from_dict

    plan = plan_from_dict({
        "title": "stop one", "duration": "3m", "timeline": "1s", "settle": "10s", "background_failures": False,
        "steady_state": {"probes": [{"name": "ok", "sli": "success_ratio", "at_least": "99%"}]},
        "method": [{"name": "stop", "fault": "instance_stop", "target": {"service": "web"}, "mode": "one",
                    "at": "60s", "duration": "1m"}]})
    return model, plan


def _chaos(figure: str, q: str) -> Callable:
    def get(res):
        d = res.fault("stop")[figure]
        lo, hi = d["ci95"][q] if d["ci95"][q] is not None else (None, None)
        return Estimate(d[q], lo, hi, res.replications)
    return get


_DETECT_LO = (HC_AFTER - 1) * HC_INTERVAL


def _detect_quantile(q: float) -> float:
    return _DETECT_LO + q * HC_INTERVAL


CASES = (
    Case("pair", pair.__doc__, pair, tuple(_failure_figures("system", PAIR_T, own="api"))),
    Case("quorum", quorum.__doc__, quorum, (
        Figure("availability", "system", _time("system", "availability"), API_T["availability"] * DB_T["availability"]),
        Figure("own availability", "api", _time("api", "own_availability"), API_T["availability"]),
        *[f for f in _failure_figures("db", DB_T) if f.name != "MTBF"],
    )),
    Case("weibull", weibull.__doc__, weibull, tuple(_failure_figures("system", WEIBULL_T)), warmup="60d"),
    Case("rare", rare.__doc__, rare, tuple(_failure_figures("system", RARE_T))),
    Case("cost", priced_pair.__doc__, priced_pair, (
        Figure("outage cost/yr", "system", _cost("outage_per_year"), (1 - PAIR_T["availability"]) * th.MIN_PER_YEAR * PER_MINUTE),
        Figure("TCO/yr", "system", _cost("tco_per_year"),
               12 * 2 * HOURLY * 730.5 + (1 - PAIR_T["availability"]) * th.MIN_PER_YEAR * PER_MINUTE),
    )),
    Case("requests", traffic.__doc__, traffic, _traffic_figures(), horizon="5m", warmup="1m", backend="requests",
         ns=(5, 10, 20, 40), experiments=200),
    Case("flow", traffic.__doc__, traffic, _traffic_figures(), horizon="5m", warmup="1m", backend="flow",
         ns=(5, 10, 20, 40), experiments=1600, separate_runs=True),
    Case("flow-mm1k", mm1k.__doc__, mm1k, (
        Figure("request availability", "system", _requests("system"), 1 - th.mmck_blocking(1, 5, 0.9)),
    ), horizon="1h", warmup="10m", backend="flow", ns=(5, 20), experiments=800, separate_runs=True),
    Case("sweep", pair_or_triple.__doc__, pair_or_triple, (
        Figure("paired difference", "availability", _paired("availability"), _U**2 - _U**3),
        Figure("paired difference", "downtime min/yr", _paired("downtime_min_per_year"),
               -(_U**2 - _U**3) * th.MIN_PER_YEAR),
    ), kind="sweep"),
    Case("chaos", stop_one.__doc__, stop_one, (
        Figure("detect p50", "web", _chaos("detect_s", "p50"), _detect_quantile(0.5)),
        Figure("detect p95", "web", _chaos("detect_s", "p95"), _detect_quantile(0.95)),
        Figure("recover p50", "web", _chaos("recover_s", "p50"), math.ceil(_detect_quantile(0.5))),
        Figure("recover p95", "web", _chaos("recover_s", "p95"), math.ceil(_detect_quantile(0.95))),
    ), kind="chaos", ns=(5, 10, 20, 80), experiments=100),
    Case("flow-mm1k-deadline", mm1k_deadline.__doc__, mm1k_deadline, (
        Figure("request availability", "system", _requests("system"), th.mm1k_within(5, 0.9, 1.0, 3.0)),
    ), horizon="1h", warmup="10m", backend="flow", ns=(5, 20), experiments=800, separate_runs=True),
)


# -- running ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: str
    figure: str
    scope: str
    n: int
    covered: int
    experiments: int
    open_bounds: int
    zero_width: int

    @property
    def coverage(self) -> float:
        return self.covered / self.experiments


def _subset(res: simulator.Results, records: list) -> simulator.Results:
    info = replace(res.info, replications=len(records))
    return simulator.Results(info, records, model=res.model)


@functools.cache
def experiments(key: str, n: int) -> tuple[simulator.Results, ...]:
    """The case's experiments of ``n`` replications each."""
    case = next(c for c in CASES if c.key == key)
    if case.separate_runs:  # the first n replications of each experiment's run are a run of n
        return tuple(_subset(r, r.records[:n]) for r in _separate_runs(key))
    big = _big_run(key)
    if case.kind == "sweep":
        return tuple(
            SweepResults(big.names, big.settings, [_subset(r, r.records[j * n : (j + 1) * n]) for r in big.results],
                         big.baseline)
            for j in range(case.experiments)
        )
    if case.kind == "chaos":
        return tuple(ChaosResults(big.experiment, big.records[j * n : (j + 1) * n], seed=big.seed,
                                  model_hash=big.model_hash) for j in range(case.experiments))
    recs = big.records
    return tuple(_subset(big, recs[j * n : (j + 1) * n]) for j in range(case.experiments))


@functools.cache
def _separate_runs(key: str) -> tuple[simulator.Results, ...]:
    case = next(c for c in CASES if c.key == key)
    model = case.build()
    return tuple(
        simulator.run(model, replications=max(case.ns), seed=case.seed + 1000 * j, horizon=case.horizon,
                      warmup=case.warmup, backend=case.backend, executor="serial")
        for j in range(case.experiments)
    )


@functools.cache
def _big_run(key: str):
    case = next(c for c in CASES if c.key == key)
    total = case.experiments * max(case.ns)
    if case.kind == "sweep":
        model, variants = case.build()
        return simulator.sweep(model, variants=variants, replications=total, seed=case.seed, horizon=case.horizon,
                               warmup=case.warmup, backend=case.backend, executor="processes")
    if case.kind == "chaos":
        model, plan = case.build()
        return chaos.run_chaos(model, plan, replications=total, seed=case.seed, executor="processes")
    return simulator.run(case.build(), replications=total, seed=case.seed,
                         horizon=case.horizon, warmup=case.warmup, backend=case.backend, executor="processes",
                         max_requests=None)


def covers(est: Estimate, truth: float) -> bool:
    """Whether the interval contains the truth (to the last digits of a float: an exact
    answer is an interval of zero width)."""
    slack = 1e-12 * abs(truth)
    return (est.lo is None or est.lo <= truth + slack) and (est.hi is None or truth - slack <= est.hi)


def measure(case: Case) -> list[Row]:
    """Coverage of every figure of ``case`` at every n."""
    rows = []
    for n in case.ns:
        runs = experiments(case.key, n)
        for fig in case.figures:
            ests = [fig.get(r) for r in runs]
            rows.append(Row(
                case.key, fig.name, fig.scope, n,
                sum(covers(e, fig.truth) for e in ests), len(ests),
                sum(e.lo is None or e.hi is None for e in ests),
                sum(e.lo is not None and e.lo == e.hi for e in ests),
            ))
    return rows


@functools.cache
def measured(key: str) -> tuple[Row, ...]:
    """:func:`measure` of the case ``key``, once per session."""
    return tuple(measure(next(c for c in CASES if c.key == key)))


@dataclass(frozen=True)
class Target:
    """An SLO target judged on a case's experiments: which verdict would be wrong."""

    case: str
    slo: dict  # RunInfo.slo: scope -> targets
    key: str  # the row of Results.slo
    wrong: str  # the verdict that contradicts the truth
    label: str


U_PAIR = 1 - PAIR_T["availability"]
P95_PAIR = PAIR_T["p95_s"]
TARGETS = (
    Target("pair", {"system": {"availability": 1 - 3 * U_PAIR}}, "availability", "missed", "availability, clearly met"),
    Target("pair", {"system": {"availability": 1 - U_PAIR / 3}}, "availability", "met", "availability, clearly missed"),
    Target("pair", {"system": {"availability": 1 - 1.1 * U_PAIR}}, "availability", "missed", "availability, just met"),
    Target("pair", {"system": {"availability": 1 - 0.9 * U_PAIR}}, "availability", "met", "availability, just missed"),
    Target("pair", {"system": {"rto_s": 5 * 3600.0}}, "rto", "met", "rto 5 h (p95 5.99 h: missed)"),
    Target("pair", {"system": {"rto_s": 12 * 3600.0}}, "rto", "missed", "rto 12 h (met)"),
    Target("pair", {"system": {"rto_s": 1.05 * P95_PAIR}}, "rto", "missed", "rto just met"),
    Target("pair", {"system": {"rto_s": 0.95 * P95_PAIR}}, "rto", "met", "rto just missed"),
    Target("requests", {"f": {"request_availability": 0.80}}, "f.request_availability", "missed", "request availability, met"),
    Target("requests", {"f": {"request_availability": 0.90}}, "f.request_availability", "met", "request availability, missed"),
    Target("requests", {"q": {"latency": {"p99": 1.5}}}, "q.latency.p99", "missed", "p99 1.5 s (met)"),
    Target("requests", {"q": {"latency": {"p99": 0.6}}}, "q.latency.p99", "met", "p99 0.6 s (missed)"),
)


def verdicts(target: Target, n: int) -> dict[str, int]:
    """How often each verdict was given on the case's experiments of ``n`` replications."""
    counts = {"met": 0, "missed": 0, "inconclusive": 0}
    for res in experiments(target.case, n):
        judged = simulator.Results(replace(res.info, slo=target.slo), res.records, model=res.model)
        counts[judged.slo[target.key]["verdict"]] += 1
    return counts


def table(rows: list[Row]) -> str:
    """The README table: one line per case and figure, coverage at each n."""
    by: dict[tuple[str, str, str], dict[int, Row]] = {}
    for r in rows:
        by.setdefault((r.case, r.figure, r.scope), {})[r.n] = r
    lines = ["| system | figure | coverage at n = replications (share with an open bound) | method |",
             "|---|---|---|---|"]
    for (case, figure, scope), cells in by.items():
        cov = ", ".join(
            f"n={n}: {r.coverage:.1%}" + (f" ({r.open_bounds / r.experiments:.0%} open)" if r.open_bounds else "")
            for n, r in sorted(cells.items())
        )
        where = "" if scope == "system" else f" ({scope})"
        lines.append(f"| {case} | {figure}{where} | {cov} | {METHODS[figure]} |")
    return "\n".join(lines)


def main() -> None:
    rows = [row for case in CASES for row in measured(case.key)]
    print(table(rows))
    worst = min(rows, key=lambda r: r.coverage)
    print(f"\nlowest: {worst}", file=sys.stderr)


if __name__ == "__main__":
    main()


__all__ = ["CASES", "Case", "Figure", "Row", "measure", "table", "experiments", "covers", "MIN_COVERAGE"]
