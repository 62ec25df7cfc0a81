"""Hand-computed tests of the pure evaluation engine against SPEC §2 (steps, ACV, money)
and §5 (clawback amounts).

Every expected date and amount below was worked out by hand from the SPEC, not read
back from the engine. Where the SPEC is terse, the engine's documented
interpretations are pinned as stated (outcome windows close `closes_after_days`
after the later of opens and the outcome's due date; same-day readings: the
highest counts; only signals dated on or before as_of count; nothing fires on or
after churn or partner termination; void/missed/pending for unfired steps).
"""

import datetime
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cascades.engine import (
    AGREEMENT_SIGNED,
    AGREEMENT_UNSIGNED,
    NO_AGREEMENT,
    EngagementFacts,
    OutcomeFact,
    SignalFact,
    add_months,
    clawback_amount,
    evaluate,
    outcome_window_closes,
    standard_commission,
)
from cascades.structures import Structure, validate_document

date = datetime.date

SIGNED = date(2027, 1, 15)


# --------------------------------------------------------------------------- helpers


def document(*steps, clawback=None, commission="10"):
    return {
        "name": "Spec test",
        "tier": "gold",
        "standard_commission_percent": commission,
        "clawback": clawback or {"window_days": 90, "percent": "100"},
        "steps": list(steps),
    }


def structure(*steps, **kwargs):
    return Structure.from_document(validate_document(document(*steps, **kwargs)))


def facts(
    struct,
    *,
    signed=SIGNED,
    acv="100000.00",
    signals=(),
    outcomes=(),
    currency="USD",
    terminated=None,
    agreement=AGREEMENT_SIGNED,
):
    return EngagementFacts(
        signed_at=signed,
        currency=currency,
        year1_acv=Decimal(acv),
        structure=struct,
        signals=tuple(signals),
        outcomes=tuple(outcomes),
        partner_terminated_on=terminated,
        agreement=agreement,
    )


def reading(signal_id, kind, day, value):
    return SignalFact(id=signal_id, type=kind, occurred_at=day, value=Decimal(value))


def members(signal_id, day, value):
    return reading(signal_id, "active_members", day, value)


def csat(signal_id, day, score):
    return reading(signal_id, "csat", day, score)


def renewal(signal_id, day, contract_year, acv=None):
    return SignalFact(
        id=signal_id,
        type="renewal",
        occurred_at=day,
        amount=Decimal(acv) if acv is not None else None,
        contract_year=contract_year,
    )


def expansion(signal_id, kind, day, acv_delta):
    return SignalFact(id=signal_id, type=kind, occurred_at=day, amount=Decimal(acv_delta))


def churn(signal_id, day):
    return SignalFact(id=signal_id, type="churn", occurred_at=day)


def states_of(states, key):
    return [state for state in states if state.key == key]


def one(states, key):
    found = states_of(states, key)
    assert len(found) == 1, found
    return found[0]


def assert_earned(state, trigger, amount):
    assert (state.status, state.trigger_date, state.amount) == ("earned", trigger, amount)


TENURE_3M = {
    "key": "active_3m",
    "kind": "tenure",
    "opens_after_months": 3,
    "percent": "2",
    "basis": "year1_acv",
}
# Signed 2027-01-15 + 3 months: opens 2027-04-15; default 90 days: closes 2027-07-14
# (Apr 15→30: 15, May: 31 → 46, Jun: 30 → 76, Jul 14 → 90).
ADOPTION_3M = {
    "key": "adoption",
    "kind": "adoption",
    "opens_after_months": 3,
    "min_active_members": 10,
    "percent": "3",
    "basis": "year1_acv",
}
ADOPTION_OPENS = date(2027, 4, 15)
ADOPTION_CLOSES = date(2027, 7, 14)


def retention(key, contract_year, percent, basis):
    return {
        "key": key,
        "kind": "retention",
        "contract_year": contract_year,
        "percent": percent,
        "basis": basis,
    }


# ------------------------------------------------------------------ structure defaults


def test_from_document_fills_in_the_spec_defaults_for_every_kind():
    # Given a document that states only what each kind requires
    struct = structure(
        {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"},
        {"key": "tenure", "kind": "tenure", "percent": "2", "basis": "year1_acv"},
        {"key": "adoption", "kind": "adoption", "min_active_members": 5, "amount": "100"},
        {
            "key": "coverage",
            "kind": "coverage",
            "metric": "zone_count",
            "threshold": 3,
            "amount": "100",
        },
        retention("renewal_2", 2, "5", "year2_acv"),
        {"key": "expansion", "kind": "expansion", "percent": "5", "basis": "expansion_acv_delta"},
        {"key": "sentiment", "kind": "sentiment", "amount": "100"},
        {"key": "outcome", "kind": "outcome", "percent": "10", "basis": "year1_acv"},
    )
    # Then the defaults of SPEC §2 "Step fields" are filled in
    closes = {step.key: step.closes_after_days for step in struct.steps}
    assert closes == {
        "signup": 0,
        "tenure": 0,
        "adoption": 90,
        "coverage": 90,
        "renewal_2": 60,
        "expansion": 90,
        "sentiment": 90,
        "outcome": 90,
    }
    # retention is due at N × 12 months; every other kind opens at signing by default
    opens = {step.key: step.opens_after_months for step in struct.steps}
    assert opens["renewal_2"] == 24
    assert {k: v for k, v in opens.items() if k != "renewal_2"} == dict.fromkeys(
        ["signup", "tenure", "adoption", "coverage", "expansion", "sentiment", "outcome"], 0
    )
    assert struct.step("expansion").events == ("plan_upgrade", "org_added", "marketplace_purchase")
    assert struct.step("expansion").repeat is False
    assert struct.step("sentiment").min_score == Decimal("9")
    assert struct.step("outcome").outcome_key is None
    assert struct.clawback_window_days == 90
    assert struct.clawback_percent == Decimal("100")


# ------------------------------------------------------------------- each kind fires


def test_signup_step_fires_on_the_signing_date_with_percent_of_year1_acv():
    # Given a 5 % sign-up step and Year-1 ACV 12,345.67
    struct = structure({"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"})
    # When evaluated on the signing date
    state = one(evaluate(facts(struct, acv="12345.67"), SIGNED), "signup")
    # Then it fired that day: 12,345.67 × 5 % = 617.2835 → 617.28
    assert (state.opens, state.closes) == (SIGNED, SIGNED)
    assert_earned(state, SIGNED, Decimal("617.28"))
    assert state.event_key == ""


def test_tenure_step_fires_on_its_opens_date():
    # Given a 2 % step at 3 months, signed 2027-01-15, Year-1 ACV 12,345.67
    struct = structure(TENURE_3M)
    # When evaluated well after 3 months with no churn
    state = one(evaluate(facts(struct, acv="12345.67"), date(2027, 6, 1)), "active_3m")
    # Then it fired on opens = 2027-04-15 (closes_after_days 0): 246.9134 → 246.91
    assert (state.opens, state.closes) == (date(2027, 4, 15), date(2027, 4, 15))
    assert_earned(state, date(2027, 4, 15), Decimal("246.91"))


def test_adoption_fires_on_the_first_day_the_latest_reading_reaches_the_threshold():
    # Given readings 12 (before opens), then 8, 9 and finally 10 inside the window
    struct = structure(ADOPTION_3M)
    signals = [
        members("m1", date(2027, 3, 1), "12"),
        members("m2", date(2027, 4, 10), "8"),
        members("m3", date(2027, 5, 2), "9"),
        members("m4", date(2027, 5, 20), "10"),
    ]
    # When evaluated after the window
    state = one(evaluate(facts(struct, signals=signals), date(2027, 8, 1)), "adoption")
    # Then the latest reading (not the highest) decides: 8 on opens, 9, then 10 on May 20;
    # 3 % of 100,000.00 = 3,000.00
    assert (state.opens, state.closes) == (ADOPTION_OPENS, ADOPTION_CLOSES)
    assert_earned(state, date(2027, 5, 20), Decimal("3000.00"))


def test_adoption_reading_dated_before_opens_fires_on_the_opens_date():
    # Given a reading of 11 dated a month before the window opens, still the latest
    struct = structure(ADOPTION_3M)
    signals = [members("m1", date(2027, 3, 15), "11")]
    # When evaluated
    state = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "adoption")
    # Then the condition holds on opens, so that is the trigger date
    assert_earned(state, ADOPTION_OPENS, Decimal("3000.00"))


