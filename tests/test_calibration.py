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
    SnapshotError,
    calibrate,
    calibrate_to_scenario,
    describe_calibration,
    estimate_transitions,
    fit_beta_prior,
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

    with pytest.warns(SparseCellWarning) as caught:
        scenario, result = calibrate_to_scenario(log, None, "synthetic log")
    sparse = [w for w in caught if w.category is SparseCellWarning]
    assert len(sparse) == 1
    assert "method 'phone': 1 of 10 cells" in str(sparse[0].message)
    assert "check_in/startup/red (5)" in str(sparse[0].message)

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


def test_sparse_cells_warn_once_per_method_naming_the_first_few() -> None:
    """Many sparse cells give one warning per method: a count and a few names."""
    log = synthetic_log().iloc[:200].assign(tier="red")
    log["segment"] = [f"s{i % 8}" for i in range(len(log))]
    email = log.iloc[:60].assign(method="email", segment="mid_market")
    email["tier"] = ["green", "yellow", "red"] * 20
    email["customer_id"] = "e" + email["customer_id"]
    log = pd.concat([log, email], ignore_index=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate(log, min_touches=30)
    sparse = [str(w.message) for w in caught if w.category is SparseCellWarning]

    assert int(result.response["sparse"].sum()) == 11
    assert len(sparse) == 2
    phone = next(text for text in sparse if text.startswith("method 'phone'"))
    assert "8 of 8 cells have under 30 touches" in phone
    assert phone.count("/red (25)") == 5
    assert phone.endswith(" and 3 more")
    email_text = next(text for text in sparse if text.startswith("method 'email'"))
    assert "3 of 3 cells" in email_text
    assert "check_in/mid_market/green (20)" in email_text
    assert "more" not in email_text


def test_description_separates_messages_and_aligns_columns() -> None:
    """Cells of two messages of a method differ by message; columns line up."""
    log = synthetic_log()
    log["message"] = np.where(np.arange(len(log)) % 2 == 0, "check_in", "offer")
    log.loc[log.index % 3 == 0, "method"] = "email"
    result = calibrate(log)
    lines = describe_calibration(result).splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == [
        "method", "message"])
    count = len(result.response) + len(result.response_by_tier)
    rows = lines[header + 1:header + 1 + count]
    assert len(set(rows)) == count
    assert all(line.split()[0] in ("phone", "email") for line in rows)
    assert any(line.split()[:4] == ["phone", "offer", "smb", "red"]
               for line in rows)
    assert any(line.split()[:4] == ["email", "check_in", "(all)", "red"]
               for line in rows)
    assert len({line.index(" [") for line in rows}) == 1
    assert len({line.index("/") for line in rows}) == 1


def test_prior_notes_explain_the_cap_and_the_fallback() -> None:
    """A capped strength and a failed optimiser are told in plain words."""
    alike = fit_beta_prior([20, 21, 19, 20], [100, 100, 100, 100])
    assert alike.fit == "maximum likelihood"
    assert alike.note.startswith("prior weight a+b capped at 100 (mean cell size)")

    class Stalled:
        success, status, x = False, 2, np.array([np.nan, np.nan])

    from unittest import mock

    from cssim.calibration import response

    with mock.patch.object(response.optimize, "minimize", return_value=Stalled()):
        fallback = fit_beta_prior([10, 30, 15, 25], [100, 100, 100, 100])
    assert fallback.fit == "method of moments"
    assert fallback.note == (
        "maximum likelihood search stalled without converging; "
        "using the method of moments"
    )
    assert "ABNORMAL" not in fallback.note


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


