import datetime

import pytest
from django.contrib import admin

from portal.models import Partner, PartnerStatusChange
from tests.cascades.factories import EngagementFactory
from tests.portal.factories import PartnerFactory, StaffUserFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"portal", "cascades", "attestations", "payouts"}
REGISTERED = sorted(
    f"{model._meta.app_label}/{model._meta.model_name}"
    for model in admin.site._registry
    if model._meta.app_label in OUR_APPS
)


@pytest.fixture
def superuser(client):
    user = StaffUserFactory(is_superuser=True)
    client.force_login(user)
    return user


@pytest.mark.parametrize("path", REGISTERED)
def test_every_admin_list_renders_with_bounded_queries(
    client, superuser, path, django_assert_max_num_queries
):
    EngagementFactory.create_batch(5)
    with django_assert_max_num_queries(15):
        response = client.get(f"/admin/{path}/")
    assert response.status_code == 200


def test_partner_list_shows_the_tier_in_force_today(client, superuser):
    partner = PartnerFactory(name="Summit")
    TierChangeFactory(partner=partner, tier="gold", effective=datetime.date(2022, 1, 1))
    TierChangeFactory(partner=partner, tier="platinum", effective=datetime.date(2099, 1, 1))
    response = client.get("/admin/portal/partner/")
    assert response.context["cl"].result_list[0].tier == "gold"


def test_status_change_in_the_admin_needs_a_reason_and_is_recorded(client, superuser):
    partner = PartnerFactory()
    url = f"/admin/portal/partner/{partner.pk}/change/"
    form = {
        "external_id": partner.external_id,
        "name": partner.name,
        "status": "under_review",
        "tier_changes-TOTAL_FORMS": "0",
        "tier_changes-INITIAL_FORMS": "0",
        "status_changes-TOTAL_FORMS": "0",
        "status_changes-INITIAL_FORMS": "0",
    }
    refused = client.post(url, {**form, "status_reason": ""})
    assert refused.status_code == 200
    assert "status_reason" in refused.context["adminform"].form.errors
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE

    accepted = client.post(url, {**form, "status_reason": "Three churns in a month"})
    assert accepted.status_code == 302
    partner.refresh_from_db()
    assert partner.status == Partner.Status.UNDER_REVIEW
    change = PartnerStatusChange.objects.get(partner=partner)
    assert (change.from_status, change.to_status, change.reason, change.changed_by) == (
        "active",
        "under_review",
        "Three churns in a month",
        superuser,
    )


def test_staff_add_only_adjustments_to_the_ledger_and_each_needs_a_reason(client, superuser):
    from payouts.models import LedgerEntry

    partner = PartnerFactory()
    form = {"partner": partner.pk, "amount": "-25.00", "currency": "USD",
            "effective_date": "2026-11-20", "reason": " "}  # fmt: skip
    refused = client.post("/admin/payouts/ledgerentry/add/", form)
    assert "reason" in refused.context["adminform"].form.errors
    assert not LedgerEntry.objects.exists()

    client.post("/admin/payouts/ledgerentry/add/", {**form, "reason": "Duplicate deal"})

    entry = LedgerEntry.objects.get()
    assert (entry.kind, str(entry.amount), entry.reason, entry.created_by) == (
        "adjustment", "-25.00", "Duplicate deal", superuser,
    )  # fmt: skip
    assert client.post(f"/admin/payouts/ledgerentry/{entry.pk}/delete/").status_code == 403


def test_partner_list_filters_on_the_tier_in_force_today(client, superuser):
    was_gold = PartnerFactory(name="Was gold")
    TierChangeFactory(partner=was_gold, tier="gold", effective=datetime.date(2021, 1, 1))
    TierChangeFactory(partner=was_gold, tier="silver", effective=datetime.date(2022, 1, 1))
    gold = PartnerFactory(name="Gold now")
    TierChangeFactory(partner=gold, tier="gold", effective=datetime.date(2022, 1, 1))
    response = client.get("/admin/portal/partner/?tier=gold")
    assert list(response.context["cl"].result_list) == [gold]


def test_the_partner_autocomplete_lists_partners_by_name(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    PartnerFactory(name="Zephyr Partners")
    PartnerFactory(name="Atlas Systems")

    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "cascades", "model_name": "engagement", "field_name": "partner"},
    )

    assert response.status_code == 200
    names = [row["text"] for row in response.json()["results"]]
    assert names == sorted(names) and "Atlas Systems" in names
