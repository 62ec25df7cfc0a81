"""Staff need two-factor authentication (portal.middleware.MFARequiredMiddleware), and the
demo's staff get a published TOTP secret with a command printing its codes (portal.demo_mfa).
"""

import datetime
from io import StringIO

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import DeactivateTOTPForm
from allauth.mfa.totp.internal.auth import TOTP
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from portal.demo_mfa import DEMO_TOTP_SECRET, demo_totp, totp_code
from portal.models import Partner
from tests.cascades.factories import EngagementFactory
from tests.portal.factories import PASSWORD, PartnerFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

SETUP = "/accounts/2fa/totp/activate/"
NOW = datetime.datetime(2026, 11, 25, 9, 30, 10, tzinfo=datetime.UTC)


def authenticator_queries(queries):
    return [q["sql"] for q in queries if "mfa_authenticator" in q["sql"]]


@pytest.fixture
def staff_without_mfa(client):
    user = StaffUserFactory(is_superuser=True, mfa=False)
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/portal/partner/", "/admin/portal/user/", "/admin/payouts/payoutrun/",
     "/admin/login/", "/"],
)  # fmt: skip
def test_staff_without_two_factor_are_sent_to_set_it_up(client, staff_without_mfa, path):
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, SETUP)


def test_staff_without_two_factor_change_nothing_in_the_admin(client, staff_without_mfa):
    partner = PartnerFactory(name="Summit")
    url = f"/admin/portal/partner/{partner.pk}/change/"
    form = {"external_id": partner.external_id, "name": "Renamed", "status": "active",
            "tier_changes-TOTAL_FORMS": "0", "tier_changes-INITIAL_FORMS": "0",
            "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0"}  # fmt: skip

    assert client.get(url)["Location"] == SETUP
    response = client.post(url, form)

    assert (response.status_code, response["Location"]) == (302, SETUP)
    assert Partner.objects.get(pk=partner.pk).name == "Summit"
    assert (
        client.post("/admin/portal/partner/add/", {**form, "external_id": "new"})["Location"]
        == SETUP
    )
    assert not Partner.objects.filter(external_id="new").exists()


def test_the_setup_page_says_why(client, staff_without_mfa):
    response = client.get("/admin/", follow=True)
    assert "Set up two-factor authentication to continue" in response.content.decode()


@pytest.mark.parametrize(
    "path, status",
    [
        ("/accounts/2fa/", 200),  # allauth's two-factor pages
        (SETUP, 302),  # to confirm the password first (allauth), not back to itself
        ("/accounts/reauthenticate/", 200),
        ("/accounts/email/", 200),
        ("/api/v1/ops/signals/", 401),  # tokens only: the session means nothing there
        ("/static/css/portal.css", 200),
    ],
)
def test_staff_without_two_factor_still_reach_the_pages_that_set_it_up(
    client, staff_without_mfa, path, status
):
    response = client.get(path)
    response.close()  # a static file streams from an open file
    assert response.status_code == status
    assert response.get("Location") != SETUP


def test_staff_without_two_factor_can_sign_out(client, staff_without_mfa):
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session
    client.force_login(staff_without_mfa)
    assert client.post("/admin/logout/")["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_staff_with_two_factor_use_the_admin_for_one_query_more(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/")
    assert response.status_code == 200
    assert len(authenticator_queries(queries.captured_queries)) == 1


def test_partner_users_are_not_asked_for_two_factor_and_cost_no_query(client):
    user = UserFactory()
    EngagementFactory(partner=user.partner, external_id="eng-1")
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
        assert client.get("/engagements/eng-1/").status_code == 200
    assert authenticator_queries(queries.captured_queries) == []


