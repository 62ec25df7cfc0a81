"""Reads of engagements for pages and APIs, always scoped to one partner."""

from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404

from cascades.models import Engagement


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
