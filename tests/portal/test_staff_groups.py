import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from portal.staff_groups import GROUP_PERMISSIONS
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def group_codenames(name):
    return set(
        Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    )


def test_every_model_named_in_the_groups_exists():
    for label in {label for models in GROUP_PERMISSIONS.values() for label in models}:
        apps.get_model(label)  # raises LookupError on a typo


def test_migrations_create_the_three_staff_groups_with_their_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Partner operations",
        "Finance",
        "Risk",
    }
    finance = group_codenames("Finance")
    assert ("payouts", "add_ledgerentry") in finance
    assert ("payouts", "change_payoutrun") in finance
    assert ("portal", "change_partner") not in finance
    ops = group_codenames("Partner operations")
    assert ("portal", "add_partner") in ops
    assert ("cascades", "change_cascadestructure") in ops
    assert ("payouts", "add_ledgerentry") not in ops
    risk = group_codenames("Risk")
    assert ("portal", "change_partner") in risk
    assert ("attestations", "change_outcome") in risk
    assert ("payouts", "change_payoutrun") not in risk


def test_no_group_may_delete_anything():
    for name in GROUP_PERMISSIONS:
        assert not [code for _, code in group_codenames(name) if code.startswith("delete_")]


def test_finance_staff_read_partners_but_cannot_add_one(client):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    client.force_login(user)
    assert client.get("/admin/portal/partner/").status_code == 200
    assert client.get("/admin/portal/partner/add/").status_code == 403
    assert client.get("/admin/payouts/payoutrun/add/").status_code == 200


def test_partner_operations_cannot_make_themselves_superusers(client):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Partner operations"))
    client.force_login(user)
    # Staff accounts, their own included, are for superusers to manage (portal.staff_groups).
    url = f"/admin/portal/user/{user.pk}/change/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"email": user.email, "is_staff": "on", "is_superuser": "on"})
    assert response.status_code == 403
    user.refresh_from_db()
    assert not user.is_superuser
