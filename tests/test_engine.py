"""Known answers for the failure engine: the simulation against closed-form theory.

Every comparison uses a tolerance of a few standard errors of the simulated estimate
(see ``helpers.assert_matches``), and first checks that the standard error is small
enough for the comparison to be able to fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_matches, per_replication, topology

import simulator
from simulator.analysis import reference as ref
from simulator.engine.control import simulate_failures
from simulator.engine.plan import compile_plan
from simulator.rng import replication_seed

H = 3600.0
RUN = {"replications": 100, "horizon": "1000h", "warmup": "20h", "seed": 1}

EXP_9_1 = {"mtbf": "9h", "mttr": "1h"}  # A = 0.9


def test_single_component_exponential():
    """One replica with exponential up and down times has A = MTTF / (MTTF + MTTR)."""
    model = topology({"s": {"replicas": {"z1": 1}, "failure": EXP_9_1}})
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), 0.9, label="single exponential")


TTR_FAMILIES = {
    "lognormal": {"lognormal": {"median": "1h", "sigma": 0.5}},
    "lognormal-p99": {"lognormal": {"median": "1h", "p99": "4h"}},
    "gamma": {"gamma": {"shape": 3, "mean": "1.2h"}},
    "uniform": {"uniform": {"low": "30m", "high": "2h"}},
    "fixed": {"fixed": "1h"},
    "empirical": {"empirical": ["20m", "40m", "1h", "3h"]},
    "weibull": {"weibull": {"shape": 1.5, "scale": "1h"}},
    "exponential": {"exponential": {"mean": "1h"}},
}


@pytest.mark.parametrize("family", sorted(TTR_FAMILIES))
def test_single_component_non_exponential(family):
    """Availability depends only on the means: Weibull up times, any repair distribution."""
    failure = {"ttf": {"weibull": {"shape": 2.0, "scale": "10h"}}, "ttr": TTR_FAMILIES[family]}
    model = topology({"s": {"replicas": {"z1": 1}, "failure": failure}})
    spec = model.services["s"].failure
    theory = ref.single(spec.ttf_dist.mean, spec.ttr_dist.mean)
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), theory, label=family)


def test_series_of_dependencies():
    """A service that requires another is up only when both are: A = A1 * A2."""
    model = topology(
        {
            "api": {"replicas": {"z1": 1}, "failure": EXP_9_1, "calls": [{"service": "db"}]},
            "db": {"replicas": {"z1": 1}, "failure": {"mtbf": "19h", "mttr": "1h"}},
        }
    )
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), ref.series(0.9, 0.95), label="series")
    assert_matches(per_replication(res, "db"), 0.95, label="db alone")


def test_optional_dependency_does_not_count():
    """An optional call's failures never take the caller down."""
    model = topology(
        {
            "api": {"replicas": {"z1": 1}, "failure": EXP_9_1, "calls": [{"service": "cache", "optional": True}]},
            "cache": {"replicas": {"z1": 1}, "failure": {"mtbf": "1h", "mttr": "1h"}},
        }
    )
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), 0.9, label="optional")


def test_series_with_container():
    """A replica serves only while its zone is up: A = A_replica * A_zone."""
    model = topology(
        {"s": {"replicas": {"z1": 1}, "failure": EXP_9_1}},
        zones={"z1": {"failure": {"mtbf": "38h", "mttr": "2h"}}},
    )
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), 0.9 * 0.95, label="zone series")


def test_one_of_two_independent_repair():
    """1-of-2 with a repair each: A = 1 - (1 - a)^2."""
    model = topology({"s": {"replicas": {"z1": 2}, "failure": EXP_9_1}})
    res = simulator.run(model, **{**RUN, "replications": 200})
    assert_matches(per_replication(res), ref.parallel(0.9, 0.9), label="1-of-2")


def test_one_of_two_one_repair_crew():
    """1-of-2 with one shared crew: the birth-death chain with repairs one at a time."""
    model = topology({"s": {"replicas": {"z1": 2}, "failure": EXP_9_1}}, repair_crews=1)
    res = simulator.run(model, **{**RUN, "replications": 200})
    theory = ref.k_of_n_shared_repair(1, 2, 1 / (9 * H), 1 / H, crews=1)
    assert theory < ref.parallel(0.9, 0.9)  # the crew must make a visible difference
    assert_matches(per_replication(res), theory, label="1-of-2, one crew")


