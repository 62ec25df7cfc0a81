"""Ops API: partners and their tiers (SPEC §9)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.limits import DateField
from portal.models import Partner, Tier
from portal.services import partner_create, partner_tier_change
from portal.tokens import BearerOpsTokenAuthentication, IsOpsToken


class OpsAPIView(APIView):
    authentication_classes = [BearerOpsTokenAuthentication]
    permission_classes = [IsOpsToken]


class PartnerCreateSerializer(serializers.Serializer):
    external_id = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    tier = serializers.ChoiceField(choices=Tier.choices)
    tier_effective = DateField()


class TierChangeSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Tier.choices)
    effective = DateField()


def partner_representation(partner):
    return {
        "external_id": partner.external_id,
        "name": partner.name,
        "status": partner.status,
        "tiers": [
            {"tier": change.tier, "effective": change.effective.isoformat()}
            for change in partner.tier_changes.order_by("effective")
        ],
    }


class PartnerCreateView(OpsAPIView):
    @extend_schema(request=PartnerCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = PartnerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partner = partner_create(**data.validated_data, by=request.auth)
        return Response(partner_representation(partner), status=status.HTTP_201_CREATED)


class PartnerTierView(OpsAPIView):
    @extend_schema(request=TierChangeSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, external_id):
        partner = get_object_or_404(Partner, external_id=external_id)
        data = TierChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partner_tier_change(partner=partner, **data.validated_data, by=request.auth)
        return Response(partner_representation(partner), status=status.HTTP_201_CREATED)