def every_touch_log(
    seed: int, lift: float = 1.0, fatigue: float = 1.0, customers: int = 3000
) -> pd.DataFrame:
    """Three touches a customer, a second message with ``lift`` and odds falling
    by ``fatigue`` per attempt, in two segments and two tiers."""
    rng = np.random.default_rng(seed)
    base = {("smb", "red"): 0.10, ("smb", "yellow"): 0.20,
            ("enterprise", "red"): 0.15, ("enterprise", "yellow"): 0.30}
    keys = list(base)
    picks = rng.integers(0, len(keys), customers)
    messages = np.where(rng.random(customers) < 0.5, "check_in", "offer")
    rows = []
    start = pd.Timestamp("2025-01-06", tz="UTC")
    for customer, (pick, message) in enumerate(zip(picks, messages)):
        segment, tier = keys[pick]
        odds = base[keys[pick]] / (1 - base[keys[pick]])
        odds *= lift if message == "offer" else 1.0
        for attempt in (1, 2, 3):
            chance = odds * fatigue ** (attempt - 1)
            rows.append((f"c{customer}", segment, tier,
                         start + pd.Timedelta(days=7 * (attempt - 1)), "email",
                         message, attempt, rng.random() < chance / (1 + chance)))
    return pd.DataFrame(rows, columns=[
        "customer_id", "segment", "tier", "contacted_at", "method", "message",
        "attempt", "responded",
    ])


def test_beta_prior_recovers_a_known_prior() -> None:
    """Cells drawn from Beta(4, 16) give back a prior with mean near 0.2."""
    rng = np.random.default_rng(3)
    rates = rng.beta(4, 16, 200)
    trials = np.full(200, 100)
    prior = fit_beta_prior(rng.binomial(trials, rates), trials)
    assert prior.fit == "maximum likelihood"
    assert prior.a / prior.strength == pytest.approx(0.2, abs=0.02)
    assert 10 < prior.strength < 40


def test_beta_prior_falls_back_to_uniform_with_few_cells() -> None:
    """Two cells are too few to fit a prior from: Beta(1, 1), with the reason."""
    prior = fit_beta_prior([3, 5], [20, 30])
    assert (prior.a, prior.b, prior.fit) == (1.0, 1.0, "uniform")
    assert "fewer than 3 cells" in prior.note


def test_message_lift_is_recovered_as_an_odds_ratio() -> None:
    """A message simulated with odds x2 gets a Mantel-Haenszel ratio covering 2."""
    result = calibrate(every_touch_log(5, lift=2.0))
    lift = result.message_lifts.set_index("message").loc["offer"]
    assert lift["reference"] == result.default_messages["email"]
    reference_is_offer = lift["reference"] == "offer"
    known = 0.5 if reference_is_offer else 2.0
    assert lift["lower"] < known < lift["upper"]
    scenario, _ = calibrate_to_scenario(every_touch_log(5, lift=2.0), None, "log")
    assert scenario["methods"]["email"]["response"]["messages"]["offer"] == (
        pytest.approx(lift["odds_ratio"], rel=1e-4)
    )


def test_fatigue_multiplier_is_recovered_and_written_per_attempt() -> None:
    """Odds falling x0.7 per attempt are estimated within the 90% interval and
    written as per-attempt message variants centred on the mean attempt."""
    log = every_touch_log(8, fatigue=0.7).assign(message="check_in")
    scenario, result = calibrate_to_scenario(log, None, "log")
    fit = result.fatigue.iloc[0]
    assert fit["lower"] < 0.7 < fit["upper"]
    assert fit["mean_attempt"] == pytest.approx(2.0)

    attempts = scenario["policy"]["attempts"]
    assert [a["message"] for a in attempts] == [
        "check_in_attempt_1", "check_in_attempt_2", "check_in_attempt_3",
    ]
    lifts = scenario["methods"]["email"]["response"]["messages"]
    assert lifts["check_in_attempt_2"] == pytest.approx(1.0)
    assert lifts["check_in_attempt_3"] == pytest.approx(fit["odds_multiplier"],
                                                         rel=1e-4)


@pytest.mark.filterwarnings("ignore::cssim.errors.SparseCellWarning")
def test_contacts_in_the_last_30_days_are_counted() -> None:
    """Touches a week apart are preceded by 0, 1 and 2 touches in 30 days."""
    result = calibrate(every_touch_log(2, customers=50))
    table = result.response_by_window.set_index("earlier_touches")
    assert table["touches"].to_dict() == {0: 50, 1: 50, 2: 50}


