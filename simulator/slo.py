"""SLO targets judged on a run's calibrated intervals.

Each target of the topology's ``slo`` (and of each service's) gets its estimate, its
95 % interval and a verdict from :func:`simulator.metrics.verdict.verdict`: ``met`` or
``missed`` only when the interval excludes the target, so each verdict is wrong at most
5 % of the time; ``inconclusive`` otherwise, or when the data cannot bound the figure
(the ``note`` says why: no outage to measure a recovery on, too few for a p95).
"""

from __future__ import annotations

from typing import Any

from simulator.engine.plan import SYSTEM
from simulator.metrics.stats import Estimate
from simulator.metrics.verdict import verdict

__all__ = ["judge"]


def _row(scope: str, metric: str, target: float, est: Estimate, higher_is_better: bool) -> dict[str, Any]:
    row = {
        "scope": scope, "metric": metric, "target": target, "estimate": est.mean, "ci95": est.ci95(),
        "verdict": verdict(target, est, higher_is_better),
    }
    if est.note:
        row["note"] = est.note
    return row


def judge(results) -> dict[str, dict[str, Any]]:
    """Every target of ``results``' model with its estimate, interval and verdict."""
    out: dict[str, dict[str, Any]] = {}
    for scope, targets in results.info.slo.items():
        st = results.scope(scope)
        prefix = "" if scope == SYSTEM else f"{scope}."
        if targets.get("availability") is not None:
            out[prefix + "availability"] = _row(scope, "availability", targets["availability"], st.availability, True)
        if targets.get("rto_s") is not None:
            est = st.rto_p95_s
            row = _row(scope, "rto_p95_s", targets["rto_s"], est, False)
            if scope in results.info.unfailing:  # no outage can happen: met, whatever the target
                row["verdict"] = "met"
            elif est.mean is None:
                row["note"] = f"no outage in {est.n} replications: no recovery to measure"
            out[prefix + "rto"] = row
        out.update(_request_targets(results, scope, prefix, targets))
    return out


def _request_targets(results, scope: str, prefix: str, targets: dict) -> dict[str, dict[str, Any]]:
    keys = [] if targets.get("request_availability") is None else [("request_availability", targets["request_availability"])]
    keys += [(f"latency.{k}", v) for k, v in (targets.get("latency") or {}).items()]
    if not keys:
        return {}
    req = results.requests
    rs = None if req is None else (req["system"] if scope == SYSTEM else req["services"].get(scope))
    out: dict[str, dict[str, Any]] = {}
    for key, target in keys:
        if rs is None:
            est = Estimate(None, None, None, len(results.records), "no traffic was simulated")
            out[prefix + key] = _row(scope, key, target, est, True)
        elif key == "request_availability":
            out[prefix + key] = _row(scope, key, target, rs["availability"], True)
        else:
            name = key.split(".", 1)[1]
            lat = rs["latency_ok_estimates"]
            est = lat[name] if lat else Estimate(None, None, None, len(results.records), "no request succeeded")
            out[prefix + key] = _row(scope, f"latency_{name}_s", target, est, False)
    return out