@pytest.mark.parametrize(
    ("metric", "threshold", "below", "at"),
    [("vault_size_gb", "500", "499.9", "500.0"), ("zone_count", "3", "2", "3")],
)
def test_coverage_fires_when_the_latest_reading_of_its_metric_reaches_the_threshold(
    metric, threshold, below, at
):
    # Given a coverage step on `metric` (opens at signing, closes 2027-04-15) and a
    # reading of the *other* metric that would pass the threshold if it were counted
    other = "zone_count" if metric == "vault_size_gb" else "vault_size_gb"
    struct = structure(
        {
            "key": "coverage",
            "kind": "coverage",
            "metric": metric,
            "threshold": threshold,
            "percent": "1.5",
            "basis": "year1_acv",
        }
    )
    signals = [
        reading("o1", other, date(2027, 1, 20), "100000"),
        reading("c1", metric, date(2027, 2, 1), below),
        reading("c2", metric, date(2027, 3, 3), at),
    ]
    # When evaluated after the window
    state = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "coverage")
    # Then it fired on 2027-03-03: 1.5 % of 100,000.00 = 1,500.00
    # (Jan 15 + 90 days: Jan 16, Feb 28 → 44, Mar 31 → 75, Apr 15 → 90)
    assert (state.opens, state.closes) == (SIGNED, date(2027, 4, 15))
    assert_earned(state, date(2027, 3, 3), Decimal("1500.00"))


def test_sentiment_fires_at_the_default_min_score_of_nine():
    # Given a sentiment step with a fixed 500.00 and CSAT 8 then 9
    struct = structure({"key": "csat", "kind": "sentiment", "amount": "500.00"})
    signals = [csat("s1", date(2027, 2, 1), "8"), csat("s2", date(2027, 3, 5), "9")]
    # When evaluated
    state = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "csat")
    # Then 8 does not reach 9; the score of 9 on 2027-03-05 does
    assert_earned(state, date(2027, 3, 5), Decimal("500.00"))


def test_sentiment_honours_an_explicit_min_score():
    # Given min_score 7.5 and CSAT 7 then 7.5
    struct = structure(
        {
            "key": "csat",
            "kind": "sentiment",
            "min_score": "7.5",
            "percent": "1",
            "basis": "year1_acv",
        }
    )
    signals = [csat("s1", date(2027, 2, 1), "7"), csat("s2", date(2027, 2, 10), "7.5")]
    # When evaluated
    state = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "csat")
    # Then it fires on 2027-02-10: 1 % of 100,000.00 = 1,000.00
    assert_earned(state, date(2027, 2, 10), Decimal("1000.00"))


def test_same_day_readings_the_highest_counts_whatever_the_order():
    # Given two active_members readings on the same day, 7 and 10
    struct = structure(ADOPTION_3M)
    low = members("a-low", date(2027, 5, 5), "7")
    high = members("b-high", date(2027, 5, 5), "10")
    for signals in ([low, high], [high, low]):
        # When evaluated
        state = one(evaluate(facts(struct, signals=signals), date(2027, 6, 1)), "adoption")
        # Then the 10 counts and the step fires that day
        assert_earned(state, date(2027, 5, 5), Decimal("3000.00"))


# -------------------------------------------------------------------------- expansion


def test_non_repeat_expansion_fires_once_on_the_first_qualifying_event():
    # Given a 10 % step on plan upgrades only, window 2027-01-15 .. 2028-01-15
    struct = structure(
        {
            "key": "expansion",
            "kind": "expansion",
            "events": ["plan_upgrade"],
            "closes_after_days": 365,
            "percent": "10",
            "basis": "expansion_acv_delta",
        }
    )
    signals = [
        expansion("x1", "org_added", date(2027, 2, 1), "9999.99"),  # not a qualifying event
        expansion("x2", "plan_upgrade", date(2027, 3, 10), "12345.67"),
        expansion("x3", "plan_upgrade", date(2027, 4, 1), "50000.00"),  # second: no reward
    ]
    # When evaluated
    states = states_of(evaluate(facts(struct, signals=signals), date(2027, 6, 1)), "expansion")
    # Then exactly one reward: 10 % of that event's acv_delta 12,345.67 = 1,234.567 → 1,234.57
    assert len(states) == 1
    assert states[0].closes == date(2028, 1, 15)
    assert_earned(states[0], date(2027, 3, 10), Decimal("1234.57"))


