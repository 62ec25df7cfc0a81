"""Writes on partners: creating them, moving their tier and their status."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal.models import Partner, PartnerStatusChange, Tier, TierChange

# Allowed status moves (SPEC §1, §8): review can end either way; termination is final.
STATUS_TRANSITIONS = {
    Partner.Status.ACTIVE: {Partner.Status.UNDER_REVIEW, Partner.Status.TERMINATED},
    Partner.Status.UNDER_REVIEW: {Partner.Status.ACTIVE, Partner.Status.TERMINATED},
    Partner.Status.TERMINATED: set(),
}


@transaction.atomic
def partner_create(*, external_id, name, tier, tier_effective: datetime.date, by=None):
    if tier not in Tier.values:
        raise ValidationError({"tier": f"Unknown tier {tier!r}; expected one of {Tier.values}."})
    if Partner.objects.filter(external_id=external_id).exists():
        raise ValidationError({"external_id": f"A partner {external_id!r} already exists."})
    partner = Partner.objects.create(external_id=external_id, name=name)
    TierChange.objects.create(partner=partner, tier=tier, effective=tier_effective, created_by=by)
    return partner


def partner_tier_change(*, partner, tier, effective: datetime.date, by=None, note=""):
    """Give `partner` `tier` from `effective` on; engagements signed before keep theirs."""
    if tier not in Tier.values:
        raise ValidationError({"tier": f"Unknown tier {tier!r}; expected one of {Tier.values}."})
    try:
        with transaction.atomic():
            return TierChange.objects.create(
                partner=partner, tier=tier, effective=effective, created_by=by, note=note
            )
    except IntegrityError:
        raise ValidationError(
            {"effective": f"{partner} already has a tier change on {effective:%Y-%m-%d}."}
        ) from None


@transaction.atomic
def partner_set_status(*, partner, status, reason, by=None):
    """Move `partner` to `status` if the transition table allows it, and record it."""
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    locked = Partner.objects.select_for_update().get(pk=partner.pk)
    if status not in STATUS_TRANSITIONS[Partner.Status(locked.status)]:
        raise ValidationError(
            {"status": f"A partner cannot move from {locked.status} to {status}."}
        )
    PartnerStatusChange.objects.create(
        partner=locked, from_status=locked.status, to_status=status, reason=reason, changed_by=by
    )
    locked.status = status
    locked.save(update_fields=["status"])
    partner.status = status
    return locked
