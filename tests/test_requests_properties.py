"""Properties of the ``requests`` backend on random small topologies with traffic.

The topologies come from ``strategies.topology_docs`` (regions, zones, a DAG of
services, failures made 60 times faster so that a short horizon sees some);
:func:`traffic_docs` below adds what the data plane needs: workers,
fixed service times, load balancers, call options (fan-out, timeouts, retries, backoff,
budgets, breakers), a fixed-RTT network and one traffic entry. Each example is tiny (a
horizon of at most two minutes, at most 50 requests/s, two replications).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import topology_docs, without_failures

import simulator
from simulator.metrics.histogram import LO, RATIO

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Every RTT fixed, so the slowest hop is known (20 ms across regions).
NETWORK = {
    "same_zone": {"fixed": "1ms"},
    "cross_zone": {"fixed": "2ms"},
    "cross_region": {"fixed": "20ms"},
    "client": {"fixed": "5ms"},
}
MAX_RTT_S = 0.020
POLICIES = ["round_robin", "random", "least_outstanding", "power_of_two"]
LOCALITIES = ["any", "zone", "region"]
JITTERS = ["none", "full", "equal", "decorrelated"]


@st.composite
def call_options(draw: Any, failing: bool) -> dict[str, Any]:
    """Options of one call; ``failing`` allows the ones that make calls fail (timeouts)."""
    opts: dict[str, Any] = {}
    if draw(st.booleans()):
        opts["parallel"] = True
    if failing and draw(st.booleans()):
        opts["timeout"] = f"{draw(st.integers(2, 60))}ms"
    retries = draw(st.integers(0, 2))
    if retries:
        opts["retries"] = retries
        if draw(st.booleans()):
            opts["backoff"] = {"base": "10ms", "cap": "100ms", "jitter": draw(st.sampled_from(JITTERS))}
        if draw(st.booleans()):
            opts["retry_budget"] = {"ratio": "20%", "window": "5s"}
    if draw(st.booleans()):
        opts["circuit_breaker"] = {
            "minimum_calls": 5,
            "window": 10,
            "open_duration": "2s",
            "half_open_calls": 2,
        }
    return opts


def sooner(value: Any) -> Any:
    """A failure spec's durations in a unit 60 times smaller ("2.5h" -> "2.5m", "10m" -> "10s")."""
    if isinstance(value, dict):
        return {k: sooner(v) for k, v in value.items()}
    if isinstance(value, str) and value[-1:] in ("h", "m"):
        return value[:-1] + {"h": "m", "m": "s"}[value[-1]]
    return value


def failing_sooner(doc: dict[str, Any]) -> dict[str, Any]:
    """Every failure spec of ``doc`` made 60 times faster, so a short horizon sees failures."""
    for prov in doc["providers"].values():
        for reg in prov["regions"].values():
            for zone in reg["zones"].values():
                if "failure" in zone:
                    zone["failure"] = sooner(zone["failure"])
            if "failure" in reg:
                reg["failure"] = sooner(reg["failure"])
    for svc in doc["services"].values():
        if "failure" in svc:
            svc["failure"] = sooner(svc["failure"])
    return doc


@st.composite
def traffic_docs(draw: Any, failing: bool = True) -> dict[str, Any]:
    """A topology document with traffic at ``s0`` and fixed service times.

    ``failing=False`` gives a world where nothing can fail: no failures, no error rate,
    no timeouts or deadlines, no queue limit (load is kept low by :func:`low_load`).
    """
    doc = draw(topology_docs(max_services=3))
    doc = failing_sooner(doc) if failing else without_failures(doc)
    doc["horizon"] = draw(st.sampled_from(["30s", "1m", "2m"]))
    doc["replications"] = 2
    if draw(st.booleans()):
        doc["warmup"] = "5s"
    doc["network"] = NETWORK
    for svc in doc["services"].values():
        svc["workers"] = draw(st.integers(1, 4))
        if draw(st.integers(0, 4)) > 0:  # else a pass-through
            svc["service_time"] = {"fixed": f"{draw(st.integers(1, 40))}ms"}
        lb: dict[str, Any] = {
            "policy": draw(st.sampled_from(POLICIES)),
            "locality": draw(st.sampled_from(LOCALITIES)),
            "connect_timeout": "50ms",
        }
        if draw(st.booleans()):
            lb["health_check"] = {"interval": "1s", "unhealthy_after": draw(st.integers(1, 3))}
        elif draw(st.booleans()):
            lb["health_check"] = None
        svc["load_balancer"] = lb
        if failing:
            if draw(st.booleans()):
                svc["queue_limit"] = draw(st.integers(0, 5))
            if draw(st.booleans()):
                svc["error_rate"] = f"{draw(st.integers(1, 30))}%"
        for call in svc.get("calls", []):
            call.update(draw(call_options(failing)))
    traffic: dict[str, Any] = {"entry": "s0", "rate": f"{draw(st.integers(1, 50))}/s"}
    if failing and draw(st.booleans()):
        traffic["deadline"] = f"{draw(st.integers(10, 200))}ms"
    regions = sorted(doc["providers"]["p"]["regions"])
    if draw(st.booleans()):  # clients in named regions
        share = draw(st.integers(0, 100)) if len(regions) > 1 else 100
        traffic["from"] = {
            regions[0]: f"{share}%",
            **({regions[1]: f"{100 - share}%"} if len(regions) > 1 else {}),
        }
    doc["traffic"] = [traffic]
    return doc


# -- oracles: computed from the document, not from the library -------------------------------------


