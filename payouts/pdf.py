"""Earnings statements as PDF (SPEC §6), rendered with WeasyPrint.

`statement_context` gathers everything the document shows (a bounded number of
queries, however many detail rows); `statement_pdf_bytes` renders it. WeasyPrint
only ever reads the project's own static files: `StaticOnlyURLFetcher` refuses
remote URLs and `file://`, so a statement never fetches anything over the network
(portal.pdf).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import dateformat, translation
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

from cascades.explanations import explain
from payouts.models import LedgerEntry
from portal.models import Tier
from portal.money import CURRENCY_MINOR_UNITS, round_money
from portal.pdf import STATIC_BASE_URL, StaticOnlyURLFetcher

PROGRAM_NAME = "Cascade rewards partner program"
TEMPLATE = "payouts/statement_pdf.html"

# -- The document's content -----------------------------------------------------------


def _money(amount, currency: str) -> str:
    """'12,480.00', '-600.00': the currency's minor units, whatever the active locale."""
    amount = round_money(Decimal(amount), currency)
    text = f"{abs(amount):,.{CURRENCY_MINOR_UNITS[currency]}f}"
    return f"-{text}" if amount < 0 else text


def _date(value: datetime.date | str) -> str:
    """'31 December 2026'."""
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value)
    return dateformat.format(value, "j F Y")


def _tier_label(tier: str) -> str:
    if not tier:
        return "—"
    return Tier(tier).label if tier in Tier.values else tier.replace("_", " ").title()


def _engagement_of(entry: LedgerEntry):
    if entry.engagement_id is None and entry.clawback_id is not None:
        return entry.clawback.reward.engagement
    return entry.engagement


def _detail_row(entry: LedgerEntry, currency: str) -> dict:
    engagement = _engagement_of(entry)
    reward = entry.reward or (entry.clawback.reward if entry.clawback_id else None)
    if entry.kind == LedgerEntry.Kind.CASCADE_REWARD:
        milestone = reward.step_key
    elif entry.kind == LedgerEntry.Kind.CLAWBACK:
        kind = entry.clawback.get_kind_display() if entry.clawback_id else "Clawback"
        milestone = f"{kind} of {reward.step_key}" if reward else kind
    elif entry.kind == LedgerEntry.Kind.STANDARD_COMMISSION:
        milestone = "Deal signed"
    else:
        milestone = entry.reason or entry.get_kind_display()
    return {
        "customer": engagement.customer.name if engagement else "",
        "engagement": engagement.external_id if engagement else "",
        "type": entry.get_kind_display(),
        "milestone": milestone,
        # Why, as frozen on the entry when it was posted (SPEC §7).
        "explanation": (
            explain(entry.reason_code, entry.facts, currency) if entry.reason_code else ""
        ),
        "date": _date(entry.effective_date),
        "amount": _money(entry.amount, currency),
    }


def _detail_order(entry: LedgerEntry):
    """By customer name, then date; entries without a customer (adjustments) last."""
    engagement = _engagement_of(entry)
    name = engagement.customer.name.casefold() if engagement else ""
    return (engagement is None, name, entry.effective_date, entry.pk)


def _carry_forward_reason(balance: Decimal, payable: Decimal, currency: str) -> str:
    if payable > 0:
        return ""
    if balance <= 0:
        why = "is at or below zero"
    else:
        minimum = _money(Decimal(settings.MINIMUM_PAYOUT), currency)
        why = f"is under the minimum payout of {minimum} {currency}"
    return (
        f"Nothing is paid for this period: the balance of {_money(balance, currency)} "
        f"{currency} {why}, so it carries forward to the next statement."
    )


def statement_context(statement) -> dict:
    """Everything the statement document shows, formatted for display.

    Queries: the run, period and partner when the statement was not loaded with
    them (`select_related("run__period", "partner")`), and one for the detail rows.
    """
    currency = statement.currency
    period = statement.run.period
    partner = statement.partner
    entries = list(
        LedgerEntry.objects.filter(line__statement=statement)
        .select_related(
            "engagement__customer",
            "reward",
            "clawback__reward__engagement__customer",
        )
        .order_by()
    )

    def money(amount):
        return _money(amount, currency)

    with translation.override("en"):
        details = [_detail_row(e, currency) for e in sorted(entries, key=_detail_order)]
        details_total = sum((Decimal(e.amount) for e in entries), Decimal("0"))
        balance = statement.closing_balance + statement.payable
        summary = [
            ("Opening balance carried forward", statement.opening_balance, "line"),
            ("Standard deal earnings", statement.standard_earnings, "line"),
            ("Cascade earnings", statement.cascade_earnings, "line"),
            ("Clawbacks", statement.clawbacks, "line"),
            ("Adjustments", statement.adjustments, "line"),
            ("Balance before payout", balance, "subtotal"),
            ("Payable", statement.payable, "payable"),
            ("Closing balance carried forward", statement.closing_balance, "closing"),
        ]
        exposure = [
            {
                "customer": item["customer"],
                "step_key": item["step_key"],
                "trigger_date": _date(item["trigger_date"]),
                "window_closes": _date(item["window_closes"]),
                "amount": money(item["amount"]),
            }
            for item in statement.clawback_exposure or []
        ]
        return {
            "program_name": PROGRAM_NAME,
            "statement_number": statement.pk,
            "partner_name": partner.name,
            "partner_external_id": partner.external_id,
            "tier": _tier_label(statement.tier),
            "period": dateformat.format(period.month, "F Y"),
            "issue_date": _date(statement.issue_date),
            "due_date": _date(statement.due_date),
            "currency": currency,
            "summary": [
                {"label": label, "amount": money(amount), "role": role}
                for label, amount, role in summary
            ],
            "payable": money(statement.payable),
            "is_paid_out": statement.payable > 0,
            "carry_forward_reason": _carry_forward_reason(balance, statement.payable, currency),
            "closing_balance": money(statement.closing_balance),
            "details": details,
            "details_total": money(details_total),
            "exposure": exposure,
            "exposure_total": money(
                sum((Decimal(i["amount"]) for i in statement.clawback_exposure or []), Decimal(0))
            ),
        }


def statement_pdf_bytes(statement) -> bytes:
    """The statement rendered to PDF.

    A resource the template names that cannot be loaded stops the rendering (a
    RuntimeError) rather than producing an unstyled document: the issued file is
    kept for good."""
    html = render_to_string(TEMPLATE, statement_context(statement))
    fetcher = StaticOnlyURLFetcher(fail_on_errors=True)
    try:
        return HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as error:  # a BaseException: make it an ordinary error
        raise RuntimeError(f"Statement {statement.pk}: {error}") from error
