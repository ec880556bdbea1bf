"""Behaviour of the ``requests`` data plane: health checks, timeouts, breakers, budgets,
backoff, deadlines, shedding, locality, client regions, fan-out and the size guard.

Every scenario uses fixed service times and fixed network RTTs, so latencies are exact
up to the histogram's bucket (a reported value is within ``RATIO`` of the true one).
Counts that depend on Poisson arrivals get a band of ``Z`` standard deviations of the
count (``sqrt(mean)`` for a Poisson count), widened by the known range of the window
the count comes from (e.g. the health-check probe phase).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import Z, topology
from scipy import stats
from typer.testing import CliRunner

import simulator
from simulator.analysis.runner import RunTooLarge
from simulator.backends.requests.resilience import backoff_delay
from simulator.cli import app
from simulator.metrics.histogram import LO, RATIO, bucket
from simulator.model.resilience import BackoffSpec
from simulator.rng import UNIT_UNIFORM, Stream, name_key

FAST_NET = {"same_zone": {"fixed": "1ms"}, "cross_zone": {"fixed": "1s"}}


# -- helpers ------------------------------------------------------------------------------


def snaps(res: simulator.Results) -> list[dict]:
    """The raw per-replication counters of the data plane."""
    return [r.extra["requests"] for r in res.records]


def lower_edge(k: int) -> float:
    return 0.0 if k == 0 else LO * RATIO ** (k - 1)


def upper_edge(k: int) -> float:
    return LO * RATIO**k


def count_between(h: Any, lo: float, hi: float) -> int:
    """How many values of histogram ``h`` lie in buckets entirely inside ``[lo, hi]``."""
    d = h.dense()
    return int(sum(d[k] for k in np.flatnonzero(d) if lower_edge(k) >= lo and upper_edge(k) <= hi))


def count_near(h: Any, value: float) -> int:
    """How many values of histogram ``h`` are ``value`` up to the resolution (one bucket)."""
    return count_between(h, value / RATIO**1.01, value * RATIO**1.01)


def value_range(h: Any) -> tuple[float, float]:
    """Bounds that hold every value counted in histogram ``h`` (bucket edges)."""
    ks = np.flatnonzero(h.dense())
    return lower_edge(int(ks.min())), upper_edge(int(ks.max()))


def assert_all_near(h: Any, value: float, label: str = "") -> None:
    """Every value in ``h`` is ``value`` up to the histogram's resolution (one bucket)."""
    lo, hi = value_range(h)
    assert lo >= value / RATIO**1.01 and hi <= value * RATIO**1.01, (
        f"{label}: values in [{lo:.6g}, {hi:.6g}], expected {value}"
    )


def assert_poisson_band(count: int, lo_mean: float, hi_mean: float, label: str = "") -> None:
    """``count`` is a Poisson-like count whose mean lies in ``[lo_mean, hi_mean]``."""
    lo = lo_mean - Z * math.sqrt(max(lo_mean, 1.0))
    hi = hi_mean + Z * math.sqrt(max(hi_mean, 1.0))
    assert lo <= count <= hi, (
        f"{label}: {count} outside [{lo:.1f}, {hi:.1f}] (means {lo_mean:.1f}..{hi_mean:.1f})"
    )


def two_zone_api(
    lb: dict, z1_failure: dict | None, rate: float, horizon: str, **svc: Any
) -> simulator.Topology:
    """``api`` with one replica in z1 (which may fail) and one in z2, fed at ``rate``."""
    zones: dict[str, Any] = {"z1": {"failure": z1_failure} if z1_failure else {}, "z2": {}}
    api = {
        "replicas": {"z1": 1, "z2": 1},
        "workers": 64,
        "service_time": {"fixed": "1ms"},
        "load_balancer": lb,
        **svc,
    }
    return topology(
        {"api": api},
        zones=zones,
        traffic=[{"entry": "api", "rate": f"{rate}/s"}],
        horizon=horizon,
        replications=4,
        seed=11,
    )


# -- health checks ----------------------------------------------------------------------------

