"""The fast availability path: the failure model without a simulation loop.

Without traffic and without shared repair crews, every component is an independent
alternating renewal process (beta-factor shocks aside, which are handled too), so its
whole history is a cumulative sum of its up and down times. This samples those with
numpy, all components at once, from the very same counter-based streams the simpy
control plane reads, in the same order, with the same floating-point additions: the
trace is the simpy engine's trace (up to the order of simultaneous events), and the
structure is then evaluated by the same code.
"""

from __future__ import annotations

import math
import time

import numpy as np

from simulator.engine.control import Trace
from simulator.engine.plan import Plan
from simulator.engine.replication import ReplicationRecord
from simulator.engine.summary import summarise_traces
from simulator.rng import replication_key, stream_key, stream_keys, uniforms

__all__ = ["applies", "fast_trace", "fast_traces", "run_replication", "run_replications"]


def applies(plan: Plan) -> bool:
    """The fast path reproduces the engine when nothing couples components but shocks."""
    return not plan.has_traffic and plan.repair_crews is None


def _cycles(mean_up: float, mean_down: float, end: float) -> int:
    return int(math.ceil(end / (mean_up + mean_down) * 1.3)) + 8


def _draws(dist, keys: np.ndarray, start: int, n: int, scale: float = 1.0) -> np.ndarray:
    values = dist.ppf(uniforms(keys, start, n))
    return values * scale if scale != 1.0 else values


def _independent(plan: Plan, reps: list[tuple[int, int]], end: float) -> list[list]:
    """Components without shocks, all replications at once: event times are cumulative
    sums of up and down times. Returns, per replication, its (times, comps, ups) parts."""
    out: list[list] = [[] for _ in reps]
    shocked = {m for g in plan.shocks for m in g.members}
    groups: dict[tuple[int, int, float], list] = {}
    for c in plan.components:
        if c.fails and c.index not in shocked:
            groups.setdefault((id(c.ttf), id(c.ttr), c.ttf_scale), []).append(c)
    r_count = len(reps)
    for comps in groups.values():
        c0 = comps[0]
        ttf, ttr, scale = c0.ttf, c0.ttr, c0.ttf_scale
        width = len(comps)
        kf = stream_keys(reps, np.asarray([c.ttf_key for c in comps], dtype=np.uint64)).ravel()
        kr = stream_keys(reps, np.asarray([c.ttr_key for c in comps], dtype=np.uint64)).ravel()
        idx = np.tile(np.asarray([c.index for c in comps], dtype=np.intp), r_count)
        rep = np.repeat(np.arange(r_count), width)
        n = _cycles(ttf.mean * scale, ttr.mean, end)
        start = 0
        t0 = np.zeros(len(idx))
        while len(idx):
            steps = np.empty((len(idx), 2 * n))
            steps[:, 0::2] = _draws(ttf, kf, start, n, scale)
            steps[:, 1::2] = _draws(ttr, kr, start, n)
            steps[:, 0] += t0  # continue from where the previous block ended
            times = np.cumsum(steps, axis=1)
            keep = times < end
            rows, cols = np.nonzero(keep)
            rr = rep[rows]
            bounds = np.searchsorted(rr, np.arange(r_count + 1))
            tt, ii, uu = times[rows, cols], idx[rows], cols % 2 == 1
            for r in range(r_count):
                a, b = bounds[r], bounds[r + 1]
                if b > a:
                    out[r].append((tt[a:b], ii[a:b], uu[a:b]))
            more = keep[:, -1]  # every drawn event fell before the end: draw on
            t0 = times[more, -1]
            idx, kf, kr, rep = idx[more], kf[more], kr[more], rep[more]
            start += n
    return out


def _with_shocks(plan: Plan, members: list, rep: tuple[int, int], end: float, out: list) -> None:
    """Members of beta-factor groups: a shock cuts short whatever up time is running."""
    shocks: dict[int, np.ndarray] = {}
    for group in plan.shocks:
        key = stream_key(rep, group.key)
        mean = 1.0 / group.rate_per_s
        gaps, start = [], 0
        total = 0.0
        while total < end:
            block = -np.log1p(-uniforms(key, start, 64)) * mean
            gaps.append(block)
            total += float(block.sum())
            start += 64
        times = np.cumsum(np.concatenate(gaps))
        for m in group.members:
            shocks[m] = times
    for c in members:
        s = shocks[c.index]
        kf, kr = stream_key(rep, c.ttf_key), stream_key(rep, c.ttr_key)
        own = np.isfinite(c.ttf_scale)
        n = _cycles(c.ttf.mean * (c.ttf_scale if own else 1.0), c.ttr.mean, end)
        ups = _draws(c.ttf, np.asarray([kf], dtype=np.uint64), 0, n, c.ttf_scale)[0] if own else None
        downs = _draws(c.ttr, np.asarray([kr], dtype=np.uint64), 0, n)[0]
        t, k = 0.0, 0
        times, flags = [], []
        while True:
            if k >= n:  # more cycles than drawn: draw the next block
                more = n
                if own:
                    ups = np.concatenate((ups, _draws(c.ttf, np.asarray([kf], dtype=np.uint64), n, more, c.ttf_scale)[0]))
                downs = np.concatenate((downs, _draws(c.ttr, np.asarray([kr], dtype=np.uint64), n, more)[0]))
                n += more
            fail = t + ups[k] if own else math.inf
            j = np.searchsorted(s, t, side="right")
            if j < len(s) and s[j] < fail:
                fail = float(s[j])
            if fail >= end:
                break
            times.append(fail)
            flags.append(False)
            t = fail + downs[k]
            k += 1
            if t >= end:
                break
            times.append(t)
            flags.append(True)
        out.append((np.asarray(times), np.full(len(times), c.index, dtype=np.intp), np.asarray(flags, dtype=bool)))


def fast_traces(plan: Plan, seeds: list[np.random.SeedSequence]) -> list[Trace]:
    """The traces of several replications, each the same as the simpy control plane's."""
    reps = [replication_key(s) for s in seeds]
    end = plan.end_s
    parts = _independent(plan, reps, end)
    shocked = {m for g in plan.shocks for m in g.members}
    members = [c for c in plan.components if c.fails and c.index in shocked]
    traces = []
    for rep, mine in zip(reps, parts, strict=True):
        if members:
            _with_shocks(plan, members, rep, end, mine)
        if not mine:
            traces.append(Trace(np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=bool)))
            continue
        times = np.concatenate([p[0] for p in mine])
        comps = np.concatenate([p[1] for p in mine])
        ups = np.concatenate([p[2] for p in mine])
        order = np.argsort(times, kind="stable")
        traces.append(Trace(times[order], comps[order], ups[order]))
    return traces


def fast_trace(plan: Plan, rep_seed: np.random.SeedSequence) -> Trace:
    """The trace of one replication, the same as the simpy control plane's."""
    return fast_traces(plan, [rep_seed])[0]


def run_replication(plan: Plan, rep_seed: np.random.SeedSequence, index: int) -> ReplicationRecord:
    """One replication on the fast path."""
    return run_replications(plan, [rep_seed], [index])[0]


def run_replications(plan: Plan, seeds: list[np.random.SeedSequence], indices: list[int]) -> list[ReplicationRecord]:
    """Several replications at once: their traces are summarised together."""
    start = time.perf_counter()
    traces = fast_traces(plan, seeds)
    records = summarise_traces(plan, traces, indices)
    wall = (time.perf_counter() - start) / max(len(records), 1)
    for r in records:
        r.wall_s = wall
    return records
