import pytest
from django.urls import reverse

from tests.portal.factories import PASSWORD, StaffUserFactory, UserFactory, totp_code

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, email, password=PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def test_partner_user_signs_in_by_email_and_lands_on_the_dashboard(client):
    user = UserFactory(email="ava@partner.example")
    response = sign_in(client, "AVA@partner.example")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_message(client):
    UserFactory(email="ava@partner.example")
    response = sign_in(client, "ava@partner.example", "not-the-password")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert b"not correct" in response.content


def test_sign_out_ends_the_session(client):
    UserFactory(email="ava@partner.example")
    sign_in(client, "ava@partner.example")
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/")["Location"].startswith(LOGIN)


def test_login_is_rate_limited_after_five_failures_for_one_email(client):
    UserFactory(email="ava@partner.example")
    for _ in range(5):
        sign_in(client, "ava@partner.example", "wrong")
    response = sign_in(client, "ava@partner.example")  # the right password, too late
    assert "_auth_user_id" not in client.session
    assert b"Too many failed login attempts" in response.content


def test_unverified_email_cannot_sign_in(client):
    user = UserFactory(email="new@partner.example")
    user.emailaddress_set.update(verified=False)
    sign_in(client, "new@partner.example")
    assert "_auth_user_id" not in client.session


def test_sign_up_is_closed(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "x@example.com", "password1": "Sup3r-secret-pw", "password2": "Sup3r-secret-pw"},
    )
    assert response.status_code == 200
    assert b"Sign Up Closed" in response.content
    from portal.models import User

    assert not User.objects.filter(email="x@example.com").exists()


def test_admin_login_goes_through_the_rate_limited_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_staff_reach_the_admin_after_signing_in(client):
    StaffUserFactory(email="ops@program.example")
    assert sign_in(client, "ops@program.example")["Location"] == "/accounts/2fa/authenticate/"
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert client.get("/admin/").status_code == 200


def test_partner_users_are_kept_out_of_the_admin(client):
    UserFactory(email="ava@partner.example")
    sign_in(client, "ava@partner.example")
    assert client.get("/admin/").status_code in (302, 403)
    assert client.get("/admin/login/").status_code == 403


def test_password_reset_sends_a_link(client, mailoutbox):
    UserFactory(email="ava@partner.example")
    response = client.post("/accounts/password/reset/", {"email": "ava@partner.example"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/password/reset/key/" in mailoutbox[0].body
