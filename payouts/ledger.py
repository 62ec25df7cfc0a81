"""Posting to the append-only ledger (SPEC §6). Every money movement goes through here, and
each posting records its event (portal.events) in the same transaction."""

from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from payouts.models import LedgerEntry
from portal import events
from portal.bulk import insert_rows


@transaction.atomic
def ledger_post_standard_commission(*, engagement, amount, by=None):
    """The standard commission of a deal (SPEC §3), effective on its signing date. `by`: who
    recorded the deal (an ops token, a user, a job's name)."""
    entry = LedgerEntry.objects.create(
        partner_id=engagement.partner_id,
        engagement=engagement,
        kind=LedgerEntry.Kind.STANDARD_COMMISSION,
        amount=amount,
        currency=engagement.currency,
        effective_date=engagement.signed_at,
    )
    _posted(events.LEDGER_STANDARD_COMMISSION_POSTED, entry, by=by)
    return entry


@transaction.atomic
def ledger_post_adjustment(*, partner, amount, currency, effective_date, reason, engagement=None,
                           by=None):  # fmt: skip
    if not reason or not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    entry = LedgerEntry.objects.create(
        partner=partner,
        engagement=engagement,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        amount=amount,
        currency=currency,
        effective_date=effective_date,
        reason=reason.strip(),
        created_by=events.user_of(by),
    )
    # The reason is people's text: it stays on the entry the event names.
    _posted(events.LEDGER_ADJUSTMENT_POSTED, entry, by=by)
    return entry


def _posted(action, entry, *, by):
    events.event_record(
        action, subject=entry, by=by, partner=entry.partner_id,
        **ledger_entry_facts(entry),
    )  # fmt: skip


def ledger_entry_facts(entry) -> dict:
    """What an event says of a ledger entry it names."""
    return {
        "kind": entry.kind,
        "amount": entry.amount,
        "currency": entry.currency,
        "effective_date": entry.effective_date,
        "engagement": entry.engagement_id,
    }


class Posting(NamedTuple):
    """One entry of a set-based posting: a cascade reward or the clawback of one."""

    partner_id: int
    engagement_id: int
    reward_id: int
    clawback_id: int | None
    kind: str
    amount: object  # Decimal: negative for a clawback
    currency: str
    effective_date: object  # datetime.date
    reason: str = ""
    reason_code: str = ""  # why, as the evaluation decided it (cascades.reasons)
    facts: dict = {}


POSTING_COLUMNS = (*Posting._fields, "created_at")


def ledger_post_many(postings) -> int:
    """Post the evaluation's rewards and clawbacks (SPEC §2, §5) in the caller's transaction,
    all at once (COPY on PostgreSQL); their events are the step events the evaluation
    writes beside them (cascades.step_events). Returns how many."""
    now = timezone.now()
    return insert_rows(LedgerEntry, POSTING_COLUMNS, [(*posting, now) for posting in postings])


@transaction.atomic
def ledger_post_payouts(*, statements, period, reference, paid_on, by):
    """The payout of each statement of a run marked paid: one entry each, paying its
    payable on `paid_on`, with an event each."""
    payouts = LedgerEntry.objects.bulk_create(
        LedgerEntry(
            partner_id=statement.partner_id,
            kind=LedgerEntry.Kind.PAYOUT,
            amount=-statement.payable,
            currency=statement.currency,
            effective_date=paid_on,
            paid_statement=statement,
            reason=f"Payout {period} ({reference})",
            created_by=by,
        )
        for statement in statements
    )
    entry_type = events.content_type_id(LedgerEntry)
    events.events_record(
        events.EventDraft(
            action=events.LEDGER_PAYOUT_POSTED,
            subject_type_id=entry_type,
            subject_id=entry.pk,
            partner_id=entry.partner_id,
            data={**ledger_entry_facts(entry), "statement": entry.paid_statement_id},
            **events.actor_draft_fields(by),
        )
        for entry in payouts
    )
