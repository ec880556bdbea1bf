"""The two traffic data planes side by side: a seeded generator of topologies over a
realistic family, both backends over the same seeds, and the figures compared.

``requests`` simulates every request and is the reference; ``flow`` solves each
failure state's queues with virtual requests. :func:`disagreements` lists every figure
where they differ beyond the tolerances (each also allowed the two runs' statistical
error), :func:`generate` builds topology ``k`` of the family (the same ``k`` gives the
same topology). ``python tests/differential.py N`` prints the disagreements of the first
``N`` topologies (``--all``: those flow does not represent too).
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass

import simulator
from simulator.backends.flow.model import M
from simulator.backends.flow.support import unrepresented

HORIZON, WARMUP, REPLICATIONS = "3m", "30s", 4
#: Relative tolerances of the figures compared.
SHARE_REL, SHARE_ABS = 0.20, 1e-5
LATENCY_REL = 0.10
ATTEMPTS_REL = 0.05
UTILIZATION_REL, UTILIZATION_ABS = 0.10, 0.01
POLICIES = ("round_robin", "random", "least_outstanding", "power_of_two")


def _service_time(rng: random.Random, mean_s: float) -> dict:
    kind = rng.choice(("exponential", "lognormal", "fixed"))
    if kind == "exponential":
        return {"exponential": f"{mean_s:.6g}s"}
    if kind == "fixed":
        return {"fixed": f"{mean_s:.6g}s"}
    sigma = rng.choice((0.3, 0.6))
    return {"lognormal": {"median": f"{mean_s / math.exp(sigma * sigma / 2):.6g}s", "sigma": sigma}}


def generate(k: int) -> dict:
    """Topology ``k`` of the family, as a document (2-3 services in a chain, a fan or a
    chain with a shortcut; 1-2 regions, 2-3 zones; 1-4 replicas per zone; 2-16 workers;
    exponential, lognormal or fixed service times; every balancer policy; health checks
    on or off; timeouts, retries with back-off, optional and parallel calls, retry
    budgets, breakers, deadlines, error rates, spikes, client regions; utilization
    10-85 %; failures absent, rare or frequent)."""
    rng = random.Random(1_000_003 * k + 17)
    regions = rng.choice((1, 1, 2))
    per_region = rng.choice((2, 3)) if regions == 1 else rng.choice((1, 2))
    zones = {f"r{r}": [f"r{r}z{z}" for z in range(per_region)] for r in range(regions)}
    if regions == 2 and per_region == 1:
        zones["r0"].append("r0z1")
    all_zones = [z for zs in zones.values() for z in zs]
    failures = rng.choice(("none", "rare", "frequent"))
    n_services = rng.choice((2, 3))
    names = [f"s{i}" for i in range(n_services)]
    shape = "chain" if n_services == 2 else rng.choice(("chain", "fan", "shortcut"))
    edges = (
        [(0, 1)]
        if n_services == 2
        else {"chain": [(0, 1), (1, 2)], "fan": [(0, 1), (0, 2)], "shortcut": [(0, 1), (1, 2), (0, 2)]}[shape]
    )
    rate = rng.choice((20.0, 40.0, 80.0))
    visits = [1.0] + [0.0] * (n_services - 1)
    for a, b in edges:
        visits[b] += visits[a]
    services: dict[str, dict] = {}
    scale: dict[str, float] = {}  # a service's mean latency, roughly: its own time and its calls'
    for i in reversed(range(n_services)):  # callees first: a caller's workers wait for its calls
        name = names[i]
        spread = rng.sample(all_zones, rng.randint(1, len(all_zones))) if i else all_zones
        replicas = {z: rng.randint(1, 4) for z in spread}
        if sum(replicas.values()) < 2:
            replicas[spread[0]] = 2
        rho = rng.uniform(0.10, 0.85)
        downstream = sum(scale[names[b]] for a, b in edges if a == i)
        mean_s = math.exp(rng.uniform(math.log(0.005), math.log(0.2)))  # 5-200 ms of its own
        # workers (2-16, more replicas when that is not enough) for utilization rho: a
        # caller's workers also wait for its calls
        busy = rate * visits[i] * (mean_s + downstream) / rho
        workers = next((w for w in (2, 4, 8, 16) if w * sum(replicas.values()) >= busy), 16)
        while workers * sum(replicas.values()) < busy:
            replicas[rng.choice(sorted(replicas))] += 1
        mean_s = rho * workers * sum(replicas.values()) / (rate * visits[i]) - downstream
        lb: dict = {"policy": rng.choice(POLICIES)}
        lb["health_check"] = (
            {"interval": f"{rng.choice((2, 5, 10))}s", "unhealthy_after": rng.choice((2, 3))}
            if rng.random() < 0.6
            else None
        )
        if rng.random() < 0.3:
            lb["locality"] = rng.choice(("zone", "region"))
        svc: dict = {
            "replicas": replicas,
            "workers": workers,
            "service_time": _service_time(rng, mean_s),
            "load_balancer": lb,
        }
        if rng.random() < 0.3:
            svc["queue_limit"] = rng.choice((0, 4, 16, 64))
        if rng.random() < 0.3:
            svc["error_rate"] = f"{rng.choice((0.1, 0.5, 2.0))}%"
        if failures == "rare":
            svc["failure"] = {"mtbf": f"{rng.choice((6, 12, 24))}h", "mttr": f"{rng.choice((5, 10))}m"}
        elif failures == "frequent":
            svc["failure"] = {"mtbf": f"{rng.choice((10, 20, 40))}m", "mttr": f"{rng.choice((30, 60, 120))}s"}
        services[name] = svc
        scale[name] = mean_s + downstream
    services = {name: services[name] for name in names}
    for j, (a, b) in enumerate(edges):
        call: dict = {"service": names[b]}
        if rng.random() < 0.5:  # timeouts and deadlines a few times the latency they bound
            call["timeout"] = f"{rng.choice((3, 6, 20)) * scale[names[b]] + 0.005:.4g}s"
        if rng.random() < 0.5:
            call["retries"] = rng.choice((1, 2))
            if rng.random() < 0.5:
                call["backoff"] = {
                    "base": f"{rng.choice((10, 50))}ms",
                    "cap": "1s",
                    "jitter": rng.choice(("none", "full", "equal")),
                }
            if rng.random() < 0.3:
                call["retry_budget"] = {"ratio": "20%"}
        if rng.random() < 0.25:
            call["circuit_breaker"] = {
                "failure_rate": "50%",
                "minimum_calls": 20,
                "window": 100,
                "open_duration": f"{rng.choice((5, 30))}s",
            }
        if j and rng.random() < 0.4:
            call["optional"] = True
        if shape == "fan" and rng.random() < 0.5:
            call["parallel"] = True
        services[names[a]].setdefault("calls", []).append(call)
    entry: dict = {"entry": names[0], "rate": f"{rate:g}/s"}
    if rng.random() < 0.3:
        entry["deadline"] = f"{rng.choice((4, 10, 30)) * scale[names[0]] + 0.01:.4g}s"
    if rng.random() < 0.3:
        entry["spikes"] = [
            {"at": "90s", "duration": "40s", "multiplier": rng.choice((1.5, 2.0)), "ramp": "5s"}
        ]
    if regions == 2 and rng.random() < 0.5:
        entry["from"] = {"r0": "70%", "r1": "30%"}
    providers = {"p": {"regions": {r: {"zones": {z: {} for z in zs}} for r, zs in zones.items()}}}
    if failures == "frequent" and rng.random() < 0.5:
        providers["p"]["regions"]["r0"]["zones"][zones["r0"][0]] = {"failure": {"mtbf": "2h", "mttr": "2m"}}
    return {
        "name": f"generated-{k}",
        "seed": k,
        "horizon": HORIZON,
        "warmup": WARMUP,
        "replications": REPLICATIONS,
        "providers": providers,
        "services": services,
        "traffic": [entry],
    }


def churn(replications: int = 32) -> dict:
    """The churn case: a three-service chain shaped like the bundled shop (web -> api ->
    db, two zones, health checks every 5 s, least_outstanding, web -> api with one
    retry), replicas failing every 1.5-6 h and repaired in 5-10 min, zones every 12 h,
    150 requests/s, hours after a 5 min warm-up."""
    lb = {"policy": "least_outstanding", "health_check": {"interval": "5s", "unhealthy_after": 2}}
    zone = {"failure": {"mtbf": "12h", "mttr": "10m"}}
    return {
        "name": "churn",
        "seed": 13,
        "horizon": "1h",
        "warmup": "5m",
        "replications": replications,
        "providers": {"aws": {"regions": {"r1": {"zones": {"a": zone, "b": zone}}}}},
        "services": {
            "web": {
                "replicas": {"a": 2, "b": 2},
                "workers": 16,
                "service_time": {"lognormal": {"median": "5ms", "p99": "30ms"}},
                "failure": {"mtbf": "6h", "mttr": "5m"},
                "load_balancer": lb,
                "calls": [{"service": "api", "timeout": "500ms", "retries": 1}],
            },
            "api": {
                "replicas": {"a": 2, "b": 2},
                "workers": 8,
                "service_time": {"gamma": {"shape": 2, "mean": "25ms"}},
                "failure": {"mtbf": "3h", "mttr": "10m"},
                "load_balancer": lb,
                "calls": [{"service": "db", "timeout": "200ms"}],
            },
            "db": {
                "replicas": {"a": 1, "b": 1},
                "workers": 32,
                "service_time": {"exponential": "4ms"},
                "failure": {"mtbf": "90m", "mttr": "5m"},
                "load_balancer": lb,
            },
        },
        "traffic": [{"entry": "web", "rate": "150/s"}],
    }


@dataclass(frozen=True)
class Disagreement:
    figure: str
    requests: float
    flow: float

    def __str__(self) -> str:
        return f"{self.figure}: requests {self.requests:.6g}, flow {self.flow:.6g}"


def _half(est) -> float:
    if est.lo is None or est.hi is None:
        return math.inf
    return (est.hi - est.lo) / 2


def _near(a: float, b: float, rel: float, absolute: float = 0.0, noise: float = 0.0) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absolute, noise) + 1e-12


def compare(req: simulator.Results, flow: simulator.Results, slack: float = 1.0) -> list[Disagreement]:
    """Every figure where ``flow`` differs from ``requests`` beyond the tolerances (each
    tolerance and allowance times ``slack``)."""

    def _close(a: float, b: float, rel: float, absolute: float = 0.0, noise: float = 0.0) -> bool:
        return _near(a, b, rel * slack, absolute * slack, noise * slack)

    out: list[Disagreement] = []
    a, b = req.requests, flow.requests
    ra, rb = a["system"]["availability"], b["system"]["availability"]
    if abs(ra.mean - rb.mean) > slack * (_half(ra) + _half(rb)) + 1e-9:
        out.append(Disagreement("request availability", ra.mean, rb.mean))
    n = float(a["system"]["finished"])
    for k, pa in a["system"]["outcomes"].items():
        pb = float(b["system"]["outcomes"][k])
        # 3 sigmas of the two runs' errors: the reference's counting error (Poisson, of its
        # larger count, clustered by 4) and flow's from its M virtual requests (binomial:
        # over 12 seeds, flow's shares spread by 0.8-1.3 times that)
        p = max(float(pa), pb)
        noise = 3.0 * math.sqrt(4.0 * p / n + p * (1.0 - p) / M) if n else math.inf
        if k != "success" and not _close(float(pa), pb, SHARE_REL, SHARE_ABS, noise):
            out.append(Disagreement(f"share {k}", float(pa), pb))
    la, lb = a["system"]["latency_ok"], b["system"]["latency_ok"]
    if la is not None and lb is not None:
        for q in ("p50", "p99"):
            ea, eb = a["system"]["latency_ok_estimates"][q], b["system"]["latency_ok_estimates"][q]
            if not _close(la[q], lb[q], LATENCY_REL, noise=_half(ea) + _half(eb)):
                out.append(Disagreement(f"latency {q}", la[q], lb[q]))
    for name, ea in a["edges"].items():
        eb = b["edges"][name]
        if ea["calls"] > 0 and eb["calls"] > 0:
            xa, xb = ea["attempts"] / ea["calls"], eb["attempts"] / eb["calls"]
            noise = 3.0 * math.sqrt(4.0 * max(xa - 1.0, 0.0) * ea["calls"]) / ea["calls"]
            if not _close(xa, xb, ATTEMPTS_REL, noise=noise):
                out.append(Disagreement(f"attempts/call {name}", xa, xb))
    for name, sa in a["services"].items():
        ua, ub = sa["load"]["utilization"], b["services"][name]["load"]["utilization"]
        if not _close(ua, ub, UTILIZATION_REL, UTILIZATION_ABS):
            out.append(Disagreement(f"utilization {name}", ua, ub))
    return out


#: Generated topologies flow still disagrees on (tests/test_differential.py keeps it current).
KNOWN: dict[int, str] = {  # topology -> the figures that differ (last measured)
    2: "request availability, share dependency_failure",
    16: "latency p50",
    41: "latency p50",
    50: "latency p99",
    51: "share timeout",
    71: "attempts/call s0->s1",
    73: "share dependency_failure",
    74: "latency p50",
    76: "share dependency_failure",
    85: "latency p99",
    97: "latency p50",
    125: "request availability, share shed",
    126: "utilization s0",
    134: "utilization s1",
}


@dataclass(frozen=True)
class Outcome:
    k: int
    reasons: tuple[str, ...]  # why flow does not represent the topology (then not compared)
    disagreements: tuple[Disagreement, ...]

    @property
    def agrees(self) -> bool:
        return not self.reasons and not self.disagreements


def check(k: int, compare_all: bool = False, slack: float = 1.0) -> Outcome:
    """Topology ``k`` on both backends (the same seeds), unless flow says it does not
    represent it (``compare_all``: compared all the same)."""
    model = simulator.Topology.model_validate(generate(k))
    reasons = unrepresented(model)
    if reasons and not compare_all:
        return Outcome(k, reasons, ())
    runs = {
        b: simulator.run(model, backend=b, executor="serial", max_requests=None) for b in ("requests", "flow")
    }
    return Outcome(k, reasons, tuple(compare(runs["requests"], runs["flow"], slack)))


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 20
    start = int(argv[2]) if len(argv) > 2 else 0
    compare_all = "--all" in argv
    agreed = excluded = 0
    for k in range(start, start + n):
        got = check(k, compare_all)
        agreed += got.agrees
        excluded += bool(got.reasons)
        status = (
            "agree"
            if got.agrees
            else ("flow does not represent: " + "; ".join(got.reasons) if got.reasons else "DISAGREE")
        )
        print(f"{k}: {status}", flush=True)
        if compare_all and got.reasons:
            print(f"    (compared all the same: {'agree' if not got.disagreements else 'disagree'})")
        for d in got.disagreements:
            print(f"    {d}", flush=True)
    print(f"{agreed} of {n} agree, {excluded} left to requests, {n - agreed - excluded} disagree")


if __name__ == "__main__":
    main(sys.argv)
