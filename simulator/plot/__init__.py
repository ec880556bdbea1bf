"""matplotlib figures of models and results (matplotlib is imported only here, lazily).

Every function draws on ``ax`` when given one (and returns its figure), or makes a new
:class:`matplotlib.figure.Figure` and returns it; none calls ``show`` or touches
pyplot's global state, so they work in notebooks, scripts, servers and tests alike.

- :func:`topology`: failure domains as nested boxes, replicas, call edges, a state
- :func:`availability`, :func:`downtime`, :func:`outage_durations`,
  :func:`cumulative_downtime`: time-based figures with confidence intervals
- :func:`latency_cdf`, :func:`latency_histogram`, :func:`percentiles`: request latency
  with SLO lines
- :func:`chaos_timeline`, :func:`recovery`: a chaos run over time and its recovery
  times against the RTO
- :func:`compare`: variants side by side (availability, p99, downtime) with intervals

Results objects expose the same as shortcuts: ``results.plot.availability()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "topology", "availability", "downtime", "outage_durations", "cumulative_downtime", "latency_cdf",
    "latency_histogram", "percentiles", "chaos_timeline", "recovery", "compare",
]

SYSTEM = "system"
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _new(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0), nrows: int = 1, sharex: bool = False):
    """(figure, axes): the given axes' figure, or a new figure with ``nrows`` axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=sharex) if nrows > 1 else fig.add_subplot()
    return fig, axes


def _nines(a: float | None) -> float:
    if a is None:
        return math.nan
    return 12.0 if a >= 1.0 else -math.log10(1.0 - a)


def _ci_bar(ax: Axes, at: float, mid: float | None, lo: float | None, hi: float | None, *,
            horizontal: bool = False, capsize: float = 3) -> None:
    """A 95 % interval around ``mid`` at position ``at``. A bound the data cannot give
    (``None``, or not finite) is drawn as an open arrow to the edge of the axes."""
    if mid is None or not math.isfinite(mid) or (lo is None and hi is None):
        return
    known = [x for x in (lo, hi) if x is not None and math.isfinite(x)]
    if not known:
        return
    down = max(mid - lo, 0.0) if lo is not None and math.isfinite(lo) else 0.0
    up = max(hi - mid, 0.0) if hi is not None and math.isfinite(hi) else 0.0
    err = [[down], [up]]
    if horizontal:
        ax.errorbar(mid, at, xerr=err, fmt="none", ecolor="black", capsize=capsize, linewidth=0.8)
    else:
        ax.errorbar(at, mid, yerr=err, fmt="none", ecolor="black", capsize=capsize, linewidth=0.8)
    for x, marker in ((lo, "<" if horizontal else "v"), (hi, ">" if horizontal else "^")):
        if x is None or not math.isfinite(x):  # open: no bound on this side
            xy = (mid + (up if marker in ">^" else -down), at) if horizontal else (at, mid + (up if marker in ">^" else -down))
            ax.plot(*xy, marker=marker, color="black", markersize=4)


# -- topology ------------------------------------------------------------------------


