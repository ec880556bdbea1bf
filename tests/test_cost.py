"""Tests of the cost model: pricing specs, cost arithmetic and the result's cost block."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from helpers import assert_matches, per_replication

import simulator
from simulator.errors import ModelError
from simulator.metrics.cost import (
    HOURS_PER_MONTH,
    MONTH_S,
    compute_monthly,
    cost_per_nine,
    credit_share,
    locality_shares,
    monthly_downtime,
    sla_credits,
)
from simulator.units import UnitError, parse_bytes


def priced_doc(**pricing: Any) -> dict[str, Any]:
    """api (2 + 2 replicas of m5.large) -> db (1 replica at 0.50/h, zone a), 10 req/s."""
    return {
        "name": "priced",
        "horizon": "30d",
        "replications": 4,
        "providers": {"aws": {"regions": {"us-east-1": {"zones": {"a": {}, "b": {}}}}}},
        "services": {
            "api": {
                "replicas": {"a": 2, "b": 2},
                "calls": [{"service": "db", "request_bytes": "1KB", "response_bytes": "10KB"}],
            },
            "db": {"replicas": {"a": 1}},
        },
        "traffic": [{"entry": "api", "rate": "10/s", "request_bytes": "2KB", "response_bytes": "50KB"}],
        "pricing": {
            "catalog": {"aws": {"us-east-1": {"m5.large": {"on_demand": 0.096, "reserved_1y": 0.06, "spot": 0.035}}}},
            "services": {"api": {"instance": "m5.large"}, "db": {"hourly": 0.5}},
            **pricing,
        },
    }


def run_engine(doc: dict, **kw: Any) -> simulator.Results:
    """The failure engine alone: transfer is priced from the expected call rates."""
    return simulator.run(simulator.from_dict(doc), backend="engine", executor="serial", **kw)


def test_month_is_a_twelfth_of_a_julian_year():
    """A month is 730.5 hours, so a replica at 1/h costs 730.5 a month."""
    assert HOURS_PER_MONTH == pytest.approx(730.5)
    assert compute_monthly(1.0) == pytest.approx(730.5)


def test_known_topology_monthly_compute_bill():
    """4 x m5.large on demand (0.096/h) + 1 x 0.50/h = 0.884/h = 645.762 a month."""
    res = run_engine(priced_doc())
    cost = res.to_dict()["cost"]
    assert cost["compute_per_month"]["mean"] == pytest.approx(645.762)
    assert cost["services"]["api"]["hourly"] == pytest.approx(0.384)


def test_billing_column_is_used():
    """reserved_1y bills the reserved column: 4 x 0.06 + 0.5 = 0.74/h."""
    doc = priced_doc()
    doc["pricing"]["services"]["api"]["billing"] = "reserved_1y"
    assert run_engine(doc).cost["compute_per_month"]["mean"] == pytest.approx(0.74 * 730.5)


def test_transfer_cost_of_a_known_call_mix():
    """10 req/s: half of api's calls to db cross zones (db only in zone a); the
    responses to clients are internet egress. Hand-computed: 2.89278 + 118.341."""
    calls = 10 * MONTH_S  # 26 298 000 a month
    cross_zone = calls * 0.5 * 11e3 / 1e9 * 0.02
    egress = calls * 50e3 / 1e9 * 0.09
    assert cross_zone + egress == pytest.approx(2.89278 + 118.341)
    res = run_engine(priced_doc())
    assert res.cost["transfer_per_month"]["mean"] == pytest.approx(cross_zone + egress)


def test_transfer_prices_are_overridable():
    """Free cross-zone transfer and a cheaper egress change the bill accordingly."""
    res = run_engine(priced_doc(transfer={"cross_zone": 0, "internet_egress": 0.05}))
    assert res.cost["transfer_per_month"]["mean"] == pytest.approx(10 * MONTH_S * 50e3 / 1e9 * 0.05)


def test_measured_attempts_price_transfer_with_traffic():
    """With simulated requests, transfer follows the attempts counted (about 10/s here)."""
    doc = priced_doc()
    doc["horizon"] = "2m"
    res = simulator.run(simulator.from_dict(doc), executor="serial", replications=2, seed=1)
    expected = 10 * MONTH_S * (0.5 * 11e3 * 0.02 + 50e3 * 0.09) / 1e9
    assert res.cost["transfer_per_month"]["mean"] == pytest.approx(expected, rel=0.05)


def test_locality_shares():
    """Even spread without locality; zone locality keeps calls in the zone when it can."""
    region = {"a": "r1", "b": "r1", "c": "r2"}
    any_ = locality_shares({"a": 1, "b": 1}, {"a": 1, "c": 1}, region)
    assert any_ == pytest.approx({"same_zone": 0.25, "cross_zone": 0.25, "cross_region": 0.5})
    zone = locality_shares({"a": 1, "b": 1}, {"a": 1, "c": 1}, region, "zone")
    assert zone == pytest.approx({"same_zone": 0.5, "cross_zone": 0.5, "cross_region": 0.0})


@pytest.mark.parametrize(
    ("availability", "credit"),
    [(1.0, 0.0), (0.9995, 0.0), (0.9994, 0.10), (0.99, 0.10), (0.9899, 0.25), (0.5, 1.0)],
)
def test_sla_credit_tiers(availability, credit):
    """The lowest tier the month's availability is under applies; none above the first."""
    tiers = [(0.9995, 0.10), (0.99, 0.25), (0.95, 1.0)]
    assert credit_share(availability, tiers) == credit


