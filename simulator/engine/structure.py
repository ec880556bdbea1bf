"""Evaluate the structure (containment, k-of-n quorums, dependencies) over a trace.

Given every component's state changes, the state of every service is a step function
that can only change at those times. This evaluates it for all times at once with
numpy instead of after each event, which is both exact and cheaper.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.plan import Plan

__all__ = ["CellLayout", "service_states_cells"]


class CellLayout:
    """Replicas grouped into cells (service, zone): the structure only needs how many
    replicas of a cell are up, so the state matrices are a few columns wide instead of
    one column per replica."""

    def __init__(self, plan: Plan) -> None:
        comps = plan.components
        self.infra = np.asarray([c.index for c in comps if c.kind != "replica"], dtype=np.intp)
        col = {int(c): j for j, c in enumerate(self.infra)}
        self.infra_col = col
        # containment inside the infrastructure, as column pairs, containers first
        self.infra_links = [(col[c.index], col[c.parent]) for c in comps if c.kind != "replica" and c.parent >= 0]
        cells: dict[tuple[int, int], int] = {}
        self.cell_of = np.full(len(comps), -1, dtype=np.intp)
        sizes: list[int] = []
        self.cell_zone: list[int] = []  # infra column of each cell's zone
        self.cell_service: list[int] = []
        for svc in plan.services:
            for r in svc.replicas:
                key = (svc.index, int(plan.parents[r]))
                if key not in cells:
                    cells[key] = len(sizes)
                    sizes.append(0)
                    self.cell_zone.append(col[key[1]])
                    self.cell_service.append(svc.index)
                self.cell_of[r] = cells[key]
                sizes[cells[key]] += 1
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.service_cells = [
            np.asarray([k for k, s in enumerate(self.cell_service) if s == svc.index], dtype=np.intp)
            for svc in plan.services
        ]


def service_states_cells(
    plan: Plan, layout: CellLayout, infra_up: np.ndarray, cell_up: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`service_states` from infrastructure states and per-cell up-replica counts."""
    serving = infra_up.copy()
    for child, parent in layout.infra_links:
        serving[:, child] &= serving[:, parent]
    counts = cell_up * serving[:, layout.cell_zone] if len(layout.cell_zone) else cell_up
    rows = infra_up.shape[0]
    out = np.empty((rows, len(plan.services) + 1), dtype=bool)
    own = np.empty((rows, len(plan.services)), dtype=bool)
    for si in plan.order:
        svc = plan.services[si]
        own[:, si] = counts[:, layout.service_cells[si]].sum(axis=1) >= svc.min_healthy
        ok = own[:, si].copy()
        for dep in svc.requires:
            ok &= out[:, dep]
        out[:, si] = ok
    out[:, -1] = np.all(out[:, list(plan.entries)], axis=1) if plan.entries else True
    return out, own
