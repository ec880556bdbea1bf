"""Tables of a run's main figures, shared by the text summary, HTML and the CLI."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from simulator.engine.plan import SYSTEM
from simulator.units import YEAR, format_duration

if TYPE_CHECKING:
    from simulator.results import Results

__all__ = ["summary_table", "slo_table", "components_table", "requests_table", "load_table", "render_text", "render_html", "fmt_availability", "fmt_nines",
           "fmt_share_ci"]


def fmt_availability(mean: float | None, lo: float | None = None, hi: float | None = None) -> str:
    if mean is None:
        return "-"
    text = f"{mean * 100:.4f}%"
    if lo is not None and hi is not None:
        text += f" [{lo * 100:.4f}, {hi * 100:.4f}]"
    return text


def fmt_nines(value: float | None, mean: float | None) -> str:
    if mean is None:
        return "-"
    if value is None:
        return "no downtime"
    return f"{value:.2f}"


def fmt_share_ci(lo: float | None, hi: float | None) -> str:
    """``lo - hi`` in percent; a bound the data cannot give is ``?``."""
    if lo is None and hi is None:
        return "-"
    return " - ".join("?" if x is None else f"{x * 100:.4f}" for x in (lo, hi))


def _fmt_num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def summary_table(results: Results) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row for the system, then one per service."""
    headers = [
        "scope", "availability", "95% CI", "nines", "own", "downtime/yr", "outages/yr", "mean outage", "p95 outage",
    ]
    rows = []
    for name in [SYSTEM, *results.services]:
        st = results.scope(name)
        a = st.availability
        label = f"system ({', '.join(results.info.entries)})" if name == SYSTEM else name
        ci = fmt_share_ci(a.lo, a.hi)
        rows.append(
            [
                label,
                fmt_availability(a.mean),
                ci,
                fmt_nines(st.nines, a.mean),
                "" if name == SYSTEM else fmt_availability(st.own_availability.mean),
                format_duration((st.minutes_per_year.mean or 0.0) * 60.0),
                _fmt_num(st.outages_per_year.mean),
                format_duration(st.mean_outage_s.mean) if st.mean_outage_s.mean is not None else "-",
                format_duration(st.rto_p95_s.mean) if st.rto_p95_s.mean is not None else "-",
            ]
        )
    return headers, rows


def components_table(results: Results) -> tuple[list[str], list[list[str]]]:
    """One row per component group: what fails, how often, and how long repairs take."""
    headers = ["component", "members", "failures/yr each", "observed MTTR", "availability each"]
    rows = []
    for name, c in results.components.items():
        if not c["failures_per_year"] and c["availability"] == 1.0:
            continue  # never fails: nothing to say
        rows.append(
            [
                name,
                str(c["members"]),
                _fmt_num(c["failures_per_year"]),
                format_duration(c["mttr_s"]) if c["mttr_s"] is not None else "-",
                fmt_availability(c["availability"]),
            ]
        )
    return headers, rows


def _fmt_latency(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.3g}ms" if x < 1 else f"{x:.3g}s"


def _fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.3g}%"


def _failures(outcomes: dict) -> str:
    bad = sorted(((v, k) for k, v in outcomes.items() if k != "success" and v), reverse=True)
    return ", ".join(f"{k} {_fmt_pct(v)}" for v, k in bad[:3]) or "-"


def requests_table(results: Results) -> tuple[list[str], list[list[str]]]:
    """One row for the system (all entries), then each entry if several, then each service."""
    headers = ["scope", "requests", "availability (requests)", "95% CI", "p50", "p99", "p99.9", "failures", "attempts"]
    req = results.requests
    rows: list[list[str]] = []
    if req is None:
        return headers, rows
    scopes = [("system", req["system"])]
    if len(req["entries"]) > 1:
        scopes += [(f"entry {k}", v) for k, v in req["entries"].items()]
    scopes += list(req["services"].items())
    for name, rs in scopes:
        a = rs["availability"]
        lat = rs["latency_ok"] or {}
        rows.append(
            [
                name,
                f"{rs['requests']:,}",
                fmt_availability(a.mean),
                fmt_share_ci(a.lo, a.hi),
                _fmt_latency(lat.get("p50")),
                _fmt_latency(lat.get("p99")),
                _fmt_latency(lat.get("p999")),
                _failures(rs["outcomes"]),
                _fmt_num(rs.get("attempts_per_request", rs["attempts_per_call"]), 4),
            ]
        )
    return headers, rows


