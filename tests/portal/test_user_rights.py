"""Who may do what to other people's accounts in the admin (the rules: portal.staff_groups).

Each staff group and a superuser, against a partner user, a staff user and a superuser:
the change page, the password page, the email, staff rights and groups. A refused action
changes nothing: the account (password hash, email, flags, groups, allauth's addresses)
reads the same afterwards.
"""

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group, Permission

from portal.models import User
from portal.staff_groups import GROUP_PERMISSIONS, PARTNER_USER_FIELDS_STAFF_MAY_EDIT
from tests.portal.factories import PartnerFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTORS = [*GROUP_PERMISSIONS, "superuser"]
TARGETS = ["partner user", "staff user", "superuser"]
# Who may open whose account (GET the change page): superusers every account, Partner
# operations partner users; every other pair is a 403.
OPENS = {("superuser", target) for target in TARGETS} | {("Partner operations", "partner user")}
NEW_PASSWORD = "An0ther-long-passphrase"


def make_actor(actor):
    if actor == "superuser":
        return StaffUserFactory(is_superuser=True)
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name=actor))
    return user


def make_target(target):
    if target == "partner user":
        return UserFactory(email="ava@partner.example")
    if target == "staff user":
        user = StaffUserFactory(email="fred@program.example")
        user.groups.add(Group.objects.get(name="Finance"))
        return user
    return StaffUserFactory(email="root@program.example", is_superuser=True)


def account(user):
    """Everything about the account a refused action must leave alone."""
    return {
        "row": User.objects.filter(pk=user.pk).values().get(),
        "groups": sorted(Group.objects.filter(user=user).values_list("name", flat=True)),
        "permissions": sorted(Permission.objects.filter(user=user).values_list("codename")),
        "addresses": sorted(
            EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")
        ),
    }


def change_url(user):
    return f"/admin/portal/user/{user.pk}/change/"


def password_url(user):
    return f"/admin/portal/user/{user.pk}/password/"


def change_form(user, **changes):
    """Every field of the user admin's change form, as it stands, with `changes`."""
    form = {
        "email": user.email,
        "full_name": user.full_name,
        "partner": user.partner_id or "",
        "partner_role": user.partner_role,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": list(user.groups.values_list("pk", flat=True)),
    }
    return {key: value for key, value in {**form, **changes}.items() if value not in ("", [])}


@pytest.fixture
def as_actor(client):
    def sign_in(actor):
        user = make_actor(actor)
        client.force_login(user)
        return user

    return sign_in


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_the_user_change_page_opens_to_superusers_and_to_partner_operations_for_partners(
    client, as_actor, actor, target
):
    as_actor(actor)
    user = make_target(target)

    response = client.get(change_url(user))

    assert response.status_code == (200 if (actor, target) in OPENS else 403)
    if (actor, target) == ("Partner operations", "partner user"):
        fields = response.context["adminform"].form.fields
        assert sorted(fields) == sorted(PARTNER_USER_FIELDS_STAFF_MAY_EDIT)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_only_superusers_set_a_password_in_the_admin(client, as_actor, actor, target):
    as_actor(actor)
    user = make_target(target)
    before = account(user)

    page = client.get(password_url(user))
    response = client.post(
        password_url(user),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    if actor == "superuser":
        assert (page.status_code, response.status_code) == (200, 302)
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)
    else:
        assert (page.status_code, response.status_code) == (403, 403)
        assert account(user) == before


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_only_superusers_change_an_email_address(client, as_actor, actor, target):
    as_actor(actor)
    user = make_target(target)
    before = account(user)

    response = client.post(change_url(user), change_form(user, email="mallory@evil.example"))

    if actor == "superuser":
        assert response.status_code == 302
        assert User.objects.get(pk=user.pk).email == "mallory@evil.example"
    elif (actor, target) in OPENS:
        # Partner operations save a partner user's page: the email is not a field of it.
        assert response.status_code == 302
        assert account(user) == before
    else:
        assert response.status_code == 403
        assert account(user) == before


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_only_superusers_grant_staff_rights_groups_and_permissions(client, as_actor, actor, target):
    as_actor(actor)
    user = make_target(target)
    before = account(user)
    risk = Group.objects.get(name="Risk")
    change_user = Permission.objects.get(codename="change_user")
    form = change_form(
        user, is_staff="on", is_superuser="on", groups=[risk.pk], user_permissions=[change_user.pk]
    )

    response = client.post(change_url(user), form)

    if actor == "superuser":
        assert response.status_code == 302
        user.refresh_from_db()
        assert (user.is_staff, user.is_superuser) == (True, True)
        assert list(user.groups.all()) == [risk]
        assert list(user.user_permissions.all()) == [change_user]
    elif (actor, target) in OPENS:
        assert response.status_code == 302
        assert account(user) == before
    else:
        assert response.status_code == 403
        assert account(user) == before


