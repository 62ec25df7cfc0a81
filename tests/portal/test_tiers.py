import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cascades.services import engagement_create
from portal.models import Partner, Tier
from portal.services import partner_create, partner_tier_change
from tests.cascades.factories import CustomerFactory
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def silver_then_gold():
    partner = PartnerFactory(tier=None)
    TierChangeFactory(partner=partner, tier=Tier.SILVER, effective=datetime.date(2025, 1, 1))
    TierChangeFactory(partner=partner, tier=Tier.GOLD, effective=datetime.date(2026, 7, 1))
    return partner


def test_tier_in_force_changes_on_the_effective_date_not_before(silver_then_gold):
    assert silver_then_gold.tier_on(datetime.date(2026, 6, 30)) == Tier.SILVER
    assert silver_then_gold.tier_on(datetime.date(2026, 7, 1)) == Tier.GOLD
    assert silver_then_gold.tier_on(datetime.date(2027, 12, 31)) == Tier.GOLD


def test_no_tier_before_the_first_tier_change(silver_then_gold):
    assert silver_then_gold.tier_on(datetime.date(2024, 12, 31)) is None
    assert silver_then_gold.tier_on(datetime.date(2025, 1, 1)) == Tier.SILVER


def test_tier_in_force_is_one_query(silver_then_gold, django_assert_num_queries):
    with django_assert_num_queries(1):
        silver_then_gold.tier_on(datetime.date(2026, 7, 1))


def test_tier_in_force_for_many_partners_is_one_query(silver_then_gold, django_assert_num_queries):
    other = PartnerFactory()  # authorized since 2020-01-01
    with django_assert_num_queries(1):
        tiers = dict(
            Partner.objects.with_tier_on(datetime.date(2026, 6, 30)).values_list("pk", "tier")
        )
    assert tiers == {silver_then_gold.pk: Tier.SILVER, other.pk: Tier.AUTHORIZED}


def test_engagement_takes_the_tier_in_force_on_its_signing_date(silver_then_gold):
    before = engagement_create(
        external_id="e-before",
        partner=silver_then_gold,
        customer=CustomerFactory(),
        signed_at=datetime.date(2026, 6, 30),
        currency="USD",
        year1_acv=Decimal("1000"),
    )
    on = engagement_create(
        external_id="e-on",
        partner=silver_then_gold,
        customer=CustomerFactory(),
        signed_at=datetime.date(2026, 7, 1),
        currency="USD",
        year1_acv=Decimal("1000"),
    )
    assert (before.tier, on.tier) == (Tier.SILVER, Tier.GOLD)


def test_a_later_tier_change_leaves_earlier_engagements_alone(silver_then_gold):
    engagement = engagement_create(
        external_id="e-1",
        partner=silver_then_gold,
        customer=CustomerFactory(),
        signed_at=datetime.date(2026, 8, 1),
        currency="USD",
        year1_acv=Decimal("1000"),
    )
    partner_tier_change(
        partner=silver_then_gold, tier=Tier.PLATINUM, effective=datetime.date(2026, 9, 1)
    )
    engagement.refresh_from_db()
    assert engagement.tier == Tier.GOLD


def test_two_tier_changes_on_the_same_day_are_refused(silver_then_gold):
    with pytest.raises(ValidationError) as excinfo:
        partner_tier_change(
            partner=silver_then_gold, tier=Tier.PLATINUM, effective=datetime.date(2026, 7, 1)
        )
    assert "effective" in excinfo.value.message_dict
    assert silver_then_gold.tier_on(datetime.date(2026, 7, 1)) == Tier.GOLD


def test_partner_create_starts_its_tier_history():
    partner = partner_create(
        external_id="p-new",
        name="New Partner",
        tier="gold",
        tier_effective=datetime.date(2026, 2, 1),
    )
    assert partner.status == Partner.Status.ACTIVE
    assert list(partner.tier_changes.values_list("tier", "effective")) == [
        ("gold", datetime.date(2026, 2, 1))
    ]


def test_partner_create_refuses_an_unknown_tier_and_writes_nothing():
    with pytest.raises(ValidationError) as excinfo:
        partner_create(
            external_id="p-new",
            name="New Partner",
            tier="diamond",
            tier_effective=datetime.date(2026, 2, 1),
        )
    assert "tier" in excinfo.value.message_dict
    assert not Partner.objects.filter(external_id="p-new").exists()
