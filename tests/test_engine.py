"""The engine's rules: serving order, calendars, caps, rates and reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import minimal

from cssim.engine import simulate
from cssim.replications import run_replications
from cssim.scenario_file import scenario_from_dict


def write_accounts(tmp_path, rows: list[tuple[str, str, float]]) -> str:
    path = tmp_path / "accounts.csv"
    frame = pd.DataFrame(rows, columns=["customer_id", "tier", "arr"])
    frame.to_csv(path, index=False)
    return str(path)


def contact_order(raw: dict) -> list[tuple[str, float]]:
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(0))
    start = output.start
    minutes = (output.log["contacted_at"] - start).dt.total_seconds() / 60
    return list(zip(output.log["customer_id"], minutes.round(6)))


def test_customers_due_together_are_served_in_book_order(tmp_path):
    """With no priority keys, tasks created at one instant go first-in, first-out."""
    accounts = write_accounts(tmp_path, [("c", "red", 1), ("a", "red", 3),
                                         ("b", "red", 2)])
    raw = minimal(horizon_days=1)
    raw["segments"]["smb"] = {"accounts": accounts, "transitions": {
        "green": {"green": 1}, "yellow": {"yellow": 1}, "red": {"red": 1}}}

    assert contact_order(raw) == [("c", 0.0), ("a", 10.0), ("b", 20.0)]


def test_priority_orders_by_tier_then_largest_arr(tmp_path):
    """Reds go before yellows, and within a tier the largest ARR goes first."""
    accounts = write_accounts(tmp_path, [("y", "yellow", 900), ("r1", "red", 10),
                                         ("r2", "red", 50)])
    raw = minimal(horizon_days=1)
    raw["segments"]["smb"] = {"accounts": accounts}
    raw["policy"].update(tiers=["red", "yellow"], order=["tier", "arr"])

    assert contact_order(raw) == [("r2", 0.0), ("r1", 10.0), ("y", 20.0)]


def test_work_outside_the_window_waits_for_the_next_working_day(tmp_path):
    """A rep with a 09:00 window of 30 minutes makes three calls a working day."""
    accounts = write_accounts(tmp_path, [(f"c{i}", "red", 1) for i in range(5)])
    raw = minimal(horizon_days=7, start_date="2026-01-05")
    raw["segments"]["smb"] = {"accounts": accounts}
    raw["reps"] = [{"name": "rep", "weekly_hours": 2.5, "shrinkage": 0.0,
                    "day_start_hour": 9}]

    order = contact_order(raw)

    assert [minute for _, minute in order] == [540, 550, 560, 1980, 1990]


def test_no_rep_works_beyond_available_minutes_on_any_day():
    """Busy minutes never exceed the day's available minutes, ramp-up included."""
    raw = minimal(horizon_days=45)
    raw["segments"]["smb"]["customers"] = 3000
    raw["reps"] = [
        {"name": "full", "count": 2, "shrinkage": 0.3},
        {"name": "new", "start_day": 10, "ramp_days": 20, "ramp_start_share": 0.25},
    ]
    raw["methods"]["phone"].update(
        handling_minutes={"family": "lognorm", "s": 1.0, "scale": 30},
        response={"default": 0.4}, followup_minutes={"family": "expon", "scale": 40},
    )
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(3))

    days = output.rep_days
    assert (days["busy_minutes"] <= days["available_minutes"] + 1e-6).all()
    assert days["busy_minutes"].sum() > 0.9 * days["available_minutes"].sum()
    new_hire = days[days["rep_id"] == "new"].set_index("day")["available_minutes"]
    assert new_hire.loc[:9].eq(0).all()
    working = new_hire[new_hire > 0]
    assert working.iloc[0] < working.iloc[-1]


def test_no_customer_gets_more_contacts_per_30_days_than_the_cap():
    """Attempts spaced a day apart are held back by the 30-day contact cap."""
    raw = minimal(horizon_days=90)
    raw["segments"]["smb"]["customers"] = 100
    raw["policy"].update(
        attempts=[{"method": "phone", "after_days": 1}] * 6,
        max_contacts_per_30_days=2,
    )
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(4))

    log = output.log.sort_values(["customer_id", "contacted_at"])
    for _, times in log.groupby("customer_id")["contacted_at"]:
        times = times.reset_index(drop=True)
        later = times.shift(-2)
        assert ((later - times).dropna() >= pd.Timedelta(days=30)).all()
    assert log.groupby("customer_id").size().max() > 2


