"""Summarise many replications' traces at once: one set of numpy operations for all.

The traces of a chunk of replications are laid end to end (sorted by replication,
then time). A reset row at the start of each replication brings every component back
up, so one ``logical_xor.accumulate`` gives every component's state after every
event; the structure is evaluated on all rows at once; per-replication figures come
from ``reduceat``/``bincount`` over the rows of each replication. Each replication's
figures depend only on its own rows, in the same order, so they do not depend on
which other replications share the chunk.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.control import Trace
from simulator.engine.plan import SYSTEM, Plan
from simulator.engine.structure import CellLayout, service_states_cells
from simulator.metrics.availability import OutageStats

__all__ = ["summarise_traces"]


def _rows(plan: Plan, layout: CellLayout, traces: list[Trace]):
    """Per row: replication, time, infrastructure up states and up replicas per cell.

    Rows are the start of each replication followed by its events, keeping the last
    row of each run of equal times.
    """
    r_count = len(traces)
    sizes = np.array([len(tr) for tr in traces], dtype=np.intp)
    rep = np.repeat(np.arange(r_count), sizes + 1)
    t = np.concatenate([np.concatenate(([0.0], tr.times)) for tr in traces]) if r_count else np.zeros(0)
    starts = np.concatenate(([0], np.cumsum(sizes + 1)[:-1])).astype(np.intp)
    n_infra, n_cells = len(layout.infra), len(layout.sizes)
    # column-major: the accumulations below run down the columns
    flips = np.zeros((len(t), n_infra), dtype=bool, order="F")
    delta = np.zeros((len(t), n_cells), dtype=np.int32, order="F")  # +1 a replica goes down, -1 up
    if r_count and sizes.sum():
        comps = np.concatenate([tr.comps for tr in traces])
        ups = np.concatenate([tr.ups for tr in traces])
        rows = np.concatenate([s + 1 + np.arange(k) for s, k in zip(starts, sizes, strict=True)])
        rep_of_event = np.repeat(np.arange(r_count), sizes)
        cell = layout.cell_of[comps]
        is_rep = cell >= 0
        delta[rows[is_rep], cell[is_rep]] = np.where(ups[is_rep], -1, 1)
        infra_idx = np.flatnonzero(~is_rep)
        icol = np.asarray([layout.infra_col[int(c)] for c in comps[infra_idx]], dtype=np.intp)
        flips[rows[infra_idx], icol] = True
        # whatever a replication left down comes back up in the next one's first row
        if r_count > 1:
            end_infra = np.zeros((r_count, n_infra), dtype=np.intp)
            np.add.at(end_infra, (rep_of_event[infra_idx], icol), 1)
            flips[starts[1:]] = (end_infra[:-1] % 2).astype(bool)
            end_cells = np.zeros((r_count, n_cells), dtype=np.int32)
            np.add.at(end_cells, (rep_of_event[is_rep], cell[is_rep]), delta[rows[is_rep], cell[is_rep]])
            delta[starts[1:]] -= end_cells[:-1]
    infra_up = ~np.logical_xor.accumulate(flips, axis=0)
    cell_up = layout.sizes[None, :].astype(np.int32) - np.cumsum(delta, axis=0, dtype=np.int32)
    last = np.ones(len(t), dtype=bool)
    last[:-1] = (t[1:] != t[:-1]) | (rep[1:] != rep[:-1])
    return rep[last], t[last], infra_up[last], cell_up[last]


def _durations(rep: np.ndarray, t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Time each row holds inside the window ``[t0, t1]`` of its replication."""
    ends = np.empty_like(t)
    ends[:-1] = np.where(rep[1:] == rep[:-1], t[1:], t1)
    if len(t):
        ends[-1] = t1
    return np.clip(np.minimum(ends, t1) - np.maximum(t, t0), 0.0, None)


def _outages(rep: np.ndarray, up: np.ndarray, dur: np.ndarray, r_count: int, t: np.ndarray, t0: float):
    """Per replication: total down time, number of outages, each outage's duration and start."""
    down = ~up
    first = np.ones(len(rep), dtype=bool)
    first[1:] = rep[1:] != rep[:-1]
    prev_up = np.ones(len(rep), dtype=bool)
    prev_up[1:] = up[:-1]
    starts = down & (first | prev_up)
    run = np.cumsum(starts) - 1
    sel = np.flatnonzero(down)
    run_dur = np.bincount(run[sel], weights=dur[sel], minlength=int(starts.sum()))
    run_rep = rep[starts]
    run_t = np.maximum(t[starts], t0) - t0
    keep = run_dur > 0
    run_dur, run_rep, run_t = run_dur[keep], run_rep[keep], run_t[keep]
    total = np.bincount(rep[sel], weights=dur[sel], minlength=r_count)
    count = np.bincount(run_rep, minlength=r_count)
    bounds = np.searchsorted(run_rep, np.arange(r_count + 1))
    return (total, count, [run_dur[bounds[i] : bounds[i + 1]] for i in range(r_count)],
            [run_t[bounds[i] : bounds[i + 1]] for i in range(r_count)])