def service_s(svc: dict[str, Any]) -> float:
    """The fixed service time of a service (0 for a pass-through)."""
    st_ = svc.get("service_time")
    return float(st_["fixed"].removesuffix("ms")) / 1000.0 if st_ else 0.0


def groups(calls: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Calls in order; consecutive parallel calls are sent together."""
    out: list[list[dict[str, Any]]] = []
    for call in calls:
        if call.get("parallel") and out and out[-1][-1].get("parallel"):
            out[-1].append(call)
        else:
            out.append([call])
    return out


def least_latency(doc: dict[str, Any], name: str) -> float:
    """A lower bound of a successful call to ``name``: its service time, then for each
    group of calls the slowest required callee (optional callees may fail at once)."""
    svc = doc["services"][name]
    total = service_s(svc)
    for group in groups(svc.get("calls", [])):
        required = [least_latency(doc, c["service"]) for c in group if not c.get("optional")]
        total += max(required, default=0.0)
    return total


def hold_bound(doc: dict[str, Any], name: str) -> float:
    """An upper bound of how long a worker of ``name`` is held, without queueing."""
    svc = doc["services"][name]
    total = service_s(svc)
    for group in groups(svc.get("calls", [])):
        total += max(MAX_RTT_S + hold_bound(doc, c["service"]) for c in group)
    return total


def call_rates(doc: dict[str, Any]) -> dict[str, float]:
    """Calls per second reaching each service (each request calls each dependency once)."""
    rates = dict.fromkeys(doc["services"], 0.0)

    def visit(name: str, rate: float) -> None:
        rates[name] += rate
        for c in doc["services"][name].get("calls", []):
            visit(c["service"], rate)

    for t in doc["traffic"]:
        visit(t["entry"], float(t["rate"].removesuffix("/s")))
    return rates


def low_load(doc: dict[str, Any], target: float = 0.15) -> dict[str, Any]:
    """Give every service enough workers for a utilization of at most ``target``."""
    rates = call_rates(doc)
    for name, svc in doc["services"].items():
        replicas = sum(svc["replicas"].values())
        svc["workers"] = max(
            svc["workers"], math.ceil(rates[name] * hold_bound(doc, name) / (target * replicas))
        )
    return doc


def run(doc: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.from_dict(doc), backend="requests")


def scopes(snap: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every entry and service of one replication's counters, labelled."""
    return [(f"entry {k}", v) for k, v in snap["entries"].items()] + [
        (f"service {k}", v) for k, v in snap["services"].items()
    ]


# -- properties -------------------------------------------------------------------------------------


@SETTINGS
@given(traffic_docs())
def test_every_call_is_finished_once_or_still_in_flight(doc):
    """For every entry and service, calls = sum of outcomes + in flight; a service's calls are its callers'."""
    res = run(doc)
    for record in res.records:
        snap = record.extra["requests"]
        for label, scope in scopes(snap):
            assert scope["calls"] == sum(scope["outcomes"].values()) + scope["in_flight"], label
            assert scope["in_flight"] >= 0, label
            assert sum(scope["attempt_outcomes"].values()) <= scope["attempts"], label
            assert scope["latency_all"].n == scope["calls"] - scope["in_flight"], label
            assert scope["latency_ok"].n == scope["outcomes"]["success"], label
        for name, svc in snap["services"].items():
            into = [e for edge, e in snap["edges"].items() if edge.endswith(f"->{name}")]
            assert svc["calls"] == sum(e["calls"] for e in into), name
            assert svc["attempts"] == sum(e["attempts"] for e in into), name
        for name, edge in snap["edges"].items():
            assert edge["attempts"] <= edge["calls"] + edge["retries"], name
    system = res.requests["system"]
    assert system["requests"] == system["finished"] + system["in_flight"]
    assert system["requests"] == sum(r.extra["requests"]["entries"]["s0"]["calls"] for r in res.records)


@SETTINGS
@given(traffic_docs())
def test_successes_take_at_least_the_required_service_times(doc):
    """A successful call takes at least the fixed service times along its required call path."""
    res = run(doc)
    for record in res.records:
        snap = record.extra["requests"]
        for name, svc in snap["services"].items():
            h = svc["latency_ok"]
            if not h.n:
                continue
            bound = least_latency(doc, name)
            k = int(h.index.min())
            assert LO * RATIO**k >= bound * (1 - 1e-9), f"{name}: a success below {bound} s"
            assert h.total / h.n >= bound * (1 - 1e-12), name


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic_docs())
def test_same_seed_gives_identical_json(doc):
    """Two runs of one model with one seed give byte-identical JSON."""
    model = simulator.from_dict(doc)
    assert simulator.run(model).to_json() == simulator.run(model).to_json()


@SETTINGS
@given(traffic_docs(failing=False).map(low_load))
def test_nothing_fails_in_a_world_without_failures(doc):
    """No failures, errors, timeouts or deadlines, and low load: every finished request succeeds."""
    res = run(doc)
    for name, svc in res.requests["services"].items():
        util = svc["load"]["utilization"]
        assert util is None or util < 0.3, f"precondition: {name} utilization {util}"
    assert res.requests["system"]["availability"].mean == 1.0
    for record in res.records:
        for label, scope in scopes(record.extra["requests"]):
            failed = {k: v for k, v in scope["outcomes"].items() if k != "success" and v}
            assert not failed, f"{label}: {failed}"
            assert scope["attempts"] == scope["calls"], label  # no retries were needed
    for edge in res.requests["edges"].values():
        assert edge["retries"] == edge["breaker_rejected"] == edge["breaker_opened"] == 0
