"""Tests of the Bank Marketing reader and the engagement-log calibrator."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from cssim.calibration import (
    EngagementLogError,
    calibrate,
    calibrate_to_scenario,
    describe_calibration,
    write_scenario_yaml,
)
from cssim.datasets import bank_marketing_log
from cssim.engagement_log import LOG_COLUMNS
from cssim.errors import SparseCellWarning
from cssim.scenario_file import load_scenario

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KNOWN_RATES = {"smb": 0.05, "mid_market": 0.15, "enterprise": 0.30}
TOUCHES_PER_SEGMENT = 4000
KNOWN_SIGMA = 0.6
KNOWN_SCALE = 8.0


@pytest.fixture(scope="module")
def bank_log() -> pd.DataFrame:
    """The shipped Bank Marketing file read once for the module."""
    return bank_marketing_log()


def synthetic_log(seed: int = 11) -> pd.DataFrame:
    """One touch per customer with known response rates and lognormal minutes."""
    rng = np.random.default_rng(seed)
    frames = []
    for segment, rate in KNOWN_RATES.items():
        frames.append(pd.DataFrame({
            "customer_id": [f"{segment}-{i}" for i in range(TOUCHES_PER_SEGMENT)],
            "segment": segment,
            "tier": rng.choice(["green", "yellow", "red"], TOUCHES_PER_SEGMENT),
            "responded": rng.random(TOUCHES_PER_SEGMENT) < rate,
        }))
    log = pd.concat(frames, ignore_index=True)
    start = pd.Timestamp("2025-01-06", tz="UTC")
    log["contacted_at"] = start + pd.to_timedelta(
        rng.integers(0, 90 * 24 * 60, len(log)), unit="min"
    )
    log["method"] = "phone"
    log["message"] = "check_in"
    log["attempt"] = 1
    log["handling_minutes"] = rng.lognormal(
        math.log(KNOWN_SCALE), KNOWN_SIGMA, len(log)
    )
    return log


def test_bank_reader_infers_years_from_month_wraps(bank_log: pd.DataFrame) -> None:
    """Rows 0-27,689 are 2008, 27,690-39,129 are 2009 and the rest 2010."""
    years = bank_log["contacted_at"].dt.tz_convert("Europe/Lisbon").dt.year
    assert (years.iloc[:27690] == 2008).all()
    assert (years.iloc[27690:39130] == 2009).all()
    assert (years.iloc[39130:] == 2010).all()
    assert len(bank_log) == 41188
    assert (bank_log["year"] == years).all()


def test_bank_reader_yields_the_log_schema(bank_log: pd.DataFrame) -> None:
    """Every engagement-log column is there with the schema's dtype."""
    for column, dtype in LOG_COLUMNS.items():
        assert str(bank_log[column].dtype) == dtype, column
    assert bank_log["customer_id"].is_unique
    assert set(bank_log["method"]) == {"phone"}
    assert (bank_log["attempt"] == bank_log["campaign"]).all()
    assert int(bank_log["responded"].sum()) == 4640
    assert bank_log["handling_minutes"].max() == pytest.approx(4918 / 60)


def test_bank_reader_keeps_weekday_and_month(bank_log: pd.DataFrame) -> None:
    """Each contact time falls on the row's weekday in the row's month."""
    local = bank_log["contacted_at"].dt.tz_convert("Europe/Lisbon")
    assert (local.dt.strftime("%a").str.lower() == bank_log["day_of_week"]).all()
    assert (local.dt.strftime("%b").str.lower() == bank_log["month"]).all()


def test_bank_reader_tier_proxy_and_segments(bank_log: pd.DataFrame) -> None:
    """Tiers follow the previous outcome and segments are four age bands."""
    assert bank_log["tier"].value_counts().to_dict() == {
        "yellow": 35563, "red": 4252, "green": 1373,
    }
    assert set(bank_log["segment"]) == {
        "age_under_30", "age_30_44", "age_45_59", "age_60_plus",
    }
    under_30 = bank_log["segment"] == "age_under_30"
    assert (bank_log.loc[under_30, "age"] < 30).all()
    assert (bank_log.loc[~under_30, "age"] >= 30).all()


def test_response_posterior_covers_known_rates() -> None:
    """Each segment's known response rate lies in its 90% posterior interval."""
    result = calibrate(synthetic_log())
    pooled = result.response.groupby("segment")[["touches", "responses"]].sum()
    for segment, rate in KNOWN_RATES.items():
        touches, responses = pooled.loc[segment]
        assert touches == TOUCHES_PER_SEGMENT
        low, high = stats.beta.ppf([0.05, 0.95], 1 + responses,
                                   1 + touches - responses)
        assert low < rate < high, (segment, low, high)
    covered = (result.response["lower"] < result.response["segment"].map(KNOWN_RATES))
    covered &= result.response["segment"].map(KNOWN_RATES) < result.response["upper"]
    # 9 cells at 90% each: 7 or more covered has probability above 0.94.
    assert covered.sum() >= 7


def test_lognormal_wins_aic_and_recovers_parameters() -> None:
    """Lognormal minutes are chosen by AIC and their parameters are recovered."""
    log = synthetic_log()
    result = calibrate(log)
    fits = result.handling_minutes_fits
    assert fits.iloc[0]["family"] == "lognorm"
    assert fits.iloc[1]["delta_aic"] > 10
    assert set(fits["family"]) == {"expon", "gamma", "lognorm", "weibull_min"}

    chosen = result.handling_minutes["phone"]
    count = len(log)
    # Maximum likelihood standard errors: s / sqrt(2n) for sigma, s / sqrt(n)
    # for log(scale); four of them leave a false alarm below 1 in 10,000.
    assert abs(chosen["s"] - KNOWN_SIGMA) < 4 * KNOWN_SIGMA / math.sqrt(2 * count)
    log_scale_error = abs(math.log(chosen["scale"]) - math.log(KNOWN_SCALE))
    assert log_scale_error < 4 * KNOWN_SIGMA / math.sqrt(count)


