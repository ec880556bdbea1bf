"""Hypothesis strategies for topologies, shared by the property tests."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

DURATION_H = st.floats(min_value=0.5, max_value=200.0, allow_nan=False).map(lambda h: f"{h:.3f}h")
REPAIR_M = st.floats(min_value=1.0, max_value=600.0, allow_nan=False).map(lambda m: f"{m:.3f}m")


@st.composite
def failure_specs(draw: Any) -> dict:
    kind = draw(st.sampled_from(["exp", "weibull", "lognormal"]))
    if kind == "exp":
        return {"mtbf": draw(DURATION_H), "mttr": draw(REPAIR_M)}
    if kind == "weibull":
        shape = draw(st.floats(min_value=0.6, max_value=3.0))
        return {"ttf": {"weibull": {"shape": round(shape, 3), "scale": draw(DURATION_H)}}, "mttr": draw(REPAIR_M)}
    return {"mtbf": draw(DURATION_H), "ttr": {"lognormal": {"median": draw(REPAIR_M), "sigma": 0.8}}}


@st.composite
def topology_docs(
    draw: Any, crews: bool = True, common_cause: bool = True, max_services: int = 4
) -> dict[str, Any]:
    """A valid topology document: 1-2 regions, 1-3 zones each, a DAG of 1-4 services."""
    regions: dict[str, Any] = {}
    zone_names: list[str] = []
    for r in range(draw(st.integers(1, 2))):
        zones = {}
        for z in range(draw(st.integers(1, 3))):
            name = f"r{r}z{z}"
            zones[name] = {"failure": draw(failure_specs())} if draw(st.booleans()) else {}
            zone_names.append(name)
        regions[f"r{r}"] = {"zones": zones}
        if draw(st.booleans()):
            regions[f"r{r}"]["failure"] = draw(failure_specs())
    n = draw(st.integers(1, max_services))
    services: dict[str, Any] = {}
    for i in range(n):
        placed = draw(st.lists(st.sampled_from(zone_names), min_size=1, max_size=len(zone_names), unique=True))
        replicas = {z: draw(st.integers(1, 3)) for z in placed}
        total = sum(replicas.values())
        svc: dict[str, Any] = {"replicas": replicas, "min_healthy": draw(st.integers(1, total))}
        if draw(st.integers(0, 4)) > 0:
            svc["failure"] = draw(failure_specs())
        later = [f"s{j}" for j in range(i + 1, n)]
        if later:
            callees = draw(st.lists(st.sampled_from(later), max_size=len(later), unique=True))
            svc["calls"] = [{"service": c, "optional": draw(st.booleans())} for c in callees]
        services[f"s{i}"] = svc
    doc: dict[str, Any] = {
        "name": "prop",
        "horizon": "300h",
        "replications": 3,
        "seed": draw(st.integers(0, 2**31)),
        "providers": {"p": {"regions": regions}},
        "services": services,
    }
    if crews and draw(st.booleans()):
        doc["repair_crews"] = draw(st.integers(1, 3))
    failing = [s for s, v in services.items() if "failure" in v]
    if common_cause and failing and draw(st.booleans()):
        doc["common_cause"] = [{"members": [draw(st.sampled_from(failing))], "beta": 0.2}]
    return doc


def without_failures(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document with every failure spec and common-cause group removed."""
    doc = copy.deepcopy(doc)
    doc.pop("common_cause", None)
    for prov in doc["providers"].values():
        prov.pop("failure", None)
        for reg in prov["regions"].values():
            reg.pop("failure", None)
            for zone in reg["zones"].values():
                zone.pop("failure", None)
    for svc in doc["services"].values():
        svc.pop("failure", None)
    return doc