@pytest.mark.parametrize("target", ["staff user", "superuser"])
def test_partner_operations_cannot_deactivate_or_rename_staff(client, as_actor, target):
    as_actor("Partner operations")
    user = make_target(target)
    before = account(user)

    response = client.post(change_url(user), change_form(user, is_active="", full_name="X"))

    assert response.status_code == 403
    assert account(user) == before


def test_partner_operations_edit_a_partner_users_name_partner_role_and_active(client, as_actor):
    as_actor("Partner operations")
    user = make_target("partner user")
    other = PartnerFactory(name="Atlas Systems")

    response = client.post(
        change_url(user),
        {"full_name": "Ava Lind", "partner": other.pk, "partner_role": "admin", "is_active": ""},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.partner, user.partner_role, user.is_active) == (
        "Ava Lind", other, "admin", False,
    )  # fmt: skip
    assert user.email == "ava@partner.example"


def test_partner_operations_create_partner_users_who_then_set_their_own_password(
    client, as_actor, mailoutbox
):
    as_actor("Partner operations")
    partner = PartnerFactory()

    response = client.post(
        "/admin/portal/user/add/",
        {"email": "New@Partner.example", "full_name": "Nia New", "partner": partner.pk,
         "partner_role": "member", "usable_password": "true", "password1": NEW_PASSWORD,
         "password2": NEW_PASSWORD, "is_staff": "on", "is_superuser": "on"},
    )  # fmt: skip

    assert response.status_code == 302
    user = User.objects.get(email="new@partner.example")
    assert (user.partner, user.is_staff, user.is_superuser) == (partner, False, False)
    assert not user.has_usable_password()
    client.logout()
    client.post("/accounts/password/reset/", {"email": "new@partner.example"})
    assert [message.to for message in mailoutbox] == [["new@partner.example"]]


def test_partner_operations_cannot_create_an_account_without_a_partner(client, as_actor):
    as_actor("Partner operations")

    response = client.post(
        "/admin/portal/user/add/", {"email": "staff2@program.example", "full_name": "S"}
    )

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"partner", "partner_role"}
    assert not User.objects.filter(email="staff2@program.example").exists()


def test_partner_operations_cannot_take_a_partner_user_out_of_their_partner(client, as_actor):
    as_actor("Partner operations")
    user = make_target("partner user")
    before = account(user)

    response = client.post(change_url(user), {"full_name": "Ava Lind", "is_active": "on"})

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"partner", "partner_role"}
    assert account(user) == before


@pytest.mark.parametrize("actor", ["Finance", "Risk"])
def test_finance_and_risk_cannot_add_users(client, as_actor, actor):
    as_actor(actor)
    assert client.get("/admin/portal/user/add/").status_code == 403


def test_partner_operations_see_only_partner_users_in_the_list(client, as_actor):
    me = as_actor("Partner operations")
    partner_user = make_target("partner user")
    make_target("staff user")
    make_target("superuser")

    response = client.get("/admin/portal/user/")

    assert list(response.context["cl"].result_list) == [partner_user]
    assert me not in response.context["cl"].result_list


def test_superusers_keep_full_control_of_any_account(client, as_actor):
    as_actor("superuser")
    user = make_target("staff user")

    response = client.post(
        change_url(user),
        change_form(user, email="fred.f@program.example", is_active="", groups=[]),
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.email, user.is_active, list(user.groups.all())) == (
        "fred.f@program.example", False, [],
    )  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
def test_allauth_email_addresses_are_for_superusers_only_even_with_the_permission(
    client, as_actor, actor
):
    me = as_actor(actor)
    if actor != "superuser":  # a group given allauth's permissions still gets nothing
        me.groups.get().permissions.add(
            *Permission.objects.filter(content_type__app_label="account")
        )
    user = make_target("partner user")
    address = EmailAddress.objects.get(user=user)
    before = account(user)
    url = f"/admin/account/emailaddress/{address.pk}/change/"

    listing = client.get("/admin/account/emailaddress/")
    page = client.get(url)
    response = client.post(
        url, {"user": user.pk, "email": "mallory@evil.example", "verified": "on", "primary": "on"}
    )

    if actor == "superuser":
        assert (listing.status_code, page.status_code, response.status_code) == (200, 200, 302)
        assert EmailAddress.objects.get(pk=address.pk).email == "mallory@evil.example"
    else:
        assert (listing.status_code, page.status_code, response.status_code) == (403, 403, 403)
        assert account(user) == before


def test_superusers_see_authenticators_and_may_delete_one_but_never_read_its_secret(
    client, as_actor
):
    as_actor("superuser")
    user = make_target("staff user")
    authenticator = Authenticator.objects.get(user=user)
    url = f"/admin/mfa/authenticator/{authenticator.pk}/change/"

    page = client.get(url)

    assert page.status_code == 200
    assert "data" not in page.context["adminform"].form.fields
    assert authenticator.data["secret"] not in page.content.decode()
    assert client.post(url, {"user": user.pk, "type": "totp"}).status_code == 403
    client.post(f"/admin/mfa/authenticator/{authenticator.pk}/delete/", {"post": "yes"})
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()
