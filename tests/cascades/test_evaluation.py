"""The evaluation service: rewards, clawbacks, reversals and their ledger entries."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from attestations.models import Outcome, OutcomeAgreement
from cascades.evaluation import engagements_evaluate
from cascades.models import CascadeStructure, Clawback, Reward, Signal
from payouts.ledger import ledger_post_standard_commission
from payouts.models import LedgerEntry
from payouts.pdf import statement_context
from payouts.services import payout_run_create
from portal.models import PartnerStatusChange
from tests.cascades.factories import EngagementFactory, SignalFactory, document
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

D = datetime.date
SIGNUP = {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"}
TENURE_3M = {"key": "active_3m", "kind": "tenure", "opens_after_months": 3, "percent": "2",
             "basis": "year1_acv"}  # fmt: skip


def engagement_with(*steps, window_days=90, clawback_percent="100", **fields):
    """An engagement (signed 2026-03-15, Year-1 ACV 48,000.00 USD) on its own structure."""
    row = CascadeStructure.objects.create(
        tier="authorized",
        version=1,
        is_custom=True,
        name="Test",
        document=document(*steps, window_days=window_days, clawback_percent=clawback_percent),
    )
    return EngagementFactory(structure=row, **fields)


def signal(engagement, type, occurred_at, **columns):
    return SignalFactory(customer=engagement.customer, type=type, occurred_at=occurred_at,
                         **columns)  # fmt: skip


def rewards(engagement):
    return list(
        Reward.objects.filter(engagement=engagement)
        .order_by("trigger_date", "step_key", "event_key")
        .values_list("step_key", "event_key", "trigger_date", "amount")
    )


def entries(engagement):
    return list(
        LedgerEntry.objects.filter(engagement=engagement)
        .order_by("effective_date", "id")
        .values_list("kind", "effective_date", "amount")
    )


def test_evaluation_records_each_fired_step_and_its_ledger_entry():
    engagement = engagement_with(SIGNUP, TENURE_3M)

    summary = engagements_evaluate(as_of=D(2026, 7, 1))

    # 5 % and 2 % of 48,000.00; the tenure step opens 3 months after 2026-03-15.
    assert rewards(engagement) == [
        ("signup", "", D(2026, 3, 15), Decimal("2400.00")),
        ("active_3m", "", D(2026, 6, 15), Decimal("960.00")),
    ]
    assert entries(engagement) == [
        ("cascade_reward", D(2026, 3, 15), Decimal("2400.00")),
        ("cascade_reward", D(2026, 6, 15), Decimal("960.00")),
    ]
    assert (summary.engagements, summary.rewards_created, summary.clawbacks_created) == (1, 2, 0)


def test_a_step_not_yet_due_is_not_recorded():
    engagement = engagement_with(SIGNUP, TENURE_3M)
    engagements_evaluate(as_of=D(2026, 6, 14))
    assert [r[0] for r in rewards(engagement)] == ["signup"]


def test_evaluating_twice_or_late_changes_nothing():
    engagement = engagement_with(SIGNUP, TENURE_3M)
    engagements_evaluate(as_of=D(2026, 7, 1))
    before = (rewards(engagement), entries(engagement))

    again = engagements_evaluate(as_of=D(2026, 7, 1))
    late = engagements_evaluate(as_of=D(2027, 12, 31))

    assert (again.rewards_created, late.rewards_created) == (0, 0)
    assert (rewards(engagement), entries(engagement)) == before


def test_churn_on_the_last_day_of_the_window_claws_back_in_full():
    engagement = engagement_with(TENURE_3M)
    signal(engagement, "churn", D(2026, 9, 13))  # 2026-06-15 + 90 days

    summary = engagements_evaluate(as_of=D(2026, 10, 1))

    assert entries(engagement) == [
        ("cascade_reward", D(2026, 6, 15), Decimal("960.00")),
        ("clawback", D(2026, 9, 13), Decimal("-960.00")),
    ]
    clawback = Clawback.objects.get()
    assert (clawback.kind, clawback.percent, clawback.window_days, clawback.amount) == (
        "clawback",
        Decimal("100"),
        90,
        Decimal("960.00"),
    )
    assert summary.clawbacks_created == 1


def test_churn_the_day_after_the_window_claws_nothing_back():
    engagement = engagement_with(TENURE_3M)
    signal(engagement, "churn", D(2026, 9, 14))
    engagements_evaluate(as_of=D(2026, 10, 1))
    assert entries(engagement) == [("cascade_reward", D(2026, 6, 15), Decimal("960.00"))]
    assert not Clawback.objects.exists()


def test_partial_clawback_percent_rounds_half_up_once():
    engagement = engagement_with(SIGNUP, clawback_percent="33.33", year1_acv=Decimal("12345.67"))
    signal(engagement, "chargeback", D(2026, 4, 1), amount=Decimal("500.00"))

    engagements_evaluate(as_of=D(2026, 5, 1))

    # 5 % of 12,345.67 = 617.2835 → 617.28; 33.33 % of that = 205.739424 → 205.74.
    assert entries(engagement) == [
        ("cascade_reward", D(2026, 3, 15), Decimal("617.28")),
        ("clawback", D(2026, 4, 1), Decimal("-205.74")),
    ]


def test_a_churn_and_a_chargeback_claw_a_reward_back_once():
    engagement = engagement_with(SIGNUP)
    signal(engagement, "chargeback", D(2026, 4, 1), amount=Decimal("100.00"))
    signal(engagement, "churn", D(2026, 4, 20))

    engagements_evaluate(as_of=D(2026, 5, 1))
    engagements_evaluate(as_of=D(2026, 6, 1))

    assert entries(engagement) == [
        ("cascade_reward", D(2026, 3, 15), Decimal("2400.00")),
        ("clawback", D(2026, 4, 1), Decimal("-2400.00")),
    ]


def test_a_late_churn_dated_before_a_trigger_reverses_that_reward_in_full():
    engagement = engagement_with(SIGNUP, TENURE_3M)
    engagements_evaluate(as_of=D(2026, 7, 1))

    # Billing backfills a churn dated before the tenure step fired.
    signal(engagement, "churn", D(2026, 6, 10))
    summary = engagements_evaluate(as_of=D(2026, 7, 1))

    assert entries(engagement) == [
        ("cascade_reward", D(2026, 3, 15), Decimal("2400.00")),
        # the signup reward (2026-03-15) is inside its 90-day window: clawed back on the churn;
        ("clawback", D(2026, 6, 10), Decimal("-2400.00")),
        ("cascade_reward", D(2026, 6, 15), Decimal("960.00")),
        # the tenure reward is disproved: reversed in full, in its own period.
        ("clawback", D(2026, 6, 15), Decimal("-960.00")),
    ]
    assert sorted(Clawback.objects.values_list("reward__step_key", "kind")) == [
        ("active_3m", "reversal"),
        ("signup", "clawback"),
    ]
    assert summary.clawbacks_created == 2
    assert engagements_evaluate(as_of=D(2026, 8, 1)).clawbacks_created == 0


def test_clawback_and_reversal_together_never_exceed_the_reward():
    engagement = engagement_with(TENURE_3M, clawback_percent="50")
    signal(engagement, "chargeback", D(2026, 7, 1), amount=Decimal("10.00"))
    engagements_evaluate(as_of=D(2026, 7, 2))
    signal(engagement, "churn", D(2026, 6, 1))  # late: before the 2026-06-15 trigger

    engagements_evaluate(as_of=D(2026, 7, 2))

    assert entries(engagement) == [
        ("cascade_reward", D(2026, 6, 15), Decimal("960.00")),
        ("clawback", D(2026, 6, 15), Decimal("-480.00")),
        ("clawback", D(2026, 7, 1), Decimal("-480.00")),
    ]
    assert Clawback.objects.aggregate(total=Sum("amount"))["total"] == Decimal("960.00")


def test_repeat_expansion_fires_once_per_event_and_only_once():
    expansion = {
        "key": "expansion",
        "kind": "expansion",
        "repeat": True,
        "closes_after_days": 730,
        "percent": "5",
        "basis": "expansion_acv_delta",
    }
    engagement = engagement_with(expansion)
    first = signal(engagement, "plan_upgrade", D(2026, 5, 1), amount=Decimal("1000.00"))
    second = signal(engagement, "org_added", D(2026, 8, 1), amount=Decimal("333.30"))

    engagements_evaluate(as_of=D(2026, 9, 1))
    engagements_evaluate(as_of=D(2026, 10, 1))

    assert rewards(engagement) == [
        ("expansion", first.signal_id, D(2026, 5, 1), Decimal("50.00")),
        # 5 % of 333.30 = 16.665 → 16.67 (half-up)
        ("expansion", second.signal_id, D(2026, 8, 1), Decimal("16.67")),
    ]


def test_termination_voids_the_steps_that_have_not_fired():
    engagement = engagement_with(SIGNUP, TENURE_3M)
    PartnerStatusChange.objects.create(
        partner=engagement.partner,
        from_status="active",
        to_status="terminated",
        reason="fraud",
        changed_at=datetime.datetime(2026, 5, 1, 12, tzinfo=datetime.UTC),
    )
    engagements_evaluate(as_of=D(2026, 7, 1))
    assert [r[0] for r in rewards(engagement)] == ["signup"]


def test_outcome_fires_on_the_acceptance_date_only_with_a_signed_agreement():
    outcome_step = {"key": "outcome", "kind": "outcome", "percent": "10", "basis": "year1_acv"}
    signed = engagement_with(outcome_step)
    unsigned = engagement_with(outcome_step)
    for engagement, signed_at in ((signed, datetime.datetime(2026, 3, 16, tzinfo=datetime.UTC)),
                                  (unsigned, None)):  # fmt: skip
        agreement = OutcomeAgreement.objects.create(engagement=engagement, signed_at=signed_at)
        Outcome.objects.create(
            agreement=agreement, key="cut_costs", title="Cut costs", methodology="Invoices",
            target=Decimal("10"), unit="%", due_months=6, accepted_on=D(2026, 10, 2),
        )  # fmt: skip

    engagements_evaluate(as_of=D(2026, 12, 1))

    assert rewards(signed) == [("outcome", "", D(2026, 10, 2), Decimal("4800.00"))]
    assert rewards(unsigned) == []


def test_the_ledger_adds_up_to_commissions_plus_rewards_minus_clawbacks():
    engagement = engagement_with(SIGNUP, TENURE_3M, clawback_percent="50")
    ledger_post_standard_commission(engagement=engagement, amount=Decimal("4800.00"))
    signal(engagement, "churn", D(2026, 7, 1))

    engagements_evaluate(as_of=D(2026, 8, 1))

    total = LedgerEntry.objects.filter(engagement=engagement).aggregate(t=Sum("amount"))["t"]
    rewarded = Reward.objects.aggregate(t=Sum("amount"))["t"]
    clawed = Clawback.objects.aggregate(t=Sum("amount"))["t"]
    # 4,800 + (2,400 + 960) − 50 % of 960 (the signup is outside its window by then)
    assert (rewarded, clawed, total) == (
        Decimal("3360.00"),
        Decimal("480.00"),
        Decimal("7680.00"),
    )


def test_queries_per_evaluation_do_not_grow_with_the_engagements():
    def count_queries(n):
        for _ in range(n):
            engagement = engagement_with(SIGNUP, TENURE_3M)
            signal(engagement, "churn", D(2026, 7, 1))
        ContentType.objects.clear_cache()  # both runs look up the events' subject type
        with CaptureQueriesContext(connection) as first:
            engagements_evaluate(as_of=D(2026, 8, 1))
        with CaptureQueriesContext(connection) as unchanged:
            engagements_evaluate(as_of=D(2026, 8, 1))
        return len(first), len(unchanged)

    small = count_queries(3)
    large = count_queries(40)
    # Nothing changed: nothing is evaluated, whatever the number of engagements.
    assert small[1] == large[1] <= 8
    if connection.vendor == "postgresql":
        assert small[0] == large[0]
    else:  # SQLite takes at most 999 parameters a statement: for 40 engagements the step
        # rows, ledger entries and events each need a second INSERT, no more
        assert small[0] <= large[0] <= small[0] + 3


def test_signals_that_arrive_in_another_order_end_in_the_same_rewards():
    adoption = {"key": "adoption", "kind": "adoption", "opens_after_months": 1,
                "min_active_members": 25, "percent": "3", "basis": "year1_acv"}  # fmt: skip
    in_time = engagement_with(adoption)
    late = engagement_with(adoption)
    readings = [(D(2026, 4, 1), 10), (D(2026, 4, 20), 30), (D(2026, 5, 1), 5)]

    for day, value in readings:
        signal(in_time, "active_members", day, value=Decimal(value))
        engagements_evaluate(as_of=day)
    # The other customer's readings arrive all at once, newest first, after the window.
    for day, value in reversed(readings):
        signal(late, "active_members", day, value=Decimal(value))
    engagements_evaluate(as_of=D(2026, 9, 1))

    expected = [("adoption", "", D(2026, 4, 20), Decimal("1440.00"))]
    assert rewards(in_time) == rewards(late) == expected
    assert Signal.objects.count() == 6


def test_a_late_churn_dated_on_the_trigger_date_reverses_the_reward():
    engagement = engagement_with(TENURE_3M)
    engagements_evaluate(as_of=D(2026, 7, 1))
    signal(engagement, "churn", D(2026, 6, 15))  # nothing fires on the churn date

    engagements_evaluate(as_of=D(2026, 7, 1))

    assert Clawback.objects.get().kind == "reversal"
    assert entries(engagement) == [
        ("cascade_reward", D(2026, 6, 15), Decimal("960.00")),
        ("clawback", D(2026, 6, 15), Decimal("-960.00")),
    ]


def test_a_clawback_entry_says_why_in_plain_numbers(client):
    engagement = engagement_with(TENURE_3M)
    signal(engagement, "churn", D(2026, 7, 1), signal_id="churn-1")
    engagements_evaluate(as_of=D(2026, 8, 1))

    entry = LedgerEntry.objects.get(kind="clawback")
    # Fired 2026-06-15 (three months after signing), the churn came 16 days later.
    assert (entry.reason, entry.reason_code, entry.facts) == ("", "clawed_back", {
        "fired_on": "2026-06-15", "amount": "960", "cause": "churn", "cause_date": "2026-07-01",
        "percent": "100", "days_after": 16,
    })  # fmt: skip
    client.force_login(StaffUserFactory(is_superuser=True))  # with two-factor set up
    page = client.get(f"/admin/payouts/ledgerentry/{entry.pk}/change/").content.decode()
    assert (
        "Clawed back 100 % (960.00) after the churn of 1 July 2026, 16 days after it fired." in page
    )


ADOPTION_1M = {"key": "adoption", "kind": "adoption", "opens_after_months": 1,
               "min_active_members": 40, "percent": "3", "basis": "year1_acv"}  # fmt: skip


def test_each_entry_keeps_why_it_was_posted_and_the_statement_says_it():
    # Signed 2026-03-15 on 48,000.00; adoption opens 2026-04-15 and needs 40 active members.
    engagement = engagement_with(ADOPTION_1M, clawback_percent="50")
    signal(engagement, "active_members", D(2026, 5, 20), value=Decimal(41), signal_id="m-41")
    engagements_evaluate(as_of=D(2026, 5, 31))
    # A chargeback 12 days after it fired: half of 1,440.00 back.
    signal(engagement, "chargeback", D(2026, 6, 1), amount=Decimal(500), signal_id="cb-1")
    engagements_evaluate(as_of=D(2026, 6, 30))

    posted = list(
        LedgerEntry.objects.filter(engagement=engagement)
        .exclude(kind="standard_commission")
        .order_by("id")
        .values_list("kind", "amount", "reason_code", "facts")
    )
    assert posted == [
        ("cascade_reward", Decimal("1440.00"), "reading_reached",
         {"fired_on": "2026-05-20", "metric": "active_members", "reading": "41",
          "reading_date": "2026-05-20", "threshold": "40", "signal_id": "m-41"}),
        ("clawback", Decimal("-720.00"), "clawed_back",
         {"fired_on": "2026-05-20", "amount": "720", "cause": "chargeback",
          "cause_date": "2026-06-01", "percent": "50", "days_after": 12}),
    ]  # fmt: skip

    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1))
    details = statement_context(run.statements.get())["details"]
    assert [(row["milestone"], row["explanation"]) for row in details] == [
        ("adoption", "Fired on 20 May 2026: 41 active members, 40 needed."),
        ("Clawback of adoption",
         "Clawed back 50 % (720.00) after the chargeback of 1 June 2026, 12 days after it "
         "fired."),
    ]  # fmt: skip
