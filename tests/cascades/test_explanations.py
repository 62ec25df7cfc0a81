"""Every reason code, for each step kind and status that has it: the state the engine
reaches on hand-built data, its code and facts, and the exact sentence people read
(SPEC §7 "Explanations"). Dates and amounts were worked out by hand."""

import dataclasses
import datetime
from decimal import Decimal

import pytest

from cascades import engine, reasons
from cascades.engine import AGREEMENT_UNSIGNED, NO_AGREEMENT, OutcomeFact, evaluate
from cascades.explanations import SENTENCES, explain
from tests.cascades.test_engine_spec import (
    churn,
    csat,
    expansion,
    facts,
    members,
    one,
    outcome_step,
    reading,
    renewal,
    retention,
    structure,
)

date = datetime.date

# Signed 2027-01-15. Windows: signup on the day; tenure opens 2027-04-15 (3 months) and
# closes the same day; adoption opens 2027-04-15, closes + 90 days = 2027-07-14; coverage,
# sentiment and expansion open at signing and close 2027-04-15 (Jan 15 + 90 days);
# retention out of year 1 opens 2028-01-15 and closes + 60 days = 2028-03-15; the outcome
# (due 6 months: 2027-07-15) closes 2027-10-13.
STEPS = {
    "signup": {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"},
    "late_signup": {"key": "late_signup", "kind": "signup", "opens_after_months": 1,
                    "percent": "5", "basis": "year1_acv"},
    "tenure": {"key": "tenure", "kind": "tenure", "opens_after_months": 3, "percent": "2",
               "basis": "year1_acv"},
    "adoption": {"key": "adoption", "kind": "adoption", "opens_after_months": 3,
                 "min_active_members": 40, "percent": "3", "basis": "year1_acv"},
    "zones": {"key": "zones", "kind": "coverage", "metric": "zone_count", "threshold": 3,
              "amount": "100"},
    "vault": {"key": "vault", "kind": "coverage", "metric": "vault_size_gb", "threshold": 100,
              "amount": "100"},
    "sentiment": {"key": "sentiment", "kind": "sentiment", "amount": "100"},
    "renewal_1": retention("renewal_1", 1, "5", "year2_acv"),
    "expansion": {"key": "expansion", "kind": "expansion", "percent": "5",
                  "basis": "expansion_acv_delta"},
    "upgrade": {"key": "upgrade", "kind": "expansion", "events": ["plan_upgrade"],
                "percent": "5", "basis": "expansion_acv_delta"},
    "outcome": outcome_step(),
}  # fmt: skip
UPTIME = OutcomeFact("uptime", 6)


def state_of(step, as_of, **given):
    return one(evaluate(facts(structure(STEPS[step]), **given), as_of), step)


# (step, as of, the facts given, status, code, the reason's facts, the sentence)
CASES = [
    # --- earned: why it fired
    ("signup", date(2027, 1, 15), {}, "earned", "signed",
     {"fired_on": "2027-01-15", "signed_at": "2027-01-15"},
     "Fired on 15 January 2027: the deal was signed."),
    ("tenure", date(2027, 5, 1), {}, "earned", "tenure_reached",
     {"fired_on": "2027-04-15", "months": 3},
     "Fired on 15 April 2027: still a customer 3 months after signing."),
    ("adoption", date(2027, 6, 1), {"signals": [members("m-1", date(2027, 5, 20), 41)]},
     "earned", "reading_reached",
     {"fired_on": "2027-05-20", "metric": "active_members", "reading": "41",
      "reading_date": "2027-05-20", "threshold": "40", "signal_id": "m-1"},
     "Fired on 20 May 2027: 41 active members, 40 needed."),
    # A reading dated before the window counts from the day it opens.
    ("zones", date(2027, 3, 1),
     {"signals": [reading("z-1", "zone_count", date(2027, 1, 2), "4")]}, "earned",
     "reading_reached",
     {"fired_on": "2027-01-15", "metric": "zone_count", "reading": "4",
      "reading_date": "2027-01-02", "threshold": "3", "signal_id": "z-1"},
     "Fired on 15 January 2027: 4 zones, 3 needed."),
    ("vault", date(2027, 3, 1),
     {"signals": [reading("v-1", "vault_size_gb", date(2027, 2, 1), "120.50")]}, "earned",
     "reading_reached",
     {"fired_on": "2027-02-01", "metric": "vault_size_gb", "reading": "120.5",
      "reading_date": "2027-02-01", "threshold": "100", "signal_id": "v-1"},
     "Fired on 1 February 2027: 120.5 GB in the vault, 100 needed."),
    ("sentiment", date(2027, 3, 1), {"signals": [csat("c-1", date(2027, 3, 1), 9)]},
     "earned", "reading_reached",
     {"fired_on": "2027-03-01", "metric": "csat", "reading": "9",
      "reading_date": "2027-03-01", "threshold": "9", "signal_id": "c-1"},
     "Fired on 1 March 2027: a CSAT score of 9, 9 needed."),
    # Renewed before the window opened: it fires when it opens.
    ("renewal_1", date(2028, 2, 1), {"signals": [renewal("r-1", date(2028, 1, 2), 1)]},
     "earned", "renewed",
     {"fired_on": "2028-01-15", "contract_year": 1, "renewed_on": "2028-01-02",
      "signal_id": "r-1"},
     "Fired on 15 January 2028: renewed out of contract year 1 on 2 January 2028."),
    ("upgrade", date(2027, 4, 1),
     {"signals": [expansion("u-1", "plan_upgrade", date(2027, 3, 10), "12000.00")]},
     "earned", "expansion_event",
     {"fired_on": "2027-03-10", "event": "plan_upgrade", "signal_id": "u-1",
      "acv_delta": "12000"},
     "Fired on 10 March 2027: a plan upgrade adding 12,000.00 of ACV."),
    ("expansion", date(2027, 4, 1),
     {"signals": [expansion("o-1", "org_added", date(2027, 2, 3), "999.99")]},
     "earned", "expansion_event",
     {"fired_on": "2027-02-03", "event": "org_added", "signal_id": "o-1",
      "acv_delta": "999.99"},
     "Fired on 3 February 2027: an organization added adding 999.99 of ACV."),
    ("outcome", date(2027, 9, 1),
     {"outcomes": [OutcomeFact("uptime", 6, accepted_on=date(2027, 8, 1), attested=True)]},
     "earned", "outcome_accepted", {"fired_on": "2027-08-01", "outcome_key": "uptime",
                                    "accepted_on": "2027-08-01"},
     "Fired on 1 August 2027: the attestation of outcome “uptime” was accepted."),
    # --- pending
    ("tenure", date(2027, 2, 1), {}, "pending", "opens_later", {"opens": "2027-04-15"},
     "Pending: its window opens on 15 April 2027."),
    ("adoption", date(2027, 5, 1), {}, "pending", "window_open", {"closes": "2027-07-14"},
     "Pending: its window is open until 14 July 2027."),
    # --- missed: the window closed
    ("adoption", date(2027, 8, 1), {"signals": [members("m-1", date(2027, 7, 1), 38)]},
     "missed", "reading_not_reached",
     {"metric": "active_members", "reading": "38", "reading_date": "2027-07-01",
      "threshold": "40", "closes": "2027-07-14"},
     "Missed: 38 active members when the window closed on 14 July 2027, 40 needed."),
    ("sentiment", date(2027, 5, 1), {}, "missed", "reading_not_reached",
     {"metric": "csat", "reading": None, "reading_date": None, "threshold": "9",
      "closes": "2027-04-15"},
     "Missed: no CSAT reading when the window closed on 15 April 2027, 9 needed."),
    ("vault", date(2027, 5, 1),
     {"signals": [reading("v-1", "vault_size_gb", date(2027, 4, 16), "500")]}, "missed",
     "reading_not_reached",
     {"metric": "vault_size_gb", "reading": None, "reading_date": None, "threshold": "100",
      "closes": "2027-04-15"},
     "Missed: no vault size reading when the window closed on 15 April 2027, 100 needed."),
    ("renewal_1", date(2028, 3, 16), {}, "missed", "no_renewal",
     {"contract_year": 1, "closes": "2028-03-15"},
     "Missed: no renewal out of contract year 1 when the window closed on 15 March 2028."),
    ("expansion", date(2027, 4, 16), {}, "missed", "no_expansion",
     {"events": ["plan_upgrade", "org_added", "marketplace_purchase"],
      "closes": "2027-04-15"},
     "Missed: no plan upgrade, organization added or marketplace purchase when the window "
     "closed on 15 April 2027."),
    ("upgrade", date(2027, 4, 16), {}, "missed", "no_expansion",
     {"events": ["plan_upgrade"], "closes": "2027-04-15"},
     "Missed: no plan upgrade when the window closed on 15 April 2027."),
    ("outcome", date(2027, 10, 14), {"outcomes": [UPTIME]}, "missed", "outcome_not_accepted",
     {"closes": "2027-10-13", "agreement": "signed"},
     "Missed: no attestation was accepted when the window closed on 13 October 2027."),
    ("outcome", date(2027, 10, 14), {"outcomes": [UPTIME], "agreement": AGREEMENT_UNSIGNED},
     "missed", "outcome_not_accepted", {"closes": "2027-10-13", "agreement": "unsigned"},
     "Missed: the customer had not signed its Outcome Attestation Agreement when the window "
     "closed on 13 October 2027."),
    # Without agreed outcomes the window is opens + 90 days: 2027-04-15.
    ("outcome", date(2027, 4, 16), {"agreement": NO_AGREEMENT}, "missed",
     "outcome_not_accepted", {"closes": "2027-04-15", "agreement": "none"},
     "Missed: the customer had no Outcome Attestation Agreement when the window closed on "
     "15 April 2027."),
    ("late_signup", date(2027, 3, 1), {}, "missed", "window_closed", {"closes": "2027-02-15"},
     "Missed: the window closed on 15 February 2027."),
    # --- void: it can no longer fire
    ("tenure", date(2027, 5, 1), {"signals": [churn("x-1", date(2027, 3, 1))]}, "void",
     "churned", {"churned_on": "2027-03-01", "signal_id": "x-1"},
     "Void: the customer churned on 1 March 2027."),
    ("adoption", date(2027, 5, 1), {"terminated": date(2027, 4, 30)}, "void",
     "partner_terminated", {"terminated_on": "2027-04-30"},
     "Void: the partner was terminated on 30 April 2027."),
]  # fmt: skip


@pytest.mark.parametrize(("step", "as_of", "given", "status", "code", "reason_facts",
                          "sentence"), CASES)  # fmt: skip
def test_each_state_says_why_with_its_code_facts_and_sentence(
    step, as_of, given, status, code, reason_facts, sentence
):
    state = state_of(step, as_of, **given)

    assert (state.status, state.reason) == (status, (code, reason_facts))
    assert explain(code, reason_facts, "USD") == sentence


# (step, as of, the facts given, the at-risk reasons: code, facts, sentence)
AT_RISK = [
    ("adoption", date(2027, 5, 1), {"signals": [members("m-1", date(2027, 4, 20), 10)]},
     [("reading_below", {"metric": "active_members", "reading": "10",
                         "reading_date": "2027-04-20", "threshold": "40"},
       "At risk: the latest reading, 10 active members on 20 April 2027, is below the 40 "
       "needed.")]),
    ("zones", date(2027, 2, 1),
     {"signals": [reading("z-1", "zone_count", date(2027, 1, 20), "2")]},
     [("reading_below", {"metric": "zone_count", "reading": "2", "reading_date": "2027-01-20",
                         "threshold": "3"},
       "At risk: the latest reading, 2 zones on 20 January 2027, is below the 3 needed.")]),
    # Retention opens 2028-01-15, within 60 days of 2027-12-01. Active members 50 on
    # 2027-08-01 (the latest by 2027-09-02, 90 days back) and 30 on 2027-11-01: down 40 %.
    ("renewal_1", date(2027, 12, 1),
     {"signals": [members("m-1", date(2027, 8, 1), 50), members("m-2", date(2027, 11, 1), 30),
                  csat("c-1", date(2027, 11, 15), "6.5")]},
     [("members_fell", {"before": "50", "now": "30", "days": 90},
       "At risk: active members fell from 50 to 30 in 90 days."),
      ("csat_below", {"score": "6.5", "below": "7"},
       "At risk: the last CSAT score was 6.5, below 7.")]),
    # The outcome is due 2027-07-15, within 30 days of 2027-07-01, and not attested.
    ("outcome", date(2027, 7, 1), {"outcomes": [UPTIME]},
     [("outcome_not_attested", {"outcome_key": "uptime", "due": "2027-07-15"},
       "At risk: outcome “uptime” is due on 15 July 2027 and not attested.")]),
    ("outcome", date(2027, 3, 1),
     {"outcomes": [OutcomeFact("uptime", 6, attested=True, rejected=True)]},
     [("attestation_rejected", {"outcome_key": "uptime"},
       "At risk: the attestation of outcome “uptime” was rejected.")]),
    ("outcome", date(2027, 3, 1), {"agreement": NO_AGREEMENT},
     [("no_agreement", {}, "At risk: the customer has no Outcome Attestation Agreement.")]),
    ("outcome", date(2027, 3, 1), {"outcomes": [UPTIME], "agreement": AGREEMENT_UNSIGNED},
     [("agreement_unsigned", {},
       "At risk: the customer has not signed its Outcome Attestation Agreement.")]),
]  # fmt: skip


@pytest.mark.parametrize(("step", "as_of", "given", "reasons"), AT_RISK)
def test_each_at_risk_reason_says_why_with_its_code_facts_and_sentence(step, as_of, given, reasons):
    state = state_of(step, as_of, **given)

    assert state.status == "pending"
    assert [(code, facts_) for code, facts_, _ in reasons] == list(state.at_risk)
    assert [explain(code, facts_, "USD") for code, facts_ in state.at_risk] == [
        sentence for _, _, sentence in reasons
    ]


def test_an_open_gaming_case_puts_every_pending_step_at_risk():
    given = dataclasses.replace(facts(structure(STEPS["adoption"])), gaming_case_open=True)
    state = one(evaluate(given, date(2027, 2, 1)), "adoption")

    assert state.at_risk == (("gaming_case_open", {}),)
    assert explain("gaming_case_open", {}, "USD") == (
        "At risk: an open gaming case names this customer."
    )


# (taken_back_reason's arguments, currency, code, facts, sentence)
TAKEN_BACK = [
    # SPEC §7's example: a chargeback 89 days after it fired (2024 is a leap year).
    ({"kind": "clawback", "fired_on": date(2024, 2, 2), "percent": Decimal("50.0000"),
      "amount": Decimal("225.00"), "cause_type": "chargeback", "cause_date": date(2024, 5, 1)},
     "USD", "clawed_back",
     {"fired_on": "2024-02-02", "amount": "225", "cause": "chargeback",
      "cause_date": "2024-05-01", "percent": "50", "days_after": 89},
     "Clawed back 50 % (225.00) after the chargeback of 1 May 2024, 89 days after it fired."),
    ({"kind": "clawback", "fired_on": date(2027, 3, 1), "percent": Decimal("12.5"),
      "amount": Decimal("22500"), "cause_type": "churn", "cause_date": date(2027, 3, 2)},
     "JPY", "clawed_back",
     {"fired_on": "2027-03-01", "amount": "22500", "cause": "churn",
      "cause_date": "2027-03-02", "percent": "12.5", "days_after": 1},
     "Clawed back 12.5 % (22,500) after the churn of 2 March 2027, 1 day after it fired."),
    ({"kind": "reversal", "fired_on": date(2024, 3, 5), "percent": Decimal(100),
      "amount": Decimal("4500.10"), "cause_type": "churn", "cause_date": date(2024, 3, 1)},
     "EUR", "reversed",
     {"fired_on": "2024-03-05", "amount": "4500.1", "cause": "churn",
      "cause_date": "2024-03-01"},
     "Reversed (4,500.10 taken back): the customer churned on 1 March 2024, on or before the "
     "day it fired, 5 March 2024."),
    ({"kind": "reversal", "fired_on": date(2024, 3, 5), "percent": Decimal(100),
      "amount": Decimal("80.00"), "cause_type": None, "cause_date": date(2024, 3, 5)},
     "USD", "reversed",
     {"fired_on": "2024-03-05", "amount": "80", "cause": None, "cause_date": "2024-03-05"},
     "Reversed (80.00 taken back): the partner was terminated on 5 March 2024, on or before "
     "the day it fired, 5 March 2024."),
]  # fmt: skip


@pytest.mark.parametrize(("given", "currency", "code", "reason_facts", "sentence"), TAKEN_BACK)
def test_a_reward_taken_back_says_how_much_after_what_and_when(
    given, currency, code, reason_facts, sentence
):
    reason = engine.taken_back_reason(**given)

    assert reason == (code, reason_facts)
    assert explain(code, reason_facts, currency) == sentence


def test_every_reason_code_has_a_sentence_and_a_case_above():
    codes = {value for name, value in vars(reasons).items()
             if name.isupper() and isinstance(value, str) and name not in (
                 "PENDING", "EARNED", "MISSED", "VOID", "NO_AGREEMENT", "AGREEMENT_UNSIGNED",
                 "AGREEMENT_SIGNED")}  # fmt: skip
    tested = (
        {case[4] for case in CASES}
        | {code for case in AT_RISK for code, _, _ in case[3]}
        | {case[2] for case in TAKEN_BACK}
        | {"gaming_case_open"}
    )

    assert codes == set(SENTENCES) == tested
