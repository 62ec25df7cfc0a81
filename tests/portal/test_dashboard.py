import datetime
from decimal import Decimal

import pytest

from portal.models import Tier
from tests.cascades.factories import EngagementFactory
from tests.portal.factories import PartnerFactory, StaffUserFactory, TierChangeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner_user():
    return UserFactory(email="ava@partner.example")


def test_dashboard_lists_only_the_partners_own_engagements(client, partner_user):
    mine = EngagementFactory(partner=partner_user.partner, customer__name="Acme Robotics")
    theirs = EngagementFactory(customer__name="Birch Logistics")
    client.force_login(partner_user)

    response = client.get("/")

    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [mine]
    assert b"Acme Robotics" in response.content
    assert b"Birch Logistics" not in response.content
    assert theirs.partner != partner_user.partner


def test_dashboard_shows_the_tier_in_force_today(client, partner_user):
    TierChangeFactory(
        partner=partner_user.partner, tier=Tier.GOLD, effective=datetime.date(2021, 6, 1)
    )
    client.force_login(partner_user)
    response = client.get("/")
    assert response.context["tier"] == Tier.GOLD
    assert b"Gold partner" in response.content


def test_dashboard_totals_year1_acv_per_currency(client, partner_user):
    EngagementFactory(partner=partner_user.partner, year1_acv=Decimal("1000.10"))
    EngagementFactory(partner=partner_user.partner, year1_acv=Decimal("2500.25"))
    EngagementFactory(partner=partner_user.partner, currency="EUR", year1_acv=Decimal("300.00"))
    client.force_login(partner_user)
    totals = client.get("/").context["totals"]
    assert totals == [
        {"currency": "EUR", "count": 1, "year1_acv": Decimal("300.00")},
        {"currency": "USD", "count": 2, "year1_acv": Decimal("3500.35")},
    ]


def test_dashboard_has_an_empty_state(client, partner_user):
    client.force_login(partner_user)
    response = client.get("/")
    assert b"No engagements yet." in response.content


def test_dashboard_pages_25_engagements_at_a_time(client, partner_user):
    EngagementFactory.create_batch(27, partner=partner_user.partner)
    client.force_login(partner_user)
    first = client.get("/")
    second = client.get("/?page=2")
    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 2
    assert b"Page 2 of 2" in second.content


def test_dashboard_queries_do_not_grow_with_the_engagements(
    client, partner_user, django_assert_max_num_queries
):
    EngagementFactory.create_batch(25, partner=partner_user.partner)
    client.force_login(partner_user)
    with django_assert_max_num_queries(8):
        assert client.get("/").status_code == 200


def test_engagement_page_shows_the_partners_own_engagement(client, partner_user):
    engagement = EngagementFactory(
        partner=partner_user.partner, external_id="eng-acme", customer__name="Acme Robotics"
    )
    client.force_login(partner_user)
    response = client.get("/engagements/eng-acme/")
    assert response.status_code == 200
    assert response.context["engagement"] == engagement
    assert b"48,000.00 USD" in response.content


def test_another_partners_engagement_is_a_404(client, partner_user):
    EngagementFactory(partner=PartnerFactory(), external_id="eng-other")
    client.force_login(partner_user)
    response = client.get("/engagements/eng-other/")
    assert response.status_code == 404
    assert b"eng-other" not in response.content


def test_anonymous_visitors_are_sent_to_sign_in(client):
    EngagementFactory(external_id="eng-1")
    assert client.get("/")["Location"] == "/accounts/login/?next=/"
    assert client.get("/engagements/eng-1/")["Location"].startswith("/accounts/login/")


def test_staff_without_a_partner_are_sent_to_the_admin(client):
    client.force_login(StaffUserFactory())
    assert client.get("/")["Location"] == "/admin/"


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_engagement_page_shows_the_cascade_timeline_with_bounded_queries(
    client, partner_user, django_assert_max_num_queries
):
    from cascades.evaluation import engagements_evaluate

    engagement = EngagementFactory(
        partner=partner_user.partner, external_id="eng-acme", signed_at=datetime.date(2025, 1, 10)
    )
    engagements_evaluate(as_of=datetime.date(2025, 5, 1))
    client.force_login(partner_user)
    with django_assert_max_num_queries(14):
        response = client.get("/engagements/eng-acme/")
    steps = {step.step_key: step for step in response.context["cascade"].steps}
    # Authorized default structure on 48,000.00: signup 5 %, three months active 2 %.
    assert (steps["signup"].status, steps["signup"].amount) == ("earned", Decimal("2400.00"))
    assert (steps["active_3m"].trigger_date, steps["active_3m"].amount) == (
        datetime.date(2025, 4, 10),
        Decimal("960.00"),
    )
    assert b"Cascade timeline" in response.content
    assert "Fired on 10 April 2025: still a customer 3 months after signing." in (
        response.content.decode()
    )
    assert engagement.snapshot["name"] == "Authorized 2027"
