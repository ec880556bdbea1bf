"""Declarative, validated, frozen specs of a topology (no simulation here)."""

from simulator.model.distributions import DIST_FAMILIES, Dist, exponential, fixed
from simulator.model.loader import from_dict, load, load_yaml
from simulator.model.spec import (
    CallSpec,
    CommonCauseSpec,
    FailureSpec,
    ProviderSpec,
    RegionSpec,
    ServiceSpec,
    SLOSpec,
    Topology,
    ZoneSpec,
)
from simulator.model.validate import check

__all__ = [
    "DIST_FAMILIES",
    "Dist",
    "exponential",
    "fixed",
    "from_dict",
    "load",
    "load_yaml",
    "CallSpec",
    "CommonCauseSpec",
    "FailureSpec",
    "ProviderSpec",
    "RegionSpec",
    "ServiceSpec",
    "SLOSpec",
    "Topology",
    "ZoneSpec",
    "check",
]