def test_repeat_expansion_fires_once_per_qualifying_event_plus_a_pending_state():
    # Given a 7.5 % repeat step opening at 1 month: 2027-02-15 .. 2027-05-16
    # (Feb 15 + 90 days: Feb 28 → 13, Mar 31 → 44, Apr 30 → 74, May 16 → 90)
    struct = structure(
        {
            "key": "expansion",
            "kind": "expansion",
            "repeat": True,
            "opens_after_months": 1,
            "percent": "7.5",
            "basis": "expansion_acv_delta",
        }
    )
    signals = [
        expansion("e0", "plan_upgrade", date(2027, 2, 1), "4000.00"),  # before opens
        expansion("e1", "plan_upgrade", date(2027, 2, 15), "1000.10"),
        expansion("e2", "org_added", date(2027, 3, 1), "2000.00"),
        expansion("e3", "marketplace_purchase", date(2027, 4, 1), "333.30"),
        expansion("e4", "plan_upgrade", date(2027, 4, 20), "100.00"),  # after as_of
    ]
    # When evaluated on 2027-04-10, the window still open
    states = states_of(evaluate(facts(struct, signals=signals), date(2027, 4, 10)), "expansion")
    # Then one reward per event in the window:
    # 1,000.10 × 7.5 % = 75.0075 → 75.01; 2,000.00 → 150.00; 333.30 → 24.9975 → 25.00
    earned = sorted((s for s in states if s.status == "earned"), key=lambda s: s.trigger_date)
    assert [(s.event_key, s.trigger_date, s.amount) for s in earned] == [
        ("e1", date(2027, 2, 15), Decimal("75.01")),
        ("e2", date(2027, 3, 1), Decimal("150.00")),
        ("e3", date(2027, 4, 1), Decimal("25.00")),
    ]
    # and one more state for what the open window can still bring
    rest = [s for s in states if s.status != "earned"]
    assert [(s.status, s.opens, s.closes, s.trigger_date) for s in rest] == [
        ("pending", date(2027, 2, 15), date(2027, 5, 16), None)
    ]


def test_repeat_expansion_stops_at_churn_and_the_rest_is_void():
    # Given a repeat step (window 2027-01-15 .. 2027-04-15) and a churn on 2027-03-01,
    # the same day as the second event
    struct = structure(
        {
            "key": "expansion",
            "kind": "expansion",
            "repeat": True,
            "percent": "10",
            "basis": "expansion_acv_delta",
        }
    )
    signals = [
        expansion("e1", "plan_upgrade", date(2027, 2, 15), "1000.00"),
        expansion("e2", "org_added", date(2027, 3, 1), "2000.00"),
        churn("c1", date(2027, 3, 1)),
    ]
    # When evaluated after the churn
    states = states_of(evaluate(facts(struct, signals=signals), date(2027, 4, 1)), "expansion")
    # Then only the event before the churn paid; the remainder is void from the churn date
    earned = [s for s in states if s.status == "earned"]
    assert [(s.event_key, s.trigger_date, s.amount) for s in earned] == [
        ("e1", date(2027, 2, 15), Decimal("100.00"))
    ]
    assert [(s.status, s.void_on) for s in states if s.status != "earned"] == [
        ("void", date(2027, 3, 1))
    ]


def test_repeat_expansion_without_any_event_is_missed_once_its_window_closed():
    struct = structure(
        {
            "key": "expansion",
            "kind": "expansion",
            "repeat": True,
            "percent": "10",
            "basis": "expansion_acv_delta",
        }
    )
    # an event one day after closes (2027-04-15) does not count
    signals = [expansion("e1", "plan_upgrade", date(2027, 4, 16), "1000.00")]
    states = states_of(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "expansion")
    assert [(s.status, s.trigger_date, s.amount) for s in states] == [("missed", None, None)]


# ---------------------------------------------------------------------------- outcome

# Signed 2027-01-15, outcomes due at 6 months = 2027-07-15; the window closes 90 days
# after the later of opens (2027-01-15) and due: Jul 31 → 16, Aug 31 → 47, Sep 30 → 77,
# Oct 13 → 90, so 2027-10-13.
OUTCOME_CLOSES = date(2027, 10, 13)


def outcome_step(**extra):
    return {"key": "outcome", "kind": "outcome", "percent": "10", "basis": "year1_acv", **extra}


def test_outcome_with_outcome_key_fires_when_that_outcome_is_accepted():
    # Given two agreed outcomes, accepted at different dates, and a step naming "uptime"
    struct = structure(outcome_step(outcome_key="uptime"))
    outcomes = [
        OutcomeFact("cost", 6, accepted_on=date(2027, 5, 1), attested=True),
        OutcomeFact("uptime", 6, accepted_on=date(2027, 8, 1), attested=True),
    ]
    # When evaluated
    state = one(evaluate(facts(struct, outcomes=outcomes), date(2027, 11, 1)), "outcome")
    # Then it fired when "uptime" was accepted: 10 % of 100,000.00 = 10,000.00
    assert (state.opens, state.closes) == (SIGNED, OUTCOME_CLOSES)
    assert_earned(state, date(2027, 8, 1), Decimal("10000.00"))


def test_outcome_without_outcome_key_fires_on_the_first_accepted_outcome():
    struct = structure(outcome_step())
    outcomes = [
        OutcomeFact("uptime", 6, accepted_on=date(2027, 8, 1), attested=True),
        OutcomeFact("cost", 6, accepted_on=date(2027, 5, 1), attested=True),
    ]
    state = one(evaluate(facts(struct, outcomes=outcomes), date(2027, 11, 1)), "outcome")
    assert_earned(state, date(2027, 5, 1), Decimal("10000.00"))


def test_outcome_accepted_on_its_closes_date_fires_and_one_day_later_is_missed():
    struct = structure(outcome_step())
    on_closes = [OutcomeFact("uptime", 6, accepted_on=OUTCOME_CLOSES, attested=True)]
    late = [OutcomeFact("uptime", 6, accepted_on=date(2027, 10, 14), attested=True)]
    as_of = date(2027, 11, 1)

    assert_earned(
        one(evaluate(facts(struct, outcomes=on_closes), as_of), "outcome"),
        OUTCOME_CLOSES,
        Decimal("10000.00"),
    )
    missed = one(evaluate(facts(struct, outcomes=late), as_of), "outcome")
    assert (missed.status, missed.trigger_date, missed.amount) == ("missed", None, None)


def test_outcome_not_yet_accepted_is_pending_until_its_closes_date():
    struct = structure(outcome_step())
    outcomes = [OutcomeFact("uptime", 6, attested=True)]
    # on the closes date it may still fire
    assert one(evaluate(facts(struct, outcomes=outcomes), OUTCOME_CLOSES), "outcome").status == (
        "pending"
    )
    # the day after, it is missed
    assert one(
        evaluate(facts(struct, outcomes=outcomes), date(2027, 10, 14)), "outcome"
    ).status == ("missed")