def load_table(results: Results) -> tuple[list[str], list[list[str]]]:
    """Per service: offered load, goodput, utilization, queue, shedding, breakers."""
    headers = ["service", "offered/s", "goodput/s", "utilization", "mean queue", "retry amp.", "shed", "breaker open"]
    req = results.requests
    rows: list[list[str]] = []
    if req is None:
        return headers, rows
    for name, rs in req["services"].items():
        load = rs["load"]
        rows.append(
            [
                name,
                _fmt_num(load["offered_per_s"], 4),
                _fmt_num(load["goodput_per_s"], 4),
                _fmt_pct(load["utilization"]),
                _fmt_num(load["mean_queue"], 2) if load["mean_queue"] else "0",
                _fmt_num(load["retry_amplification"], 4),
                _fmt_pct(load["shed_fraction"]),
                _fmt_pct(load["breaker_open_fraction"]),
            ]
        )
    return headers, rows


def _fmt_target(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in ("availability", "request_availability"):
        return f"{value * 100:.4f}%"
    if metric.startswith("latency"):
        return _fmt_latency(value)
    return format_duration(value)


def slo_table(results: Results) -> tuple[list[str], list[list[str]]]:
    headers = ["target", "objective", "estimate [95% CI]", "verdict"]
    rows = []
    for key, v in results.slo.items():
        ci = v["ci95"]
        est = _fmt_target(v["metric"], v["estimate"])
        if ci:
            bounds = ["?" if x is None else _fmt_target(v["metric"], x) for x in ci]
            est += f" [{bounds[0]}, {bounds[1]}]"
        rows.append([key, _fmt_target(v["metric"], v["target"]), est, v["verdict"]])
    return headers, rows


def _heading(results: Results) -> str:
    info = results.info
    return (
        f"{info.name}: {info.replications} replications x {format_duration(info.horizon_s)}"
        f" ({info.horizon_s / YEAR:.3g} years each), seed {info.seed}, backend {info.backend}"
    )


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(out)


FOOTNOTE = (
    "availability is time-based; 'own' counts only the service's own replicas (quorum), "
    "ignoring its dependencies, to show the weak link."
)
REQUESTS_FOOTNOTE = (
    "latency of successful requests; 'attempts' is, for the system, attempts at every service per "
    "request and, for a service, attempts per call (retries)."
)


def render_text(results: Results) -> str:
    parts = [_heading(results), *(f"note: {n}" for n in results.info.notes), "",
             _text_table(*summary_table(results)), FOOTNOTE]
    for table in (requests_table(results), load_table(results), components_table(results)):
        if table[1]:
            parts += ["", _text_table(*table)]
            if table[0][0] == "scope":
                parts.append(REQUESTS_FOOTNOTE)
    if results.slo:
        parts += ["", _text_table(*slo_table(results))]
    return "\n".join(parts)


def _html_table(headers: list[str], rows: list[list[str]], class_col: int | None = None) -> str:
    """An HTML table; the cells of column ``class_col`` also carry their text as a CSS
    class (verdict columns: ``met``, ``missed``...)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)

    def cell(i: int, c: str) -> str:
        cls = f" class='{html.escape(c)}'" if i == class_col else ""
        return f"<td{cls}>{html.escape(c)}</td>"

    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: Results) -> str:
    parts = [f"<p><b>{html.escape(_heading(results))}</b></p>", _html_table(*summary_table(results))]
    for table in (requests_table(results), load_table(results)):
        if table[1]:
            parts.append(_html_table(*table))
    if results.slo:
        parts.append(_html_table(*slo_table(results)))
    return "<div class='failsim-results'>" + "".join(parts) + "</div>"
