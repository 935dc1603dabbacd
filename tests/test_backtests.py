"""Backtests on the shipped real logs, through the command line: calibrate on one
part, forecast the other given the outreach actually made, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from cssim.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "cssim" / "data"
MAPPINGS = ROOT / "mappings"


def cssim(*arguments: str) -> str:
    """Run a cssim command in-process; fail the test on a non-zero exit."""
    result = CliRunner().invoke(main, [str(argument) for argument in arguments])
    assert result.exit_code == 0, result.output + str(result.exception)
    return result.output


def coverage_of(folder: Path) -> dict:
    return json.loads((folder / "coverage.json").read_text(encoding="utf-8"))


def lowest_acceptable(checked: float) -> float:
    """The 0.05% quantile of Binomial(checked, 0.9): far below it, intervals lie."""
    return stats.binom.ppf(0.0005, int(checked), 0.9)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bank_marketing_backtest_covers_the_later_months(workdir):
    """Calibrated before March 2010, the forecast covers March-November's responses."""
    export = DATA / "bank-additional-full.csv.gz"
    mapping = MAPPINGS / "bank_marketing.yaml"
    later = ["--since", "2010-03-01", "--until", "2010-12-01"]

    cssim("calibrate", export, "--mapping", mapping, "--until", "2010-03-01",
          "--base", ROOT / "scenarios" / "bank_phone_outreach.yaml",
          "-o", "bank.yaml", "--no-tracking")
    cssim("forecast", "bank.yaml", "--given-outreach", export, "--mapping", mapping,
          *later, "-r", "200", "-o", "forecast", "--no-tracking")
    cssim("compare", "forecast", export, "--mapping", mapping, *later,
          "--kpi", "response_rate", "--kpi", "touches", "-o", "comparison",
          "--no-tracking")

    result = coverage_of(workdir / "comparison")
    table = pd.read_csv(workdir / "comparison" / "comparison.csv")
    touches = table[table["kpi"] == "touches"]
    assert len(touches) == 50 and (touches["error"] == 0).all()
    assert result["checked"] == 50
    assert result["inside"] >= lowest_acceptable(result["checked"])
    assert (workdir / "comparison" / "fan_response_rate_all.png").exists()
    assert "log_odds_shift" in (workdir / "bank.yaml").read_text(encoding="utf-8")


def test_hillstrom_backtest_covers_each_arm(workdir):
    """Calibrated on half the customers, the forecast covers the other half's arms."""
    export = DATA / "hillstrom.csv.gz"
    mapping = MAPPINGS / "hillstrom.yaml"
    half = ["--sample", "0.5", "--sample-seed", "1"]

    cssim("calibrate", export, "--mapping", mapping, *half, "-o", "hill.yaml",
          "--no-tracking")
    cssim("forecast", "hill.yaml", "--given-outreach", export, "--mapping", mapping,
          *half, "--other-part", "--by", "message", "-r", "200", "-o", "forecast",
          "--no-tracking")
    output = cssim("compare", "forecast", export, "--mapping", mapping, *half,
                   "--other-part", "--kpi", "response_rate", "--kpi", "action_rate",
                   "-o", "comparison", "--no-tracking")

    result = coverage_of(workdir / "comparison")
    assert result["checked"] == 8
    assert result["inside"] >= lowest_acceptable(result["checked"])
    for arm in ("mens", "womens", "control"):
        assert arm in output