def test_sentiment_score_read_before_opens_fires_on_the_opens_date():
    struct = structure(
        {"key": "csat", "kind": "sentiment", "opens_after_months": 3, "amount": "200.00"}
    )
    signals = [csat("s1", date(2027, 2, 1), "10")]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "csat")
    assert_earned(state, date(2027, 4, 15), Decimal("200.00"))


def test_a_chargeback_is_not_a_churn_and_does_not_stop_steps_firing():
    struct = structure(TENURE_3M)
    signals = [
        SignalFact(id="cb1", type="chargeback", occurred_at=date(2027, 3, 1), amount=Decimal("10"))
    ]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 6, 1)), "active_3m")
    assert_earned(state, date(2027, 4, 15), Decimal("2000.00"))


def test_an_outcome_accepted_after_as_of_does_not_count_yet():
    struct = structure(outcome_step())
    outcomes = [OutcomeFact("uptime", 6, accepted_on=date(2027, 8, 1), attested=True)]
    state = one(evaluate(facts(struct, outcomes=outcomes), date(2027, 7, 20)), "outcome")
    assert (state.status, state.trigger_date) == ("pending", None)


NO_AGREEMENT_REASON = ("no_agreement", {})
UNSIGNED_REASON = ("agreement_unsigned", {})


def test_an_outcome_step_without_an_agreement_is_at_risk_until_its_window_closes():
    # No agreed outcome: the window is opens (2027-01-15) + 90 days = 2027-04-15.
    struct = structure(outcome_step())
    no_agreement = facts(struct, agreement=NO_AGREEMENT)

    on_closes = one(evaluate(no_agreement, date(2027, 4, 15)), "outcome")
    assert (on_closes.status, on_closes.closes, on_closes.amount) == (
        "pending", date(2027, 4, 15), Decimal("10000.00"),
    )  # fmt: skip
    assert on_closes.at_risk == (NO_AGREEMENT_REASON,)
    after = one(evaluate(no_agreement, date(2027, 4, 16)), "outcome")
    assert (after.status, after.at_risk) == ("missed", ())
    assert after.reason == (
        "outcome_not_accepted", {"closes": "2027-04-15", "agreement": "none"},
    )  # fmt: skip


def test_an_outcome_step_whose_agreement_is_unsigned_is_at_risk_and_never_fires():
    struct = structure(outcome_step())
    accepted = [OutcomeFact("uptime", 6, accepted_on=date(2027, 8, 1), attested=True)]
    unsigned = facts(struct, outcomes=accepted, agreement=AGREEMENT_UNSIGNED)

    early = one(evaluate(unsigned, date(2027, 3, 1)), "outcome")
    assert (early.status, early.at_risk) == ("pending", (UNSIGNED_REASON,))
    on_closes = one(evaluate(unsigned, OUTCOME_CLOSES), "outcome")
    assert (on_closes.status, on_closes.trigger_date) == ("pending", None)
    assert on_closes.at_risk == (UNSIGNED_REASON,)
    after = one(evaluate(unsigned, date(2027, 10, 14)), "outcome")
    assert (after.status, after.trigger_date, after.amount) == ("missed", None, None)


def test_outcome_window_closes_on_the_last_day_a_step_pays_the_outcome():
    # Due at 6 months (2027-07-15) + 90 days = 2027-10-13.
    assert outcome_window_closes(structure(outcome_step()), SIGNED, "uptime", 6) == (OUTCOME_CLOSES)
    # A second step for "uptime" opening at 12 months (2028-01-15) for 30 days: 2028-02-14.
    two = structure(
        outcome_step(),
        outcome_step(key="late", outcome_key="uptime", opens_after_months=12,
                     closes_after_days=30),
    )  # fmt: skip
    assert outcome_window_closes(two, SIGNED, "uptime", 6) == date(2028, 2, 14)
    # No step pays "cost" when the only one names "uptime".
    assert outcome_window_closes(structure(outcome_step(outcome_key="uptime")), SIGNED,
                                 "cost", 6) is None  # fmt: skip


# ------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("reading_day", "status", "trigger", "amount"),
    [
        (date(2027, 4, 15), "earned", date(2027, 4, 15), Decimal("3000.00")),  # on opens
        (date(2027, 7, 14), "earned", date(2027, 7, 14), Decimal("3000.00")),  # on closes
        (date(2027, 7, 15), "missed", None, None),  # one day after closes
    ],
    ids=["on-opens", "on-closes", "day-after-closes"],
)
def test_adoption_window_boundaries(reading_day, status, trigger, amount):
    # Given a single qualifying reading of 10 on `reading_day`
    struct = structure(ADOPTION_3M)
    signals = [members("m1", reading_day, "10")]
    # When evaluated after the window
    state = one(evaluate(facts(struct, signals=signals), date(2027, 8, 1)), "adoption")
    # Then opens ≤ d ≤ closes fires, closes + 1 does not
    assert (state.opens, state.closes) == (ADOPTION_OPENS, ADOPTION_CLOSES)
    assert (state.status, state.trigger_date, state.amount) == (status, trigger, amount)


def test_a_reading_below_the_threshold_inside_the_window_leaves_the_step_missed():
    struct = structure(ADOPTION_3M)
    signals = [members("m1", date(2027, 5, 1), "9")]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 8, 1)), "adoption")
    assert (state.status, state.trigger_date) == ("missed", None)


@pytest.mark.parametrize(
    ("signed", "opens"),
    [
        (date(2027, 1, 31), date(2027, 2, 28)),  # 2027 is not a leap year
        (date(2028, 1, 31), date(2028, 2, 29)),  # 2028 is
        (date(2027, 3, 31), date(2027, 4, 30)),
    ],
)
def test_opens_clamps_to_the_end_of_a_shorter_month(signed, opens):
    # Given a tenure step at 1 month
    struct = structure({"key": "m1", "kind": "tenure", "opens_after_months": 1, "amount": "100.00"})
    # When evaluated two months after signing
    state = one(evaluate(facts(struct, signed=signed), signed + datetime.timedelta(days=62)), "m1")
    # Then it fired on the clamped date
    assert (state.opens, state.closes) == (opens, opens)
    assert_earned(state, opens, Decimal("100.00"))


def test_add_months_counts_calendar_months_from_the_signing_date():
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    # straight from the signing date, not month by month: Jan 31 + 13 = Feb 29 2028
    assert add_months(date(2027, 1, 31), 13) == date(2028, 2, 29)
    assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert add_months(date(2027, 1, 15), 0) == date(2027, 1, 15)


