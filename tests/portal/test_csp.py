"""The Content-Security-Policy header on every kind of page (django-csp, portal.settings)."""

import datetime
import re

import pytest

from attestations.services import signing_path
from tests.attestations.test_signing import engagement_with_outcome
from tests.cascades.factories import EngagementFactory
from tests.portal.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy(response):
    """The response's policy, directive by directive (their order does not matter)."""
    header = response["Content-Security-Policy"]
    return dict(part.split(" ", 1) for part in header.split("; "))


def test_a_partner_page_gets_the_policy_without_a_nonce(client):
    user = UserFactory()
    EngagementFactory(partner=user.partner, external_id="eng-1")
    client.force_login(user)
    for path in ["/", "/engagements/eng-1/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert policy(response) == POLICY


def test_the_sign_in_page_and_a_redirect_get_the_policy(client):
    assert policy(client.get("/accounts/login/")) == POLICY
    assert policy(client.get("/")) == POLICY  # a redirect to the sign-in page


def test_admin_pages_get_the_policy(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    for path in ["/admin/", "/admin/portal/partner/", "/admin/portal/partner/add/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert policy(response) == POLICY


def test_the_customer_signing_form_gets_the_policy(client, time_machine):
    time_machine.move_to(datetime.datetime(2026, 1, 20, tzinfo=datetime.UTC))
    request = engagement_with_outcome().outcome_agreement.requests.get()
    response = client.get(signing_path(request))
    assert response.status_code == 200
    assert policy(response) == POLICY


def test_an_api_response_gets_the_policy(client):
    response = client.get("/api/v1/ops/signals/")
    assert response.status_code == 401
    assert policy(response) == POLICY
    assert policy(client.get("/api/v1/schema/")) == POLICY


def test_the_api_docs_inline_script_and_style_carry_the_nonce_of_their_response(client):
    response = client.get("/api/v1/docs/")
    html = response.content.decode()

    nonce = re.search(r"'nonce-([^']+)'", policy(response)["script-src"]).group(1)
    assert policy(response)["script-src"] == f"'self' 'nonce-{nonce}'"
    assert policy(response)["style-src"] == f"'self' 'nonce-{nonce}'"
    assert html.count(f'nonce="{nonce}"') == 2
    assert len(re.findall(r"<script>|<style>", html)) == 0  # nothing inline without it
    assert (
        client.get("/api/v1/docs/")["Content-Security-Policy"]
        != response["Content-Security-Policy"]
    )  # a new nonce for every response


def test_static_files_are_served_without_a_policy(client):
    response = client.get("/static/css/portal.css")
    response.close()
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
