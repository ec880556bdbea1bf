"""The results of a chaos experiment: recovery distributions, policy, metastability, journal.

Recovery figures of each fault are distributions over replications (p50, p95, max):
the RTO and RPO estimates. The journal follows Chaos Toolkit's shape: the experiment,
its status (``completed``, or ``deviated`` when the steady state did not hold after
the method), the steady-state probes before, during and after, the activities run.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import numpy as np

from simulator._version import __version__
from simulator.chaos.compile import Experiment
from simulator.chaos.measure import window_values, windows
from simulator.chaos.run import SAMPLES, ChaosRecord
from simulator.metrics.quantiles import order_statistic_ci
from simulator.metrics.requests import combine, request_summary
from simulator.metrics.verdict import verdict
from simulator.model.recovery import DISRUPTIONS
from simulator.provenance import library_versions
from simulator.units import format_duration

__all__ = ["ChaosResults", "FIGURES"]

#: per-fault figures, each a distribution over replications
FIGURES = ("detect_s", "failover_s", "recover_s", "failed_requests", "error_budget", "data_lost_s")


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return _clean(x.item())
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def distribution(values: list[float | None], *, none_is_inf: bool = False) -> dict[str, Any]:
    """p50, p95 (each the next higher observation, with its exact order-statistic 95 %
    interval over replications), max and mean over replications.

    ``None`` is a replication without the figure (nothing to fail over, say); with
    ``none_is_inf`` it counts as infinite (never recovered), so the high percentiles say
    "never" when enough replications never recovered.
    """
    have = [float(v) for v in values if v is not None]
    missing = len(values) - len(have)
    arr = np.asarray(have + ([math.inf] * missing if none_is_inf else []), dtype=float)
    out: dict[str, Any] = {"n": len(have), "missing": missing}
    if len(arr) == 0:
        out.update(p50=None, p95=None, max=None, mean=None, ci95={"p50": None, "p95": None})
        return out
    finite = arr[np.isfinite(arr)]
    est = {name: order_statistic_ci(arr, q) for name, q in (("p50", 0.5), ("p95", 0.95))}
    out.update(p50=est["p50"].mean, p95=est["p95"].mean, max=float(arr.max()),
               mean=float(finite.mean()) if len(finite) else None, ci95={k: e.ci95() for k, e in est.items()})
    notes = {k: e.note for k, e in est.items() if e.note}
    if notes:
        out["notes"] = notes
    return out


class Journal(dict):
    """A Chaos Toolkit-style journal: a plain dict (``json.dumps`` it) that renders as
    compact tables in Jupyter."""

    def _repr_html_(self) -> str:
        from simulator.report_text import _html_table

        exp = self.get("experiment", {})
        parts = [f"<p><b>{html.escape(str(exp.get('title')))}</b>: status <b>{html.escape(str(self.get('status')))}</b>, "
                 f"{self.get('replications')} replications, seed {self.get('seed')}</p>"]
        rows = []
        for window, block in self.get("steady_states", {}).items():
            for p in block["probes"]:
                tol = ", ".join(f"{k} {v}" for k, v in p["tolerance"].items())
                rows.append([window, str(p["name"]), f"{p['value']:.6g}" if isinstance(p["value"], float) else "-", tol,
                             "met" if p["tolerance_met"] else "NOT met", f"{p['replications_met']}/{self.get('replications')}"])
        parts.append(_html_table(["window", "probe", "value", "tolerance", "", "replications"], rows))
        runs = [[a["activity"]["name"], a["activity"]["fault"], f"{a['start']:g}", f"{a['end']:g}",
                 _fmt_s((a["output"].get("recover_s") or {}).get("p95"))] for a in self.get("run", [])]
        parts.append(_html_table(["activity", "fault", "start s", "end s", "recover p95"], runs))
        return "<div class='failsim-journal'>" + "".join(parts) + "</div>"


class ChaosResults:
    """What a chaos plan did to a topology, over ``replications`` replications."""

    def __init__(self, exp: Experiment, records: list[ChaosRecord], *, seed: int, model_hash: str, wall_s: float = 0.0):
        self.experiment = exp
        self.records = records
        self.seed = seed
        self.model_hash = model_hash
        self.wall_s = wall_s
        self.probes = exp.plan.probes(exp.topology)
        tl = records[0].timeline
        for r in records[1:]:
            tl = tl.add(r.timeline)
        self.pooled = tl
        self.services = [s.name for s in exp.sim.services]

    @property
    def plot(self):
        """Figures: ``.plot.timeline()``, ``.plot.recovery(fault)``, ``.plot.topology()``."""
        from simulator.plot import ChaosPlots

        return ChaosPlots(self)

    # -- figures -----------------------------------------------------------------

    @property
    def replications(self) -> int:
        return len(self.records)

    def fault(self, name: str) -> dict[str, Any]:
        """One step's figures as distributions over replications."""
        step = next(s for s in self.experiment.steps if s.name == name)
        per = [r.steps[name] for r in self.records]
        out: dict[str, Any] = {
            "fault": step.spec.fault,
            "disruption": step.disruption,
            "start_s": step.start_s,
            "end_s": min(step.end_s, self.experiment.end_s),
            "targets": per[0]["targets"] if all(p["targets"] == per[0]["targets"] for p in per) else "varies",
        }
        for fig in FIGURES:
            out[fig] = distribution([p[fig] for p in per], none_is_inf=(fig == "recover_s"))
        out["never_recovered"] = sum(1 for p in per if p["recover_s"] is None)
        return out

    @property
    def faults(self) -> dict[str, dict[str, Any]]:
        return {s.name: self.fault(s.name) for s in self.experiment.steps}

    def steady_state(self) -> dict[str, dict[str, Any]]:
        """Each probe in each window, pooled over replications, and how many replications met it."""
        out: dict[str, dict[str, Any]] = {}
        for window, (lo, hi) in windows(self.experiment).items():
            probes = []
            for p in self.probes:
                value = window_values(self.pooled, p, lo, hi)
                reps = [r.probes[window][p.label] for r in self.records]
                probes.append({
                    "name": p.label, "sli": p.sli, "entry": p.entry,
                    "tolerance": {"at_least" if p.sli == "success_ratio" else "at_most": p.limit},
                    "value": value,
                    "tolerance_met": p.ok(value),
                    "replications_met": sum(1 for v in reps if p.ok(v)),
                })
            out[window] = {"from_s": lo, "to_s": hi, "steady_state_met": all(x["tolerance_met"] for x in probes),
                           "probes": probes}
        return out

    @property
    def status(self) -> str:
        """``completed`` when the steady state held before and after; else ``deviated``."""
        ss = self.steady_state()
        return "completed" if ss["before"]["steady_state_met"] and ss["after"]["steady_state_met"] else "deviated"

    def metastability(self) -> dict[str, Any]:
        per = [r.meta for r in self.records]
        flagged = [i for i, m in enumerate(per) if m.get("metastable")]
        spec = self.experiment.plan.metastability
        return {
            "metastable": len(flagged) > 0,
            "replications_metastable": len(flagged),
            "criterion": f"success ratio below {spec.below:.0%} for more than {format_duration(spec.after_s)} "
                         "after every fault ended",
            "collapsed_for_s": distribution([m.get("collapsed_for_s") for m in per]),
            "evidence": [{"replication": self.records[i].index, **per[i]} for i in flagged[:5]],
        }

    def policy(self) -> dict[str, dict[str, Any]]:
        """The topology's resiliency policy judged per disruption type the plan exercised."""
        pol = self.experiment.topology.resiliency
        if pol is None:
            return {}
        q = pol.percentile
        out = {}
        for kind in DISRUPTIONS:
            objective = getattr(pol, kind)
            steps = [s for s in self.experiment.steps if s.disruption == kind]
            if objective is None or not steps:
                continue
            rec = [r.steps[s.name]["recover_s"] for s in steps for r in self.records]
            lost = [r.steps[s.name]["data_lost_s"] for s in steps for r in self.records]
            rto = order_statistic_ci([math.inf if v is None else v for v in rec], q / 100)
            rpo = order_statistic_ci(lost, q / 100)
            judged = [verdict(target, est, higher_is_better=False)
                      for target, est in ((objective.rto_s, rto), (objective.rpo_s, rpo)) if target is not None]
            status = ("PolicyBreached" if "missed" in judged else
                      "PolicyInconclusive" if "inconclusive" in judged else "PolicyMet")
            out[kind] = {
                "faults": [s.name for s in steps],
                "rto_target_s": objective.rto_s, "rto_estimate_s": rto.mean, "rto_ci95": rto.ci95(),
                "rpo_target_s": objective.rpo_s, "rpo_estimate_s": rpo.mean, "rpo_ci95": rpo.ci95(),
                "percentile": q,
                "status": status,
                **({"note": rto.note or rpo.note} if status == "PolicyInconclusive" and (rto.note or rpo.note) else {}),
            }
        return out

    @property
    def verdict(self) -> str:
        """``failed`` when the steady state deviated, a replication was metastable or a policy
        was breached (its interval above the target); ``inconclusive`` when a policy's
        interval straddles its target; else ``ok``."""
        policies = self.policy().values()
        if (self.status != "completed" or self.metastability()["metastable"]
                or any(p["status"] == "PolicyBreached" for p in policies)):
            return "failed"
        return "inconclusive" if any(p["status"] == "PolicyInconclusive" for p in policies) else "ok"

    def requests(self) -> dict[str, Any]:
        per_rep = [combine(list(r.requests["entries"].values())) for r in self.records]
        return request_summary(per_rep, seed=self.seed)

    # -- exports -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        exp = self.experiment
        req = self.requests()
        lat = req.get("latency") or {}
        out = {
            "kind": "chaos",
            "title": exp.plan.title,
            "topology": exp.topology.name,
            "version": __version__,
            "versions": {"failsim": __version__, **library_versions()},
            "seed": self.seed,
            "replications": self.replications,
            "duration_s": exp.end_s,
            "model_hash": self.model_hash,
            "background_failures": exp.plan.background_failures,
            "status": self.status,
            "verdict": self.verdict,
            "steady_state": self.steady_state(),
            "faults": self.faults,
            "policy": self.policy(),
            "metastability": self.metastability(),
            "requests": {
                "availability": req["availability"].to_dict() if hasattr(req.get("availability"), "to_dict") else None,
                "latency_s": {k: (v.mean if hasattr(v, "mean") else v) for k, v in lat.items()},
            },
        }
        return _clean(out)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def journal(self) -> dict[str, Any]:
        """A Chaos Toolkit-style journal (simulated times, pooled over replications)."""
        exp = self.experiment
        ss = self.steady_state()
        run = []
        for s in exp.steps:
            f = self.fault(s.name)
            params = {k: v for k, v in s.spec.model_dump(by_alias=True, exclude_none=True).items()
                      if k not in ("name", "fault", "target", "mode", "at", "after", "duration", "count", "percent", "delay_after")}
            run.append({
                "activity": {"type": "action", "name": s.name, "fault": s.spec.fault,
                             "target": s.spec.target.model_dump(exclude_none=True, exclude_defaults=True),
                             "mode": s.spec.mode, "parameters": params},
                "status": "succeeded",
                "start": s.start_s,
                "end": f["end_s"],
                "duration": f["end_s"] - s.start_s,
                "output": {k: f[k] for k in ("targets", *FIGURES, "never_recovered")},
            })
        rollbacks = [{"activity": {"type": "rollback", "undo": rb.undo}, "status": "succeeded",
                      "at": min(s.end_s for s in exp.steps if s.name == rb.undo)} for rb in exp.plan.rollbacks]
        return Journal(_clean({
            "platform": f"failsim {__version__} (simulated)",
            "experiment": {
                "title": exp.plan.title, "description": exp.plan.description, "tags": list(exp.plan.tags),
                "topology": exp.topology.name, "model_hash": self.model_hash,
                "steady-state-hypothesis": {"title": exp.plan.steady_state.title if exp.plan.steady_state else
                                            "from the topology's slo", "probes": [p.model_dump(exclude_none=True) for p in self.probes]},
                "method": [r["activity"] for r in run],
            },
            "seed": self.seed,
            "replications": self.replications,
            "start": 0.0,
            "end": exp.end_s,
            "duration": exp.end_s,
            "status": self.status,
            "deviated": self.status == "deviated",
            "steady_states": {"before": ss["before"], "during": ss["during"], "after": ss["after"]},
            "run": run,
            "rollbacks": rollbacks,
            "policy": self.policy(),
            "metastability": self.metastability(),
        }))

    def timeline(self):
        """Per-bin DataFrame indexed by time (s): pooled SLI and latency, per-service means, active faults."""
        import pandas as pd

        tl = self.pooled
        data: dict[str, Any] = {
            "requests": tl.requests / self.replications,
            "success_ratio": tl.success_ratio(),
            "p50_s": tl.quantile(0.5),
            "p99_s": tl.quantile(0.99),
        }
        for kind in SAMPLES:
            mean = np.mean([r.samples[kind] for r in self.records], axis=0)
            for j, svc in enumerate(self.services):
                data[f"{kind}.{svc}"] = mean[:, j]
        times = tl.times
        active = []
        for t in times:
            on = [s.name for s in self.experiment.steps if s.start_s <= t < s.end_s]
            active.append(",".join(on))
        data["faults"] = active
        frame = pd.DataFrame(data, index=pd.Index(times, name="time_s"))
        return frame

    def recovery_frame(self):
        """One row per replication and fault, with every recovery figure."""
        import pandas as pd

        rows = []
        for r in self.records:
            for name, f in r.steps.items():
                rows.append({"replication": r.index, "fault": name, **{k: f[k] for k in FIGURES},
                             "metastable": r.meta.get("metastable", False)})
        return pd.DataFrame(rows)

    # -- text ----------------------------------------------------------------------

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, headers, rows) of the faults, the probes and the policy."""
        out = []
        rows = []
        for name, f in self.faults.items():
            rows.append([
                name, f["fault"], f"{format_duration(f['start_s'])}-{format_duration(f['end_s'])}",
                _dist_time(f["detect_s"]), _dist_time(f["failover_s"]), _dist_time(f["recover_s"]),
                _fmt(f["failed_requests"]["p50"], "{:.0f}"), _fmt(f["error_budget"]["p50"], "{:.2%}"),
                _dist_time(f["data_lost_s"]),
            ])
        out.append(("faults (times from the fault's start; budget: share of a 30-day error budget)",
                    ["fault", "kind", "window", "detect p50/p95", "failover p50/p95", "recover p50/p95",
                     "failed req p50", "budget p50", "data lost p50/p95"], rows))
        ss = self.steady_state()
        prow = []
        for window in ("before", "during", "after"):
            for p in ss[window]["probes"]:
                tol = ("≥ " if p["sli"] == "success_ratio" else "≤ ") + _probe_fmt(p["sli"], next(iter(p["tolerance"].values())))
                prow.append([window, p["name"], _probe_fmt(p["sli"], p["value"]), tol,
                             "met" if p["tolerance_met"] else "NOT met",
                             f"{p['replications_met']}/{self.replications}"])
        out.append(("steady state", ["window", "probe", "value", "tolerance", "", "replications met"], prow))
        pol = self.policy()
        if pol:
            rows = [[k, _fmt_s(v["rto_target_s"]), _fmt_s(v["rto_estimate_s"]) + _ci_s(v["rto_ci95"]),
                     _fmt_s(v["rpo_target_s"]), _fmt_s(v["rpo_estimate_s"]) + _ci_s(v["rpo_ci95"]), v["status"]]
                    for k, v in pol.items()]
            out.append(("resiliency policy", ["disruption", "RTO target", f"RTO p{pol[next(iter(pol))]['percentile']:g}",
                                              "RPO target", "RPO estimate", "status"], rows))
        return out

    def _heading(self) -> str:
        exp = self.experiment
        return (f"{exp.plan.title} on {exp.topology.name}: {self.replications} replications x "
                f"{format_duration(exp.end_s)}, seed {self.seed}, background failures "
                f"{'on' if exp.plan.background_failures else 'off'}")

    def _closing(self) -> list[str]:
        meta = self.metastability()
        return [f"metastable: {'YES' if meta['metastable'] else 'no'} "
                f"({meta['replications_metastable']}/{self.replications} replications; {meta['criterion']})",
                f"status: {self.status}; verdict: {self.verdict}"]

    def summary(self) -> str:
        from simulator.report_text import _text_table

        parts = [self._heading()]
        for title, headers, rows in self.tables():
            parts += ["", _text_table(headers, rows)]
            if title.startswith("faults"):
                parts.append("times from the fault's start; budget: share of a 30-day error budget at the success target")
        parts.append("")
        parts += self._closing()
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<ChaosResults {self.experiment.plan.title!r}: {self.replications} replications, {self.status}>"

    def _repr_html_(self) -> str:
        from simulator.report_text import _html_table

        parts = [f"<p><b>{html.escape(self._heading())}</b></p>"]
        for title, headers, rows in self.tables():
            parts += [f"<p>{html.escape(title)}</p>", _html_table(headers, rows)]
        parts += [f"<p>{html.escape(line)}</p>" for line in self._closing()]
        return "<div class='failsim-chaos'>" + "".join(parts) + "</div>"


def _fmt(x: Any, pattern: str) -> str:
    return "-" if x is None else pattern.format(x)


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "never"
    return format_duration(x)


def _ci_s(ci: list | None) -> str:
    """`` [lo, hi]`` of durations; a bound the data cannot give is ``?``."""
    if ci is None:
        return ""
    lo, hi = ("?" if x is None else _fmt_s(x) for x in ci)
    return f" [{lo}, {hi}]"


def _dist_time(d: dict[str, Any]) -> str:
    if d["n"] == 0 and not d.get("missing"):
        return "-"
    if d.get("p50") is None:
        return "-"
    return f"{_fmt_s(d['p50'])} / {_fmt_s(d['p95'])}"


def _probe_fmt(sli: str, v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if sli in ("success_ratio", "error_ratio"):
        return f"{v * 100:.3f}%"
    if not math.isfinite(v):
        return "none succeeded"
    return f"{v * 1000:.0f} ms"
