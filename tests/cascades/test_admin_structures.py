import json

import pytest

from cascades.models import CascadeStructure, Engagement, Reward
from payouts.models import LedgerEntry
from tests.cascades.factories import EngagementFactory, document
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

SIGNUP = {"key": "signup", "kind": "signup", "percent": "6", "basis": "year1_acv"}


@pytest.fixture
def staff(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    return client


def test_saving_a_structure_in_the_admin_publishes_the_next_version(staff):
    response = staff.post(
        "/admin/cascades/cascadestructure/add/",
        {"document": json.dumps(document(SIGNUP, tier="silver"))},
    )
    assert response.status_code == 302
    latest = CascadeStructure.objects.current_for("silver")
    assert (latest.version, latest.document["steps"]) == (2, [SIGNUP])
    page = staff.get(f"/admin/cascades/cascadestructure/{latest.pk}/change/")
    assert b"6 % of year1_acv" in page.content


def test_the_admin_names_the_bad_field_of_a_structure_and_publishes_nothing(staff):
    bad = document({"key": "r", "kind": "retention", "percent": "5", "basis": "year1_acv"})
    response = staff.post("/admin/cascades/cascadestructure/add/", {"document": json.dumps(bad)})
    assert response.status_code == 200
    assert "steps[0].contract_year" in str(response.context["adminform"].form.errors)
    assert CascadeStructure.objects.count() == 4  # the default program only


def test_a_copy_of_a_structure_starts_from_its_document(staff):
    gold = CascadeStructure.objects.current_for("gold")
    response = staff.get(f"/admin/cascades/cascadestructure/add/?copy_from={gold.pk}")
    assert json.loads(response.context["adminform"].form.initial["document"]) == gold.document


def test_staff_give_an_engagement_its_own_structure_before_a_step_fires(staff):
    engagement = EngagementFactory()  # authorized: 10 % commission on 48,000.00
    LedgerEntry.objects.create(
        partner=engagement.partner, engagement=engagement, kind="standard_commission",
        amount="4800.00", currency="USD", effective_date=engagement.signed_at,
    )  # fmt: skip
    custom = document(SIGNUP, commission="12")

    response = staff.post(
        f"/admin/cascades/engagement/{engagement.pk}/change/",
        {"custom_structure": json.dumps(custom)},
    )

    assert response.status_code == 302
    engagement.refresh_from_db()
    assert engagement.structure.is_custom
    assert engagement.snapshot["standard_commission_percent"] == "12"
    adjustment = LedgerEntry.objects.get(kind="adjustment")
    assert str(adjustment.amount) == "960.00"  # 12 % − 10 % of 48,000.00


def test_an_engagement_whose_step_fired_keeps_its_structure(staff):
    engagement = EngagementFactory()
    Reward.objects.create(
        engagement=engagement, step_key="signup", step_kind="signup",
        trigger_date=engagement.signed_at, amount="2400.00", currency="USD",
    )  # fmt: skip
    before = engagement.snapshot

    response = staff.post(
        f"/admin/cascades/engagement/{engagement.pk}/change/",
        {"custom_structure": json.dumps(document(SIGNUP))},
    )

    assert response.status_code == 200
    assert "frozen" in str(response.context["adminform"].form.errors)
    assert Engagement.objects.get(pk=engagement.pk).snapshot == before


def test_a_structure_nested_too_deep_is_a_form_error_not_a_crash(staff):
    before = CascadeStructure.objects.count()
    deep = "[" * 1000 + "]" * 1000

    response = staff.post("/admin/cascades/cascadestructure/add/", {"document": deep})

    assert response.status_code == 200
    assert "JSON nested deeper than 32 levels." in response.content.decode()
    assert CascadeStructure.objects.count() == before