def test_sla_credits_over_months():
    """Two full months and a half month: credits of 10 % and 25 % of a 1000 bill, the
    partial month pro rata (its 25 % on half a bill)."""
    tiers = [(0.9995, 0.10), (0.99, 0.25)]
    month = MONTH_S
    down = np.array([0.001 * month, 0.0, 0.02 * month / 2])
    lengths = np.array([month, month, month / 2])
    assert sla_credits(down, lengths, 1000.0, tiers) == pytest.approx(100.0 + 0.0 + 125.0)


def test_monthly_downtime_splits_an_outage_across_a_month_boundary():
    """An outage from 1 h before the end of month 1 to 2 h into month 2 counts 1 h + 2 h."""
    t = np.array([0.0, MONTH_S - 3600.0, MONTH_S + 7200.0])
    up = np.array([True, False, True])
    dur = np.array([MONTH_S - 3600.0, 3 * 3600.0, MONTH_S - 7200.0])
    out = monthly_downtime(np.zeros(3, dtype=int), up, t, dur, 0.0, 2 * MONTH_S, 1)
    assert out.tolist() == [[3600.0, 7200.0]]


def test_downtime_cost_and_credits_in_the_block():
    """Outage cost is down minutes a year times the price; credits follow the months."""
    doc = priced_doc(downtime={"per_minute": 10}, sla_credits={"monthly_bill": 1000, "tiers": [{"below": "99.99%", "credit": "10%"}]})
    doc["services"]["db"]["failure"] = {"mtbf": "10d", "mttr": "1h"}
    res = run_engine(doc, replications=6, seed=2)
    minutes = res.scope().minutes_per_year.mean
    assert res.cost["outage_per_year"]["mean"] == pytest.approx(minutes * 10)
    for r in res.records:
        assert r.extra["monthly_down_s"].sum() == pytest.approx(r.services["system"].down_s)
    per_month_credit = [0.1 * 1000 if d / MONTH_S > 1e-4 else 0.0 for d in res.records[0].extra["monthly_down_s"]]
    assert per_month_credit  # a 30-day horizon is one (almost whole) month
    tco = res.cost["tco_per_year"]["mean"]
    assert tco == pytest.approx(12 * res.cost["infrastructure_per_month"]["mean"] + res.cost["downtime_per_year"]["mean"])


def test_unpriced_model_has_null_cost():
    """Without a pricing section the contract's cost stays null."""
    doc = priced_doc()
    del doc["pricing"]
    assert run_engine(doc).to_dict()["cost"] is None


def test_cost_per_nine():
    """From 99.9 % to 99.99 % for 1000 more is 1000 per nine; no gain, no figure."""
    assert cost_per_nine(100.0, 0.999, 1100.0, 0.9999) == pytest.approx(1000.0)
    assert cost_per_nine(100.0, 0.999, 1100.0, 0.999) is None


