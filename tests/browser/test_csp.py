"""Every kind of page loads under the Content-Security-Policy without a violation: Chromium
reports each refused script, style, image or frame in the console."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from attestations.services import attestation_sign, signing_path, signing_request_issue
from attestations.services import signing_token as token_of
from payouts.services import payout_run_create
from tests.browser.test_attestation import SIGNER, engagement_with_outcome, png
from tests.portal.factories import PASSWORD, StaffUserFactory, UserFactory, totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def violations(page):
    """The CSP violations Chromium reports, with the page each happened on."""
    seen = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and seen.append((page.url, message.text))
        ),
    )
    return seen


def sign_in(page, live_server, email, *, staff=False):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if staff:  # the factory's staff have two-factor authentication
        page.get_by_placeholder("Code").fill(totp_code())
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_out(page):
    page.context.clear_cookies()


def test_pages_load_without_a_content_security_policy_violation(live_server, page, violations):
    engagement = engagement_with_outcome(acv="480000.00")
    agreement = engagement.outcome_agreement
    partner_user = UserFactory(email="ava@partner.example", partner=engagement.partner)

    # The customer's signing form, then the API docs (Swagger UI and its init script).
    page.goto(live_server.url + signing_path(agreement.requests.get()))
    expect(page.get_by_role("button", name="Sign", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cascade rewards portal API")

    # A partner: sign in, the dashboard, a customer's record.
    sign_in(page, live_server, "ava@partner.example")
    expect(page.get_by_role("link", name="Globex")).to_be_visible()
    page.get_by_role("link", name="Globex").click()
    expect(page.get_by_role("heading", name="Globex")).to_be_visible()
    sign_out(page)

    # Staff: the admin's pages with their scripts (django.jQuery on change forms).
    attestation_sign(token=token_of(agreement.requests.get()), values=SIGNER)
    outcome = agreement.outcomes.get()
    attestation = attestation_sign(
        token=token_of(signing_request_issue(agreement=agreement, outcome=outcome)),
        values={**SIGNER, "achieved_value": Decimal("55.5"), "evidence_summary": "Fewer."},
        evidence=SimpleUploadedFile("chart.png", png(), "image/png"),
    )
    today = timezone.localdate()
    run, _ = payout_run_create(month=today.replace(year=today.year - 1, day=1), as_of=today)
    StaffUserFactory(email="sam@program.example", is_superuser=True)
    sign_in(page, live_server, "sam@program.example", staff=True)
    for path in [
        "/admin/",
        f"/admin/attestations/attestation/{attestation.pk}/change/",
        f"/admin/payouts/payoutrun/{run.pk}/change/",
        f"/admin/portal/user/{partner_user.pk}/change/",
        "/admin/portal/user/",
    ]:
        page.goto(live_server.url + path)
        expect(page.locator("#site-name")).to_be_visible()
        if path.endswith("/change/"):
            assert page.evaluate("() => typeof django.jQuery") == "function"
    sign_out(page)

    # Staff without two-factor authentication are sent to set it up: confirm the password,
    # scan the QR code (a data: image) or copy the secret, type the code, then the admin.
    StaffUserFactory(email="new@program.example", mfa=False)
    sign_in(page, live_server, "new@program.example")
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/accounts/reauthenticate/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()

    assert violations == []
