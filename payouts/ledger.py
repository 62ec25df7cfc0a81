"""Posting to the append-only ledger (SPEC §6). Every money movement goes through here, and
each posting records its event (portal.events) in the same transaction."""

from django.db import transaction

from payouts.models import LedgerEntry
from portal import events


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
