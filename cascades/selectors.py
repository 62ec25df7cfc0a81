"""Reads of engagements and their cascades for pages and APIs."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from cascades import engine
from cascades.evaluation import load_engagements, project
from cascades.models import Engagement
from cascades.structures import Structure


def partner_engagements(*, partner):
    return (
        Engagement.objects.filter(partner=partner)
        .select_related("customer")
        .order_by("-signed_at", "external_id")
    )


def partner_engagement_get(*, partner, external_id):
    """The partner's engagement `external_id`; 404 for anyone else's or none at all."""
    return get_object_or_404(partner_engagements(partner=partner), external_id=external_id)


def partner_engagement_totals(*, partner):
    """Engagement count and Year-1 ACV summed per currency, in one query."""
    return list(
        Engagement.objects.filter(partner=partner)
        .values("currency")
        .annotate(count=Count("id"), year1_acv=Sum("year1_acv"))
        .order_by("currency")
    )


@dataclass(frozen=True)
class EngagementCascade:
    acv: dict
    standard_commission: Decimal
    steps: list  # CascadeStep rows, or StepRow for a date they were not evaluated for
    as_of: datetime.date | None


def engagement_cascade(*, engagement, as_of: datetime.date | None = None) -> EngagementCascade:
    """Every step of `engagement` as its latest evaluation recorded it (CascadeStep rows).
    With `as_of` other than that evaluation's (the ops API's preview), or before the first
    evaluation, the same rows are computed for that date (default: today), not stored."""
    currency = engagement.currency
    if not engagement.snapshot:
        return EngagementCascade(acv={1: engagement.year1_acv}, standard_commission=Decimal(0),
                                 steps=[], as_of=as_of)  # fmt: skip
    structure = Structure.from_document(engagement.snapshot)
    commission = engine.standard_commission(structure, engagement.year1_acv, currency)
    if as_of is None:
        as_of = engagement.evaluated_as_of or timezone.localdate()
    if as_of == engagement.evaluated_as_of:
        return EngagementCascade(
            acv={1: engagement.year1_acv, 2: engagement.year2_acv, 3: engagement.year3_acv},
            standard_commission=commission,
            steps=list(
                engagement.steps.order_by(
                    "position", F("trigger_date").asc(nulls_last=True), "event_key"
                )
            ),
            as_of=engagement.evaluated_as_of,
        )
    projection = project(next(load_engagements(engagement_ids=[engagement.pk])), as_of)
    return EngagementCascade(
        acv=projection.found.acv,
        standard_commission=commission,
        steps=projection.rows,
        as_of=as_of,
    )
