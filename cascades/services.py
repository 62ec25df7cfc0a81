"""Writes on cascade structures, customers and engagements."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from cascades import engine, hooks
from cascades.dirty import engagements_mark_changed
from cascades.models import CascadeStructure, Customer, Engagement
from cascades.structures import Structure, validate_document
from payouts.ledger import ledger_post_adjustment, ledger_post_standard_commission
from portal import events
from portal.models import Partner
from portal.money import CURRENCY_MINOR_UNITS, round_money


def structure_publish(*, document, by=None):
    """Validate `document` and make it its tier's current structure, as a new version. `by`:
    a staff user, or the ops token that sent it."""
    clean = validate_document(document)
    for _ in range(5):
        latest = CascadeStructure.objects.filter(tier=clean["tier"], is_custom=False).aggregate(
            version=Max("version")
        )["version"]
        try:
            with transaction.atomic():
                row = CascadeStructure.objects.create(
                    tier=clean["tier"],
                    version=(latest or 0) + 1,
                    name=clean["name"],
                    document=clean,
                    created_by=events.user_of(by),
                )
                events.event_record(
                    events.STRUCTURE_PUBLISHED, subject=row, by=by,
                    tier=row.tier, version=row.version, previous_version=latest,
                )  # fmt: skip
                return row
        except IntegrityError:
            continue  # another publish took this version number: take the next one
    raise RuntimeError("Could not allocate a structure version; try again.")


@transaction.atomic
def customer_upsert(*, external_id, name, contact_email):
    customer, _ = Customer.objects.update_or_create(
        external_id=external_id, defaults={"name": name, "contact_email": contact_email}
    )
    return customer


@transaction.atomic
def engagement_create(
    *,
    external_id,
    partner: Partner,
    customer: Customer,
    signed_at: datetime.date,
    currency: str,
    year1_acv: Decimal,
    outcomes=(),
    created_by_token=None,
):
    """Record a closed deal: the tier in force on its signing date, a frozen snapshot of
    that tier's current structure, the standard commission, and the outcome agreement.
    Its events name the ops token that sent it, if one did."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    errors = {}
    if partner.status == Partner.Status.TERMINATED:
        errors["partner"] = f"{partner} is terminated and is credited with no new engagement."
    if currency not in CURRENCY_MINOR_UNITS:
        errors["currency"] = f"Unsupported currency {currency!r}."
    if year1_acv <= 0:
        errors["year1_acv"] = "The Year-1 ACV must be greater than zero."
    tier = partner.tier_on(signed_at)
    structure_row = None
    if tier is None:
        errors["signed_at"] = f"{partner} has no tier on {signed_at:%Y-%m-%d}."
    else:
        structure_row = CascadeStructure.objects.current_for(tier)
        if structure_row is None:
            errors["partner"] = f"The {tier} tier has no cascade structure yet."
    if Engagement.objects.filter(external_id=external_id).exists():
        errors["external_id"] = f"An engagement {external_id!r} already exists."
    keys = [o["key"] for o in outcomes]
    if len(set(keys)) != len(keys):
        errors["outcomes"] = "Outcome keys must be unique."
    if errors:
        raise ValidationError(errors)

    structure = Structure.from_document(structure_row.document)
    year1_acv = round_money(year1_acv, currency)
    engagement = Engagement.objects.create(
        external_id=external_id,
        partner=partner,
        customer=customer,
        signed_at=signed_at,
        tier=tier,
        currency=currency,
        year1_acv=year1_acv,
        structure=structure_row,
        snapshot=structure.snapshot(),
        created_by_token=created_by_token,
    )
    by = created_by_token
    events.event_record(
        events.ENGAGEMENT_CREATED, subject=engagement, by=by, partner=partner,
        external_id=external_id, customer=customer.pk, signed_at=signed_at, tier=tier,
        currency=currency, year1_acv=year1_acv, structure=structure_row.pk,
        outcomes=keys,
    )  # fmt: skip
    ledger_post_standard_commission(
        engagement=engagement,
        amount=engine.standard_commission(structure, year1_acv, currency),
        by=by,
    )
    # The outcome agreement, if outcomes were agreed (attestations.receivers).
    hooks.engagement_created.send(
        sender=Engagement, engagement=engagement, outcomes=list(outcomes), by=by
    )
    return engagement


@transaction.atomic
def engagement_structure_customize(*, engagement, document, by=None):
    """Give one engagement its own structure, before its first step fires."""
    engagement = Engagement.objects.select_for_update().get(pk=engagement.pk)
    if engagement.rewards.exists():
        raise ValidationError(
            {"structure": "A step of this engagement has fired: its structure is frozen."}
        )
    clean = validate_document(document)
    latest = CascadeStructure.objects.filter(is_custom=True, tier=clean["tier"]).aggregate(
        version=Max("version")
    )["version"]
    row = CascadeStructure.objects.create(
        tier=clean["tier"],
        version=(latest or 0) + 1,
        name=clean["name"],
        document=clean,
        is_custom=True,
        created_by=by,
    )
    old = Structure.from_document(engagement.snapshot)
    new = Structure.from_document(clean)
    events.event_record(
        events.ENGAGEMENT_STRUCTURE_CUSTOMIZED, subject=engagement, by=by,
        partner=engagement.partner_id, from_structure=engagement.structure_id,
        to_structure=row.pk,
    )  # fmt: skip
    engagement.structure = row
    engagement.snapshot = new.snapshot()
    engagement.save(update_fields=["structure", "snapshot"])
    engagements_mark_changed(engagement_ids=[engagement.pk])
    hooks.engagement_structure_changed.send(sender=Engagement, engagement=engagement, by=by)
    difference = engine.standard_commission(
        new, engagement.year1_acv, engagement.currency
    ) - engine.standard_commission(old, engagement.year1_acv, engagement.currency)
    if difference:
        ledger_post_adjustment(
            partner=engagement.partner,
            engagement=engagement,
            amount=difference,
            currency=engagement.currency,
            effective_date=engagement.signed_at,
            reason=f"Standard commission re-based on the engagement's own structure {row}",
            by=by,
        )
    return engagement
