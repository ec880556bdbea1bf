"""What ``auto`` keeps on ``requests`` (``simulator/backends/flow/support.py``): each
reason triggers on its cause and not on a control that changes only the trigger."""

from __future__ import annotations

import simulator
from simulator.analysis.runner import FLOW_ABOVE_S, choose_backend
from simulator.backends.flow.support import unrepresented
from simulator.engine.plan import compile_plan


def _model(spike: float | None = None, breaker: bool = False, fails: bool = False) -> simulator.Topology:
    """front -> back; back: 4 replicas x 2 workers of 100 ms at 62/s (77.5 % busy)."""
    call: dict = {"service": "back", "timeout": "1s"}
    if breaker:
        call["circuit_breaker"] = {"failure_rate": "50%", "minimum_calls": 20, "window": 100}
    back: dict = {"replicas": {"z": 4}, "workers": 2, "service_time": {"exponential": "100ms"}}
    if fails:
        back["failure"] = {"mtbf": "1h", "mttr": "2m"}
    traffic: dict = {"entry": "front", "rate": "62/s"}
    if spike is not None:
        traffic["spikes"] = [{"at": "1m", "duration": "1m", "multiplier": spike}]
    return simulator.Topology.model_validate(
        {
            "name": "support",
            "horizon": "2d",
            "providers": {"p": {"regions": {"r": {"zones": {"z": {}}}}}},
            "services": {
                "front": {"replicas": {"z": 2}, "workers": 64, "service_time": {"fixed": "1ms"}, "calls": [call]},
                "back": back,
            },
            "traffic": [traffic],
        }
    )


def _auto(model: simulator.Topology) -> str:
    return choose_backend(compile_plan(model, horizon_s=2 * FLOW_ABOVE_S), "auto")


def test_a_spike_past_capacity_is_left_to_requests():
    over, under = _model(spike=1.5), _model(spike=1.2)  # back at 116 % and 93 %
    (why,) = unrepresented(over)
    assert why.startswith("traffic beyond capacity: back reaches 11")
    assert unrepresented(under) == ()
    assert (_auto(over), _auto(under)) == ("requests", "flow")


def test_a_breaker_in_front_of_a_service_saturated_by_one_lost_replica():
    # one of 4 replicas lost: 77.5 % x 4/3 = 103 %
    (why,) = unrepresented(_model(breaker=True, fails=True))
    assert why.startswith("circuit breaker on front -> back: back saturates with one replica lost")
    assert unrepresented(_model(breaker=True)) == ()  # its replicas do not fail
    assert unrepresented(_model(fails=True)) == ()  # no breaker
