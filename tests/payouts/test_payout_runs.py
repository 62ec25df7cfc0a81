"""Payout runs: statements, carry-forward, net-30, maker-checker, idempotency."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from payouts import services
from payouts.models import (
    LedgerEntry,
    PayoutRun,
    PayoutRunStatusChange,
    Statement,
    StatementLine,
    StatementPeriod,
)
from payouts.services import (
    due_date,
    payout_run_approve,
    payout_run_create,
    payout_run_mark_paid,
)
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

D = datetime.date
NOV, DEC, JAN = D(2026, 11, 1), D(2026, 12, 1), D(2027, 1, 1)


def run_for(month, **kwargs):
    as_of = services.period_end(month) + datetime.timedelta(days=1)
    return payout_run_create(month=month, as_of=as_of, **kwargs)[0]


def figures(statement):
    return (
        statement.opening_balance,
        statement.standard_earnings,
        statement.cascade_earnings,
        statement.clawbacks,
        statement.adjustments,
        statement.payable,
        statement.closing_balance,
    )


def finance_user():
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def pay(run, on):
    approver = finance_user()
    payout_run_approve(run=run, by=approver)
    return payout_run_mark_paid(run=run, by=approver, reference="BANK-1", paid_on=on)


@pytest.fixture
def engagement():
    return EngagementFactory(signed_at=D(2026, 11, 3))


def test_a_statement_shows_standard_and_cascade_earnings_on_their_own_lines(engagement):
    post(engagement, "standard_commission", "4800.00", D(2026, 11, 3))
    post(engagement, "cascade_reward", "2400.00", D(2026, 11, 3))
    post(engagement, "cascade_reward", "960.00", D(2026, 11, 20))
    post(engagement, "cascade_reward", "100.00", D(2026, 12, 1))  # next period

    run = run_for(NOV)

    statement = run.statements.get()
    assert figures(statement) == (
        Decimal("0.00"),
        Decimal("4800.00"),
        Decimal("3360.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("8160.00"),
        Decimal("0.00"),
    )
    assert (statement.issue_date, statement.due_date) == (D(2026, 12, 1), D(2026, 12, 30))
    assert statement.lines.count() == 3
    assert run.period.status == StatementPeriod.Status.CLOSED


def test_a_clawback_after_payment_carries_a_negative_balance_into_the_next_months(engagement):
    reward = post(engagement, "cascade_reward", "2400.00", D(2026, 11, 5)).reward
    post(engagement, "cascade_reward", "960.00", D(2026, 11, 20))
    november = run_for(NOV)
    pay(november, D(2026, 12, 28))
    # The customer churns in December: the November reward is clawed back after payment.
    post(engagement, "clawback", "-2400.00", D(2026, 12, 5), of_reward=reward)
    post(engagement, "cascade_reward", "500.00", D(2026, 12, 10))

    december = run_for(DEC).statements.get()
    post(engagement, "cascade_reward", "2500.00", D(2027, 1, 15))
    january = run_for(JAN).statements.get()

    assert figures(december) == (
        Decimal("0.00"), Decimal("0.00"), Decimal("500.00"), Decimal("-2400.00"),
        Decimal("0.00"), Decimal("0.00"), Decimal("-1900.00"),
    )  # fmt: skip
    assert figures(january) == (
        Decimal("-1900.00"), Decimal("0.00"), Decimal("2500.00"), Decimal("0.00"),
        Decimal("0.00"), Decimal("600.00"), Decimal("0.00"),
    )  # fmt: skip
    payouts = LedgerEntry.objects.filter(kind="payout").values_list("amount", "effective_date")
    assert list(payouts) == [(Decimal("-3360.00"), D(2026, 12, 28))]


def test_a_balance_under_the_minimum_payout_carries_forward(engagement):
    post(engagement, "adjustment", "49.99", D(2026, 11, 10))
    november = run_for(NOV).statements.get()
    post(engagement, "adjustment", "0.01", D(2026, 12, 10))
    december = run_for(DEC).statements.get()

    assert (november.payable, november.closing_balance) == (Decimal("0.00"), Decimal("49.99"))
    assert (december.opening_balance, december.payable, december.closing_balance) == (
        Decimal("49.99"),
        Decimal("50.00"),
        Decimal("0.00"),
    )


def test_a_late_entry_for_a_closed_period_lands_on_the_first_open_one(engagement):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    november = run_for(NOV)
    late = post(engagement, "cascade_reward", "700.00", D(2026, 11, 15))  # after the run

    december = run_for(DEC)

    assert november.statements.get().cascade_earnings == Decimal("300.00")
    assert december.statements.get().cascade_earnings == Decimal("700.00")
    assert StatementLine.objects.get(entry=late).statement.run == december


@pytest.mark.parametrize(
    ("month", "due"),
    [
        (D(2027, 1, 1), D(2027, 3, 2)),  # Jan 31 + 30 days across a 28-day February
        (D(2028, 1, 1), D(2028, 3, 1)),  # ... and across February 29 in a leap year
        (D(2028, 2, 1), D(2028, 3, 30)),  # Feb 29 + 30 days
        (D(2026, 11, 1), D(2026, 12, 30)),
    ],
)
def test_the_due_date_is_the_last_day_of_the_period_plus_30_days(month, due):
    assert due_date(month) == due


def test_the_creator_of_a_run_cannot_approve_it(engagement):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    maker = finance_user()
    run = run_for(NOV, created_by=maker)

    with pytest.raises(ValidationError) as refused:
        payout_run_approve(run=run, by=maker)

    assert "approved_by" in refused.value.message_dict
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("draft", None)
    assert PayoutRunStatusChange.objects.filter(run=run).count() == 1


def test_only_finance_approves_and_a_paid_run_is_paid_once(engagement):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    run = run_for(NOV, created_by=finance_user())
    with pytest.raises(ValidationError):
        payout_run_approve(run=run, by=StaffUserFactory())
    pay(run, D(2026, 12, 20))

    with pytest.raises(ValidationError):
        payout_run_mark_paid(
            run=run, by=finance_user(), reference="BANK-2", paid_on=D(2026, 12, 21)
        )

    run.refresh_from_db()
    assert (run.status, run.payment_reference) == ("paid", "BANK-1")
    assert list(LedgerEntry.objects.filter(kind="payout").values_list("amount", flat=True)) == [
        Decimal("-300.00")
    ]
    assert list(run.status_changes.values_list("from_status", "to_status")) == [
        ("", "draft"),
        ("draft", "approved"),
        ("approved", "paid"),
    ]


def test_paying_needs_a_reference(engagement):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    run = run_for(NOV, created_by=finance_user())
    approver = finance_user()
    payout_run_approve(run=run, by=approver)
    with pytest.raises(ValidationError) as refused:
        payout_run_mark_paid(run=run, by=approver, reference=" ", paid_on=D(2026, 12, 1))
    assert "payment_reference" in refused.value.message_dict
    assert not LedgerEntry.objects.filter(kind="payout").exists()


def test_running_a_period_twice_gives_the_same_run_and_no_second_statement(engagement):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    first, created = payout_run_create(month=NOV, as_of=D(2026, 12, 1))
    post(engagement, "cascade_reward", "50.00", D(2026, 11, 11))

    again, created_again = payout_run_create(month=NOV, as_of=D(2026, 12, 2))

    assert (created, created_again) == (True, False)
    assert again == first
    assert Statement.objects.count() == 1
    assert Statement.objects.get().cascade_earnings == Decimal("300.00")


def test_a_crash_in_the_middle_of_a_run_leaves_nothing_written(engagement, monkeypatch):
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))
    post(EngagementFactory(), "cascade_reward", "80.00", D(2026, 11, 12))

    def crash(**kwargs):
        assert Statement.objects.count() == 2  # the statements were written, then:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(services, "_lines_insert", crash)
    with pytest.raises(RuntimeError):
        payout_run_create(month=NOV, as_of=D(2026, 12, 1))

    assert not PayoutRun.objects.exists()
    assert not Statement.objects.exists()
    assert not StatementLine.objects.exists()
    assert not StatementPeriod.objects.filter(status="closed").exists()


def test_runs_go_month_by_month_and_only_after_the_month_ends(engagement):
    run_for(NOV)
    with pytest.raises(ValidationError, match="Run 2026-12 first"):
        payout_run_create(month=JAN, as_of=D(2027, 2, 1))
    with pytest.raises(ValidationError, match="has not ended"):
        payout_run_create(month=DEC, as_of=D(2026, 12, 31))
    assert PayoutRun.objects.count() == 1


def test_statements_list_the_rewards_still_inside_their_clawback_window(engagement):
    reward = post(engagement, "cascade_reward", "960.00", D(2026, 11, 20)).reward
    post(engagement, "cascade_reward", "10.00", D(2026, 8, 1))  # window closed Oct 30

    statement = run_for(NOV).statements.get()

    assert statement.clawback_exposure == [
        {
            "customer": engagement.customer.name,
            "step_key": reward.step_key,
            "trigger_date": "2026-11-20",
            "amount": "960.00",
            "window_closes": "2027-02-18",
        }
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_of_one_period_started_at_once_make_one_run():
    import threading

    from django.db import connections

    for _ in range(3):
        post(EngagementFactory(), "cascade_reward", "300.00", D(2026, 11, 10))
    start, results, errors = threading.Barrier(2), [], []

    def create():
        try:
            start.wait()
            results.append(payout_run_create(month=NOV, as_of=D(2026, 12, 1)))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert PayoutRun.objects.count() == 1
    assert Statement.objects.count() == 3
    assert StatementLine.objects.count() == 3


def test_statement_figures_with_cents_are_accepted_exactly_and_wrong_ones_refused(engagement):
    from django.db import IntegrityError, transaction

    run = run_for(NOV)
    fields = {
        "run": run, "partner": engagement.partner, "currency": "EUR",
        "opening_balance": Decimal("-20000.00"), "cascade_earnings": Decimal("3634.56"),
        "clawbacks": Decimal("-0.07"), "issue_date": D(2026, 12, 1), "due_date": D(2026, 12, 30),
    }  # fmt: skip
    Statement.objects.create(**fields, closing_balance=Decimal("-16365.51"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Statement.objects.create(
            **{**fields, "currency": "GBP"}, closing_balance=Decimal("-16365.50")
        )
    # Made by hand, without lines: PostgreSQL's deferred check would refuse it at commit.
    Statement.objects.filter(run=run).delete()
