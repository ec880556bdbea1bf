"""Plots: each function runs on small results and draws what it says (Agg, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import simulator  # noqa: E402
from simulator import chaos, plot  # noqa: E402
from simulator.model.loader import from_dict  # noqa: E402


@pytest.fixture(scope="module")
def shop():
    model = simulator.load("topologies/shop-two-regions.yaml")
    return simulator.run(model, replications=3, horizon="10m", seed=1, max_requests=None)


@pytest.fixture(scope="module")
def years():
    return simulator.run(simulator.load("topologies/three-tier.yaml"), replications=6, horizon="5y", seed=2)


@pytest.fixture(scope="module")
def storm():
    model = from_dict({
        "name": "storm", "seed": 3,
        "providers": {"p": {"regions": {"r": {"zones": {"z1": {}}}}}},
        "services": {
            "api": {"replicas": {"z1": 1}, "workers": 512, "calls": [{"service": "db", "timeout": "250ms", "retries": 3,
                                                                       "retry_budget": {"ratio": "10%"}}]},
            "db": {"replicas": {"z1": 1}, "workers": 4, "service_time": {"exponential": "25ms"}},
        },
        "traffic": [{"entry": "api", "rate": "80/s"}],
        "resiliency": {"software": {"rto": "3m"}},
    })
    plan = chaos.plan_from_dict({
        "title": "slow db", "duration": "6m", "replications": 2, "background_failures": False,
        "method": [{"name": "slow-db", "fault": "slowdown", "target": {"service": "db"}, "multiplier": 4,
                    "at": "2m", "duration": "30s"}],
    })
    return chaos.run_chaos(model, plan)


def _texts(fig: Figure) -> str:
    out = []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    out.append(fig._suptitle.get_text() if fig._suptitle else "")
    return "\n".join(out)


def test_topology_draws_domains_replicas_and_calls(shop):
    fig = shop.plot.topology()
    assert isinstance(fig, Figure)
    text = _texts(fig)
    for name in ("aws", "us-east-1", "use1-az1", "storefront", "cart"):
        assert name in text
    ax = fig.axes[0]
    n_replicas = sum(s.replica_count for s in shop.model.services.values())
    assert len([ln for ln in ax.lines if len(ln.get_xdata())]) == n_replicas  # one marker per replica
    assert len([p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]) == sum(
        len(s.calls) for s in shop.model.services.values())


def test_topology_greys_what_is_down(shop):
    fig = plot.topology(shop.model, state={"zone/use1-az1"})
    ax = fig.axes[0]
    greyed = [ln for ln in ax.lines if ln.get_color() == "#bbbbbb"]
    in_zone = sum(s.replicas.get("use1-az1", 0) for s in shop.model.services.values())
    assert len(greyed) == in_zone
    assert "down" in ax.get_title()


def test_availability_and_downtime_plots(years):
    fig = years.plot.availability()
    text = _texts(fig)
    assert "nines" in text and "system" in text
    for s in years.services:
        assert s in text
    assert len(fig.axes[0].patches) == 1 + len(years.services)
    fig = years.plot.downtime()
    assert "minutes per year" in _texts(fig)
    fig = years.plot.outage_durations()
    assert "outage duration" in _texts(fig)
    assert len(fig.axes[0].patches) > 0
    fig = years.plot.cumulative_downtime()
    ax = fig.axes[0]
    assert "cumulative downtime" in ax.get_ylabel()
    mean = ax.lines[-1].get_ydata()
    expected = years.scope("system").minutes_per_year.mean * 5 * 365.25 / 365.25
    assert mean[-1] == pytest.approx(expected, rel=0.02)  # the mean curve ends at the mean downtime


def test_latency_plots_have_slo_lines(shop):
    fig = shop.plot.latency_cdf(["system", "cart"])
    text = _texts(fig)
    assert "SLO p99" in text and "latency" in text
    assert {"system", "cart"} <= set(text.split("\n"))
    fig = shop.plot.latency_histogram("storefront")
    assert "p99" in _texts(fig)
    fig = shop.plot.percentiles()
    text = _texts(fig)
    assert "p999" in text and "SLO p99" in text


def test_chaos_timeline_and_recovery(storm):
    fig = storm.plot.timeline()
    assert len(fig.axes) == 4
    text = _texts(fig)
    assert "success %" in text and "queue depth" in text and "slow-db (slowdown)" in text
    fig = storm.plot.recovery("slow-db")
    text = _texts(fig)
    assert "RTO" in text and "recover" in text


def test_compare_variants(shop):
    model = shop.model
    variants = {
        name: simulator.run(m, replications=2, horizon="5m", seed=4, max_requests=None)
        for name, m in {"as is": model, "cart x5": model.with_replicas("cart", 5)}.items()
    }
    fig = plot.compare(variants)
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[2].get_xticklabels()]
    assert labels == ["as is", "cart x5"]
