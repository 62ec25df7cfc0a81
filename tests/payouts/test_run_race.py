"""A payout run settles exactly what it counts, whatever commits while it is created."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction

from payouts import services
from payouts.models import LedgerEntry, Statement, StatementLine
from payouts.reconciliation import reconcile
from payouts.services import payout_run_create
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post

D = datetime.date
NOV = D(2026, 11, 1)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def in_another_connection(work):
    """Run `work` in a thread of its own: its own connection, committed when it returns."""
    errors = []

    def run():
        try:
            work()
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert errors == []


def test_entries_committed_while_a_run_is_created_are_counted_or_left_pending(monkeypatch):
    # Given Atlas and Bluebird with November rewards, and Cobalt with nothing yet
    atlas, bluebird, cobalt = EngagementFactory(), EngagementFactory(), EngagementFactory()
    post(atlas, "cascade_reward", "300.00", D(2026, 11, 10))
    post(bluebird, "cascade_reward", "120.00", D(2026, 11, 12))

    # When an evaluation and a staff adjustment commit while the run is being created
    # (paused between making its statements and attaching the ledger's entries to them)
    real_lines_insert = services._lines_insert

    def commit_in_between():
        post(atlas, "cascade_reward", "200.00", D(2026, 11, 20))
        post(cobalt, "adjustment", "75.00", D(2026, 11, 21))

    def lines_insert(**kwargs):
        in_another_connection(commit_in_between)
        return real_lines_insert(**kwargs)

    monkeypatch.setattr(services, "_lines_insert", lines_insert)
    run, created = payout_run_create(month=NOV, as_of=D(2026, 12, 1))

    # Then Atlas's second reward is on its statement and counted; Cobalt's adjustment,
    # whose partner has no statement in this run, waits for the next one
    assert created
    figures = {
        s.partner_id: (s.cascade_earnings, s.adjustments, s.payable, s.closing_balance)
        for s in Statement.objects.filter(run=run)
    }
    assert figures == {
        atlas.partner_id: (Decimal("500.00"), Decimal("0.00"), Decimal("500.00"), Decimal("0")),
        bluebird.partner_id: (Decimal("120.00"), Decimal("0.00"), Decimal("120.00"), Decimal("0")),
    }
    assert StatementLine.objects.filter(statement__run=run).count() == 3
    pending = LedgerEntry.objects.filter(line__isnull=True).exclude(kind="payout")
    assert list(pending.values_list("partner_id", "amount")) == [
        (cobalt.partner_id, Decimal("75.00"))
    ]
    assert reconcile() == []


def test_the_database_refuses_a_line_on_a_sealed_statement_and_figures_that_do_not_add_up():
    atlas = EngagementFactory()
    post(atlas, "cascade_reward", "300.00", D(2026, 11, 10))
    run, _ = payout_run_create(month=NOV, as_of=D(2026, 12, 1))
    statement = Statement.objects.get(run=run)
    late = post(atlas, "adjustment", "10.00", D(2026, 11, 30))

    with pytest.raises(IntegrityError, match="sealed statement"), transaction.atomic():
        StatementLine.objects.create(statement=statement, entry=late)
    frozen = pytest.raises(IntegrityError, match="sealed: its figures never change")
    with frozen, transaction.atomic():
        Statement.objects.filter(pk=statement.pk).update(
            adjustments=Decimal("10.00"), closing_balance=statement.closing_balance + 10
        )

    # A statement written outside a run, its figures not its lines: refused at commit.
    refused = pytest.raises(IntegrityError, match="does not add up to its lines")
    with refused, transaction.atomic():
        Statement.objects.create(
            run=run, partner=EngagementFactory().partner, currency="USD", sealed=True,
            cascade_earnings=Decimal("50.00"), payable=Decimal("50.00"),
            issue_date=D(2026, 12, 1), due_date=D(2026, 12, 30),
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Statement.objects.filter(run=run).count() == 1
    assert reconcile() == []  # the late adjustment waits for December's run
