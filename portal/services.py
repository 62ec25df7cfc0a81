"""Writes on partners: creating them, moving their tier and their status. Each records its
event (portal.events) in the same transaction."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal import events
from portal.models import Partner, PartnerStatusChange, Tier, TierChange

# Allowed status moves (SPEC §1, §8): review can end either way; termination is final.
STATUS_TRANSITIONS = {
    Partner.Status.ACTIVE: {Partner.Status.UNDER_REVIEW, Partner.Status.TERMINATED},
    Partner.Status.UNDER_REVIEW: {Partner.Status.ACTIVE, Partner.Status.TERMINATED},
    Partner.Status.TERMINATED: set(),
}


def _check_tier(tier):
    if tier not in Tier.values:
        raise ValidationError({"tier": f"Unknown tier {tier!r}; expected one of {Tier.values}."})


@transaction.atomic
def partner_create(*, external_id, name, tier=None, tier_effective: datetime.date | None = None,
                   by=None):  # fmt: skip
    """A new partner, active, with its first tier from `tier_effective` (the ops API always
    gives one; the admin adds tiers beside the partner). `by`: a user, an ops token or None."""
    if tier is not None:
        _check_tier(tier)
    if Partner.objects.filter(external_id=external_id).exists():
        raise ValidationError({"external_id": f"A partner {external_id!r} already exists."})
    partner = Partner.objects.create(external_id=external_id, name=name)
    data = {"external_id": external_id, "status": partner.status}
    if tier is not None:
        TierChange.objects.create(
            partner=partner, tier=tier, effective=tier_effective, created_by=events.user_of(by)
        )
        data.update(tier=tier, tier_effective=tier_effective)
    events.event_record(events.PARTNER_CREATED, subject=partner, by=by, partner=partner, **data)
    return partner


def partner_tier_change(*, partner, tier, effective: datetime.date, by=None, note=""):
    """Give `partner` `tier` from `effective` on; engagements signed before keep theirs."""
    _check_tier(tier)
    try:
        with transaction.atomic():
            before = partner.tier_on(effective)
            change = TierChange.objects.create(
                partner=partner,
                tier=tier,
                effective=effective,
                created_by=events.user_of(by),
                note=note,
            )
            events.event_record(
                events.PARTNER_TIER_CHANGED, subject=partner, by=by, partner=partner,
                tier_change=change.pk, from_tier=before, to_tier=tier, effective=effective,
            )  # fmt: skip
            return change
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
    change = PartnerStatusChange.objects.create(
        partner=locked, from_status=locked.status, to_status=status, reason=reason,
        changed_by=events.user_of(by),
    )  # fmt: skip
    # The reason is people's text: it stays on the status change the event names.
    events.event_record(
        events.PARTNER_STATUS_CHANGED, subject=locked, by=by, partner=locked,
        status_change=change.pk, from_status=locked.status, to_status=status,
    )  # fmt: skip
    locked.status = status
    locked.save(update_fields=["status"])
    partner.status = status
    return locked