def test_anonymous_visitors_cost_no_query_and_go_to_sign_in(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/")
    assert response["Location"].startswith("/admin/login/")
    assert authenticator_queries(queries.captured_queries) == []


def partner_admins_and_staff(user):
    return user.is_staff or user.is_partner_admin


@override_settings(PORTAL_MFA_REQUIRED_FOR=f"{__name__}.partner_admins_and_staff")
def test_who_needs_two_factor_is_a_setting(client):
    admin = UserFactory(partner_role="admin")
    client.force_login(admin)
    assert client.get("/")["Location"] == SETUP
    client.force_login(UserFactory(partner=admin.partner))
    assert client.get("/").status_code == 200


def test_staff_who_set_up_two_factor_reach_the_admin(client, staff_without_mfa):
    TOTP.activate(staff_without_mfa, DEMO_TOTP_SECRET)
    assert client.get("/admin/").status_code == 200


# The demo's staff (portal.demo_mfa).


@override_settings(DEBUG=True)
def test_demo_totp_stores_the_published_secret_as_allauth_does_and_once(client):
    user = StaffUserFactory(email="ops@demo.example", mfa=False)

    assert demo_totp(user) == DEMO_TOTP_SECRET
    assert demo_totp(user) == DEMO_TOTP_SECRET

    authenticator = Authenticator.objects.get(user=user)
    assert authenticator.type == Authenticator.Type.TOTP
    with time_machine.travel(NOW, tick=False):
        assert authenticator.wrap().validate_code(totp_code(DEMO_TOTP_SECRET))


@override_settings(DEBUG=True)
def test_demo_totp_replaces_another_secret():
    user = StaffUserFactory(email="risk@demo.example")  # the factory's own secret
    demo_totp(user)
    authenticator = Authenticator.objects.get(user=user)
    with time_machine.travel(NOW, tick=False):
        assert authenticator.wrap().validate_code(totp_code(DEMO_TOTP_SECRET))


def test_demo_totp_refuses_without_debug():
    user = StaffUserFactory(email="ops@demo.example", mfa=False)
    with pytest.raises(ImproperlyConfigured, match="DEBUG=1"):
        demo_totp(user)
    assert not Authenticator.objects.filter(user=user).exists()


@override_settings(DEBUG=True)
def test_demo_totp_refuses_an_account_outside_the_demo():
    user = StaffUserFactory(email="ops@program.example", mfa=False)
    with pytest.raises(ValueError, match="not a demo account"):
        demo_totp(user)
    assert not Authenticator.objects.filter(user=user).exists()


def demo_totp_code(*args):
    out = StringIO()
    call_command("demo_totp_code", *args, stdout=out)
    return out.getvalue().strip()


@override_settings(DEBUG=True)
def test_a_newcomer_signs_in_to_the_admin_with_the_printed_code(client):
    user = StaffUserFactory(email="ops@demo.example", mfa=False)
    user.set_password(PASSWORD)
    user.save()
    demo_totp(user)

    with time_machine.travel(NOW, tick=False):
        code = demo_totp_code("OPS@demo.example")
        assert code == totp_code(DEMO_TOTP_SECRET) and len(code) == 6
        client.post("/accounts/login/", {"login": "ops@demo.example", "password": PASSWORD})
        client.post("/accounts/2fa/authenticate/", {"code": code})

    assert client.get("/admin/").status_code == 200


def test_demo_totp_code_refuses_without_debug():
    user = StaffUserFactory(email="ops@demo.example", mfa=False)
    with override_settings(DEBUG=True):
        demo_totp(user)
    with pytest.raises(CommandError, match="DEBUG=1 only"):
        demo_totp_code("ops@demo.example")


@override_settings(DEBUG=True)
@pytest.mark.parametrize(
    "email, error",
    [
        ("sam@program.example", "not a demo account"),  # another account's codes: never
        ("nobody@demo.example", "No account"),
        ("finance@demo.example", "no two-factor authenticator"),
    ],
)
def test_demo_totp_code_prints_codes_of_demo_accounts_only(email, error):
    StaffUserFactory(email="sam@program.example")
    StaffUserFactory(email="finance@demo.example", mfa=False)
    with pytest.raises(CommandError, match=error):
        demo_totp_code(email)


def test_staff_cannot_switch_their_two_factor_off_but_a_partner_user_can():
    staff = StaffUserFactory()
    partner_user = UserFactory()
    Authenticator.objects.create(user=partner_user, type="totp", data={"secret": "x"})

    for user, allowed in ((staff, False), (partner_user, True)):
        authenticator = Authenticator.objects.get(user=user, type="totp")
        form = DeactivateTOTPForm(data={}, authenticator=authenticator)
        assert form.is_valid() is allowed
    assert Authenticator.objects.filter(user=staff, type="totp").exists()