DEATH = {"ttf": {"fixed": "30s"}, "ttr": {"fixed": "30s"}}


@pytest.mark.parametrize(("interval", "k"), [(5.0, 3), (2.0, 1), (4.0, 2)])
def test_health_checks_remove_a_dead_replica_after_k_failed_probes(interval, k):
    """Round robin sends half the traffic to a dead replica until k probes, (k-1)i..ki after the death, fail."""
    rate = 100.0
    lb = {
        "policy": "round_robin",
        "health_check": {"interval": f"{interval}s", "unhealthy_after": k},
        "connect_timeout": "200ms",
    }
    res = simulator.run(two_zone_api(lb, DEATH, rate, "90s"))
    for s in snaps(res):
        e = s["entries"]["api"]
        errors = e["outcomes"]["connection_error"]
        # the k-th failed probe comes (k-1)·i to k·i after the death, depending on the probe phase;
        # a request in service at the instant of the death adds at most a few (rate x 1 ms)
        assert_poisson_band(errors, 0.5 * rate * (k - 1) * interval, 0.5 * rate * k * interval + 1, "errors")
        assert e["outcomes"]["success"] + errors + e["in_flight"] == e["calls"]


def test_without_health_checks_errors_last_until_the_repair():
    """With health_check null a dead replica stays in rotation: half the requests fail until it is repaired."""
    rate, ttr = 100.0, 30.0
    lb = {"policy": "round_robin", "health_check": None, "connect_timeout": "200ms"}
    res = simulator.run(two_zone_api(lb, DEATH, rate, "90s"))
    for s in snaps(res):
        errors = s["entries"]["api"]["outcomes"]["connection_error"]
        assert_poisson_band(errors, 0.5 * rate * ttr, 0.5 * rate * ttr + 1, "errors")


def test_requests_to_a_dead_replica_fail_after_connect_timeout():
    """A request sent to a dead replica fails with connection_error after exactly connect_timeout."""
    lb = {"policy": "round_robin", "health_check": None, "connect_timeout": "300ms"}
    res = simulator.run(two_zone_api(lb, DEATH, 100.0, "90s"))
    for s in snaps(res):
        e = s["entries"]["api"]
        failed = e["latency_all"].dense() - e["latency_ok"].dense()
        n_failed = int(failed.sum())
        assert n_failed == e["outcomes"]["connection_error"] > 1000
        # requests in service at the instant of the death are reset at once (latency < 1 ms)
        reset = int(sum(failed[k] for k in np.flatnonzero(failed) if upper_edge(k) <= 1.1e-3))
        late = int(
            sum(
                failed[k]
                for k in np.flatnonzero(failed)
                if lower_edge(k) >= 0.3 / RATIO**1.01 and upper_edge(k) <= 0.3 * RATIO**1.01
            )
        )
        assert reset <= 3
        assert late + reset == n_failed, "a failed request took neither ~0 nor connect_timeout"
    summary = res.requests["system"]["latency_all"]
    assert summary["p99"] == pytest.approx(0.3, rel=RATIO - 1)


def test_a_replica_death_resets_what_it_holds_at_the_instant_of_the_death():
    """Requests in service when their replica dies fail at the death: none gets latency 0."""
    # every request is in service (100 s) when the zone dies at 50 s, so each fails with
    # latency 50 s - arrival; the last arrival comes a memoryless Exp(0.5/s) gap before
    # the death, so a latency at or below 1 µs has probability 5e-7
    api = {
        "replicas": {"z1": 1},
        "workers": 1000,
        "service_time": {"fixed": "100s"},
        "load_balancer": {"health_check": None},
    }
    model = topology(
        {"api": api},
        zones={"z1": {"failure": {"ttf": {"fixed": "50s"}, "ttr": {"fixed": "1h"}}}},
        traffic=[{"entry": "api", "rate": "0.5/s"}],
        horizon="60s",
        replications=4,
        seed=3,
    )
    res = simulator.run(model)
    for s in snaps(res):
        e = s["entries"]["api"]
        assert e["outcomes"]["connection_error"] > 5
        assert e["latency_all"].dense()[0] == 0, "a reset request was stamped before the death (latency 0)"