def test_response_action_and_minutes_match_configured_values():
    """Rates and handling minutes measured from the log match what was configured."""
    response, action = 0.3, 0.4
    raw = minimal(horizon_days=30)
    raw["segments"]["smb"]["customers"] = 4000
    raw["reps"][0]["count"] = 3
    raw["methods"]["phone"].update(
        handling_minutes={"family": "lognorm", "s": 0.5, "scale": 10},
        response={"default": response}, action_probability=action,
        response_delay_days={"family": "expon", "scale": 0.5},
        response_window_days=30,
    )
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(6))
    # Responses still in flight at the horizon are not yet in the log.
    log = output.log[output.log["contacted_at"]
                     < output.start + pd.Timedelta(days=25)]
    touches = len(log)
    responders = log["responded"].sum()

    # Binomial and sample-mean standard errors; 4 of them either side.
    assert abs(log["responded"].mean() - response) <= 4 * np.sqrt(
        response * (1 - response) / touches)
    acted_share = log.loc[log["responded"], "acted"].astype(bool).mean()
    assert abs(acted_share - action) <= 4 * np.sqrt(action * (1 - action) / responders)
    mean_minutes = 10 * np.exp(0.5**2 / 2)
    sd_minutes = mean_minutes * np.sqrt(np.exp(0.5**2) - 1)
    assert abs(log["handling_minutes"].mean() - mean_minutes) <= 4 * sd_minutes / (
        np.sqrt(touches))
    assert touches > 2000


def test_message_lift_raises_the_odds_of_a_response():
    """A message with odds multiplier 3 turns a 20% response into 3/7."""
    raw = minimal(horizon_days=30)
    raw["segments"]["smb"]["customers"] = 3000
    raw["reps"][0]["count"] = 3
    raw["methods"]["phone"].update(
        response={"default": 0.2, "messages": {"bold": 3.0}},
        response_window_days=60, response_delay_days=0.01,
    )
    raw["policy"]["attempts"] = [{"method": "phone", "message": "bold"}]
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(8))

    expected = 0.2 / 0.8 * 3 / (1 + 0.2 / 0.8 * 3)
    rate = output.log["responded"].mean()
    assert abs(rate - expected) <= 4 * np.sqrt(expected * (1 - expected) /
                                               len(output.log))


def test_reps_only_contact_segments_they_cover():
    """A rep limited to one segment never touches another segment's customers."""
    raw = minimal(horizon_days=20)
    raw["segments"]["mid"] = dict(raw["segments"]["smb"], customers=50)
    raw["reps"] = [{"name": "smb-only", "segments": ["smb"]},
                   {"name": "anyone"}]
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(9))

    smb_only = output.log[output.log["rep_id"] == "smb-only"]
    assert len(smb_only) > 0 and (smb_only["segment"] == "smb").all()
    assert (output.log["segment"] == "mid").any()


@pytest.fixture(scope="module")
def quick_scenario():
    raw = minimal(horizon_days=60)
    raw["segments"]["smb"].update(
        customers=800, initial_tiers={"green": 0.5, "yellow": 0.3, "red": 0.2},
        transitions={
            "green": {"green": 0.9, "yellow": 0.08, "red": 0.02},
            "yellow": {"green": 0.2, "yellow": 0.6, "red": 0.15, "churned": 0.05},
            "red": {"green": 0.05, "yellow": 0.2, "red": 0.65, "churned": 0.1},
        },
    )
    raw["methods"]["phone"].update(
        handling_minutes={"family": "gamma", "a": 2, "scale": 10},
        response={"default": 0.3},
    )
    raw["policy"]["tiers"] = ["red", "yellow"]
    return scenario_from_dict(raw)


def test_same_seed_gives_identical_kpis_with_one_and_two_workers(quick_scenario):
    """Replication results do not depend on how many processes ran them."""
    one = run_replications(quick_scenario, replications=4, seed=21, workers=1)
    two = run_replications(quick_scenario, replications=4, seed=21, workers=2)

    pd.testing.assert_frame_equal(one.kpis, two.kpis)
    pd.testing.assert_frame_equal(one.log, two.log)


def test_different_seeds_give_different_kpis(quick_scenario):
    """Changing the seed changes the simulated numbers."""
    first = run_replications(quick_scenario, replications=2, seed=1, workers=1)
    second = run_replications(quick_scenario, replications=2, seed=2, workers=1)

    assert not first.kpis["value"].equals(second.kpis["value"])


def test_an_understaffed_team_raises_a_capacity_warning():
    """One rep working four hours a week for 600 reds triggers CapacityWarning."""
    from cssim.errors import CapacityWarning

    raw = minimal(horizon_days=60)
    raw["segments"]["smb"]["customers"] = 600
    raw["reps"] = [{"name": "rep", "weekly_hours": 4}]
    raw["methods"]["phone"]["handling_minutes"] = 30

    with pytest.warns(CapacityWarning, match="above the team's capacity"):
        run_replications(scenario_from_dict(raw), replications=2, seed=1, workers=1)