def test_poor_fits_are_flagged_in_the_table_and_sources() -> None:
    """Minutes from two far-apart clusters fit no family: flagged, still written."""
    log = synthetic_log()
    rng = np.random.default_rng(4)
    log["handling_minutes"] = np.where(rng.random(len(log)) < 0.5, 2.0, 30.0)
    log["handling_minutes"] += rng.random(len(log))
    scenario, result = calibrate_to_scenario(log, None, "log")
    assert not result.handling_minutes_fits["good_fit"].any()
    assert "a poor fit" in scenario["sources"]["methods.phone.handling_minutes"]


def snapshots_of(rows: list[tuple[str, str, str, str, float, str]]) -> pd.DataFrame:
    """Tier snapshots from (customer, date, segment, tier, arr, status) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "as_of", "segment", "tier",
                                        "arr", "status"])
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.tz_localize("UTC")
    return frame


def test_irregular_snapshot_pairs_are_left_out_and_counted() -> None:
    """A 90-day gap among monthly snapshots is left out, not read as a month."""
    rows = []
    for customer in range(40):
        dates = ["2025-01-01", "2025-01-31", "2025-03-02", "2025-05-31"]
        tiers = ["red", "yellow", "yellow", "green"]
        rows += [(f"c{customer}", day, "smb", tier, 1000.0, "active")
                 for day, tier in zip(dates, tiers)]
    estimates = estimate_transitions(snapshots_of(rows))
    assert estimates.spacing["pairs_irregular"] == 40
    assert estimates.spacing["pairs_used"] == 80
    assert estimates.period_days == pytest.approx(30.0)
    counts = estimates.counts.set_index(["from_tier", "to_tier"])["count"]
    assert counts[("yellow", "green")] == 0
    assert counts[("red", "yellow")] == 40


def test_arr_rises_become_expansion_at_renewal() -> None:
    """ARR rises between monthly snapshots read as expansions at renewal."""
    rows = []
    for customer in range(100):
        arr = 1100.0 if customer < 6 else 1000.0
        rows += [(f"c{customer}", "2025-01-01", "smb", "green", 1000.0, "active"),
                 (f"c{customer}", "2025-01-31", "smb", "green", arr, "active")]
    estimates = estimate_transitions(snapshots_of(rows), renewal_cycle_days=300)
    renewal = estimates.renewal.set_index("tier").loc["green"]
    assert renewal["expansions"] == 6
    assert renewal["renewals"] == pytest.approx(10.0)
    assert estimates.shows_arr_changes


def test_bad_snapshot_status_names_the_row() -> None:
    """An unknown status raises an error naming the row, column and value."""
    rows = [("a", "2025-01-01", "smb", "red", 1.0, "active"),
            ("a", "2025-01-31", "smb", "red", 1.0, "paused")]
    with pytest.raises(SnapshotError, match=r"row 1 .*'status'.*'paused'"):
        estimate_transitions(snapshots_of(rows))


def test_report_is_written_and_tracked_with_its_dataset(tmp_path: Path) -> None:
    """The report folder holds tables, plots and the scenario; MLflow records the
    dataset's digest and source and the scenario artifact."""
    from mlflow.tracking import MlflowClient

    from cssim.calibration_report import build_report, log_calibration, write_report

    log = every_touch_log(1, customers=300)
    log["handling_minutes"] = np.random.default_rng(1).gamma(2.0, 4.0, len(log))
    data_file = tmp_path / "log.csv"
    log.to_csv(data_file, index=False)
    scenario, result = calibrate_to_scenario(log, None, "test log")
    report = build_report(result, scenario, "test log")

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_report(report, tmp_path / "report")
    tracked = log_calibration(report, tmp_path / "report", uri, "calibration",
                              data_file, "https://example.org/log.csv")
    written = {path.name for path in (tmp_path / "report").iterdir()}
    assert {"response.csv", "fatigue.png", "response_by_cell.png",
            "handling_minutes_email.png", "scenario.calibrated.yaml"} <= written

    client = MlflowClient(uri)
    run = client.get_run(tracked.run_id)
    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.source_type == "http"
    assert dataset.digest == run.data.tags["dataset_sha256"][:20]
    artifacts = {item.path for item in client.list_artifacts(tracked.run_id)}
    assert "scenario.calibrated.yaml" in artifacts
