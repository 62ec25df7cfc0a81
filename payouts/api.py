"""Ops API: payout runs (SPEC §9)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from payouts.models import PayoutRun
from payouts.services import parse_period, payout_run_create
from portal.api import OpsAPIView
from portal.limits import date_problem


class PayoutRunRequestSerializer(serializers.Serializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", error_messages={"invalid": "Use YYYY-MM."})

    def validate_period(self, value):
        """The first day of the month, one the program can have paid."""
        try:
            month = parse_period(value)
        except DjangoValidationError:
            raise serializers.ValidationError("Use YYYY-MM, a month from 01 to 12.") from None
        if problem := date_problem(month):
            raise serializers.ValidationError(problem)
        return month


def run_representation(run):
    return {
        "period": f"{run.period.month:%Y-%m}",
        "status": run.status,
        "created_at": run.created_at.isoformat(),
        "approved_at": run.approved_at.isoformat() if run.approved_at else None,
        "paid_at": run.paid_at.isoformat() if run.paid_at else None,
        "payment_reference": run.payment_reference,
        "statements": [
            {
                "id": statement.pk,
                "partner": statement.partner.external_id,
                "currency": statement.currency,
                "opening_balance": str(statement.opening_balance),
                "standard_earnings": str(statement.standard_earnings),
                "cascade_earnings": str(statement.cascade_earnings),
                "clawbacks": str(statement.clawbacks),
                "adjustments": str(statement.adjustments),
                "payable": str(statement.payable),
                "closing_balance": str(statement.closing_balance),
                "due_date": statement.due_date.isoformat(),
                "pdf_sha256": statement.pdf_sha256 or None,
            }
            for statement in run.statements.select_related("partner").order_by(
                "partner__external_id", "currency"
            )
        ],
    }


class PayoutRunView(OpsAPIView):
    @extend_schema(request=PayoutRunRequestSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = PayoutRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run, created = payout_run_create(
            month=data.validated_data["period"],
            as_of=timezone.localdate(),
            created_by_token=request.auth,
        )
        return Response(
            run_representation(run),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PayoutRunDetailView(OpsAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, period):
        month = parse_period(period)
        run = get_object_or_404(PayoutRun.objects.select_related("period"), period__month=month)
        return Response(run_representation(run))
