"""Reconciliation: the ledger, the statements and the payments must tell one story."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum

from payouts.models import LedgerEntry, PayoutRun, Statement, StatementLine
from payouts.services import KIND_TO_LINE

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def _cents(total):
    """A sum as the database gave it, to the cent (SQLite adds up in floating point)."""
    return Decimal(total).quantize(CENT)


def reconcile():
    """Every disagreement, as a sentence naming the partner, currency or statement."""
    problems = []
    payout = LedgerEntry.Kind.PAYOUT

    ledger = defaultdict(lambda: ZERO)  # (partner, currency) → non-payout entries
    paid = defaultdict(lambda: ZERO)  # (partner, currency) → payout entries (negative)
    for partner, currency, kind, total in (
        LedgerEntry.objects.values_list("partner__external_id", "currency", "kind")
        .annotate(total=Sum("amount")).order_by()
    ):  # fmt: skip
        (paid if kind == payout else ledger)[(partner, currency)] += _cents(total)
    pending = defaultdict(lambda: ZERO)
    for partner, currency, total in (
        LedgerEntry.objects.filter(line__isnull=True).exclude(kind=payout)
        .values_list("partner__external_id", "currency").annotate(total=Sum("amount")).order_by()
    ):  # fmt: skip
        pending[(partner, currency)] += _cents(total)
    issued, issued_paid = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO)
    for partner, currency, status, total in (
        Statement.objects.values_list("partner__external_id", "currency", "run__status")
        .annotate(total=Sum("payable")).order_by()
    ):  # fmt: skip
        issued[(partner, currency)] += _cents(total)
        if status == PayoutRun.Status.PAID:
            issued_paid[(partner, currency)] += _cents(total)
    latest_run = PayoutRun.objects.order_by("-period__month").first()
    carried = defaultdict(lambda: ZERO)
    if latest_run is not None:
        for partner, currency, closing in latest_run.statements.values_list(
            "partner__external_id", "currency", "closing_balance"
        ):
            carried[(partner, currency)] = closing

    for key in sorted(set(ledger) | set(paid) | set(issued) | set(carried)):
        partner, currency = key
        expected = issued[key] + carried[key] + pending[key]
        if ledger[key] != expected:
            problems.append(
                f"{partner} {currency}: ledger entries sum to {ledger[key]}, but statements "
                f"issued {issued[key]} payable, carry {carried[key]} and {pending[key]} awaits "
                f"the next statement (total {expected})."
            )
        if -paid[key] != issued_paid[key]:
            problems.append(
                f"{partner} {currency}: payouts posted {-paid[key]}, but paid runs made "
                f"{issued_paid[key]} payable."
            )

    lines = defaultdict(lambda: defaultdict(lambda: ZERO))
    for statement_id, kind, total in (
        StatementLine.objects.values_list("statement_id", "entry__kind")
        .annotate(total=Sum("entry__amount")).order_by()
    ):  # fmt: skip
        lines[statement_id][KIND_TO_LINE[kind]] += _cents(total)
    previous = {}
    for statement in Statement.objects.select_related("partner", "run__period").order_by(
        "partner_id", "currency", "run__period__month"
    ):
        label = f"Statement {statement.pk} ({statement.partner.external_id} {statement.currency} "
        label += f"{statement.run.period})"
        for field in KIND_TO_LINE.values():
            if getattr(statement, field) != lines[statement.pk][field]:
                problems.append(
                    f"{label}: {field} is {getattr(statement, field)} but its entries add up "
                    f"to {lines[statement.pk][field]}."
                )
        total = statement.opening_balance + statement.entries_total - statement.payable
        if statement.closing_balance != total:
            problems.append(f"{label}: closing balance {statement.closing_balance} ≠ {total}.")
        key = (statement.partner_id, statement.currency)
        if statement.opening_balance != previous.get(key, ZERO):
            problems.append(
                f"{label}: opening balance {statement.opening_balance} ≠ the previous "
                f"closing balance {previous.get(key, ZERO)}."
            )
        previous[key] = statement.closing_balance
    return problems