# -- circuit breaker --------------------------------------------------------------------------


def caller_callee(call: dict, back: dict, rate: float, horizon: str, replications: int = 2, **top: Any):
    """``front`` (a pass-through) calls ``back`` with ``call``; traffic enters at ``front``."""
    front = {"replicas": {"z1": 1}, "workers": 256, "calls": [{"service": "back", **call}]}
    back = {"replicas": {"z1": 1}, "workers": 256, "service_time": {"fixed": "1ms"}, **back}
    return topology(
        {"front": front, "back": back},
        traffic=[{"entry": "front", "rate": f"{rate}/s"}],
        horizon=horizon,
        replications=replications,
        seed=5,
        network=FAST_NET,
        **top,
    )


BREAKER = {
    "failure_rate": "50%",
    "minimum_calls": 10,
    "window": 20,
    "open_duration": "5s",
    "half_open_calls": 3,
}


def test_breaker_on_a_failing_callee_opens_and_lets_through_the_cycle_arithmetic():
    """Against a callee that always fails, the breaker lets m calls through, then h per open period."""
    rate, horizon = 50.0, 120.0
    m, h, d = BREAKER["minimum_calls"], BREAKER["half_open_calls"], 5.0
    res = simulator.run(
        caller_callee({"circuit_breaker": BREAKER}, {"error_rate": "100%"}, rate, f"{horizon}s")
    )
    # a cycle: open for d, then the wait for h arrivals (Gamma(h, rate)), then the last
    # trial's round trip (1 ms RTT + 1 ms service); N cycles fit after the first m calls
    rtt_svc = 0.002
    cycle = d + h / rate + rtt_svc
    cycle_sd = math.sqrt(h) / rate
    n_cycles = (horizon - m / rate) / cycle
    n_sd = math.sqrt(n_cycles) * cycle_sd / cycle  # renewal-count spread
    for s in snaps(res):
        edge = s["edges"]["front->back"]
        passed, rejected, opened = edge["attempts"], edge["breaker_rejected"], edge["breaker_opened"]
        assert edge["calls"] == passed + rejected
        assert opened > 0
        assert rejected > 0.95 * edge["calls"]
        # each reopening follows h failed trials; a half-open period may be in progress at the end,
        # and a call may slip through in the 2 ms between the m-th call and its failure
        assert 0 <= passed - m - h * (opened - 1) <= h + 2, (passed, opened)
        expected = m + h * n_cycles
        assert abs(passed - expected) <= h * (1 + Z * n_sd) + 2, (passed, expected)
        back = s["services"]["back"]
        assert back["outcomes"]["circuit_open"] == rejected
        assert back["outcomes"]["error"] + back["in_flight"] == passed
    edge = res.requests["edges"]["front->back"]
    assert edge["breaker_open_fraction"] == pytest.approx(d / cycle, abs=0.02)


def test_breaker_figures_ignore_the_warmup():
    """With a warm-up, breaker openings and time open count only the measured horizon (fraction <= 1)."""
    rate, horizon, warmup = 50.0, 60.0, 60.0
    h, d = BREAKER["half_open_calls"], 5.0
    model = caller_callee(
        {"circuit_breaker": BREAKER}, {"error_rate": "100%"}, rate, f"{horizon}s", warmup=f"{warmup}s"
    )
    res = simulator.run(model)
    cycle = d + h / rate + 0.002
    for s in snaps(res):
        edge = s["edges"]["front->back"]
        # the breaker is open all along; it opens once per cycle inside the horizon
        assert abs(edge["breaker_opened"] - horizon / cycle) <= 2, edge
        assert edge["breaker_open_s"] <= horizon, edge
    fraction = res.requests["edges"]["front->back"]["breaker_open_fraction"]
    assert 0.0 <= fraction <= 1.0
    assert fraction == pytest.approx(d / cycle, abs=0.02)


