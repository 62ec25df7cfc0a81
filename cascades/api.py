"""Ops API: structures, engagements, signals and evaluations (SPEC §9).

Serializers check the shape of a request; the services decide.
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from attestations.models import Outcome
from cascades.ingest import signals_ingest
from cascades.models import Engagement, EvaluationRun
from cascades.queue import evaluation_enqueue
from cascades.selectors import engagement_cascade
from cascades.services import customer_upsert, engagement_create, structure_publish
from portal.api import OpsAPIView
from portal.limits import DateField, number_field
from portal.models import Partner
from portal.money import CURRENCY_CHOICES, DEFAULT_CURRENCY, round_money


def money(value, currency):
    return None if value is None else str(round_money(value, currency))


def day(value):
    return None if value is None else value.isoformat()


class StructureView(OpsAPIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        row = structure_publish(document=request.data, by=request.auth)
        return Response(
            {"tier": row.tier, "version": row.version, "name": row.name, "document": row.document},
            status=status.HTTP_201_CREATED,
        )


class CustomerSerializer(serializers.Serializer):
    external_id = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    contact_email = serializers.EmailField(max_length=254)


class OutcomeSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    methodology = serializers.CharField()
    target = number_field(Outcome, "target")
    unit = serializers.CharField(max_length=32)
    due_months = number_field(Outcome, "due_months", min_value=0, max_value=120)


class EngagementCreateSerializer(serializers.Serializer):
    external_id = serializers.SlugField(max_length=64)
    partner = serializers.SlugRelatedField(slug_field="external_id", queryset=Partner.objects.all())
    customer = CustomerSerializer()
    signed_at = DateField()
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    year1_acv = number_field(Engagement, "year1_acv", min_value=0)
    outcomes = OutcomeSerializer(many=True, required=False, default=list)


def engagement_representation(engagement, *, as_of):
    cascade = engagement_cascade(engagement=engagement, as_of=as_of)
    return {
        "external_id": engagement.external_id,
        "partner": engagement.partner.external_id,
        "customer": {
            "external_id": engagement.customer.external_id,
            "name": engagement.customer.name,
            "contact_email": engagement.customer.contact_email,
        },
        "signed_at": day(engagement.signed_at),
        "tier": engagement.tier,
        "currency": engagement.currency,
        "year1_acv": money(cascade.acv.get(1), engagement.currency),
        "year2_acv": money(cascade.acv.get(2), engagement.currency),
        "year3_acv": money(cascade.acv.get(3), engagement.currency),
        "standard_commission": money(cascade.standard_commission, engagement.currency),
        "structure": (
            {
                "name": engagement.structure.name,
                "version": engagement.structure.version,
                "custom": engagement.structure.is_custom,
            }
            if engagement.structure
            else None
        ),  # fmt: skip
        "snapshot": engagement.snapshot,
        "as_of": day(cascade.as_of),
        "steps": [
            {
                "key": step.step_key,
                "kind": step.kind,
                "status": step.status,
                "opens": day(step.opens),
                "closes": day(step.closes),
                "trigger_date": day(step.trigger_date),
                "amount": money(step.amount, engagement.currency),
                "expected_amount": money(step.expected_amount, engagement.currency),
                "clawed_back_amount": money(step.clawed_back_amount, engagement.currency),
                "currency": step.currency,
                "reason": step.reason,
                "facts": step.facts,
                "explanation": step.explanation,
                "at_risk": [
                    {**item, "explanation": sentence}
                    for item, sentence in zip(step.at_risk, step.at_risk_reasons, strict=True)
                ],
                "at_risk_reasons": list(step.at_risk_reasons),
            }
            for step in cascade.steps
        ],
    }


class EngagementCreateView(OpsAPIView):
    @extend_schema(request=EngagementCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = EngagementCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        with transaction.atomic():
            customer = customer_upsert(**fields["customer"])
            engagement = engagement_create(
                external_id=fields["external_id"],
                partner=fields["partner"],
                customer=customer,
                signed_at=fields["signed_at"],
                currency=fields["currency"],
                year1_acv=fields["year1_acv"],
                outcomes=fields["outcomes"],
                created_by_token=request.auth,
            )
        return Response(
            engagement_representation(engagement, as_of=timezone.localdate()),
            status=status.HTTP_201_CREATED,
        )


class AsOfSerializer(serializers.Serializer):
    as_of = DateField(required=False)


class EngagementDetailView(OpsAPIView):
    @extend_schema(parameters=[AsOfSerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request, external_id):
        engagement = get_object_or_404(
            Engagement.objects.select_related("partner", "customer", "structure"),
            external_id=external_id,
        )
        query = AsOfSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # Without as_of: the steps as the latest evaluation recorded them.
        as_of = query.validated_data.get("as_of")
        return Response(engagement_representation(engagement, as_of=as_of))


class SignalBatchSerializer(serializers.Serializer):
    signals = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    as_of = DateField(required=False)


class SignalView(OpsAPIView):
    @extend_schema(request=SignalBatchSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = SignalBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        as_of = data.validated_data.get("as_of") or timezone.localdate()
        with transaction.atomic():
            result = signals_ingest(items=request.data["signals"], token=request.auth)
            run = None
            if result.engagement_ids:
                run = evaluation_enqueue(
                    as_of=as_of,
                    engagement_ids=result.engagement_ids,
                    requested_by=f"signals from {request.auth.name}",
                )
        return Response(
            {
                "created": result.created,
                "duplicates": result.duplicates,
                "evaluation": run_representation(run) if run else None,
            },
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


def run_representation(run):
    return {
        "id": run.pk,
        "as_of": day(run.as_of),
        "scope": run.scope,
        "status": run.status,
        "engagements_total": run.engagements_total,
        "engagements_done": run.engagements_done,
        "rewards_created": run.rewards_created,
        "clawbacks_created": run.clawbacks_created,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


class EvaluationRequestSerializer(serializers.Serializer):
    as_of = DateField()


class EvaluationView(OpsAPIView):
    @extend_schema(request=EvaluationRequestSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        data = EvaluationRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            run = evaluation_enqueue(
                as_of=data.validated_data["as_of"], requested_by=f"ops token {request.auth.name}"
            )
        run.refresh_from_db()
        return Response(run_representation(run), status=status.HTTP_202_ACCEPTED)


class EvaluationDetailView(OpsAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(run_representation(get_object_or_404(EvaluationRun, pk=pk)))