def test_retention_of_a_leap_day_signing_opens_on_feb_28():
    # Given a contract-year-1 renewal step, signed 2028-02-29
    struct = structure(retention("renewal_1", 1, "5", "year1_acv"))
    signals = [renewal("r1", date(2029, 2, 1), 1)]
    state = one(
        evaluate(facts(struct, signed=date(2028, 2, 29), signals=signals), date(2029, 6, 1)),
        "renewal_1",
    )
    # Then opens 2029-02-28 and closes 60 days later: Mar 31 → 31, Apr 29 → 60
    assert (state.opens, state.closes) == (date(2029, 2, 28), date(2029, 4, 29))
    assert_earned(state, date(2029, 2, 28), Decimal("5000.00"))


# --------------------------------------------------------------- churn and termination


@pytest.mark.parametrize(
    ("churn_day", "status", "trigger", "void_on"),
    [
        (date(2027, 4, 15), "void", None, date(2027, 4, 15)),  # churn on the trigger date
        (date(2027, 4, 16), "earned", date(2027, 4, 15), None),  # churn the day after
    ],
    ids=["churn-on-trigger", "churn-day-after"],
)
def test_tenure_does_not_fire_on_or_after_the_churn_date(churn_day, status, trigger, void_on):
    struct = structure(TENURE_3M)
    signals = [churn("c1", churn_day)]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 6, 1)), "active_3m")
    assert (state.status, state.trigger_date, state.void_on) == (status, trigger, void_on)


@pytest.mark.parametrize(
    ("churn_day", "status", "trigger", "amount"),
    [
        (date(2027, 5, 1), "void", None, None),
        (date(2027, 5, 2), "earned", date(2027, 5, 1), Decimal("3000.00")),
    ],
    ids=["churn-on-trigger", "churn-day-after"],
)
def test_adoption_does_not_fire_on_the_churn_date(churn_day, status, trigger, amount):
    struct = structure(ADOPTION_3M)
    signals = [members("m1", date(2027, 5, 1), "10"), churn("c1", churn_day)]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 8, 1)), "adoption")
    assert (state.status, state.trigger_date, state.amount) == (status, trigger, amount)


def test_signup_is_void_when_the_customer_churns_on_the_signing_date():
    struct = structure({"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"})
    state = one(evaluate(facts(struct, signals=[churn("c1", SIGNED)]), SIGNED), "signup")
    assert (state.status, state.trigger_date, state.amount, state.void_on) == (
        "void",
        None,
        None,
        SIGNED,
    )


def test_churn_before_the_window_opens_voids_the_step():
    struct = structure(ADOPTION_3M)
    signals = [churn("c1", date(2027, 3, 1))]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 3, 10)), "adoption")
    assert (state.status, state.void_on) == ("void", date(2027, 3, 1))


def test_churn_on_the_closes_date_voids_but_churn_after_closes_leaves_it_missed():
    struct = structure(ADOPTION_3M)
    as_of = date(2027, 8, 1)
    on_closes = one(
        evaluate(facts(struct, signals=[churn("c1", ADOPTION_CLOSES)]), as_of), "adoption"
    )
    assert (on_closes.status, on_closes.void_on) == ("void", ADOPTION_CLOSES)
    after = one(
        evaluate(facts(struct, signals=[churn("c1", date(2027, 7, 20))]), as_of), "adoption"
    )
    assert (after.status, after.void_on) == ("missed", None)


def test_churn_after_a_step_fired_leaves_it_earned():
    struct = structure(TENURE_3M)
    signals = [churn("c1", date(2027, 5, 10))]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 6, 1)), "active_3m")
    assert_earned(state, date(2027, 4, 15), Decimal("2000.00"))


def test_a_late_churn_dated_before_the_trigger_disproves_the_reward():
    # Given an adoption step earned on 2027-05-20
    struct = structure(ADOPTION_3M)
    signals = [members("m1", date(2027, 5, 20), "10")]
    as_of = date(2027, 6, 1)
    assert_earned(
        one(evaluate(facts(struct, signals=signals), as_of), "adoption"),
        date(2027, 5, 20),
        Decimal("3000.00"),
    )
    # When a churn dated 2027-05-10 arrives late
    signals.append(churn("c1", date(2027, 5, 10)))
    state = one(evaluate(facts(struct, signals=signals), as_of), "adoption")
    # Then the step did not fire: it is void from the churn date
    assert (state.status, state.trigger_date, state.void_on) == ("void", None, date(2027, 5, 10))


def test_a_churn_dated_after_as_of_does_not_count_yet():
    struct = structure(ADOPTION_3M)
    signals = [churn("c1", date(2027, 5, 1))]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 4, 20)), "adoption")
    assert (state.status, state.void_on) == ("pending", None)


@pytest.mark.parametrize(
    ("terminated", "status", "trigger", "void_on"),
    [
        (date(2027, 4, 15), "void", None, date(2027, 4, 15)),
        (date(2027, 4, 16), "earned", date(2027, 4, 15), None),
    ],
    ids=["terminated-on-opens", "terminated-day-after"],
)
def test_partner_termination_voids_steps_from_its_date(terminated, status, trigger, void_on):
    struct = structure(TENURE_3M)
    state = one(evaluate(facts(struct, terminated=terminated), date(2027, 6, 1)), "active_3m")
    assert (state.status, state.trigger_date, state.void_on) == (status, trigger, void_on)


def test_partner_termination_dated_after_as_of_does_not_count_yet():
    struct = structure(TENURE_3M)
    state = one(
        evaluate(facts(struct, terminated=date(2027, 5, 1)), date(2027, 4, 10)), "active_3m"
    )
    assert (state.status, state.void_on) == ("pending", None)


# -------------------------------------------------------------------------- retention

# Signed 2027-03-15: the Year-1 renewal step opens 2028-03-15 and closes 60 days later,
# 2028-05-14 (Mar 16..31: 16, Apr: 30 → 46, May 1..14 → 60).
RETENTION_SIGNED = date(2027, 3, 15)
RENEWAL_1_OPENS = date(2028, 3, 15)
RENEWAL_1_CLOSES = date(2028, 5, 14)


@pytest.mark.parametrize(
    ("renewed_on", "status", "trigger"),
    [
        (date(2028, 2, 20), "earned", RENEWAL_1_OPENS),  # before the anniversary
        (date(2028, 4, 2), "earned", date(2028, 4, 2)),  # after the anniversary
        (RENEWAL_1_CLOSES, "earned", RENEWAL_1_CLOSES),  # on closes
        (date(2028, 5, 15), "missed", None),  # after closes
    ],
    ids=["before-anniversary", "after-anniversary", "on-closes", "after-closes"],
)
def test_retention_fires_on_the_later_of_the_anniversary_and_the_renewal(
    renewed_on, status, trigger
):
    struct = structure(retention("renewal_1", 1, "5", "year1_acv"))
    signals = [renewal("r1", renewed_on, 1)]
    state = one(
        evaluate(facts(struct, signed=RETENTION_SIGNED, signals=signals), date(2028, 6, 1)),
        "renewal_1",
    )
    assert (state.opens, state.closes) == (RENEWAL_1_OPENS, RENEWAL_1_CLOSES)
    expected_amount = Decimal("5000.00") if status == "earned" else None
    assert (state.status, state.trigger_date, state.amount) == (status, trigger, expected_amount)


