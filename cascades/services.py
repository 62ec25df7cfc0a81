"""Writes on customers and engagements."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from cascades.models import Customer, Engagement
from portal.models import Partner
from portal.money import CURRENCY_MINOR_UNITS, round_money


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
):
    """Record a closed deal with the tier in force for the partner on its signing date."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    errors = {}
    if partner.status == Partner.Status.TERMINATED:
        errors["partner"] = f"{partner} is terminated and is credited with no new engagement."
    if currency not in CURRENCY_MINOR_UNITS:
        errors["currency"] = f"Unsupported currency {currency!r}."
    if year1_acv <= 0:
        errors["year1_acv"] = "The Year-1 ACV must be greater than zero."
    tier = partner.tier_on(signed_at)
    if tier is None:
        errors["signed_at"] = f"{partner} has no tier on {signed_at:%Y-%m-%d}."
    if Engagement.objects.filter(external_id=external_id).exists():
        errors["external_id"] = f"An engagement {external_id!r} already exists."
    if errors:
        raise ValidationError(errors)
    return Engagement.objects.create(
        external_id=external_id,
        partner=partner,
        customer=customer,
        signed_at=signed_at,
        tier=tier,
        currency=currency,
        year1_acv=round_money(year1_acv, currency),
    )
