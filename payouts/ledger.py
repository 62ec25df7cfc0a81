"""Posting to the append-only ledger (SPEC §6). Every money movement goes through here."""

from payouts.models import LedgerEntry


def ledger_post_standard_commission(*, engagement, amount):
    """The standard commission of a deal (SPEC §3), effective on its signing date."""
    return LedgerEntry.objects.create(
        partner_id=engagement.partner_id,
        engagement=engagement,
        kind=LedgerEntry.Kind.STANDARD_COMMISSION,
        amount=amount,
        currency=engagement.currency,
        effective_date=engagement.signed_at,
    )


def ledger_post_adjustment(*, partner, amount, currency, effective_date, reason, engagement=None,
                           by=None):  # fmt: skip
    if not reason or not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    return LedgerEntry.objects.create(
        partner=partner,
        engagement=engagement,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        amount=amount,
        currency=currency,
        effective_date=effective_date,
        reason=reason.strip(),
        created_by=by,
    )
