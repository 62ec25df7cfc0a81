"""Payout runs (SPEC §6): statements per partner and currency, maker-checker, payment.

A run is created whole in one transaction or not at all; creating it again for the
same period returns the existing run unchanged.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
from collections import defaultdict
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from cascades.models import CascadeStructure, Reward
from payouts.ledger import ledger_post_payouts
from payouts.models import (
    LedgerEntry,
    PayoutRun,
    PayoutRunStatusChange,
    Statement,
    StatementLine,
    StatementPeriod,
)
from payouts.pdf import statement_pdf_bytes
from portal import events
from portal.models import Partner, User

DUE_AFTER_DAYS = 30
ZERO = Decimal("0.00")
STATUS_TRANSITIONS = {
    PayoutRun.Status.DRAFT: {PayoutRun.Status.APPROVED},
    PayoutRun.Status.APPROVED: {PayoutRun.Status.PAID},
    PayoutRun.Status.PAID: set(),
}
KIND_TO_LINE = {
    LedgerEntry.Kind.STANDARD_COMMISSION: "standard_earnings",
    LedgerEntry.Kind.CASCADE_REWARD: "cascade_earnings",
    LedgerEntry.Kind.CLAWBACK: "clawbacks",
    LedgerEntry.Kind.ADJUSTMENT: "adjustments",
}


def parse_period(value: str) -> datetime.date:
    """'2026-11' → 2026-11-01, or a ValidationError naming `period`."""
    try:
        month = datetime.datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 (a month)
    except (TypeError, ValueError):
        raise ValidationError({"period": f"Expected a month YYYY-MM, not {value!r}."}) from None
    return month


def period_end(month: datetime.date) -> datetime.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def due_date(month: datetime.date) -> datetime.date:
    """Net-30: the last day of the period plus 30 days."""
    return period_end(month) + datetime.timedelta(days=DUE_AFTER_DAYS)


def _locked_period(month):
    try:
        with transaction.atomic():
            StatementPeriod.objects.get_or_create(month=month)
    except IntegrityError:
        pass  # created by a concurrent run a moment ago
    return StatementPeriod.objects.select_for_update().get(month=month)


def payout_run_check(*, month: datetime.date, as_of: datetime.date) -> None:
    """Raise a ValidationError naming `period` unless the run for `month` may be created on
    `as_of`: an ended calendar month, the one after the last run. A month that has its run
    already passes: creating it again returns that run."""
    _period_check(month=month, as_of=as_of)
    if not PayoutRun.objects.filter(period__month=month).exists():
        _sequence_check(month=month)


def _period_check(*, month, as_of):
    if month.day != 1:
        raise ValidationError({"period": "A period is a calendar month."})
    if period_end(month) >= as_of:
        raise ValidationError({"period": f"{month:%Y-%m} has not ended yet."})


def _sequence_check(*, month):
    """Runs go month by month: `month` (without a run yet) is the one after the last run."""
    latest = PayoutRun.objects.order_by("-period__month").select_related("period").first()
    if latest is None:
        return
    expected = latest.period.month + relativedelta(months=1)
    if month < latest.period.month:
        raise ValidationError(
            {"period": f"{month:%Y-%m} is before the last run ({latest.period})."}
        )
    if month != expected:
        raise ValidationError({"period": f"Run {expected:%Y-%m} first: runs go month by month."})


def payout_run_create(
    *, month: datetime.date, as_of: datetime.date, created_by=None, created_by_token=None
):
    """Create the run for `month` with its statements; (run, created). Runs go month by
    month, only for a period that has ended by `as_of` (`payout_run_check`). The creator
    is a staff user or an ops API token (which can never approve or pay it)."""
    _period_check(month=month, as_of=as_of)
    with transaction.atomic():
        period = _locked_period(month)
        existing = PayoutRun.objects.filter(period=period).first()
        if existing is not None:
            return existing, False
        _sequence_check(month=month)
        run = PayoutRun.objects.create(
            period=period, created_by=created_by, created_by_token=created_by_token
        )
        note = f"created by ops token {created_by_token.name}" if created_by_token else "created"
        PayoutRunStatusChange.objects.create(
            run=run, to_status=run.status, changed_by=created_by, note=note
        )
        _statements_create(run=run, month=month, issue_date=as_of)
        period.status = StatementPeriod.Status.CLOSED
        period.save(update_fields=["status"])
        events.event_record(
            events.PAYOUT_RUN_CREATED,
            subject=run,
            by=created_by or created_by_token or events.PAYOUT_JOB,
            period=str(period),
            to_status=run.status,
            **_run_totals(run),
        )
    transaction.on_commit(lambda: _render_later(run.pk))
    return run, True


def _render_later(run_id):
    from django_q.tasks import async_task

    async_task("payouts.tasks.statements_render", run_id, task_name=f"statements-{run_id}")


def _statements_create(*, run, month, issue_date):
    """One statement per partner and currency with entries pending or a balance carried.

    The statements' figures are summed from the lines the run attached, in the same
    statement that would otherwise re-read the ledger: an entry committed while the run is
    being created is either on a line, and counted, or left pending for the next run."""
    end = period_end(month)
    pending = LedgerEntry.objects.filter(effective_date__lte=end, line__isnull=True).exclude(
        kind=LedgerEntry.Kind.PAYOUT
    )
    keys = pending.values_list("partner_id", "currency").order_by().distinct()
    opening = dict.fromkeys(keys, ZERO)
    previous = PayoutRun.objects.filter(period__month__lt=month).order_by("-period__month").first()
    if previous is not None:
        for partner_id, currency, closing in previous.statements.values_list(
            "partner_id", "currency", "closing_balance"
        ):
            if closing:
                opening[(partner_id, currency)] = closing
    if not opening:
        return []
    tiers = dict(Partner.objects.with_tier_on(end).values_list("pk", "tier"))
    exposure = clawback_exposure(end=end, keys=set(opening))
    statements = [
        Statement(
            run=run,
            partner_id=partner_id,
            currency=currency,
            tier=tiers.get(partner_id) or "",
            opening_balance=balance,
            closing_balance=balance,
            issue_date=issue_date,
            due_date=due_date(month),
            clawback_exposure=exposure.get((partner_id, currency), []),
        )
        for (partner_id, currency), balance in sorted(opening.items())
    ]
    Statement.objects.bulk_create(statements)
    _lines_insert(run=run, end=end)
    _figures_from_lines(run=run)
    return statements


def _lines_insert(*, run, end):
    """Each pending entry lands on its partner's statement of this run: one statement. An
    entry of a partner and currency without a statement here stays pending."""
    line, entry, statement = (
        StatementLine._meta.db_table,
        LedgerEntry._meta.db_table,
        Statement._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {line} (statement_id, entry_id)
            SELECT s.id, e.id
            FROM {entry} e
            JOIN {statement} s
              ON s.run_id = %s AND s.partner_id = e.partner_id AND s.currency = e.currency
            WHERE e.effective_date <= %s AND e.kind <> %s
              AND NOT EXISTS (SELECT 1 FROM {line} l WHERE l.entry_id = e.id)
            ORDER BY e.id
            """,  # nosec B608: the names are the models' tables; the values are parameters
            [run.pk, end, LedgerEntry.Kind.PAYOUT],
        )