def test_breaker_on_a_healthy_callee_never_opens():
    """A breaker in front of a callee that never fails never opens and rejects nothing."""
    res = simulator.run(caller_callee({"circuit_breaker": BREAKER}, {}, 50.0, "60s"))
    edge = res.requests["edges"]["front->back"]
    assert edge["breaker_opened"] == 0
    assert edge["breaker_rejected"] == 0
    assert res.requests["services"]["back"]["outcomes"]["circuit_open"] == 0
    assert res.requests["system"]["availability"].mean == 1.0


# -- retries ------------------------------------------------------------------------------------


def test_retry_budget_caps_retries_at_its_ratio():
    """With every attempt failing and retries 3, a 10% retry budget holds retries to 10% of calls, not 300%."""
    rate, horizon, window, ratio = 100.0, 120.0, 10.0, 0.1
    call = {"retries": 3, "retry_budget": {"ratio": "10%", "window": f"{window}s"}}
    res = simulator.run(caller_callee(call, {"error_rate": "100%"}, rate, f"{horizon}s"))
    for s in snaps(res):
        edge = s["edges"]["front->back"]
        calls, retries = edge["calls"], edge["retries"]
        assert edge["budget_denied"] > 0
        assert edge["attempts"] == calls + retries
        # retries in any window never exceed ratio x its calls, so overall retries <= ratio x calls;
        # the budget is used up in every window, less at most one retry per window (and the few
        # calls of the last 2 ms whose retry is still to come)
        windows = horizon / window + 1
        assert ratio * calls - 2 * windows <= retries <= ratio * calls + 1, (retries, calls)
    edge = res.requests["edges"]["front->back"]
    assert edge["amplification"] == pytest.approx(1 + ratio, abs=0.01)
    assert res.requests["system"]["outcomes"]["dependency_failure"] == pytest.approx(1.0)


def test_retries_without_budget_retry_every_failed_call():
    """Without a budget, retries 3 against a callee that always fails makes exactly 4 attempts per call."""
    res = simulator.run(caller_callee({"retries": 3}, {"error_rate": "100%"}, 20.0, "30s"))
    for s in snaps(res):
        edge = s["edges"]["front->back"]
        back = s["services"]["back"]
        finished = back["calls"] - back["in_flight"]
        assert edge["budget_denied"] == 0
        assert back["outcomes"]["error"] == finished > 400
        assert 4 * finished <= edge["attempts"] == edge["calls"] + edge["retries"] <= 4 * edge["calls"]


def make_backoff(jitter: str, base: str = "100ms", cap: str = "1.5s") -> BackoffSpec:
    return BackoffSpec.model_validate({"base": base, "cap": cap, "jitter": jitter})


def uniforms_stream(name: str) -> Stream:
    return Stream(UNIT_UNIFORM, name_key(name))


N_DRAWS = 20_000
P_MIN = 2 * stats.norm.sf(Z)  # the false-failure rate of a Z-standard-error check


def test_backoff_none_is_exact_capped_exponential():
    """jitter none: retry n waits exactly min(cap, base * 2^(n-1))."""
    spec = make_backoff("none")
    u = uniforms_stream("none")
    got = [backoff_delay(spec, n, 0.0, u) for n in range(1, 10)]
    assert got == pytest.approx([min(1.5, 0.1 * 2 ** (n - 1)) for n in range(1, 10)], rel=1e-12)
    assert backoff_delay(None, 3, 0.0, u) == 0.0


@pytest.mark.parametrize("retry", [1, 3, 5, 9])
def test_backoff_full_jitter_is_uniform_below_the_exponential(retry):
    """jitter full: retry n waits U(0, d), d = min(cap, base * 2^(n-1)); its mean is d/2."""
    spec = make_backoff("full")
    d = min(1.5, 0.1 * 2 ** (retry - 1))
    u = uniforms_stream(f"full/{retry}")
    x = np.array([backoff_delay(spec, retry, 0.0, u) for _ in range(N_DRAWS)])
    assert x.min() >= 0.0 and x.max() <= d
    se = d / math.sqrt(12 * N_DRAWS)
    assert abs(x.mean() - d / 2) <= Z * se
    assert stats.kstest(x / d, "uniform").pvalue > P_MIN


