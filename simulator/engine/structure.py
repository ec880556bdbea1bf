"""Evaluate the structure (containment, k-of-n quorums, dependencies) over a trace.

Given every component's state changes, the state of every service is a step function
that can only change at those times. This evaluates it for all times at once with
numpy instead of after each event, which is both exact and cheaper.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.plan import Plan

__all__ = ["component_states", "service_states"]


def component_states(plan: Plan, times: np.ndarray, comps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Own up/down of every component after each distinct event time.

    Returns
    -------
    t : ndarray, shape (K,)
        ``0`` followed by the distinct event times; row ``k`` holds from ``t[k]`` to ``t[k+1]``.
    up : ndarray of bool, shape (K, n_components)
        Every component starts up and each one's events alternate down, up, down...
    """
    n = len(plan.components)
    flips = np.zeros((len(times) + 1, n), dtype=bool)
    flips[np.arange(1, len(times) + 1), comps] = True
    down = np.logical_xor.accumulate(flips, axis=0)
    # keep the last row of each run of equal times, so simultaneous changes never
    # show an intermediate state that lasted no time
    t = np.concatenate(([0.0], times))
    last = np.ones(len(t), dtype=bool)
    last[:-1] = t[1:] != t[:-1]
    return t[last], ~down[last]


def service_states(plan: Plan, t_up: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Up/down of every service (and, as the last column, of the system) per row.

    A replica serves while it and every container around it are up; a service is up
    while at least ``min_healthy`` replicas serve and every required dependency is up;
    the system is up while every entry service is up.

    Returns
    -------
    up : ndarray of bool, shape (K, n_services + 1)
    own : ndarray of bool, shape (K, n_services)
        The quorum alone, ignoring dependencies: which service is the weak link.
    """
    _, up = t_up
    serving = up.copy()
    # components are stored containers-first, so one pass in index order resolves nesting
    for kind in ("region", "zone", "replica"):
        idx = np.fromiter((c.index for c in plan.components if c.kind == kind), dtype=np.intp)
        if len(idx):
            serving[:, idx] &= serving[:, plan.parents[idx]]
    out = np.empty((up.shape[0], len(plan.services) + 1), dtype=bool)
    own = np.empty((up.shape[0], len(plan.services)), dtype=bool)
    for si in plan.order:
        svc = plan.services[si]
        own[:, si] = serving[:, svc.replicas].sum(axis=1) >= svc.min_healthy
        ok = own[:, si].copy()
        for dep in svc.requires:
            ok &= out[:, dep]
        out[:, si] = ok
    out[:, -1] = np.all(out[:, list(plan.entries)], axis=1) if plan.entries else True
    return out, own
