"""The fast availability path against the simpy engine."""

from __future__ import annotations

import pytest
from helpers import topology

import simulator
from simulator.analysis.executors import run_chunk
from simulator.engine import fast
from simulator.engine.plan import compile_plan

EXP = {"mtbf": "9h", "mttr": "1h"}
CASES = {
    "single": dict(services={"s": {"replicas": {"z1": 1}, "failure": EXP}}),
    "weibull-lognormal": dict(
        services={
            "s": {
                "replicas": {"z1": 2},
                "failure": {"ttf": {"weibull": {"shape": 2, "scale": "10h"}}, "ttr": {"lognormal": {"median": "1h", "sigma": 0.5}}},
            }
        }
    ),
    "series": dict(
        services={
            "api": {"replicas": {"z1": 1}, "failure": EXP, "calls": [{"service": "db"}]},
            "db": {"replicas": {"z1": 1}, "failure": {"mtbf": "19h", "mttr": "1h"}},
        }
    ),
    "two-of-three": dict(services={"s": {"replicas": {"z1": 3}, "min_healthy": 2, "failure": EXP}}),
    "region": dict(
        services={"s": {"replicas": {"z1": 1, "z2": 1}, "failure": EXP}},
        zones={"z1": {"failure": {"mtbf": "38h", "mttr": "2h"}}, "z2": {"failure": {"mtbf": "38h", "mttr": "2h"}}},
        region_failure={"mtbf": "95h", "mttr": "5h"},
    ),
    "beta-factor": dict(
        services={"s": {"replicas": {"z1": 2}, "failure": EXP}}, common_cause=[{"members": ["s"], "beta": 0.2}]
    ),
    "shock-only": dict(
        services={"s": {"replicas": {"z1": 3}, "failure": {"mtbf": "10h", "mttr": "20m"}}},
        common_cause=[{"members": ["s"], "beta": 1.0}],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_reproduces_the_engine(case):
    """On the known-answer cases, the fast path gives the simpy engine's result, to the last digit."""
    model = topology(**CASES[case])
    kw = {"replications": 30, "horizon": "500h", "warmup": "10h", "seed": 4}
    engine = simulator.run(model, backend="engine", **kw)
    quick = simulator.run(model, backend="fast", **kw)
    assert quick.info.backend == "fast"
    assert quick.to_json().replace('"fast"', '"x"') == engine.to_json().replace('"engine"', '"x"')


def test_fast_path_does_not_depend_on_chunking():
    """Replications summarised together or one by one give the same records."""
    plan = compile_plan(simulator.load("topologies/quorum-datastore.yaml").model_copy(update={"repair_crews": None}))
    together = run_chunk(plan, "fast", 9, list(range(12)))
    alone = [r for i in range(12) for r in run_chunk(plan, "fast", 9, [i])]
    for a, b in zip(together, alone, strict=True):
        assert a.services["system"].down_s == b.services["system"].down_s
        assert list(a.services["system"].durations_s) == list(b.services["system"].durations_s)
        assert a.groups == b.groups and a.own_down_s == b.own_down_s


def test_auto_picks_the_fast_path_only_when_it_applies():
    """auto: fast without traffic and crews; engine with crews; fast is refused with crews."""
    plain = topology({"s": {"replicas": {"z1": 2}, "failure": EXP}})
    crews = topology({"s": {"replicas": {"z1": 2}, "failure": EXP}}, repair_crews=1)
    assert fast.applies(compile_plan(plain)) and not fast.applies(compile_plan(crews))
    assert simulator.run(plain, replications=2, horizon="10h").info.backend == "fast"
    assert simulator.run(crews, replications=2, horizon="10h").info.backend == "engine"
    with pytest.raises(simulator.ModelError, match="fast path"):
        simulator.run(crews, replications=2, horizon="10h", backend="fast")
