"""Round-trip times of calls by locality: same zone, cross-zone, cross-region, client."""

from __future__ import annotations

from typing import Any

from simulator.model.spec import Topology

__all__ = ["Network"]


class Network:
    """Draws RTTs from the topology's network spec.

    Each call edge owns one stream of uniforms (so adding traffic elsewhere never
    changes its numbers); the locality of the two ends picks the distribution the
    uniform is transformed by.
    """

    def __init__(self, top: Topology) -> None:
        net = top.network
        self.same_zone = net.same_zone
        self.cross_zone = net.cross_zone
        self.cross_region = net.cross_region
        self.client = net.client
        self.pairs: dict[tuple[str, str], Any] = {}
        for pair in net.region_pairs:
            a, b = pair.between
            self.pairs[(a, b)] = self.pairs[(b, a)] = pair.rtt

    def dist(self, zone_a: str | None, region_a: str | None, zone_b: str, region_b: str) -> Any:
        """The RTT distribution between two places (``zone_a`` None: a client in ``region_a``)."""
        if zone_a is None:
            return self.client
        if zone_a == zone_b:
            return self.same_zone
        if region_a == region_b:
            return self.cross_zone
        return self.pairs.get((region_a, region_b), self.cross_region)  # type: ignore[arg-type]

    def between_regions(self, a: str, b: str) -> Any:
        return self.pairs.get((a, b), self.cross_region)

    def expected_client_rtt(self, client_region: str, region: str) -> float:
        """Mean RTT from a client in ``client_region`` to a front door in ``region``."""
        extra = 0.0 if client_region == region else self.between_regions(client_region, region).mean
        return self.client.mean + extra