def test_retention_ignores_a_renewal_out_of_another_contract_year():
    struct = structure(retention("renewal_1", 1, "5", "year1_acv"))
    signals = [renewal("r2", date(2028, 3, 1), 2)]
    state = one(
        evaluate(facts(struct, signed=RETENTION_SIGNED, signals=signals), date(2028, 6, 1)),
        "renewal_1",
    )
    assert state.status == "missed"


def test_retention_renewed_early_but_churned_before_the_anniversary_is_void():
    struct = structure(retention("renewal_1", 1, "5", "year1_acv"))
    signals = [renewal("r1", date(2028, 3, 1), 1), churn("c1", date(2028, 3, 10))]
    state = one(
        evaluate(facts(struct, signed=RETENTION_SIGNED, signals=signals), date(2028, 6, 1)),
        "renewal_1",
    )
    assert (state.status, state.void_on) == ("void", date(2028, 3, 10))


# ------------------------------------------------------------------------------- ACV

THREE_RENEWALS = (
    retention("renewal_1", 1, "5", "year1_acv"),
    retention("renewal_2", 2, "5", "year2_acv"),
    retention("renewal_3", 3, "4", "year3_acv"),
)


def test_year2_acv_is_carried_by_the_year1_renewal_and_carried_forward_to_year3():
    # Given Year-1 ACV 48,000.00; the Year-1 renewal carries 52,500.00; the Year-2
    # renewal carries none; the Year-3 renewal carries Year-4's 70,000.00
    struct = structure(*THREE_RENEWALS)
    signals = [
        renewal("r1", date(2028, 3, 1), 1, acv="52500.00"),
        renewal("r2", date(2029, 3, 10), 2),
        renewal("r3", date(2030, 3, 20), 3, acv="70000.00"),
    ]
    states = evaluate(
        facts(struct, signed=RETENTION_SIGNED, acv="48000.00", signals=signals), date(2030, 6, 1)
    )
    # renewal_1: 5 % of 48,000.00 = 2,400.00 on the anniversary 2028-03-15
    assert_earned(one(states, "renewal_1"), date(2028, 3, 15), Decimal("2400.00"))
    # renewal_2: 5 % of Year-2 ACV 52,500.00 = 2,625.00 on 2029-03-15
    assert_earned(one(states, "renewal_2"), date(2029, 3, 15), Decimal("2625.00"))
    # renewal_3: year3 = year2 = 52,500.00 → 4 % = 2,100.00 on the renewal date 2030-03-20
    renewal_3 = one(states, "renewal_3")
    assert (renewal_3.opens, renewal_3.closes) == (date(2030, 3, 15), date(2030, 5, 14))
    assert_earned(renewal_3, date(2030, 3, 20), Decimal("2100.00"))


def test_year3_acv_is_carried_by_the_year2_renewal():
    struct = structure(*THREE_RENEWALS)
    signals = [
        renewal("r1", date(2028, 3, 1), 1, acv="52500.00"),
        renewal("r2", date(2029, 3, 10), 2, acv="60000.00"),
        renewal("r3", date(2030, 3, 20), 3),
    ]
    states = evaluate(
        facts(struct, signed=RETENTION_SIGNED, acv="48000.00", signals=signals), date(2030, 6, 1)
    )
    assert_earned(one(states, "renewal_2"), date(2029, 3, 15), Decimal("2625.00"))
    # 4 % of 60,000.00 = 2,400.00
    assert_earned(one(states, "renewal_3"), date(2030, 3, 20), Decimal("2400.00"))


def test_without_any_carried_acv_every_year_equals_year1():
    struct = structure(*THREE_RENEWALS)
    signals = [
        renewal("r1", date(2028, 3, 1), 1),
        renewal("r2", date(2029, 3, 10), 2),
        renewal("r3", date(2030, 3, 20), 3),
    ]
    states = evaluate(
        facts(struct, signed=RETENTION_SIGNED, acv="48000.00", signals=signals), date(2030, 6, 1)
    )
    assert [(s.key, s.amount) for s in states] == [
        ("renewal_1", Decimal("2400.00")),
        ("renewal_2", Decimal("2400.00")),
        ("renewal_3", Decimal("1920.00")),  # 4 % of 48,000.00
    ]


@pytest.mark.parametrize(
    ("renewed_on", "amount"),
    [
        (date(2028, 1, 10), Decimal("1200.00")),  # known at the trigger: 1 % of 120,000.00
        (date(2028, 2, 1), Decimal("1000.00")),  # recorded after it: year2 = year1 100,000.00
    ],
    ids=["renewal-before-trigger", "renewal-after-trigger"],
)
def test_the_acv_basis_is_read_at_the_trigger_date(renewed_on, amount):
    # Given a 1 % tenure step at 12 months (opens 2028-01-15) paid on the Year-2 ACV
    struct = structure(
        {
            "key": "m12",
            "kind": "tenure",
            "opens_after_months": 12,
            "percent": "1",
            "basis": "year2_acv",
        }
    )
    signals = [renewal("r1", renewed_on, 1, acv="120000.00")]
    # When evaluated long after both dates
    state = one(evaluate(facts(struct, signals=signals), date(2028, 6, 1)), "m12")
    # Then the basis is the Year-2 ACV as known on 2028-01-15
    assert_earned(state, date(2028, 1, 15), amount)


# ------------------------------------------------------------------------------ money


def test_fixed_amount_step_pays_the_amount_whatever_the_acv():
    struct = structure({"key": "m3", "kind": "tenure", "opens_after_months": 3, "amount": "250.00"})
    state = one(evaluate(facts(struct, acv="1.00"), date(2027, 6, 1)), "m3")
    assert_earned(state, date(2027, 4, 15), Decimal("250.00"))


def test_fixed_amount_is_rounded_half_up_to_the_cent():
    struct = structure({"key": "m3", "kind": "tenure", "opens_after_months": 3, "amount": "99.995"})
    state = one(evaluate(facts(struct), date(2027, 6, 1)), "m3")
    assert state.amount == Decimal("100.00")


