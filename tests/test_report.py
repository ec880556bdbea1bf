"""``failsim report``: a self-contained HTML page that renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# as root in a closed network: no sandbox, no background connections
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PLAN = """
title: short database slowdown
duration: 6m
replications: 2
background_failures: false
method:
  - {name: slow-db, fault: slowdown, target: {service: db}, multiplier: 4, at: 2m, duration: 30s}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    plan = tmp / "plan.yaml"
    plan.write_text(PLAN)
    out = tmp / "report.html"
    result = CliRunner().invoke(app, ["report", str(ROOT / "topologies" / "retry-storm.yaml"), str(plan), "-n", "2",
                                      "--horizon", "10m", "--executor", "serial", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained(report):
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no external assets
    assert "<script" not in page
    for heading in ("Topology", "Availability", "SLO verdicts", "Requests and latency", "Chaos plan"):
        assert f"<h2>{heading}" in page
    # topology, availability, downtime, outages, cumulative, latency CDF, percentiles, chaos timeline, recovery
    assert page.count("<figure><svg") == 9


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(report.as_uri())
            figures = page.locator("figure svg")
            assert figures.count() == 9
            for i in range(figures.count()):
                box = figures.nth(i).bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 150, (i, box)
            assert page.locator("h1").inner_text().startswith("failsim report: retry-storm")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert shot.stat().st_size > 50_000  # a full page of figures, not a blank one


def test_report_bad_plan_writes_nothing(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("service: db", "service: dbb"))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(ROOT / "topologies" / "retry-storm.yaml"), str(plan), "-n", "1",
                                      "--horizon", "1m", "--executor", "serial", "-o", str(out)])
    assert result.exit_code == 2
    assert "method[0].target.service: unknown service 'dbb'" in result.stderr
    assert not out.exists()