def test_two_of_three():
    """2-of-3 quorum of independent replicas: A = sum_{i>=2} C(3,i) a^i (1-a)^(3-i)."""
    model = topology({"s": {"replicas": {"z1": 3}, "min_healthy": 2, "failure": EXP_9_1}})
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), ref.k_of_n(2, 3, 0.9), label="2-of-3")


def test_two_of_three_one_crew():
    """2-of-3 with a single crew matches the birth-death chain."""
    model = topology({"s": {"replicas": {"z1": 3}, "min_healthy": 2, "failure": EXP_9_1}}, repair_crews=1)
    res = simulator.run(model, **RUN)
    theory = ref.k_of_n_shared_repair(2, 3, 1 / (9 * H), 1 / H, crews=1)
    assert_matches(per_replication(res), theory, label="2-of-3, one crew")


def test_region_outage_over_its_zones():
    """A region outage takes both zones down: A = A_region * (1 - (1 - a_rep a_zone)^2)."""
    model = topology(
        {"s": {"replicas": {"z1": 1, "z2": 1}, "failure": EXP_9_1}},
        zones={"z1": {"failure": {"mtbf": "38h", "mttr": "2h"}}, "z2": {"failure": {"mtbf": "38h", "mttr": "2h"}}},
        region_failure={"mtbf": "95h", "mttr": "5h"},
    )
    res = simulator.run(model, **RUN)
    leg = 0.9 * 0.95
    assert_matches(per_replication(res), 0.95 * ref.parallel(leg, leg), label="region")


def test_provider_outage_masks_everything():
    """A provider outage masks its regions, zones and replicas: a series element."""
    model = topology(
        {"s": {"replicas": {"z1": 2}}},
        provider_failure={"mtbf": "9h", "mttr": "1h"},
    )
    res = simulator.run(model, **RUN)
    assert_matches(per_replication(res), 0.9, label="provider")


def test_beta_factor_common_cause():
    """1-of-2 with a beta-factor group matches the Markov chain with shocks."""
    model = topology(
        {"s": {"replicas": {"z1": 2}, "failure": EXP_9_1}},
        common_cause=[{"members": ["s"], "beta": 0.2}],
    )
    res = simulator.run(model, **{**RUN, "replications": 200})
    theory = ref.k_of_n_beta_factor(1, 2, 1 / (9 * H), 1 / H, beta=0.2)
    assert theory < ref.parallel(0.9, 0.9) - 0.005  # shocks must matter at this size
    assert_matches(per_replication(res), theory, label="beta factor")


def test_beta_factor_keeps_each_member_rate():
    """With beta-factor, each member still fails at rate λ in total (own + shocks)."""
    model = topology(
        {"s": {"replicas": {"z1": 3}, "failure": {"mtbf": "100h", "mttr": "1m"}}},
        common_cause=[{"members": ["s"], "beta": 0.3}],
    )
    res = simulator.run(model, replications=50, horizon="5000h", seed=3)
    rates = np.array([r.groups["service:s"].failures / (3 * r.observed_s) for r in res.records]) * 100 * H
    assert_matches(rates, 1.0, max_rel_se=0.05, of_unavailability=False, label="failures per MTBF")


def test_observed_mttr_matches_repair_distribution():
    """The component-level MTTR is the mean of the repair distribution without crews."""
    model = topology({"s": {"replicas": {"z1": 4}, "failure": {"mtbf": "9h", "ttr": {"gamma": {"shape": 2, "mean": "1h"}}}}})
    res = simulator.run(model, **RUN)
    per_rep = np.array([r.groups["service:s"].repair_s / r.groups["service:s"].repairs for r in res.records])
    assert_matches(per_rep / H, 1.0, max_rel_se=0.05, of_unavailability=False, label="mttr")


def test_crew_waiting_lengthens_mttr():
    """With one crew for many replicas, repairs queue and the observed MTTR grows."""
    model = topology({"s": {"replicas": {"z1": 6}, "failure": {"mtbf": "5h", "mttr": "1h"}}}, repair_crews=1)
    res = simulator.run(model, replications=10, horizon="500h", seed=2)
    assert res.components["service:s"]["mttr_s"] > 1.5 * H


