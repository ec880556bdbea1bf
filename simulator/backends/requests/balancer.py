"""Load balancers: which replica a request goes to.

A balancer only knows what its health checks tell it: a replica leaves rotation once
its checks fail ``unhealthy_after`` times in a row, and until then keeps receiving
requests, which fail. Among the replicas in rotation it prefers the caller's zone or
region (``locality``) and spills over when those have none, or when all of them are
full (queue at its limit); then applies its policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.backends.requests.dataplane import Replica
    from simulator.rng import Stream

__all__ = ["Balancer"]


def _is_full(r: Replica) -> bool:
    return r.limit is not None and r.busy >= r.workers and len(r.queue) >= r.limit


class Balancer:
    """Replica choice for one service."""

    __slots__ = ("policy", "locality", "replicas", "healthy", "rr", "rand", "_by_zone", "_by_region", "_limited")

    def __init__(self, policy: str, locality: str, replicas: list[Replica], rand: Stream) -> None:
        self.policy = policy
        self.locality = locality
        self.replicas = replicas
        self.rand = rand
        self.rr = 0
        self._limited = any(r.limit is not None for r in replicas)
        self.healthy: list[Replica] = []
        self._by_zone: dict[str, list[Replica]] = {}
        self._by_region: dict[str, list[Replica]] = {}
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the rotation after a health-check verdict changed."""
        self.healthy = [r for r in self.replicas if r.in_rotation and r.eligible]
        self._by_zone, self._by_region = {}, {}
        for r in self.healthy:
            self._by_zone.setdefault(r.zone, []).append(r)
            self._by_region.setdefault(r.region, []).append(r)

    def _choose(self, cands: list[Replica]) -> Replica:
        n = len(cands)
        if n == 1:
            return cands[0]
        policy = self.policy
        if policy == "round_robin":
            self.rr += 1
            return cands[self.rr % n]
        if policy == "random":
            return cands[int(self.rand() * n)]
        if policy == "power_of_two":
            i = int(self.rand() * n)
            j = int(self.rand() * (n - 1))
            if j >= i:
                j += 1
            a, b = cands[i], cands[j]
            return b if b.outstanding < a.outstanding else a
        # least_outstanding: ties broken round-robin so no replica is favoured
        self.rr += 1
        start = self.rr % n
        best = cands[start]
        for k in range(1, n):
            r = cands[(start + k) % n]
            if r.outstanding < best.outstanding:
                best = r
        return best

    def _not_full(self, cands: list[Replica]) -> list[Replica]:
        if not self._limited:
            return cands
        return [r for r in cands if not _is_full(r)]

    def pick(self, zone: str | None, region: str | None) -> Replica | None:
        """A replica for a call from ``zone``/``region`` (``None``: no preference)."""
        healthy = self.healthy
        if not healthy:
            return None
        if len(healthy) == 1 and not self._limited:
            return healthy[0]
        if self.locality != "any" and zone is not None:
            scopes = []
            if self.locality == "zone":
                scopes.append(self._by_zone.get(zone))
            scopes.append(self._by_region.get(region))  # type: ignore[arg-type]
            for scope in scopes:
                if scope:
                    open_ = self._not_full(scope)
                    if open_:
                        return self._choose(open_)
        open_ = self._not_full(healthy)
        return self._choose(open_ if open_ else healthy)

    def pick_in_regions(self, regions: list[str]) -> Replica | None:
        """The first region of ``regions`` (nearest first) with a replica in rotation."""
        for region in regions:
            scope = self._by_region.get(region)
            if scope:
                open_ = self._not_full(scope)
                return self._choose(open_ if open_ else scope)
        return None