def _figures_from_lines(*, run):
    """Each statement of `run` gets its figures from its own lines, the payable amount and
    the closing balance with them, in one statement (the database checks they add up).
    A balance pays nothing at or below zero or under the minimum payout (SPEC §6)."""
    line, entry, statement = (
        StatementLine._meta.db_table,
        LedgerEntry._meta.db_table,
        Statement._meta.db_table,
    )
    # ROUND: SQLite (the demo) adds up in floating point; PostgreSQL's numeric is exact.
    sums = ", ".join(
        f"ROUND(COALESCE(SUM(CASE WHEN e.kind = '{kind}' THEN e.amount END), 0), 2) AS {field}"
        for kind, field in KIND_TO_LINE.items()
    )
    figures = ", ".join(f"{field} = t.{field}" for field in KIND_TO_LINE.values())
    minimum = Decimal(settings.MINIMUM_PAYOUT)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {statement} SET {figures}, sealed = TRUE,
                payable = CASE WHEN t.balance > 0 AND t.balance >= CAST(%s AS NUMERIC)
                               THEN t.balance ELSE 0 END,
                closing_balance = t.balance
                    - CASE WHEN t.balance > 0 AND t.balance >= CAST(%s AS NUMERIC)
                           THEN t.balance ELSE 0 END
            FROM (
                SELECT s.id AS statement_id, {sums},
                       ROUND(s.opening_balance + COALESCE(SUM(e.amount), 0), 2) AS balance
                FROM {statement} s
                LEFT JOIN {line} l ON l.statement_id = s.id
                LEFT JOIN {entry} e ON e.id = l.entry_id
                WHERE s.run_id = %s
                GROUP BY s.id, s.opening_balance
            ) t
            WHERE {statement}.id = t.statement_id
            """,  # nosec B608: names from the models and KIND_TO_LINE; values are parameters
            [minimum, minimum, run.pk],
        )


def clawback_exposure(*, end: datetime.date, keys):
    """(partner, currency) → the rewards still inside their clawback window on `end`."""
    # Only rewards young enough to be inside the longest window any structure has.
    longest = max(
        (
            int(document["clawback"]["window_days"])
            for document in CascadeStructure.objects.values_list("document", flat=True)
        ),
        default=0,
    )
    rows = (
        Reward.objects.filter(
            trigger_date__lte=end, trigger_date__gte=end - datetime.timedelta(days=longest)
        )
        .annotate(clawed_back=Sum("clawbacks__amount"))
        .values_list(
            "engagement__partner_id",
            "currency",
            "engagement__customer__name",
            "step_key",
            "trigger_date",
            "amount",
            "clawed_back",
            "engagement__snapshot__clawback__window_days",
        )
        .order_by("engagement__customer__name", "trigger_date", "id")
    )
    exposure = defaultdict(list)
    for partner_id, currency, customer, step, trigger, amount, clawed, window in rows:
        if (partner_id, currency) not in keys or window is None:
            continue
        closes = trigger + datetime.timedelta(days=int(window))
        remaining = amount - (clawed or 0)
        if closes >= end and remaining > 0:
            exposure[(partner_id, currency)].append(
                {
                    "customer": customer,
                    "step_key": step,
                    "trigger_date": trigger.isoformat(),
                    "amount": str(remaining),
                    "window_closes": closes.isoformat(),
                }
            )
    return exposure


def _run_totals(run):
    """How many statements a run has, and what they make payable per currency."""
    totals = run.statements.values("currency").annotate(total=Sum("payable")).order_by()
    return {
        "statements": run.statements.count(),
        "payable": {row["currency"]: row["total"] for row in totals},
    }


def _move(run, to_status, *, by=None, note="", **data):
    """Move `run` to `to_status` (the transition table allows it), with its status change
    and its event (`data`: what else the event says)."""
    if to_status not in STATUS_TRANSITIONS[PayoutRun.Status(run.status)]:
        raise ValidationError({"status": f"A {run.status} run cannot become {to_status}."})
    PayoutRunStatusChange.objects.create(
        run=run, from_status=run.status, to_status=to_status, changed_by=by, note=note
    )
    action = {
        PayoutRun.Status.APPROVED: events.PAYOUT_RUN_APPROVED,
        PayoutRun.Status.PAID: events.PAYOUT_RUN_PAID,
    }[to_status]
    events.event_record(
        action, subject=run, by=by, period=str(run.period),
        from_status=run.status, to_status=to_status, **data,
    )  # fmt: skip
    run.status = to_status


def _is_finance(user):
    """A Finance user (or a superuser): never a token, never anonymous."""
    return isinstance(user, User) and (
        user.is_superuser or user.groups.filter(name="Finance").exists()
    )


@transaction.atomic
def payout_run_approve(*, run, by):
    """Maker-checker: a Finance user other than the one who created the run approves it."""
    run = PayoutRun.objects.select_for_update().select_related("period").get(pk=run.pk)
    if not _is_finance(by):
        raise ValidationError({"approved_by": "Only Finance approves payout runs."})
    if run.created_by_id is not None and run.created_by_id == by.pk:
        raise ValidationError(
            {"approved_by": "The person who created a run cannot approve it too."}
        )
    _move(run, PayoutRun.Status.APPROVED, by=by)
    run.approved_by, run.approved_at = by, timezone.now()
    run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


@transaction.atomic
def payout_run_mark_paid(*, run, by, reference: str, paid_on: datetime.date):
    """Record the payment of an approved run and post one payout entry per paid statement."""
    run = PayoutRun.objects.select_for_update().select_related("period").get(pk=run.pk)
    if not _is_finance(by):
        raise ValidationError({"paid_by": "Only Finance records payments."})
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError({"payment_reference": "Give the payment's external reference."})
    statements = list(run.statements.filter(payable__gt=0).order_by("id"))
    paid = defaultdict(lambda: ZERO)
    for statement in statements:
        paid[statement.currency] += statement.payable
    # The payment's reference is people's text: it stays on the run and its status change.
    _move(run, PayoutRun.Status.PAID, by=by, note=reference, paid_on=paid_on,
          payouts=len(statements), paid=dict(paid))  # fmt: skip
    run.paid_by, run.paid_at, run.payment_reference = by, timezone.now(), reference
    run.save(update_fields=["status", "paid_by", "paid_at", "payment_reference"])
    ledger_post_payouts(statements=statements, period=run.period, reference=reference,
                        paid_on=paid_on, by=by)  # fmt: skip
    return run


def statement_issue_pdf(statement_id):
    """Render a statement's PDF once and keep it with its SHA-256; never again after."""
    with transaction.atomic():
        statement = (
            Statement.objects.select_for_update()
            .select_related("run__period", "partner")
            .get(pk=statement_id)
        )
        if statement.pdf_sha256:
            return statement
        data = statement_pdf_bytes(statement)
        partner, currency = statement.partner.external_id, statement.currency
        name = f"statement-{statement.run.period}-{partner}-{currency}.pdf"
        statement.pdf.save(name, ContentFile(data), save=False)
        statement.pdf_sha256 = hashlib.sha256(data).hexdigest()
        statement.save(update_fields=["pdf", "pdf_sha256"])
        events.event_record(
            events.STATEMENT_ISSUED, subject=statement, by=events.PAYOUT_JOB,
            partner=statement.partner_id, period=str(statement.run.period),
            currency=statement.currency, payable=statement.payable,
            closing_balance=statement.closing_balance, due_date=statement.due_date,
            pdf_sha256=statement.pdf_sha256,
        )  # fmt: skip
    return statement
