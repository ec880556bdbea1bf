"""Model variants for exploration: evolve, with_replicas, without_zone, without_region."""

from __future__ import annotations

import pytest

import simulator
from simulator.errors import ModelError, ModelErrors


@pytest.fixture(scope="module")
def shop():
    return simulator.load("topologies/shop-two-regions.yaml")


def test_with_replicas_spreads_a_total_over_the_zones_in_order(shop):
    v = shop.with_replicas("cart", 6)
    assert v.services["cart"].replicas == {"use1-az1": 2, "use1-az2": 2, "euw1-az1": 1, "euw1-az2": 1}
    assert shop.with_replicas("cart", {"use1-az1": 3}).services["cart"].replicas == {"use1-az1": 3}
    assert shop.services["cart"].replica_count == 8  # the original is untouched (frozen)
    with pytest.raises(ModelError, match="unknown service 'carts'"):
        shop.with_replicas("carts", 3)
    with pytest.raises(ModelErrors, match="min_healthy is 2 but the service has only 1"):
        shop.with_replicas("cart", 1)


def test_without_zone_and_region(shop):
    v = shop.without_zone("use1-az2")
    assert "use1-az2" not in v.zones()
    assert "use1-az2" not in v.services["storefront"].replicas
    one = shop.without_region("eu-west-1")
    assert set(one.regions()) == {"us-east-1", "global"}
    assert one.traffic[0].from_ == {"us-east-1": 1.0}
    with pytest.raises(ModelError, match="zone 'edge-anycast' is the last of region 'global'"):
        shop.without_zone("edge-anycast")
    with pytest.raises(ModelError, match="unknown region"):
        shop.without_region("eu-west-9")


def test_evolve_paths_multipliers_and_top_level_keys(shop):
    v = shop.evolve({"traffic[*].rate": "x10", "services.storefront.calls[1].retries": 0}, horizon="30d")
    assert v.traffic[0].rate_per_s == pytest.approx(2000.0)
    assert v.services["storefront"].calls[1].retries == 0
    assert v.horizon_s == 30 * 86400
    assert shop.evolve().model_hash() == shop.model_hash()
    with pytest.raises(ModelError, match="unknown key 'servics'"):
        shop.evolve({"servics.cart.workers": 2})
    with pytest.raises(ModelErrors):
        shop.evolve({"services.cart.workers": -1})


def test_variant_with_the_same_seed_shares_the_failure_trace(shop):
    """Common random numbers: more cart replicas change nothing about the zones' outages."""
    base = shop.evolve(traffic=[])  # the failure model alone
    a = simulator.run(base, replications=3, horizon="2y", seed=3, backend="fast")
    b = simulator.run(base.with_replicas("cart", 10), replications=3, horizon="2y", seed=3, backend="fast")
    for zone in ("zone:use1-az1", "region:eu-west-1", "provider:edge"):
        assert a.components[zone] == b.components[zone]
    assert b.scope("cart").availability.mean >= a.scope("cart").availability.mean
