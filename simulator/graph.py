"""The topology as a networkx graph, and structure queries over it.

Nodes are named ``kind:name`` (``zone:use1-az1``, ``service:api``,
``replica:api/use1-az1/0``) and carry a ``kind`` attribute plus their spec. Edges carry
``kind``: ``contains`` (provider > region > zone > replica, and service > replica) or
``calls`` (service -> dependency, with ``optional``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from simulator.model.spec import Topology

__all__ = [
    "build_graph",
    "node_id",
    "replica_name",
    "call_graph",
    "dependency_order",
    "required_closure",
]


def node_id(kind: str, name: str) -> str:
    """The graph node of a component, e.g. ``node_id("zone", "use1-az1")``."""
    return f"{kind}:{name}"


def replica_name(service: str, zone: str, index: int) -> str:
    """The stable name of a replica: ``api/use1-az1/0``."""
    return f"{service}/{zone}/{index}"


def build_graph(top: Topology) -> nx.DiGraph:
    """Build the containment and call graph of a topology.

    Parameters
    ----------
    top : Topology
        A validated topology.

    Returns
    -------
    networkx.DiGraph
        Node attribute ``kind`` is one of provider, region, zone, service, replica;
        edge attribute ``kind`` is ``contains`` or ``calls``.

    Examples
    --------
    >>> import simulator
    >>> g = simulator.load("topologies/three-tier.yaml").graph()
    >>> sorted({d["kind"] for _, d in g.nodes(data=True)})
    ['provider', 'region', 'replica', 'service', 'zone']
    """
    g = nx.DiGraph(name=top.name)
    for p, prov in top.providers.items():
        g.add_node(node_id("provider", p), kind="provider", name=p, failure=prov.failure, labels=prov.labels)
        for r, reg in prov.regions.items():
            g.add_node(node_id("region", r), kind="region", name=r, provider=p, failure=reg.failure, labels=reg.labels)
            g.add_edge(node_id("provider", p), node_id("region", r), kind="contains")
            for z, zone in reg.zones.items():
                g.add_node(
                    node_id("zone", z), kind="zone", name=z, region=r, provider=p,
                    failure=zone.failure, labels=zone.labels,
                )
                g.add_edge(node_id("region", r), node_id("zone", z), kind="contains")
    for s, svc in top.services.items():
        g.add_node(
            node_id("service", s), kind="service", name=s, min_healthy=svc.min_healthy,
            replicas=svc.replica_count, failure=svc.failure, labels=svc.labels,
        )
        for zone, count in svc.replicas.items():
            for i in range(count):
                rid = node_id("replica", replica_name(s, zone, i))
                g.add_node(rid, kind="replica", name=replica_name(s, zone, i), service=s, zone=zone, failure=svc.failure)
                g.add_edge(node_id("zone", zone), rid, kind="contains")
                g.add_edge(node_id("service", s), rid, kind="contains")
    for s, svc in top.services.items():
        for call in svc.calls:
            g.add_edge(node_id("service", s), node_id("service", call.service), kind="calls", optional=call.optional)
    return g


def call_graph(g: nx.DiGraph) -> nx.DiGraph:
    """A view of only the services and their call edges."""
    return nx.subgraph_view(
        g,
        filter_node=lambda n: g.nodes[n]["kind"] == "service",
        filter_edge=lambda u, v: g.edges[u, v]["kind"] == "calls",
    )


def dependency_order(top: Topology) -> list[str]:
    """Service names ordered so that every service comes after all it calls."""
    g = nx.DiGraph()
    g.add_nodes_from(top.services)
    for s, svc in top.services.items():
        for call in svc.calls:
            g.add_edge(call.service, s)
    # lexicographic tie-break keeps the order stable between runs and Python versions
    return list(nx.lexicographical_topological_sort(g))


def required_closure(top: Topology, service: str) -> set[str]:
    """Every service that ``service`` needs, directly or through required calls."""
    seen: set[str] = set()
    stack = [service]
    while stack:
        cur = stack.pop()
        for call in top.services[cur].calls:
            if not call.optional and call.service not in seen:
                seen.add(call.service)
                stack.append(call.service)
    return seen