def test_final_touch_rows_stand_for_every_attempt() -> None:
    """A final-touch row with attempt k counts k touches and one response at most."""
    log = pd.DataFrame({
        "customer_id": ["a", "b", "c"],
        "segment": "smb",
        "tier": "red",
        "contacted_at": pd.Timestamp("2025-03-03", tz="UTC"),
        "method": "phone",
        "message": "check_in",
        "attempt": [3, 2, 1],
        "responded": [True, False, True],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseCellWarning)
        result = calibrate(log)

    assert result.log_kind == "final_touch"
    cell = result.response.iloc[0]
    assert (cell["touches"], cell["responses"]) == (6, 2)
    assert (cell["a"], cell["b"]) == (3, 5)
    by_attempt = result.response_by_attempt.set_index("attempt")
    assert by_attempt["customers_reaching"].tolist() == [3, 2, 1]
    assert by_attempt["responses"].tolist() == [1, 0, 1]
    assert result.contacts_per_customer.iloc[0]["mean"] == 2


def test_sparse_cell_warns_and_is_partially_pooled() -> None:
    """A sparse cell warns; its posterior lies between its own rate and the prior."""
    log = synthetic_log()
    tiny = log.iloc[:5].assign(segment="startup", tier="red")
    log = pd.concat([log, tiny], ignore_index=True)

    with pytest.warns(SparseCellWarning, match="'startup'.*'red': 5 touches"):
        scenario, result = calibrate_to_scenario(log, None, "synthetic log")

    prior = result.priors.set_index("outcome").loc["response"]
    posterior = scenario["methods"]["phone"]["response"]["segments"]["startup"]["red"]
    responses = int(tiny["responded"].sum())
    assert posterior["a"] == pytest.approx(prior["a"] + responses, rel=1e-4)
    assert posterior["b"] == pytest.approx(prior["b"] + 5 - responses, rel=1e-4)
    mean = posterior["a"] / (posterior["a"] + posterior["b"])
    low, high = sorted([responses / 5, prior["mean"]])
    assert low <= mean <= high
    assert "only 5 touches (minimum 30), partially pooled" in scenario["sources"][
        "methods.phone.response.segments.startup.red"
    ]


def test_written_scenario_loads_with_the_calibrated_values(tmp_path: Path) -> None:
    """The YAML written from a calibration loads and carries its numbers."""
    scenario, result = calibrate_to_scenario(synthetic_log(), None, "synthetic log")
    path = write_scenario_yaml(
        scenario, tmp_path / "calibrated.yaml", describe_calibration(result)
    )
    loaded = load_scenario(path)

    phone = loaded.methods["phone"]
    assert phone.handling_minutes.family == "lognorm"
    cell = result.response.set_index(["segment", "tier"]).loc[("mid_market", "red")]
    posterior = phone.response.segments["mid_market"]["red"]
    assert posterior.a == pytest.approx(cell["a"], rel=1e-4)
    assert posterior.b == pytest.approx(cell["b"], rel=1e-4)
    assert sum(segment.customers for segment in loaded.segments.values()) == 3000
    assert "methods.phone.handling_minutes" in loaded.sources
    assert path.read_text(encoding="utf-8").startswith("# log:")


def test_shipped_bank_scenario_matches_the_shipped_data(
    bank_log: pd.DataFrame,
) -> None:
    """The default scenario loads and holds the posteriors the data gives today."""
    loaded = load_scenario(PROJECT_ROOT / "scenarios" / "bank_phone_outreach.yaml")
    result = calibrate(bank_log)

    pooled = result.response_by_tier.set_index("tier")
    for tier in ("green", "yellow", "red"):
        posterior = loaded.methods["phone"].response.default[tier]
        assert posterior.a == pytest.approx(pooled.loc[tier, "a"], rel=1e-4)
        assert posterior.b == pytest.approx(pooled.loc[tier, "b"], rel=1e-4)
    assert set(loaded.segments) == set(bank_log["segment"])
    assert loaded.methods["phone"].handling_minutes.family == (
        result.handling_minutes["phone"]["family"]
    )
    assert len(loaded.policy.attempts) == 3


def test_bad_tier_names_the_row_and_value() -> None:
    """An unknown tier raises an error naming the row, the column and the value."""
    log = synthetic_log().head(10)
    log.loc[4, "tier"] = "amber"
    with pytest.raises(EngagementLogError, match=r"row 4 .*'tier'.*'amber'"):
        calibrate(log)


def test_written_yaml_keeps_sources_readable(tmp_path: Path) -> None:
    """Sources are written as a block mapping of field path to text."""
    scenario, _ = calibrate_to_scenario(synthetic_log(), None, "synthetic log")
    path = write_scenario_yaml(scenario, tmp_path / "calibrated.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["sources"]["policy.attempts"].startswith("synthetic log: 1 attempt =")
    assert "\nsources:\n  calibration:" in path.read_text(encoding="utf-8")


def test_yes_no_strings_are_refused() -> None:
    """A responded column of yes/no text is refused rather than read as all true."""
    log = synthetic_log().head(10)
    log["responded"] = np.where(log["responded"], "yes", "no")
    with pytest.raises(EngagementLogError, match="'responded': expected booleans"):
        calibrate(log)
