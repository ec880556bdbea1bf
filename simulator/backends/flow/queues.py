"""Queues of the flow solution: what an arriving attempt meets at one service.

Waiting times are M/M/c-shaped (exponential, scaled by the Allen-Cunneen factor
(ca² + cs²) / 2), a queue limit uses the M/M/c/K probabilities pooled over the alive
replicas (the balancer skips full ones), an overloaded service gets a fluid backlog
(stepped by the caller of :func:`~simulator.backends.flow.solver.solve`); balancers that
count outstanding requests see dead replicas by what they hold
(:func:`load_aware_dead_share`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from simulator.backends.flow.model import (
    FlowModel,
    M,
    ServiceModel,
)
from simulator.metrics.queueing import erlang_c, mmck_probabilities

__all__ = ["NO_WAIT", "Queue", "load_aware_dead_share", "service_queue"]


@dataclass
class Queue:
    """What an arriving attempt meets at one service."""

    in_rotation: int
    alive: int
    wait: np.ndarray  # M waiting-time samples for an admitted attempt
    shed: float  # probability an alive replica's queue is full
    busy: float  # average busy workers, all replicas
    waiting: float  # average requests waiting, all replicas
    overloaded: bool = False
    arrival_alive: float = 0.0
    capacity: float = 0.0
    p_wait: float | None = None  # the exact probability of waiting, when the formula gives it
    wait_if: np.ndarray | None = None  # then: M waiting-time samples of an attempt that waits
    backlogged: bool = False  # a fluid backlog is draining: its share is served at capacity


#: A limited queue full this often waits as M/M/c/K does (see :func:`service_queue`).
FULL_SHARE = 0.01
NO_WAIT = np.zeros(M)
NO_WAIT.flags.writeable = False


def service_queue(
    fm: FlowModel, s: ServiceModel, lam: float, zones: tuple, job: tuple, wait: tuple | None
) -> Queue:
    """The queue of ``s``. ``wait``: a fluid backlog, as (the wait it causes, the share
    of alive replicas holding it); replicas that joined since have empty queues."""
    in_rot = sum(a + d for a, d in zones)
    alive = sum(a for a, _ in zones)
    if in_rot == 0 or alive == 0:
        return Queue(in_rot, alive, np.zeros(M), 0.0, 0.0, 0.0)
    lam_alive = lam * alive / in_rot
    lam_r = lam_alive / alive
    mean_h = job.mean
    c = s.workers
    if mean_h <= 0.0:
        return Queue(in_rot, alive, np.zeros(M), 0.0, 0.0, 0.0)
    capacity = alive * c / mean_h
    u1, u2 = fm.pool.b(f"wait1/{s.name}"), fm.pool.u(f"wait2/{s.name}")
    if wait is not None:
        backlog_wait, share = wait
        w = np.full(M, backlog_wait)
        rest = alive - share * alive
        if share < 1.0 and rest >= 1.0:  # arrivals sent to the fresh replicas queue as usual
            lam_fresh = lam_alive * (1.0 - share)
            servers = max(int(round(rest)), 1) * c
            a = lam_fresh * mean_h
            fresh = np.zeros(M)
            if a < servers * 0.999:
                pw = erlang_c(servers, a)
                fresh = np.where(u1 < pw, -np.log1p(-u2) / (servers / mean_h - lam_fresh), 0.0)
            w = np.where(fm.pool.b(f"share/{s.name}") < share, w, fresh)
        return Queue(
            in_rot,
            alive,
            w,
            0.0,
            alive * c,
            backlog_wait * capacity * share,
            False,
            lam_alive * share,
            capacity * share,
            backlogged=True,
        )
    if s.limit is None:
        rho = lam_r * mean_h / c
        if rho >= 0.999:
            return Queue(in_rot, alive, np.zeros(M), 0.0, alive * c, 0.0, True, lam_alive, capacity)
        scv = job.var / mean_h**2
        servers, lam_q, ca2 = c, lam_r, 1.0  # random routing: each replica an M/G/c
        if s.policy in ("least_outstanding", "power_of_two"):
            servers, lam_q = alive * c, lam_alive  # join-the-shortest-queue: nearly one pooled queue
        elif s.policy == "round_robin":
            ca2 = 1.0 / alive  # every alive-th arrival: Erlang inter-arrival times
        theta = servers / mean_h - lam_q
        busy = alive * lam_r * mean_h
        u_min = fm.pool.b_min(f"wait1/{s.name}")
        if _surely_below(servers, lam_q * mean_h, u_min) or erlang_c(servers, lam_q * mean_h) <= u_min:
            # no virtual request waits
            return Queue(in_rot, alive, NO_WAIT, 0.0, busy, 0.0, False, lam_alive, capacity)
        pw = erlang_c(servers, lam_q * mean_h)
        wait_if = -np.log1p(-u2) / theta * (ca2 + scv) / 2.0
        w = np.where(u1 < pw, wait_if, 0.0)
        return Queue(
            in_rot,
            alive,
            w,
            0.0,
            busy,
            lam_alive * pw * float(wait_if.mean()),
            False,
            lam_alive,
            capacity,
            pw,
            wait_if,
        )
    # the balancer skips full replicas, so an attempt is shed only when every alive one
    # is full: blocking is the pooled M/M/(A·c)/(A·(c+K))'s; waits are pooled too when
    # the policy joins the shortest queue, else each replica's own M/M/c/K's
    pooled = max(int(round(alive)), 1)
    shed, unit = _mmck_waits(fm, s, pooled * c, pooled * s.limit, round(lam_alive * mean_h, 4))
    # the M/M/c/K waits, scaled by the Allen-Cunneen factor as the unlimited queue's
    # while the limit is seldom reached; a queue often full waits for the requests the
    # limit lets in ahead, whatever their variability (the factor fades out by FULL_SHARE)
    scv = job.var / mean_h**2
    ca2 = 1.0
    if pooled > 1 and s.policy not in ("least_outstanding", "power_of_two"):
        unit = _mmck_waits(fm, s, c, s.limit, round(lam_r * mean_h, 4))[1]
        w = unit * (mean_h / c)
        if s.policy == "round_robin":
            ca2 = 1.0 / alive
    else:
        w = unit * (mean_h / (pooled * c))
    limited = min(shed / FULL_SHARE, 1.0)
    w = w * ((1.0 - limited) * (ca2 + scv) / 2.0 + limited)
    busy = alive * lam_r * (1 - shed) * mean_h
    return Queue(
        in_rot, alive, w, shed, busy, lam_alive * (1 - shed) * float(w.mean()), False, lam_alive, capacity
    )


def _surely_below(c: int, a: float, p: float) -> bool:
    """Whether the Erlang C probability of waiting with ``c`` servers and offered load
    ``a`` is at most ``p`` by a wide margin, from a bound that costs no recursion:
    C <= c·B / (c - a) and B = P(X = c) / P(X <= c) <= 2·P(X = c) for X ~ Poisson(a)
    once c >= a + 1 (the median of X is below a + 1/3)."""
    if a <= 0.0:
        return True
    if c < a + 1.0:
        return False
    return 2.0 * c * math.exp(c * math.log(a) - a - math.lgamma(c + 1.0)) / (c - a) <= 0.5 * p


def _mmck_waits(
    fm: FlowModel, s: ServiceModel, c: int, room: int, offered: float
) -> tuple[float, np.ndarray]:
    """Blocking probability and waits (in units of mean holding time / c) of M/M/c/K
    with ``room`` waiting places (K = c + room)."""
    key = ("mmck", s.index, c, room, offered)
    hit = fm.memo.get(key)
    if hit is None:
        p = mmck_probabilities(c, c + room, offered)
        admitted = p[:-1] / p[:-1].sum()
        n = np.minimum(
            np.searchsorted(np.cumsum(admitted), fm.pool.b(f"wait1/{s.name}"), side="right"),
            len(admitted) - 1,
        )
        ahead = np.maximum(n - c + 1, 0)  # completions to wait for
        unit = np.where(
            ahead > 0, special.gammaincinv(np.maximum(ahead, 1), fm.pool.u(f"wait2/{s.name}")), 0.0
        )
        hit = fm.memo[key] = (float(p[-1]), unit)
    return hit


def load_aware_dead_share(p: float, q: Queue, hold: float, ct: float, policy: str) -> float:
    """The share of attempts a balancer that counts outstanding requests sends to dead
    replicas still in rotation (``p``: their even share). A dead replica holds each
    attempt until the connect timeout ``ct``, an alive one for ``hold`` (its wait and
    service). Each replica's outstanding count is taken as Poisson with mean its rate
    times its holding time, independently; ``least_outstanding`` picks the least of all
    (ties evenly), ``power_of_two`` the lesser of two (ties evenly); the dead replicas'
    rate is the fixed point of the two."""
    n_a, n_d = int(round(q.alive)), int(round(q.in_rotation - q.alive))
    if n_a <= 0 or n_d <= 0 or q.arrival_alive <= 0.0:
        return p
    lam = q.arrival_alive * q.in_rotation / q.alive  # attempts/s into the service
    # what it depends on, to 4 significant digits (states that differ only beyond them
    # share the answer; the model is far coarser than that)
    return _dead_share(float(f"{p:.4g}"), n_a, n_d, float(f"{lam * ct:.4g}"), float(f"{lam * hold:.4g}"), policy)


@functools.lru_cache(maxsize=4096)
def _dead_share(p: float, n_a: int, n_d: int, load_ct: float, load_hold: float, policy: str) -> float:
    """:func:`load_aware_dead_share` of the service's attempt rate times the connect
    timeout (``load_ct``) and times an alive replica's hold (``load_hold``)."""

    def excess(share: float) -> float:  # what the counts give at ``share``, less ``share``: decreasing
        return _least_share(load_ct * share / n_d, load_hold * (1.0 - share) / n_a, n_d, n_a, policy, p) - share

    # the root of a decreasing function on [0, 1]: regula falsi, Illinois variant
    a, b = 0.0, 1.0
    fa, fb = excess(a), excess(b)
    if fa <= 0.0:
        return 0.0
    if fb >= 0.0:
        return 1.0
    side = 0
    for _ in range(60):
        c = (a * fb - b * fa) / (fb - fa)
        fc = excess(c)
        if abs(fc) < 1e-10 or b - a < 1e-10:
            return c
        if fc > 0.0:
            a, fa = c, fc
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa *= 0.5
            side = 1
    return 0.5 * (a + b)