def topology(model: Any, *, state: Any = None, ax: Axes | None = None) -> Figure:
    """Failure domains as nested boxes (provider > region > zone), replicas as dots
    coloured by service, call edges as arrows between services.

    ``state``: names of components that are down at the moment shown (``"zone/use1-az1"``,
    ``"region/us-east-1"``, ``"replica/api/use1-az1/0"``), greyed out with what they contain.
    """
    from matplotlib.patches import FancyArrowPatch, Rectangle

    down = set(state or ())
    services = list(model.services)
    color = {s: _COLORS[i % len(_COLORS)] for i, s in enumerate(services)}
    zones = model.zones()
    n_rows = max(1, max(len(svc.replicas) and max(svc.replicas.values()) for svc in model.services.values()))
    zone_w, zone_h = 1.0, 0.55 + 0.28 * len(services)
    fig, ax = _new(ax, figsize=(max(6.0, 1.35 * len(zones) + 1.5), 4.2 + 0.3 * len(services)))
    x = 0.0
    where: dict[str, list[tuple[float, float]]] = {s: [] for s in services}
    for p, prov in model.providers.items():
        px0 = x
        p_down = f"provider/{p}" in down
        for r, reg in prov.regions.items():
            rx0 = x
            r_down = p_down or f"region/{r}" in down
            for z in reg.zones:
                z_down = r_down or f"zone/{z}" in down
                ax.add_patch(Rectangle((x, 0.0), zone_w, zone_h, facecolor="#eeeeee" if z_down else "#f7fbff",
                                       edgecolor="#555555", linewidth=1.0))
                ax.text(x + zone_w / 2, zone_h - 0.08, z, ha="center", va="top", fontsize=7)
                for k, s in enumerate(services):
                    count = model.services[s].replicas.get(z, 0)
                    y = zone_h - 0.35 - 0.28 * k
                    for i in range(count):
                        cx = x + 0.15 + (0.7 * (i + 0.5) / max(count, n_rows))
                        gone = z_down or f"replica/{s}/{z}/{i}" in down
                        ax.plot([cx], [y], "o", color="#bbbbbb" if gone else color[s], markersize=6,
                                markeredgecolor="black", markeredgewidth=0.4)
                        where[s].append((cx, y))
                x += zone_w + 0.15
            ax.add_patch(Rectangle((rx0 - 0.07, -0.1), x - rx0 - 0.01, zone_h + 0.35, fill=False,
                                   edgecolor="#888888" if r_down else "#2b6cb0", linewidth=1.2, linestyle="--"))
            ax.text(rx0, zone_h + 0.17, r, fontsize=8, color="#2b6cb0")
            x += 0.2
        ax.add_patch(Rectangle((px0 - 0.14, -0.2), x - px0 - 0.06, zone_h + 0.7, fill=False,
                               edgecolor="#888888" if p_down else "#444444", linewidth=1.6))
        ax.text(px0 - 0.1, zone_h + 0.4, p, fontsize=9, fontweight="bold")
        x += 0.3
    # services in a row above the boxes, callers left of what they call; call edges between them
    from simulator.graph import dependency_order

    order = [s for s in reversed(dependency_order(model)) if s in services]
    top = zone_h + 1.0
    span = max(x - 0.6, 1.0)
    pos = {s: (span * (k + 0.5) / len(order), top + 0.3 * (k % 2)) for k, s in enumerate(order)}
    for s, svc in model.services.items():
        ax.text(*pos[s], s, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": color[s], "alpha": 0.3, "edgecolor": color[s]})
        for call in svc.calls:
            ax.add_patch(FancyArrowPatch(pos[s], pos[call.service], arrowstyle="-|>", mutation_scale=10,
                                         connectionstyle="arc3,rad=0.2", color="#555555",
                                         linestyle=":" if call.optional else "-", shrinkA=14, shrinkB=14))
    handles = [ax.plot([], [], "o", color=color[s], label=s)[0] for s in services]
    ax.legend(handles=handles, loc="lower right", fontsize=7, title="replicas", title_fontsize=7, framealpha=0.9)
    ax.set_xlim(-0.4, x)
    ax.set_ylim(-0.35, top + 1.1)
    ax.set_axis_off()
    ax.set_title(f"{model.name}: failure domains, replicas and calls" + (" (greyed: down)" if down else ""), fontsize=10)
    return fig


# -- availability ------------------------------------------------------------------


def _scopes(results: Any) -> list[str]:
    return [SYSTEM, *results.services]


def availability(results: Any, *, ax: Axes | None = None) -> Figure:
    """Per scope (system, then each service): availability in nines with its 95 % CI."""
    fig, ax = _new(ax, figsize=(7.0, 0.5 * len(_scopes(results)) + 1.5))
    names = _scopes(results)
    y = np.arange(len(names))[::-1]
    for yi, name in zip(y, names, strict=True):
        est = results.scope(name).availability
        mid = _nines(est.mean)
        ax.barh(yi, mid, color=_COLORS[0] if name == SYSTEM else "#9ecae1", height=0.6)
        _ci_bar(ax, yi, mid, _nines(est.lo), _nines(est.hi), horizontal=True)
        label = "no downtime" if est.mean is not None and est.mean >= 1.0 else f"{est.mean * 100:.4f}%"
        ax.text(0.05, yi, label, va="center", fontsize=7, color="white" if mid > 1 else "black")
    ax.set_yticks(y, names)
    ax.set_xlabel("nines (−log10 unavailability), 95 % CI")
    ax.set_title(f"{results.info.name}: availability", fontsize=10)
    for slo_scope, targets in results.info.slo.items():
        if targets.get("availability") is not None and slo_scope in names:
            t = _nines(targets["availability"])
            yi = y[names.index(slo_scope)]
            ax.plot([t, t], [yi - 0.4, yi + 0.4], color="red", linewidth=2)
            ax.text(t, yi + 0.42, "SLO", color="red", fontsize=7, ha="center")
    return fig


def downtime(results: Any, *, ax: Axes | None = None) -> Figure:
    """Downtime per year per scope, minutes, with 95 % CIs."""
    fig, ax = _new(ax, figsize=(7.0, 0.5 * len(_scopes(results)) + 1.5))
    names = _scopes(results)
    y = np.arange(len(names))[::-1]
    for yi, name in zip(y, names, strict=True):
        est = results.scope(name).minutes_per_year
        mid = est.mean or 0.0
        ax.barh(yi, mid, color="#fdae6b", height=0.6)
        _ci_bar(ax, yi, mid, est.lo, est.hi, horizontal=True)
    ax.set_yticks(y, names)
    ax.set_xlabel("downtime, minutes per year (95 % CI)")
    ax.set_title(f"{results.info.name}: downtime", fontsize=10)
    return fig


def outage_durations(results: Any, scope: str = SYSTEM, *, ax: Axes | None = None) -> Figure:
    """Histogram of every replication's outage durations (log axis), with p50 and p95."""
    fig, ax = _new(ax)
    d = np.concatenate([r.services[scope].durations_s for r in results.records]) if results.records else np.array([])
    d = d[d > 0]
    if len(d) == 0:
        ax.text(0.5, 0.5, "no outages", ha="center", va="center", transform=ax.transAxes)
    else:
        bins = np.logspace(np.log10(d.min()) - 0.05, np.log10(d.max()) + 0.05, min(40, max(5, len(d) // 3)))
        ax.hist(d / 60.0, bins=bins / 60.0, color="#9ecae1", edgecolor="#3182bd")
        ax.set_xscale("log")
        for q, style in ((50, "--"), (95, ":")):
            v = np.percentile(d, q) / 60.0
            ax.axvline(v, color="black", linestyle=style, linewidth=1)
            ax.text(v, ax.get_ylim()[1] * 0.95, f" p{q}", fontsize=7, va="top")
        target = (results.info.slo.get(scope) or {}).get("rto_s")
        if target:
            ax.axvline(target / 60.0, color="red", linewidth=1.5)
            ax.text(target / 60.0, ax.get_ylim()[1] * 0.8, " RTO", color="red", fontsize=7)
    ax.set_xlabel("outage duration, minutes")
    ax.set_ylabel("outages")
    ax.set_title(f"{scope}: outage durations over {len(results.records)} replications", fontsize=10)
    return fig


def cumulative_downtime(results: Any, scope: str = SYSTEM, *, ax: Axes | None = None) -> Figure:
    """Downtime accumulated over the horizon: each replication (faint) and their mean."""
    fig, ax = _new(ax)
    span = results.info.horizon_s
    grid = np.linspace(0.0, span, 400)
    curves = []
    for r in results.records:
        st = r.services[scope]
        starts = st.starts_s if st.starts_s is not None else np.zeros(len(st.durations_s))
        ends = starts + st.durations_s
        acc = np.clip(grid[:, None] - starts[None, :], 0.0, (ends - starts)[None, :]).sum(axis=1) if len(starts) else np.zeros_like(grid)
        curves.append(acc / 60.0)
        ax.step(grid / 86400.0, acc / 60.0, color="#bbbbbb", linewidth=0.6, where="post")
    if curves:
        ax.plot(grid / 86400.0, np.mean(curves, axis=0), color=_COLORS[3], linewidth=2, label="mean")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("time, days")
    ax.set_ylabel("cumulative downtime, minutes")
    ax.set_title(f"{scope}: downtime accumulated over the horizon", fontsize=10)
    return fig


# -- latency -------------------------------------------------------------------------


def _latency_counts(results: Any, scope: str) -> np.ndarray:
    return results.latency_counts(scope)


def _slo_latency(results: Any, scope: str) -> dict[str, float]:
    lat = (results.info.slo.get(scope) or {}).get("latency") or {}
    return dict(lat)


def latency_cdf(results: Any, scopes: Any = None, *, ax: Axes | None = None) -> Figure:
    """CDF of successful requests' latency (log axis) per scope, with the SLO's percentile targets."""
    from simulator.metrics.histogram import bucket_values

    fig, ax = _new(ax)
    values = bucket_values()
    scopes = [SYSTEM] if scopes is None else ([scopes] if isinstance(scopes, str) else list(scopes))
    for k, scope in enumerate(scopes):
        counts = _latency_counts(results, scope)
        if counts.sum() == 0:
            continue
        cdf = np.cumsum(counts) / counts.sum()
        keep = counts > 0
        ax.step(values[keep] * 1000.0, cdf[keep], where="post", color=_COLORS[k % len(_COLORS)], label=scope)
    for q, target in _slo_latency(results, SYSTEM).items():
        frac = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}[q]
        ax.axvline(target * 1000.0, color="red", linewidth=1, linestyle="--")
        ax.axhline(frac, color="red", linewidth=0.6, linestyle=":")
        ax.text(target * 1000.0, 0.02, f" SLO {q}", color="red", fontsize=7, rotation=90, va="bottom")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("latency, ms (successful requests)")
    ax.set_ylabel("fraction of requests")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{results.info.name}: latency CDF", fontsize=10)
    return fig


def latency_histogram(results: Any, scope: str = SYSTEM, *, ax: Axes | None = None) -> Figure:
    """Histogram of successful requests' latency on a log axis, with p50 / p99 marked."""
    from simulator.metrics.histogram import bucket_values, quantiles

    fig, ax = _new(ax)
    counts = _latency_counts(results, scope)
    values = bucket_values() * 1000.0
    if counts.sum() == 0:
        ax.text(0.5, 0.5, "no successful requests", ha="center", va="center", transform=ax.transAxes)
    else:
        nz = np.flatnonzero(counts)
        lo, hi = nz[0], nz[-1] + 1
        ax.bar(values[lo:hi], counts[lo:hi] / counts.sum(), width=values[lo:hi] * 0.02, color="#9ecae1",
               edgecolor="#3182bd", linewidth=0.3, align="center")
        for q in (0.5, 0.99):
            v = float(quantiles(counts.astype(float), q)[0]) * 1000.0
            ax.axvline(v, color="black", linestyle="--" if q == 0.5 else ":", linewidth=1)
            ax.text(v, ax.get_ylim()[1] * 0.95, f" p{int(q * 100)}", fontsize=7, va="top")
        ax.set_xscale("log")
    ax.set_xlabel("latency, ms")
    ax.set_ylabel("share of successful requests")
    ax.set_title(f"{scope}: latency distribution", fontsize=10)
    return fig


def percentiles(results: Any, scopes: Any = None, *, ax: Axes | None = None) -> Figure:
    """p50 / p90 / p99 / p99.9 per scope as bars with their 95 % CIs."""
    fig, ax = _new(ax, figsize=(8.0, 4.0))
    req = results.requests
    scopes = [SYSTEM, *results.services] if scopes is None else list(scopes)
    qs = ["p50", "p90", "p99", "p999"]
    width = 0.8 / len(qs)
    for j, q in enumerate(qs):
        xs = np.arange(len(scopes)) + (j - 1.5) * width
        for x, scope in zip(xs, scopes, strict=True):
            block = (req["system"] if scope == SYSTEM else req["services"][scope]) if req else None
            lat = (block or {}).get("latency_ok") or {}
            mid = (lat.get(q) or 0.0) * 1000.0
            ci = (lat.get("ci95") or {}).get(q) or [None, None]
            ax.bar(x, mid, width=width, label=q if scope == scopes[0] else None, color=_COLORS[j])
            _ci_bar(ax, x, mid, *(None if c is None else c * 1000.0 for c in ci), capsize=2)
    for q, target in _slo_latency(results, SYSTEM).items():
        ax.axhline(target * 1000.0, color="red", linestyle="--", linewidth=1)
        ax.text(len(scopes) - 0.5, target * 1000.0, f"SLO {q}", color="red", fontsize=7, va="bottom", ha="right")
    ax.set_xticks(np.arange(len(scopes)), scopes)
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (95 % CI)")
    ax.legend(fontsize=8)
    ax.set_title(f"{results.info.name}: latency percentiles", fontsize=10)
    return fig


# -- chaos -------------------------------------------------------------------------


def _shade_faults(ax: Axes, chaos_results: Any, label: bool) -> None:
    for k, s in enumerate(chaos_results.experiment.steps):
        end = min(s.end_s, chaos_results.experiment.end_s)
        ax.axvspan(s.start_s / 60.0, end / 60.0, color=_COLORS[(k + 3) % len(_COLORS)], alpha=0.15,
                   label=f"{s.name} ({s.spec.fault})" if label else None)


def chaos_timeline(chaos_results: Any, services: Any = None) -> Figure:
    """Success ratio, p99, serving replicas and queue depth over time, faults shaded."""
    frame = chaos_results.timeline()
    services = chaos_results.services if services is None else list(services)
    fig, axes = _new(None, figsize=(9.0, 8.0), nrows=4, sharex=True)
    t = frame.index.values / 60.0
    axes[0].plot(t, frame["success_ratio"].values * 100.0, color=_COLORS[0])
    for p in chaos_results.probes:
        if p.sli == "success_ratio":
            axes[0].axhline(p.limit * 100.0, color="red", linestyle="--", linewidth=1, label=f"steady state ≥ {p.limit:.2%}")
    axes[0].set_ylabel("success %")
    axes[1].plot(t, frame["p99_s"].values * 1000.0, color=_COLORS[1])
    for p in chaos_results.probes:
        if p.sli == "p99":
            axes[1].axhline(p.limit * 1000.0, color="red", linestyle="--", linewidth=1)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("p99, ms")
    for k, s in enumerate(services):
        axes[2].step(t, frame[f"replicas.{s}"].values, where="post", label=s, color=_COLORS[k % len(_COLORS)])
        axes[3].plot(t, frame[f"queue.{s}"].values, label=s, color=_COLORS[k % len(_COLORS)])
    axes[2].set_ylabel("serving replicas")
    axes[3].set_ylabel("queue depth")
    axes[3].set_xlabel("time, minutes")
    for i, a in enumerate(axes):
        _shade_faults(a, chaos_results, label=(i == 0))
    axes[0].legend(fontsize=7, loc="lower left")
    axes[2].legend(fontsize=7, loc="upper right", ncol=2)
    fig.suptitle(f"{chaos_results.experiment.plan.title}: {chaos_results.replications} replications (mean)", fontsize=10)
    return fig


def recovery(chaos_results: Any, fault: str | None = None, *, ax: Axes | None = None) -> Figure:
    """Each replication's time to recover (and to detect, fail over) for one fault,
    as empirical CDFs, against the RTO of the resiliency policy (or the SLO)."""
    fig, ax = _new(ax)
    steps = chaos_results.experiment.steps
    step = steps[0] if fault is None else next(s for s in steps if s.name == fault)
    per = [r.steps[step.name] for r in chaos_results.records]
    n = len(per)
    for k, (key, label) in enumerate((("detect_s", "detect"), ("failover_s", "fail over"), ("recover_s", "recover"))):
        vals = np.sort([p[key] for p in per if p[key] is not None])
        if len(vals):
            ax.step(np.concatenate([[0.0], vals]) / 60.0, np.arange(len(vals) + 1) / n, where="post",
                    color=_COLORS[k], label=f"{label} ({len(vals)}/{n})")
    policy = chaos_results.policy().get(step.disruption) or {}
    rto = policy.get("rto_target_s") or getattr(chaos_results.experiment.topology.slo, "rto_s", None)
    if rto:
        ax.axvline(rto / 60.0, color="red", linewidth=1.5)
        ax.text(rto / 60.0, 0.05, " RTO", color="red", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("minutes from the fault's start")
    ax.set_ylabel("fraction of replications")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no detection, failover or recovery recorded", ha="center", transform=ax.transAxes)
    ax.set_title(f"{step.name} ({step.spec.fault}): recovery over {n} replications", fontsize=10)
    return fig


# -- variants --------------------------------------------------------------------------


def compare(variants: Any) -> Figure:
    """Variants side by side: availability (nines), p99 latency and downtime, with 95 % CIs.

    ``variants``: a mapping name -> Results, or a SweepResults.
    """
    if hasattr(variants, "names") and hasattr(variants, "results"):
        variants = dict(zip(variants.names, variants.results, strict=True))
    names = list(variants)
    fig, axes = _new(None, figsize=(max(7.0, 1.2 * len(names) + 3), 7.5), nrows=3, sharex=True)
    x = np.arange(len(names))
    for i, name in enumerate(names):
        res = variants[name]
        est = res.scope(SYSTEM).availability
        mid = _nines(est.mean)
        axes[0].bar(i, mid, color=_COLORS[i % len(_COLORS)])
        _ci_bar(axes[0], i, mid, _nines(est.lo), _nines(est.hi), capsize=4)
        req = res.requests
        lat = (req or {}).get("system", {}).get("latency_ok") or {}
        if lat.get("p99") is not None:
            ci = (lat.get("ci95") or {}).get("p99")
            p99 = lat["p99"] * 1000.0
            axes[1].bar(i, p99, color=_COLORS[i % len(_COLORS)])
            if ci:
                _ci_bar(axes[1], i, p99, *(None if c is None else c * 1000.0 for c in ci), capsize=4)
        dt = res.scope(SYSTEM).minutes_per_year
        axes[2].bar(i, dt.mean or 0.0, color=_COLORS[i % len(_COLORS)])
        _ci_bar(axes[2], i, dt.mean, dt.lo, dt.hi, capsize=4)
    axes[0].set_ylabel("nines")
    axes[1].set_ylabel("p99, ms")
    axes[2].set_ylabel("downtime, min/yr")
    axes[2].set_xticks(x, names, rotation=20, ha="right")
    fig.suptitle("variants compared (95 % CIs)", fontsize=10)
    return fig


class ResultsPlots:
    """``results.plot.<kind>()``: the figures of one :class:`~simulator.Results`."""

    def __init__(self, results: Any) -> None:
        self._r = results

    def topology(self, **kw: Any) -> Figure:
        return topology(self._r.model, **kw)

    def availability(self, **kw: Any) -> Figure:
        return availability(self._r, **kw)

    def downtime(self, **kw: Any) -> Figure:
        return downtime(self._r, **kw)

    def outage_durations(self, scope: str = SYSTEM, **kw: Any) -> Figure:
        return outage_durations(self._r, scope, **kw)

    def cumulative_downtime(self, scope: str = SYSTEM, **kw: Any) -> Figure:
        return cumulative_downtime(self._r, scope, **kw)

    def latency_cdf(self, scopes: Any = None, **kw: Any) -> Figure:
        return latency_cdf(self._r, scopes, **kw)

    def latency_histogram(self, scope: str = SYSTEM, **kw: Any) -> Figure:
        return latency_histogram(self._r, scope, **kw)

    def percentiles(self, scopes: Any = None, **kw: Any) -> Figure:
        return percentiles(self._r, scopes, **kw)


class ChaosPlots:
    """``chaos_results.plot.<kind>()``."""

    def __init__(self, results: Any) -> None:
        self._r = results

    def timeline(self, services: Any = None) -> Figure:
        return chaos_timeline(self._r, services)

    def recovery(self, fault: str | None = None, **kw: Any) -> Figure:
        return recovery(self._r, fault, **kw)

    def topology(self, **kw: Any) -> Figure:
        return topology(self._r.experiment.topology, **kw)