@pytest.mark.parametrize("retry", [1, 3, 5, 9])
def test_backoff_equal_jitter_is_uniform_on_the_upper_half(retry):
    """jitter equal: retry n waits U(d/2, d); its mean is 3d/4."""
    spec = make_backoff("equal")
    d = min(1.5, 0.1 * 2 ** (retry - 1))
    u = uniforms_stream(f"equal/{retry}")
    x = np.array([backoff_delay(spec, retry, 0.0, u) for _ in range(N_DRAWS)])
    assert x.min() >= d / 2 and x.max() <= d
    se = (d / 2) / math.sqrt(12 * N_DRAWS)
    assert abs(x.mean() - 0.75 * d) <= Z * se
    assert stats.kstest(2 * x / d - 1, "uniform").pvalue > P_MIN


def test_backoff_decorrelated_stays_between_base_and_three_times_the_previous():
    """jitter decorrelated: each wait lies in [base, min(cap, 3 * previous)] (previous = base at first)."""
    spec = make_backoff("decorrelated")
    u = uniforms_stream("decorrelated")
    for _ in range(2000):
        prev = 0.0
        for n in range(1, 8):
            x = backoff_delay(spec, n, prev, u)
            ref = prev if prev > 0 else 0.1
            assert 0.1 <= x <= min(1.5, 3 * ref) + 1e-12
            prev = x
    # from prev = base the first wait is U(base, 3 base): mean 2 base
    first = np.array([backoff_delay(spec, 1, 0.0, u) for _ in range(N_DRAWS)])
    assert abs(first.mean() - 0.2) <= Z * 0.2 / math.sqrt(12 * N_DRAWS)


# -- deadlines ------------------------------------------------------------------------------------


def test_deadline_ends_slow_requests_at_the_deadline():
    """A service slower than the traffic deadline: every request ends in timeout, at the deadline."""
    model = topology(
        {"api": {"replicas": {"z1": 1}, "workers": 256, "service_time": {"fixed": "2s"}}},
        traffic=[{"entry": "api", "rate": "10/s", "deadline": "500ms"}],
        horizon="60s",
        replications=2,
        seed=3,
    )
    res = simulator.run(model)
    for s in snaps(res):
        e = s["entries"]["api"]
        finished = e["calls"] - e["in_flight"]
        assert finished > 400
        assert e["outcomes"]["timeout"] == finished
        assert e["latency_ok"].n == 0
        assert_all_near(e["latency_all"], 0.5, "entry latency")


def test_calls_inherit_the_request_deadline():
    """A call with no timeout under a request with a deadline gives up at that deadline."""
    res = simulator.run(deadline_chain())
    for s in snaps(res):
        back = s["services"]["back"]
        finished = back["calls"] - back["in_flight"]
        assert finished > 400
        assert back["outcomes"]["timeout"] == finished, back["outcomes"]
        assert_all_near(back["latency_all"], 0.5, "back call latency")
        # the request ends at its deadline too; its own timer and front's answer (the failed
        # dependency) fall on the same instant, so either outcome may be reported
        e = s["entries"]["front"]
        assert e["outcomes"]["timeout"] + e["outcomes"]["dependency_failure"] == e["calls"] - e["in_flight"]
        assert_all_near(e["latency_all"], 0.5, "request latency")


def test_a_request_at_its_deadline_ends_in_timeout_while_waiting_on_a_call():
    """A request still waiting on a call at its deadline is a timeout (as with a client RTT), not a dependency failure."""
    res = simulator.run(deadline_chain())
    for s in snaps(res):
        e = s["entries"]["front"]
        assert e["outcomes"]["timeout"] == e["calls"] - e["in_flight"], e["outcomes"]