_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(12)
_GAUSS_X, _GAUSS_W = (_GAUSS_X + 1.0) / 2.0, _GAUSS_W / 2.0  # on [0, 1]


def _poisson_table(mean: float, top: int) -> tuple[np.ndarray, np.ndarray]:
    """P(N = m) for m = 0..top and P(N >= m) for m = 0..top + 1 of a Poisson(mean)."""
    m = np.arange(top + 1, dtype=float)
    pmf = np.exp(m * math.log(mean) - mean - special.gammaln(m + 1.0)) if mean > 0 else (m == 0).astype(float)
    at_least = np.concatenate(([1.0], np.maximum(1.0 - np.cumsum(pmf), 0.0)))
    return pmf, at_least


def _least_share(mean_d: float, mean_a: float, n_d: int, n_a: int, policy: str, p: float) -> float:
    top = int(max(mean_d, mean_a) + 10.0 * math.sqrt(max(mean_d, mean_a)) + 10)
    pd, gd = _poisson_table(mean_d, top)
    pa, ga = _poisson_table(mean_a, top)
    if policy == "power_of_two":  # the dead one of a mixed pair wins with P(N_d < N_a) + P(=)/2
        wins = float(np.sum(pd * (ga[1:] + 0.5 * pa)))
        return p * p + 2.0 * p * (1.0 - p) * wins
    # least_outstanding: a given dead replica with m outstanding is picked when every other
    # holds at least m, among the T that hold exactly m evenly: E[1/(1+T)] = ∫ E[x^T] dx
    x = _GAUSS_X
    others = (ga[1:, None] + pa[:, None] * x) ** n_a * (gd[1:, None] + pd[:, None] * x) ** (n_d - 1)
    one = float(np.sum(pd * (others @ _GAUSS_W)))
    return min(n_d * one, 1.0)