def test_an_ample_team_raises_no_capacity_warning(recwarn):
    """Ten full-time reps for 100 reds clear the queue without a warning."""
    from cssim.errors import CapacityWarning

    raw = minimal(horizon_days=60)
    raw["segments"]["smb"]["customers"] = 100
    raw["reps"] = [{"name": "rep", "count": 10}]

    run_replications(scenario_from_dict(raw), replications=2, seed=1, workers=1)

    assert not [w for w in recwarn if issubclass(w.category, CapacityWarning)]


def test_responses_with_no_delay_arrive_at_the_touch_end():
    """A zero response delay schedules the response at once, never in the past."""
    raw = minimal(horizon_days=10)
    raw["methods"]["phone"].update(
        handling_minutes={"family": "lognorm", "s": 0.9, "scale": 3},
        response={"default": 0.5}, response_delay_days=0.0,
    )
    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(12))

    responded = output.log[output.log["responded"]]
    lag = responded["responded_at"] - responded["contacted_at"]
    assert len(responded) > 20
    assert (lag >= pd.Timedelta(0)).all() and (lag < pd.Timedelta(hours=2)).all()


def test_a_customer_who_turns_red_goes_ahead_of_waiting_yellows(tmp_path):
    """Priority uses the tier a customer has when it falls due, not its first one."""
    rows = [(f"y{i:03d}", "yellow", 1000) for i in range(100)] + [("g", "green", 1)]
    raw = minimal(horizon_days=3)
    raw["segments"]["smb"] = {"accounts": write_accounts(tmp_path, rows),
                              "transitions": {
                                  "period_days": 1,
                                  "green": {"red": 1.0},
                                  "yellow": {"yellow": 1.0},
                                  "red": {"red": 1.0}}}
    raw["methods"]["phone"]["handling_minutes"] = 60
    raw["policy"].update(tiers=["red", "yellow"], order=["tier", "arr"])

    order = dict(contact_order(raw))

    assert order["g"] == 1440.0
    assert sum(minute < 1440 for minute in order.values()) == 24


def test_posterior_rows_vary_by_replication_unless_fixed():
    """Dirichlet transition rows are drawn per replication; fixed uses the mean."""
    from cssim.engine import OutreachProgram

    raw = minimal(horizon_days=1)
    raw["segments"]["smb"]["transitions"]["red"] = {
        "family": "dirichlet", "alpha": {"red": 20.0, "yellow": 5.0, "churned": 1.0}}
    raw["segments"]["smb"]["renewal"]["red"] = {
        "family": "dirichlet", "alpha": {"churn": 3.0, "renew": 7.0}}
    scenario = scenario_from_dict(raw)

    def red_row(seed: int, fixed: bool) -> np.ndarray:
        program = OutreachProgram(scenario, np.random.SeedSequence(seed), fixed)
        return np.concatenate([program.cumulative[0, 2], program.renewal_odds[0, 2]])

    assert not np.allclose(red_row(1, False), red_row(2, False))
    assert np.allclose(red_row(1, True), red_row(2, True))
    assert red_row(1, True)[-2] == pytest.approx(0.3)


def test_a_batch_method_seats_customers_together(tmp_path):
    """A webinar of 60 minutes with 3 seats takes six customers in two sessions."""
    accounts = write_accounts(tmp_path, [(f"c{i}", "red", 1) for i in range(6)])
    raw = minimal(horizon_days=1)
    raw["segments"]["smb"] = {"accounts": accounts}
    raw["methods"] = {"webinar": {"handling_minutes": 0, "batch_minutes": 60,
                                  "seats": 3, "response": {"default": 0.0}}}
    raw["policy"]["attempts"] = [{"method": "webinar"}]

    output, _ = simulate(scenario_from_dict(raw), np.random.SeedSequence(0))

    minutes = (output.log["contacted_at"] - output.start).dt.total_seconds() / 60
    assert sorted(minutes.tolist()) == [0, 0, 0, 60, 60, 60]
    assert np.allclose(output.log["handling_minutes"], 20.0)
    busy = output.rep_days["busy_minutes"].sum()
    assert busy == pytest.approx(120.0)


def test_an_idle_rep_makes_a_retry_exactly_when_it_falls_due(tmp_path):
    """With nothing else to do, attempt 2 starts two days after attempt 1 ends."""
    accounts = write_accounts(tmp_path, [("c", "red", 1)])
    raw = minimal(horizon_days=5)
    raw["segments"]["smb"] = {"accounts": accounts}
    raw["policy"]["attempts"] = [{"method": "phone"},
                                 {"method": "phone", "after_days": 2}]

    assert contact_order(raw) == [("c", 0.0), ("c", 10.0 + 2 * 1440)]