def test_work_started_after_the_deadline_does_not_turn_back_the_clock():
    """A job started after its request's deadline never makes a success faster than its service times."""
    # front has one worker (100 ms) and is overloaded, so most jobs start after their
    # request's 150 ms deadline and still call back (10 ms): a success takes at least
    # 100 ms + 1 ms RTT + 10 ms, and no latency is negative
    front = {
        "replicas": {"z1": 1},
        "workers": 1,
        "service_time": {"fixed": "100ms"},
        "calls": [{"service": "back"}],
    }
    back = {"replicas": {"z1": 1}, "workers": 64, "service_time": {"fixed": "10ms"}}
    model = topology(
        {"front": front, "back": back},
        traffic=[{"entry": "front", "rate": "20/s", "deadline": "150ms"}],
        horizon="60s",
        replications=2,
        seed=5,
        network=FAST_NET,
    )
    res = simulator.run(model)
    for s in snaps(res):
        ok = s["entries"]["front"]["latency_ok"]
        assert ok.n > 0
        lo, _ = value_range(ok)
        assert lo >= 0.111 / RATIO**1.01, f"a success took {lo:.4f} s < 0.111 s"
        for scope in (s["entries"]["front"], s["services"]["back"]):
            assert scope["latency_all"].total >= 0.0, "negative latencies were recorded"


def deadline_chain() -> simulator.Topology:
    front = {"replicas": {"z1": 1}, "workers": 256, "calls": [{"service": "back"}]}
    back = {"replicas": {"z1": 1}, "workers": 256, "service_time": {"fixed": "2s"}}
    return topology(
        {"front": front, "back": back},
        traffic=[{"entry": "front", "rate": "10/s", "deadline": "500ms"}],
        horizon="60s",
        replications=2,
        seed=5,
        network=FAST_NET,
    )


# -- queue limit and optional calls ----------------------------------------------------------------


def test_full_waiting_room_sheds_every_request_after_the_first_three():
    """One worker busy for an hour and a waiting room of 2: the first 3 requests stay, all others are shed."""
    model = topology(
        {"api": {"replicas": {"z1": 1}, "workers": 1, "queue_limit": 2, "service_time": {"fixed": "1h"}}},
        traffic=[{"entry": "api", "rate": "10/s"}],
        horizon="60s",
        replications=2,
        seed=3,
    )
    res = simulator.run(model)
    for s in snaps(res):
        e = s["entries"]["api"]
        assert e["in_flight"] == 3
        assert e["outcomes"]["shed"] == e["calls"] - 3
        assert value_range(e["latency_all"])[1] <= 2 * LO  # shed at once
    assert res.requests["system"]["availability"].mean == 0.0


@pytest.mark.parametrize("optional", [True, False])
def test_optional_dependency_failure_does_not_fail_the_caller(optional):
    """A callee that always fails: optional, the caller still succeeds; required, it fails with dependency_failure."""
    res = simulator.run(caller_callee({"optional": optional}, {"error_rate": "100%"}, 20.0, "30s"))
    req = res.requests
    assert req["services"]["back"]["availability"].mean == 0.0
    if optional:
        assert req["system"]["availability"].mean == 1.0
        assert req["entries"]["front"]["outcomes"]["success"] == 1.0
    else:
        assert req["system"]["availability"].mean == 0.0
        assert req["entries"]["front"]["outcomes"]["dependency_failure"] == 1.0


# -- locality -------------------------------------------------------------------------------------


def locality_model(locality: str, back_failure: dict | None = None, horizon: str = "60s", **top: Any):
    """``front`` in z1 calls ``back`` (one replica in z1, one in z2); cross-zone costs 1 s."""
    lb = {
        "policy": "round_robin",
        "locality": locality,
        "connect_timeout": "10ms",
        "health_check": {"interval": "100ms", "unhealthy_after": 1, "healthy_after": 1},
    }
    back: dict[str, Any] = {
        "replicas": {"z1": 1, "z2": 1},
        "workers": 64,
        "service_time": {"fixed": "1ms"},
        "load_balancer": lb,
    }
    if back_failure:
        back["failure"] = back_failure
    front = {"replicas": {"z1": 1}, "workers": 256, "calls": [{"service": "back"}]}
    return topology(
        {"front": front, "back": back},
        zones={"z1": {}, "z2": {}},
        traffic=[{"entry": "front", "rate": "20/s"}],
        horizon=horizon,
        replications=2,
        seed=9,
        network=FAST_NET,
        **top,
    )


