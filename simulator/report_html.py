"""``failsim report``: one self-contained HTML page of a run (and optionally a chaos plan).

Figures are embedded as inline SVG and the styles inline: the page has no external
assets, no scripts, and can be mailed or attached to a ticket as it is.
"""

from __future__ import annotations

import html
import io
import json
from typing import Any

from simulator.report_text import _heading, _html_table, load_table, requests_table, slo_table, summary_table

__all__ = ["build_report"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f3f6fa; }
td:first-child, th:first-child { text-align: left; }
.met, .PolicyMet, .completed, .ok { color: #1a7f37; font-weight: 600; }
.missed, .PolicyBreached, .deviated, .failed { color: #c62828; font-weight: 600; }
.inconclusive, .PolicyInconclusive { color: #b26a00; font-weight: 600; }
.note { color: #8a6d3b; font-size: 0.85em; } .muted { color: #666; font-size: 0.85em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.8em; color: #555; }
pre { background: #f7f7f7; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(fig: Any, caption: str) -> str:
    return f"<figure>{_svg(fig)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _run_section(results: Any) -> list[str]:
    from simulator import plot

    parts = [f"<p class='muted'>{html.escape(_heading(results))}</p>"]
    parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in results.info.notes]
    if results.model is not None:
        parts += ["<h2>Topology</h2>", _figure(plot.topology(results.model),
                                               "Failure domains (provider > region > zone), replicas by service, calls.")]
    parts += ["<h2>Availability</h2>", _html_table(*summary_table(results))]
    if results.slo:
        headers, rows = slo_table(results)
        parts += ["<h2>SLO verdicts</h2>", _html_table(headers, rows, len(headers) - 1),
                  f"<p>overall: <span class='{results.verdict}'>{html.escape(results.verdict)}</span></p>"]
    parts += [
        _figure(plot.availability(results), "Availability per scope in nines, with 95 % confidence intervals."),
        _figure(plot.downtime(results), "Downtime per year, with 95 % confidence intervals."),
        _figure(plot.outage_durations(results), "Outage durations of every replication (the system)."),
        _figure(plot.cumulative_downtime(results), "Downtime accumulated over the horizon: replications and mean."),
    ]
    if results.requests is not None:
        parts += ["<h2>Requests and latency</h2>", _html_table(*requests_table(results)), _html_table(*load_table(results)),
                  _figure(plot.latency_cdf(results, ["system", *results.services]), "Latency CDF of successful requests."),
                  _figure(plot.percentiles(results), "Latency percentiles with bootstrap 95 % confidence intervals.")]
    cost = results.cost
    if cost:
        parts += ["<h2>Cost</h2>", f"<pre>{html.escape(json.dumps(cost, indent=2))}</pre>"]
    return parts


def _chaos_section(chaos_results: Any) -> list[str]:
    parts = [f"<h2>Chaos plan: {html.escape(chaos_results.experiment.plan.title)}</h2>"]
    if chaos_results.experiment.plan.description:
        parts.append(f"<p>{html.escape(chaos_results.experiment.plan.description)}</p>")
    status, verdict = chaos_results.status, chaos_results.verdict
    parts.append(f"<p>status: <span class='{status}'>{status}</span>; verdict: <span class='{verdict}'>{verdict}</span></p>")
    parts.append(f"<pre>{html.escape(chaos_results.summary())}</pre>")
    pol = chaos_results.policy()
    if pol:
        rows = [[k, str(v["rto_target_s"]), f"{v['rto_estimate_s']:.4g}", str(v["rpo_target_s"]),
                 f"{v['rpo_estimate_s']:.4g}", v["status"]] for k, v in pol.items()]
        parts.append(_html_table(["disruption", "RTO target s", "RTO estimate s", "RPO target s", "RPO estimate s",
                                     "status"], rows, 5))
    parts.append(_figure(chaos_results.plot.timeline(), "Success ratio, p99, serving replicas and queue depth; faults shaded."))
    for step in chaos_results.experiment.steps:
        parts.append(_figure(chaos_results.plot.recovery(step.name),
                             f"{step.name}: times to detect, fail over and recover over the replications, against the RTO."))
    return parts


def build_report(results: Any, chaos_results: Any = None, title: str | None = None) -> str:
    """The whole page as a string (UTF-8 HTML with inline SVG figures)."""
    name = title or results.info.name
    description = getattr(results.model, "description", "") if results.model is not None else ""
    body = [f"<h1>failsim report: {html.escape(name)}</h1>"]
    if description:
        body.append(f"<p>{html.escape(description)}</p>")
    body += _run_section(results)
    if chaos_results is not None:
        body += _chaos_section(chaos_results)
    body.append(f"<p class='muted'>failsim {html.escape(results.info.version)}, seed {results.info.seed}, "
                f"model {html.escape(results.info.model_hash)}</p>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>failsim: {html.escape(name)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