@pytest.mark.parametrize(
    ("percent", "acv", "amount"),
    [
        ("2.5", "1234.50", Decimal("30.86")),  # 30.8625: below the half cent
        ("2.5", "1234.60", Decimal("30.87")),  # 30.865: half-up (half-even would give 30.86)
        ("5", "12345.70", Decimal("617.29")),  # 617.285: half-up (half-even: 617.28)
        ("5", "12345.50", Decimal("617.28")),  # 617.275: half-up (half-even: 617.28 too)
        ("0.1", "0.05", Decimal("0.00")),  # 0.00005
    ],
)
def test_percent_reward_is_rounded_half_up_to_the_cent(percent, acv, amount):
    struct = structure(
        {"key": "signup", "kind": "signup", "percent": percent, "basis": "year1_acv"}
    )
    state = one(evaluate(facts(struct, acv=acv), SIGNED), "signup")
    assert_earned(state, SIGNED, amount)


def test_percent_reward_rounds_to_the_currencys_minor_unit():
    # 5 % of JPY 10,010 = 500.5 → 501 (no minor unit, half-up)
    struct = structure({"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"})
    state = one(evaluate(facts(struct, acv="10010", currency="JPY"), SIGNED), "signup")
    assert state.amount == Decimal("501")
    assert state.amount.as_tuple().exponent == 0


def test_standard_commission_is_percent_of_year1_acv_rounded_half_up():
    struct = structure({"key": "signup", "kind": "signup", "amount": "1"}, commission="10")
    # 10 % of 12,345.65 = 1,234.565 → 1,234.57
    assert standard_commission(struct, Decimal("12345.65"), "USD") == Decimal("1234.57")


@pytest.mark.parametrize(
    ("reward", "percent", "currency", "expected"),
    [
        ("617.29", "100", "USD", Decimal("617.29")),
        ("30.85", "50", "USD", Decimal("15.43")),  # 15.425: half-up (half-even: 15.42)
        ("100.00", "33.33", "USD", Decimal("33.33")),
        ("0.10", "25", "USD", Decimal("0.03")),  # 0.025
        ("501", "50", "JPY", Decimal("251")),  # 250.5
    ],
)
def test_clawback_amount_is_percent_of_the_reward_rounded_half_up(
    reward, percent, currency, expected
):
    assert clawback_amount(Decimal(reward), Decimal(percent), currency) == expected


def test_clawback_of_100_percent_takes_back_the_whole_reward_to_the_cent():
    # 2.5 % of 1,234.60 = 30.87 earned; clawed back in full
    struct = structure(
        {"key": "signup", "kind": "signup", "percent": "2.5", "basis": "year1_acv"},
        clawback={"window_days": 90, "percent": "100"},
    )
    reward = one(evaluate(facts(struct, acv="1234.60"), SIGNED), "signup").amount
    assert clawback_amount(reward, struct.clawback_percent, "USD") == Decimal("30.87")


# ------------------------------------------------------------------------- validation


def validation_errors(doc):
    with pytest.raises(ValidationError) as excinfo:
        validate_document(doc)
    return excinfo.value.message_dict


def test_validation_refuses_an_unknown_kind():
    errors = validation_errors(document({"key": "x", "kind": "referral", "amount": "10"}))
    assert set(errors) == {"steps[0].kind"}


def test_validation_requires_contract_year_on_a_retention_step():
    errors = validation_errors(
        document({"key": "renewal", "kind": "retention", "percent": "5", "basis": "year1_acv"})
    )
    assert set(errors) == {"steps[0].contract_year"}


def test_validation_refuses_a_percent_above_100():
    errors = validation_errors(
        document({"key": "signup", "kind": "signup", "percent": "120", "basis": "year1_acv"})
    )
    assert set(errors) == {"steps[0].percent"}


def test_validation_refuses_a_float_percent():
    errors = validation_errors(
        document({"key": "signup", "kind": "signup", "percent": 2.5, "basis": "year1_acv"})
    )
    assert set(errors) == {"steps[0].percent"}


def test_validation_refuses_a_float_clawback_percent():
    errors = validation_errors(
        document(
            {"key": "signup", "kind": "signup", "amount": "10"},
            clawback={"window_days": 90, "percent": 50.0},
        )
    )
    assert set(errors) == {"clawback.percent"}


def test_validation_refuses_duplicate_step_keys():
    errors = validation_errors(
        document(
            {"key": "bonus", "kind": "signup", "amount": "10"},
            {"key": "bonus", "kind": "tenure", "opens_after_months": 3, "amount": "10"},
        )
    )
    assert set(errors) == {"steps[1].key"}


def test_validation_refuses_an_unknown_step_field():
    errors = validation_errors(
        document({"key": "m3", "kind": "tenure", "amount": "10", "min_score": 9})
    )
    assert set(errors) == {"steps[0].min_score"}


def test_validation_refuses_an_unknown_top_level_field():
    doc = document({"key": "m3", "kind": "tenure", "amount": "10"})
    doc["colour"] = "blue"
    assert set(validation_errors(doc)) == {"colour"}


def test_validation_refuses_the_expansion_basis_on_another_kind():
    errors = validation_errors(
        document({"key": "m3", "kind": "tenure", "percent": "5", "basis": "expansion_acv_delta"})
    )
    assert set(errors) == {"steps[0].basis"}


def test_validation_refuses_both_percent_and_amount():
    errors = validation_errors(
        document(
            {"key": "m3", "kind": "tenure", "percent": "5", "basis": "year1_acv", "amount": "10"}
        )
    )
    assert set(errors) == {"steps[0].percent"}


def test_validation_refuses_an_unknown_coverage_metric():
    errors = validation_errors(
        document(
            {"key": "c", "kind": "coverage", "metric": "seats", "threshold": 3, "amount": "10"}
        )
    )
    assert set(errors) == {"steps[0].metric"}


def test_validation_refuses_an_unknown_tier():
    doc = document({"key": "m3", "kind": "tenure", "amount": "10"})
    doc["tier"] = "diamond"
    assert set(validation_errors(doc)) == {"tier"}