def test_zone_locality_keeps_calls_in_the_callers_zone():
    """locality zone with a healthy replica in the caller's zone: every call pays only the same-zone RTT."""
    res = simulator.run(locality_model("zone"))
    for s in snaps(res):
        lo, hi = value_range(s["services"]["back"]["latency_all"])
        assert hi <= 0.002 * RATIO**1.01  # 1 ms RTT + 1 ms service
    assert res.requests["services"]["back"]["latency_all"]["p99"] == pytest.approx(0.002, rel=RATIO - 1)
    # without locality, round robin sends every other call across zones (those of the last
    # second are still on their way at the end)
    anywhere = simulator.run(locality_model("any"))
    for s in snaps(anywhere):
        back = s["services"]["back"]
        far = count_near(back["latency_all"], 1.002)
        assert abs(far + back["in_flight"] - back["calls"] / 2) <= 1


def test_zone_locality_spills_over_while_the_callers_zone_replica_is_out():
    """With the caller-zone replica dead and out of rotation, calls go to the other zone and pay its RTT."""
    # both back replicas die at 10 s; one crew repairs them one at a time (30 s each) and each
    # fails again 10 s after its repair: one replica alone serves [40, 50) s, the other [70, 80) s.
    # Whichever is which, the caller's zone has a live replica for 10 + 10 s and spills for 10 s.
    rate = 20.0
    res = simulator.run(
        locality_model("zone", {"ttf": {"fixed": "10s"}, "ttr": {"fixed": "30s"}}, "90s", repair_crews=1)
    )
    lag = 0.1  # one probe interval to leave or rejoin the rotation
    for s in snaps(res):
        h = s["services"]["back"]["latency_ok"]
        near = count_near(h, 0.002)
        far = count_near(h, 1.002)
        assert near + far == h.n
        assert_poisson_band(near, rate * (20 - 2 * lag), rate * 20, "in-zone calls")
        assert_poisson_band(far, rate * (10 - 2 * lag), rate * 10, "spilled calls")


# -- client regions -------------------------------------------------------------------------------


def two_region_model(region_a_failure: dict | None) -> simulator.Topology:
    """``api`` with one replica in region A and one in B; all clients are in A."""
    region_a: dict[str, Any] = {"zones": {"a1": {}}}
    if region_a_failure:
        region_a["failure"] = region_a_failure
    lb = {"connect_timeout": "10ms", "health_check": {"interval": "100ms", "unhealthy_after": 1}}
    doc = {
        "name": "regions",
        "horizon": "90s",
        "replications": 2,
        "seed": 4,
        "providers": {"p": {"regions": {"A": region_a, "B": {"zones": {"b1": {}}}}}},
        "services": {
            "api": {
                "replicas": {"a1": 1, "b1": 1},
                "workers": 64,
                "service_time": {"fixed": "5ms"},
                "load_balancer": lb,
            }
        },
        "traffic": [{"entry": "api", "rate": "20/s", "from": {"A": "100%"}}],
        "network": {"client": {"fixed": "10ms"}, "cross_region": {"fixed": "200ms"}, **FAST_NET},
    }
    return simulator.from_dict(doc)


def test_clients_go_to_their_own_region_while_it_is_healthy():
    """Clients in region A with A healthy: every request costs the client RTT plus the service time."""
    res = simulator.run(two_region_model(None))
    for s in snaps(res):
        e = s["entries"]["api"]
        assert e["outcomes"]["success"] == e["calls"] - e["in_flight"]
        assert_all_near(e["latency_ok"], 0.015, "client latency")