@pytest.mark.parametrize(("text", "value"), [("2KB", 2000.0), ("1.5MiB", 1.5 * 2**20), ("512B", 512.0), (100, 100.0)])
def test_parse_bytes(text, value):
    """Sizes use SI (KB) or binary (KiB) multiples."""
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", [float("nan"), "1e400B", -1, "2 apples", True])
def test_parse_bytes_refuses_impossible_sizes(text):
    """Like durations and rates, a size is finite and not negative."""
    with pytest.raises(UnitError):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (lambda d: d["pricing"]["services"].update(web={"hourly": 1}), "pricing.services.web", "unknown service 'web'"),
        (lambda d: d["pricing"]["services"]["api"].update(instance="m6.large"), "pricing.services.api.instance",
         "no price for 'm6.large' in aws/us-east-1 (add it to pricing.catalog)"),
        (lambda d: d["pricing"]["services"]["api"].update(billing="reserved_3y"), "pricing.services.api.billing",
         "'m5.large' in aws/us-east-1 has no reserved_3y price"),
        (lambda d: d["pricing"]["services"]["db"].update(instance="m5.large"), "pricing.services.db",
         "give exactly one of 'hourly' or 'instance'"),
        (lambda d: d["services"]["api"]["calls"][0].update(request_bytes="2 parsecs"), "services.api.calls[0].request_bytes",
         "expected a size such as 2KB, 1.5MiB or 512B, got '2 parsecs'"),
        (lambda d: d["pricing"].update(transfr={}), "pricing.transfr", "unknown key (did you mean 'transfer'?)"),
    ],
)
def test_bad_pricing_is_one_line(edit, path, message):
    """Pricing mistakes name the key path and what was expected."""
    doc = copy.deepcopy(priced_doc())
    edit(doc)
    with pytest.raises(ModelError) as info:
        simulator.from_dict(doc, file="x.yaml")
    assert info.value.one_line() == f"x.yaml: {path}: {message}"


def test_spot_with_non_exponential_failure_is_refused():
    """Interruptions combine exactly with an exponential time to failure only."""
    doc = priced_doc()
    doc["services"]["api"]["failure"] = {"ttf": {"weibull": {"shape": 2, "scale": "30d"}}, "mttr": "5m"}
    doc["pricing"]["services"]["api"]["billing"] = "spot"
    doc["pricing"]["catalog"]["aws"]["us-east-1"]["m5.large"]["spot_interruption_rate"] = "1/w"
    with pytest.raises(ModelError, match="pricing.services.api.billing: spot interruptions combine"):
        simulator.from_dict(doc)


def spot_doc(own_failure: dict | None) -> dict:
    doc = {
        "name": "spot",
        "horizon": "60d",
        "providers": {"aws": {"regions": {"r": {"zones": {"a": {}}}}}},
        "services": {"api": {"replicas": {"a": 1}}, "other": {"replicas": {"a": 1}, "failure": {"mtbf": "5d", "mttr": "1h"}}},
        "entries": ["api", "other"],
        "pricing": {
            "services": {"api": {"hourly": 0.03, "billing": "spot", "spot_interruption_rate": "1/d"}},
            "spot_replacement": {"fixed": "1h"},
        },
    }
    if own_failure:
        doc["services"]["api"]["failure"] = own_failure
    return doc


def test_spot_interruptions_feed_the_failure_model():
    """A spot replica interrupted once a day and replaced in 1 h is up 24/25 of the time."""
    res = simulator.run(simulator.from_dict(spot_doc(None)), replications=300, seed=5, executor="serial")
    assert_matches(per_replication(res, "api"), 24 / 25, label="spot availability")


def test_spot_with_own_failures_competes():
    """Own failures (mean 2 d, repair 2 h) and interruptions (1/d, 1 h) compete: the
    up time is Exp(1.5/d) and the repair 2 h w.p. 1/3, 1 h w.p. 2/3: A = 16 / (16 + 4/3)."""
    doc = spot_doc({"mtbf": "2d", "mttr": "2h"})
    doc["pricing"]["spot_replacement"] = {"exponential": "1h"}
    res = simulator.run(simulator.from_dict(doc), replications=300, seed=6, executor="serial")
    up_h = 24 / 1.5
    down_h = (1 / 3) * 2 + (2 / 3) * 1
    assert_matches(per_replication(res, "api"), up_h / (up_h + down_h), label="competing")


def test_spot_leaves_other_components_numbers_alone():
    """Making api spot does not move a single number of the other service."""
    plain = spot_doc(None)
    del plain["pricing"]
    a = simulator.run(simulator.from_dict(plain), replications=5, seed=1, executor="serial")
    b = simulator.run(simulator.from_dict(spot_doc(None)), replications=5, seed=1, executor="serial")
    assert per_replication(a, "other").tolist() == per_replication(b, "other").tolist()