def test_warmup_and_outage_bookkeeping_exact():
    """Fixed up/down times give exact outages; what happens before warmup is ignored."""
    model = topology({"s": {"replicas": {"z1": 1}, "failure": {"ttf": {"fixed": "5h"}, "ttr": {"fixed": "1h"}}}})
    # down [5,6), [11,12), [17,18) ...; the window [5.5h, 15.5h] sees 0.5h + 1h down
    res = simulator.run(model, replications=2, horizon="10h", warmup="5.5h", seed=0)
    st = res.records[0].services["system"]
    assert st.outages == 2
    assert st.down_s == pytest.approx(1.5 * H)
    assert res.availability.mean == pytest.approx(0.85)
    assert list(st.durations_s) == pytest.approx([0.5 * H, 1.0 * H])


def test_no_failure_spec_means_always_up():
    """A topology with no failure specs is up the whole time, exactly."""
    model = topology({"s": {"replicas": {"z1": 1}}})
    res = simulator.run(model, replications=3, horizon="1y", seed=0)
    assert res.availability.mean == 1.0
    assert res.scope().outages_per_year.mean == 0.0


def test_system_needs_every_entry():
    """The system is up only while every entry service is up (here two independent ones)."""
    model = topology(
        {
            "a": {"replicas": {"z1": 1}, "failure": EXP_9_1},
            "b": {"replicas": {"z1": 1}, "failure": EXP_9_1},
        }
    )
    res = simulator.run(model, **RUN)
    assert res.info.entries == ("a", "b")
    assert_matches(per_replication(res), 0.81, label="two entries")


def test_common_cause_shock_fails_every_up_member_at_once():
    """A shock leaves a trace where all up members go down at the same instant."""
    model = topology(
        {"s": {"replicas": {"z1": 3}, "failure": {"mtbf": "10h", "mttr": "1m"}}},
        common_cause=[{"members": ["s"], "beta": 1.0}],
    )
    plan = compile_plan(model, horizon_s=200 * H)
    trace = simulate_failures(plan, replication_seed(np.random.SeedSequence(5), 0))
    downs = trace.times[~trace.ups]
    _, counts = np.unique(downs, return_counts=True)
    assert len(counts) > 5 and (counts == 3).all()


def test_mean_outage_and_outage_rate_single_component():
    """For one exponential component: outages/year = 1/(MTTF+MTTR), mean outage = MTTR."""
    model = topology({"s": {"replicas": {"z1": 1}, "failure": EXP_9_1}})
    res = simulator.run(model, **RUN)
    st = res.scope()
    year_h = 365.25 * 24
    assert st.outages_per_year.lo <= year_h / 10 <= st.outages_per_year.hi
    assert st.mean_outage_s.lo <= H <= st.mean_outage_s.hi
    assert math.isclose(res.to_dict()["recovery"]["mttr_s"], st.mean_outage_s.mean)


def test_holds_nest_and_keep_the_own_clock():
    """A chaos hold takes a component down until released; holds nest; its own failure
    and repair still happen underneath and the trace shows the effective state."""
    import simpy

    from simulator.engine.control import ControlPlane
    from simulator.engine.plan import compile_plan
    from simulator.model.loader import from_dict

    top = from_dict({
        "name": "hold", "providers": {"p": {"regions": {"r": {"zones": {"z": {}}}}}},
        "services": {"s": {"replicas": {"z": 1}, "failure": {"ttf": {"fixed": "100s"}, "ttr": {"fixed": "50s"}}}},
    })
    plan = compile_plan(top, horizon_s=400.0)
    env = simpy.Environment()
    cp = ControlPlane(env, plan, np.random.SeedSequence(0))
    rep = plan.by_kind["replica"][0]
    env.run(until=10)
    cp.hold(rep)
    cp.hold(rep)
    assert not cp.serving(rep)
    cp.release(rep)
    assert not cp.serving(rep)  # still held once
    env.run(until=120)  # its own failure at 100 s happened while held: no new trace entry
    cp.release(rep)
    assert not cp.serving(rep)  # released, but itself broken until 150 s
    env.run(until=160)
    assert cp.serving(rep)
    tr = cp.trace()
    assert [(t, bool(u)) for t, c, u in zip(tr.times, tr.comps, tr.ups, strict=True) if c == rep] == [(10.0, False), (150.0, True)]
    with pytest.raises(ValueError):
        cp.release(rep)