def test_clients_fail_over_to_the_next_region_while_theirs_is_down():
    """With region A down (30-60 s), clients in A are served by B and pay the cross-region RTT."""
    rate, lag = 20.0, 0.1
    res = simulator.run(two_region_model({"ttf": {"fixed": "30s"}, "ttr": {"fixed": "30s"}}))
    for s in snaps(res):
        e = s["entries"]["api"]
        h = e["latency_ok"]
        near = count_near(h, 0.015)
        far = count_near(h, 0.215)
        assert near + far == h.n
        # A serves [0, 30) and again from one probe after its repair; B serves from one probe
        # after A's death until one probe after its repair
        assert_poisson_band(near, rate * (60 - lag), rate * 60, "served in A")
        assert_poisson_band(far, rate * 30, rate * (30 + 2 * lag), "served in B")
        # requests sent to A in the probe lag fail after connect_timeout
        assert e["outcomes"]["connection_error"] <= rate * lag + Z * math.sqrt(rate * lag) + 2


# -- fan-out ----------------------------------------------------------------------------------------


def fan_out_model(parallel: bool) -> simulator.Topology:
    """``front`` calls ``b1`` (100 ms) then ``b2`` (300 ms), one after the other or together."""
    calls = [{"service": "b1", "parallel": parallel}, {"service": "b2", "parallel": parallel}]
    svc = {"replicas": {"z1": 1}, "workers": 64}
    return topology(
        {
            "front": {**svc, "calls": calls},
            "b1": {**svc, "service_time": {"fixed": "100ms"}},
            "b2": {**svc, "service_time": {"fixed": "300ms"}},
        },
        traffic=[{"entry": "front", "rate": "10/s"}],
        horizon="30s",
        replications=2,
        seed=2,
        network=FAST_NET,
    )


@pytest.mark.parametrize(("parallel", "expected"), [(True, 0.301), (False, 0.402)])
def test_parallel_calls_take_the_longest_sequential_calls_the_sum(parallel, expected):
    """Parallel calls of 100 ms and 300 ms (1 ms RTT each) take max = 301 ms; sequential ones 402 ms."""
    res = simulator.run(fan_out_model(parallel))
    for s in snaps(res):
        e = s["entries"]["front"]
        assert e["latency_ok"].n == e["calls"] - e["in_flight"] > 200
        assert_all_near(e["latency_ok"], expected, "front latency")


# -- the size guard ---------------------------------------------------------------------------------


def small_traffic_doc() -> dict:
    return {
        "name": "guard",
        "horizon": "1m",
        "replications": 1,
        "seed": 1,
        "providers": {"p": {"regions": {"r1": {"zones": {"z1": {}}}}}},
        "services": {"api": {"replicas": {"z1": 1}, "workers": 8, "service_time": {"fixed": "1ms"}}},
        "traffic": [{"entry": "api", "rate": "10/s"}],
    }


def test_run_refuses_a_requests_run_above_max_requests():
    """simulator.run raises RunTooLarge when the request estimate (600 here) exceeds max_requests."""
    model = simulator.from_dict(small_traffic_doc())
    with pytest.raises(RunTooLarge, match="--max-requests"):
        simulator.run(model, backend="requests", max_requests=100)
    res = simulator.run(model, backend="requests", max_requests=1000)
    assert res.requests["system"]["requests"] > 0
    assert isinstance(RunTooLarge("x"), simulator.SimulatorError)


def test_cli_run_exits_2_above_max_requests_and_runs_below(tmp_path):
    """failsim run --backend requests exits 2 with one line naming --max-requests, and runs when allowed."""
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(small_traffic_doc()), encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["run", str(path), "--backend", "requests", "--max-requests", "100"])
    assert refused.exit_code == 2, refused.output
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and "--max-requests" in lines[0], refused.stderr
    assert "Traceback" not in refused.output
    ok = runner.invoke(app, ["run", str(path), "--backend", "requests", "--max-requests", "1000", "--json"])
    assert ok.exit_code == 0, ok.output
    assert "requests" in ok.stdout


def test_bucket_helpers_bracket_values():
    """The test's bucket edges bracket every value (a check of the helpers above)."""
    for x in (1e-3, 0.002, 0.3, 1.002):
        k = bucket(x)
        assert lower_edge(k) <= x < upper_edge(k)
