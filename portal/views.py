"""The partner dashboard: thin views over the selectors, scoped to the caller's partner."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cascades.selectors import (
    engagement_cascade,
    partner_engagement_get,
    partner_engagement_totals,
    partner_engagements,
)
from portal.models import Tier

ENGAGEMENTS_PER_PAGE = 25


def partner_required(view):
    """Signed-in partner users only; staff without a partner go to the admin."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        user = request.user
        if user.partner_id is None:
            if user.is_staff:
                return redirect("admin:index")
            return render(request, "portal/no_partner.html", status=403)
        return view(request, user.partner, *args, **kwargs)

    return wrapper


@require_GET
@partner_required
def dashboard(request, partner):
    page = Paginator(partner_engagements(partner=partner), ENGAGEMENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    tier = partner.tier_on(timezone.localdate())
    return render(
        request,
        "portal/dashboard.html",
        {
            "partner": partner,
            "tier": Tier(tier) if tier else None,
            "totals": partner_engagement_totals(partner=partner),
            "page": page,
        },
    )


@require_GET
@partner_required
def engagement_detail(request, partner, external_id):
    engagement = partner_engagement_get(partner=partner, external_id=external_id)
    cascade = engagement_cascade(engagement=engagement)
    return render(
        request,
        "portal/engagement_detail.html",
        {"partner": partner, "engagement": engagement, "cascade": cascade},
    )


@require_GET
def healthz(request):
    """For the load balancer: the process is up and reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
