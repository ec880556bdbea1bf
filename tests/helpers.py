"""Small builders and statistical assertions shared by the tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

import simulator

Z = 4.0  # |estimate - theory| <= Z standard errors: a false failure about once in 16 000 runs


def topology(
    services: dict[str, Any],
    zones: dict[str, Any] | None = None,
    region_failure: dict | None = None,
    provider_failure: dict | None = None,
    **top: Any,
) -> simulator.Topology:
    """A one-provider, one-region topology with the given zones and services."""
    zones = zones if zones is not None else {"z1": {}}
    region: dict[str, Any] = {"zones": zones}
    if region_failure:
        region["failure"] = region_failure
    provider: dict[str, Any] = {"regions": {"r1": region}}
    if provider_failure:
        provider["failure"] = provider_failure
    doc = {"name": "t", "providers": {"p": provider}, "services": services, **top}
    return simulator.from_dict(doc)


def per_replication(results: simulator.Results, scope: str = "system") -> np.ndarray:
    """Availability of ``scope`` in each replication."""
    return np.array([r.services[scope].availability for r in results.records])


def assert_matches(
    values: np.ndarray, theory: float, *, max_rel_se: float = 0.1, of_unavailability: bool = True, label: str = ""
) -> None:
    """Check a mean of i.i.d. replications against a closed-form value.

    The tolerance is ``Z`` standard errors of the mean, so it is derived from the run
    itself; ``max_rel_se`` makes sure the run is precise enough for the comparison to
    mean something: the standard error must be below ``max_rel_se`` times the
    unavailability ``1 - theory`` (or times ``theory`` itself when
    ``of_unavailability`` is false, for rates and durations).
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean())
    se = float(values.std(ddof=1)) / np.sqrt(n)
    scale = max(abs(1.0 - theory) if of_unavailability else abs(theory), 1e-12)
    assert se < max_rel_se * scale, f"{label}: too imprecise to test: se {se:.3g} vs scale {scale:.3g}"
    z = abs(mean - theory) / se
    assert z <= Z, (
        f"{label}: estimate {mean:.6f} vs theory {theory:.6f}: {z:.1f} standard errors apart "
        f"(se {se:.2g}, p={2 * stats.norm.sf(z):.2g})"
    )