def test_validation_accepts_and_normalises_the_published_default_schedule():
    doc = {
        "name": "Authorized 2027",
        "tier": "authorized",
        "standard_commission_percent": "10",
        "clawback": {"window_days": 90, "percent": "100"},
        "steps": [
            {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"},
            {**TENURE_3M, "key": "active_3m"},
            {
                "key": "active_6m",
                "kind": "tenure",
                "opens_after_months": 6,
                "percent": "3",
                "basis": "year1_acv",
            },
            retention("renewal_1", 1, "5", "year1_acv"),
            retention("renewal_2", 2, "5", "year2_acv"),
            retention("renewal_3", 3, "5", "year3_acv"),
            {"key": "outcome", "kind": "outcome", "percent": "10", "basis": "year1_acv"},
        ],
    }
    struct = Structure.from_document(validate_document(doc))
    assert [step.key for step in struct.steps] == [
        "signup",
        "active_3m",
        "active_6m",
        "renewal_1",
        "renewal_2",
        "renewal_3",
        "outcome",
    ]
    assert [step.percent for step in struct.steps] == [
        Decimal(p) for p in ("5", "2", "3", "5", "5", "5", "10")
    ]


# ------------------------------------------------------------ as_of and determinism


def test_a_step_is_pending_while_as_of_is_before_its_trigger():
    # Given a qualifying reading on 2027-05-01 and an evaluation on 2027-04-30
    struct = structure(ADOPTION_3M)
    signals = [members("m1", date(2027, 5, 1), "10")]
    state = one(evaluate(facts(struct, signals=signals), date(2027, 4, 30)), "adoption")
    # Then the future-dated reading does not count yet: pending, nothing earned
    assert (state.status, state.trigger_date) == ("pending", None)
    # and once as_of reaches the reading's date it fires on that date
    later = one(evaluate(facts(struct, signals=signals), date(2027, 5, 1)), "adoption")
    assert_earned(later, date(2027, 5, 1), Decimal("3000.00"))


def test_a_step_not_yet_open_is_pending_with_its_expected_amount():
    struct = structure(TENURE_3M)
    state = one(evaluate(facts(struct, acv="12345.67"), date(2027, 4, 14)), "active_3m")
    assert (state.status, state.trigger_date) == ("pending", None)
    assert (state.opens, state.amount) == (date(2027, 4, 15), Decimal("246.91"))


def test_a_missed_step_fires_when_a_reading_dated_inside_its_window_arrives_late():
    struct = structure(ADOPTION_3M)
    as_of = date(2027, 8, 1)
    assert one(evaluate(facts(struct), as_of), "adoption").status == "missed"
    backfilled = [members("m1", date(2027, 6, 3), "14")]
    state = one(evaluate(facts(struct, signals=backfilled), as_of), "adoption")
    assert_earned(state, date(2027, 6, 3), Decimal("3000.00"))


def full_engagement():
    struct = structure(
        {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"},
        TENURE_3M,
        ADOPTION_3M,
        {
            "key": "coverage",
            "kind": "coverage",
            "metric": "vault_size_gb",
            "threshold": "500",
            "amount": "150.00",
        },
        retention("renewal_1", 1, "5", "year1_acv"),
        retention("renewal_2", 2, "5", "year2_acv"),
        {
            "key": "expansion",
            "kind": "expansion",
            "repeat": True,
            "closes_after_days": 1000,
            "percent": "10",
            "basis": "expansion_acv_delta",
        },
        {"key": "csat", "kind": "sentiment", "amount": "200.00"},
        outcome_step(),
    )
    signals = [
        members("m1", date(2027, 4, 1), "6"),
        members("m2", date(2027, 5, 5), "7"),
        members("m3", date(2027, 5, 5), "12"),
        reading("v1", "vault_size_gb", date(2027, 2, 2), "520"),
        renewal("r1", date(2028, 1, 10), 1, acv="120000.00"),
        expansion("e1", "plan_upgrade", date(2027, 6, 1), "5000.00"),
        expansion("e2", "org_added", date(2027, 9, 9), "2500.50"),
        csat("s1", date(2027, 3, 3), "10"),
        churn("c1", date(2028, 6, 1)),
    ]
    outcomes = [OutcomeFact("uptime", 6, accepted_on=date(2027, 7, 1), attested=True)]
    return struct, signals, outcomes


def test_evaluating_twice_or_later_gives_identical_results():
    struct, signals, outcomes = full_engagement()
    engagement = facts(struct, signals=signals, outcomes=outcomes)
    first = evaluate(engagement, date(2028, 3, 1))
    assert evaluate(engagement, date(2028, 3, 1)) == first
    # Evaluating much later keeps every trigger date and amount of what had fired
    fired = {(s.key, s.event_key, s.trigger_date, s.amount) for s in first if s.status == "earned"}
    later = evaluate(engagement, date(2029, 1, 1))
    assert fired <= {(s.key, s.event_key, s.trigger_date, s.amount) for s in later}


def test_signals_in_any_order_give_identical_results():
    struct, signals, outcomes = full_engagement()
    expected = evaluate(facts(struct, signals=signals, outcomes=outcomes), date(2028, 3, 1))
    shuffled = list(signals)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        got = evaluate(facts(struct, signals=shuffled, outcomes=outcomes), date(2028, 3, 1))
        assert got == expected
    reversed_signals = list(reversed(signals))
    got = evaluate(
        facts(struct, signals=reversed_signals, outcomes=list(reversed(outcomes))),
        date(2028, 3, 1),
    )
    assert got == expected


def test_full_engagement_hand_computed_states():
    # Signed 2027-01-15, Year-1 ACV 100,000.00, evaluated 2028-03-01
    struct, signals, outcomes = full_engagement()
    states = evaluate(facts(struct, signals=signals, outcomes=outcomes), date(2028, 3, 1))
    summary = [(s.key, s.status, s.trigger_date, s.amount, s.event_key) for s in states]
    assert summary == [
        ("signup", "earned", date(2027, 1, 15), Decimal("5000.00"), ""),
        ("active_3m", "earned", date(2027, 4, 15), Decimal("2000.00"), ""),
        # members 6 then, on 2027-05-05, 7 and 12 (the highest counts) ≥ 10
        ("adoption", "earned", date(2027, 5, 5), Decimal("3000.00"), ""),
        # 520 GB read on 2027-02-02, inside 2027-01-15 .. 2027-04-15
        ("coverage", "earned", date(2027, 2, 2), Decimal("150.00"), ""),
        # renewed 2028-01-10, before the anniversary 2028-01-15
        ("renewal_1", "earned", date(2028, 1, 15), Decimal("5000.00"), ""),
        # opens 2029-01-15; expected 5 % of the Year-2 ACV 120,000.00 the renewal carried
        ("renewal_2", "pending", None, Decimal("6000.00"), ""),
        # 10 % of 5,000.00 and of 2,500.50 (= 250.05); the window is still open
        ("expansion", "earned", date(2027, 6, 1), Decimal("500.00"), "e1"),
        ("expansion", "earned", date(2027, 9, 9), Decimal("250.05"), "e2"),
        ("expansion", "pending", None, None, ""),
        ("csat", "earned", date(2027, 3, 3), Decimal("200.00"), ""),
        ("outcome", "earned", date(2027, 7, 1), Decimal("10000.00"), ""),
    ]
