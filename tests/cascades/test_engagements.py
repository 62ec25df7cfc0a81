import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cascades.models import Engagement
from cascades.services import engagement_create
from portal.models import Partner
from tests.cascades.factories import CustomerFactory
from tests.portal.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def create(partner, **overrides):
    fields = {
        "external_id": "eng-1",
        "partner": partner,
        "customer": CustomerFactory(),
        "signed_at": datetime.date(2026, 3, 15),
        "currency": "USD",
        "year1_acv": Decimal("48000"),
    }
    return engagement_create(**{**fields, **overrides})


def test_engagement_records_the_acv_rounded_half_up_to_cents():
    engagement = create(PartnerFactory(), year1_acv=Decimal("1234.565"))
    engagement.refresh_from_db()
    assert engagement.year1_acv == Decimal("1234.57")


def test_terminated_partner_is_credited_with_no_new_engagement():
    partner = PartnerFactory(status=Partner.Status.TERMINATED)
    with pytest.raises(ValidationError) as excinfo:
        create(partner)
    assert "partner" in excinfo.value.message_dict
    assert Engagement.objects.count() == 0


def test_engagement_before_the_partners_first_tier_is_refused():
    partner = PartnerFactory()  # authorized from 2020-01-01
    with pytest.raises(ValidationError) as excinfo:
        create(partner, signed_at=datetime.date(2019, 12, 31))
    assert "signed_at" in excinfo.value.message_dict


def test_bad_fields_are_all_named_and_nothing_is_written():
    partner = PartnerFactory()
    with pytest.raises(ValidationError) as excinfo:
        create(partner, currency="XYZ", year1_acv=Decimal("0"))
    assert set(excinfo.value.message_dict) == {"currency", "year1_acv"}
    assert Engagement.objects.count() == 0


def test_duplicate_external_id_is_refused():
    partner = PartnerFactory()
    create(partner)
    with pytest.raises(ValidationError) as excinfo:
        create(partner)
    assert "external_id" in excinfo.value.message_dict
    assert Engagement.objects.count() == 1
