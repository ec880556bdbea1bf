"""Tests of simulator.backends.flow: figures about time stay within their bounds.

Under varying traffic the flow backend weighs each traffic level's solution by the
rate's integral over the level's rate, so that request counts are exact. Figures about
time (busy workers, the time a breaker is open) cannot take that weight: a saturated
level weighed by the rate would be busy, or open, for longer than it lasted.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator

BREAKER = {"failure_rate": "50%", "minimum_calls": 20, "window": 50, "open_duration": "5s"}


def saturated(rate: float, peak_to_trough: float, queue_limit: int, error_rate: float = 1.0,
              spike: bool = False, horizon: str = "3d") -> simulator.Topology:
    """``front`` (4 workers of 10 ms: 400/s) behind diurnal traffic, calling ``back``
    through a breaker; ``back`` fails ``error_rate`` of its calls."""
    traffic: dict[str, Any] = {"entry": "front", "rate": f"{rate}/s", "diurnal": {"peak_to_trough": peak_to_trough}}
    if spike:
        traffic["spikes"] = [{"at": "1d", "duration": "3h", "multiplier": 3}]
    return simulator.from_dict({
        "name": "bounds", "horizon": horizon, "replications": 2, "seed": 1,
        "providers": {"p": {"regions": {"r": {"zones": {"z": {}}}}}},
        "services": {
            "front": {"replicas": {"z": 2}, "workers": 2, "service_time": {"exponential": "10ms"},
                      "queue_limit": queue_limit,
                      "calls": [{"service": "back", "circuit_breaker": BREAKER}]},
            "back": {"replicas": {"z": 2}, "workers": 8, "service_time": {"exponential": "1ms"},
                     "error_rate": error_rate},
        },
        "traffic": [traffic],
    })


def fractions(res) -> dict[str, float]:
    """Every utilization and breaker-open fraction of a run's request figures."""
    req = res.requests
    out = {}
    for name, svc in req["services"].items():
        for key in ("utilization", "breaker_open_fraction", "shed_fraction"):
            if svc["load"][key] is not None:
                out[f"{name}.{key}"] = svc["load"][key]
    for name, edge in req["edges"].items():
        out[f"{name}.breaker_open_fraction"] = edge["breaker_open_fraction"]
    return out


def assert_within_unit(res) -> None:
    for key, value in fractions(res).items():
        assert 0.0 <= value <= 1.0, (key, value)


def test_saturated_service_is_busy_at_most_all_the_time():
    """Traffic far above capacity with a diurnal cycle: utilization at most 1 (was 1.00067)."""
    res = simulator.run(saturated(5000, 3, 20), backend="flow", executor="serial")
    util = res.requests["services"]["front"]["load"]["utilization"]
    assert 0.99 < util <= 1.0


def test_breaker_open_all_along_is_open_at_most_all_the_time():
    """A callee that always fails, under diurnal traffic and a spike: breaker open fraction at most 1."""
    res = simulator.run(saturated(150, 3, 20, spike=True), backend="flow", executor="serial")
    fraction = res.requests["edges"]["front->back"]["breaker_open_fraction"]
    assert 0.99 < fraction <= 1.0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    load=st.sampled_from([0.3, 0.9, 1.5, 4.0, 12.5]),
    peak_to_trough=st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0]),
    queue_limit=st.sampled_from([1, 5, 50]),
    error_rate=st.sampled_from([0.0, 0.3, 1.0]),
    spike=st.booleans(),
)
def test_time_fractions_stay_within_0_and_1(load, peak_to_trough, queue_limit, error_rate, spike):
    """Whatever the load, its cycle and the callee's errors: utilizations and breaker fractions in [0, 1]."""
    model = saturated(400 * load, peak_to_trough, queue_limit, error_rate, spike, horizon="1d")
    assert_within_unit(simulator.run(model, backend="flow", executor="serial"))
