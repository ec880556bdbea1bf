"""The versions a run's numbers depend on, recorded next to failsim's own in every result.

A figure reproduces exactly only with the same model, seed, failsim version and the same
numerical libraries: numpy draws the random numbers, scipy gives the quantiles and
special functions, simpy orders the events, networkx walks the graph.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

__all__ = ["LIBRARIES", "library_versions"]

#: Distributions whose versions enter every result (``versions`` in the JSON).
LIBRARIES = ("numpy", "scipy", "simpy", "networkx")


@cache
def library_versions() -> dict[str, str]:
    """``{distribution: version}`` for :data:`LIBRARIES` as installed (``"unknown"`` when
    a distribution has no metadata, e.g. run from a source tree)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions
