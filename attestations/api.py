"""Ops API: an engagement's agreement, attestation requests and their links (SPEC §9)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from attestations.models import OutcomeAgreement
from attestations.services import signing_url
from portal.api import OpsAPIView


class AttestationQuerySerializer(serializers.Serializer):
    engagement = serializers.SlugField(max_length=64)


def _iso(value):
    return value.isoformat() if value else None


def _request_status(request):
    if request.used_at:
        return "signed"
    if request.revoked_at:
        return "revoked"
    return "open"


class AttestationListView(OpsAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("engagement", str, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        query = AttestationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        agreement = get_object_or_404(
            OutcomeAgreement.objects.select_related("engagement"),
            engagement__external_id=query.validated_data["engagement"],
        )
        outcomes = agreement.outcomes.prefetch_related("attestations__decision")
        requests = agreement.requests.select_related("outcome").order_by("created_at", "id")
        return Response(
            {
                "engagement": agreement.engagement.external_id,
                "agreement": {
                    "created_at": _iso(agreement.created_at),
                    "signed_at": _iso(agreement.signed_at),
                },  # fmt: skip
                "outcomes": [
                    {
                        "key": o.key,
                        "title": o.title,
                        "target": format(o.target.normalize(), "f"),
                        "unit": o.unit,
                        "due_months": o.due_months,
                        "verification_required": o.verification_required,
                        "accepted_on": _iso(o.accepted_on),
                    }
                    for o in outcomes
                ],
                "requests": [
                    {
                        "purpose": r.purpose,
                        "outcome": r.outcome.key if r.outcome_id else None,
                        "status": _request_status(r),
                        "sent_to": r.sent_to,
                        "created_at": _iso(r.created_at),
                        "expires_at": _iso(r.expires_at),
                        "link": signing_url(r) if _request_status(r) == "open" else None,
                    }
                    for r in requests
                ],
            }
        )