def _components(plan: Plan, traces: list[Trace], t0: float, t1: float):
    """Per replication and component: failures in the window, completed repairs and
    their time, and own down time inside the window (all replications at once)."""
    n = len(plan.components)
    r_count = len(traces)
    shape = (r_count, n)
    if not r_count or not sum(len(tr) for tr in traces):
        return np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    sizes = [len(tr) for tr in traces]
    rep = np.repeat(np.arange(r_count), sizes)
    times = np.concatenate([tr.times for tr in traces])
    comps = np.concatenate([tr.comps for tr in traces])
    ups = np.concatenate([tr.ups for tr in traces])
    cell = rep * n + comps  # one bin per (replication, component)
    size = r_count * n
    in_window = (~ups) & (times >= t0) & (times < t1)
    fails = np.bincount(cell[in_window], minlength=size)
    order = np.lexsort((times, cell))
    tt, cc, uu = times[order], cell[order], ups[order]
    same = np.zeros(len(tt), dtype=bool)
    same[:-1] = cc[:-1] == cc[1:]
    paired = (~uu) & np.append(uu[1:], False) & same  # a failure followed by its repair
    k = np.flatnonzero(paired & (tt >= t0))
    repairs = np.bincount(cc[k], minlength=size)
    repair_s = np.bincount(cc[k], weights=tt[k + 1] - tt[k], minlength=size)
    downs = np.flatnonzero(~uu)
    ends = np.where(paired[downs], tt[np.minimum(downs + 1, len(tt) - 1)], t1)
    clipped = np.clip(np.minimum(ends, t1) - np.maximum(tt[downs], t0), 0.0, None)
    down_s = np.bincount(cc[downs], weights=clipped, minlength=size)
    return (
        fails.reshape(shape).astype(float), repairs.reshape(shape).astype(float),
        repair_s.reshape(shape), down_s.reshape(shape),
    )


def _monthly(plan: Plan, rep, up, t, dur, t0: float, t1: float, r_count: int):
    """The system's down time per month, for SLA credits (only when they are priced)."""
    pricing = getattr(plan.topology, "pricing", None)
    if pricing is None or pricing.sla_credits is None:
        return None
    from simulator.metrics.cost import monthly_downtime

    return monthly_downtime(rep, up, t, dur, t0, t1, r_count)


def summarise_traces(plan: Plan, traces: list[Trace], indices: list[int]) -> list:
    """One :class:`~simulator.engine.replication.ReplicationRecord` per trace."""
    from simulator.engine.replication import GroupStats, ReplicationRecord

    t0, t1 = plan.warmup_s, plan.end_s
    r_count = len(traces)
    layout = CellLayout(plan)
    rep, t, infra_up, cell_up = _rows(plan, layout, traces)
    dur = _durations(rep, t, t0, t1)
    states, own = service_states_cells(plan, layout, infra_up, cell_up)
    names = [s.name for s in plan.services] + [SYSTEM]
    scope = {name: _outages(rep, states[:, k], dur, r_count, t, t0) for k, name in enumerate(names)}
    own_scope = {s.name: _outages(rep, own[:, k], dur, r_count, t, t0) for k, s in enumerate(plan.services)}
    months = _monthly(plan, rep, states[:, -1], t, dur, t0, t1, r_count)
    fails, repairs, repair_s, comp_down = _components(plan, traces, t0, t1)
    g, ng = plan.group_of, len(plan.groups)
    members = np.bincount(g, minlength=ng)
    perm = np.argsort(g, kind="stable")
    cuts = np.searchsorted(g[perm], np.arange(ng))

    def by_group(m: np.ndarray) -> np.ndarray:  # row by row, in component order: no BLAS reordering
        return np.add.reduceat(m[:, perm], cuts, axis=1) if r_count else np.zeros((0, ng))

    g_fails, g_repairs, g_repair_s, g_down = by_group(fails), by_group(repairs), by_group(repair_s), by_group(comp_down)
    records = []
    span = t1 - t0
    # plain Python numbers, converted once (indexing numpy scalars one by one is slow)
    scope_l = {name: (total.tolist(), count.tolist(), durs, starts) for name, (total, count, durs, starts) in scope.items()}
    members_l = members.tolist()
    gf, gr, grs, gd = g_fails.tolist(), g_repairs.tolist(), g_repair_s.tolist(), g_down.tolist()
    own_l = {name: (total.tolist(), count.tolist(), durs, starts) for name, (total, count, durs, starts) in own_scope.items()}
    for i, index in enumerate(indices):
        services = {
            name: OutageStats(span, total[i], int(count[i]), durs[i], starts[i])
            for name, (total, count, durs, starts) in scope_l.items()
        }
        groups = {
            name: GroupStats(members_l[k], int(gf[i][k]), int(gr[i][k]), grs[i][k], gd[i][k])
            for k, name in enumerate(plan.groups)
        }
        own_stats = {
            name: OutageStats(span, total[i], int(count[i]), durs[i], starts[i])
            for name, (total, count, durs, starts) in own_l.items()
        }
        records.append(ReplicationRecord(index, span, services, own_stats, groups, len(traces[i])))
        if months is not None:
            records[-1].extra["monthly_down_s"] = months[i]
    return records
