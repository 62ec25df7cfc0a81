"""Risk reviews an attestation in the admin on a 1,280 px screen: nothing runs off the side."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from attestations.models import Decision, Verification
from attestations.services import attestation_sign, signing_request_issue, signing_token
from tests.browser.test_attestation import SIGNER, engagement_with_outcome, png
from tests.portal.factories import PASSWORD, StaffUserFactory, totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WIDTH = 1280


def horizontal_overflow(page):
    """How many pixels the page is wider than the window (0: it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_risk_verifies_and_accepts_on_a_1280_px_screen_without_horizontal_scrolling(
    live_server, page, artifacts_dir
):
    # A high-value outcome (10 % of 480,000.00 needs verification), attested with evidence
    # by a signer whose browser sent a long user agent.
    agreement = engagement_with_outcome(acv="480000.00").outcome_agreement
    attestation_sign(token=signing_token(agreement.requests.get()), values=SIGNER)
    outcome = agreement.outcomes.get()
    attestation = attestation_sign(
        token=signing_token(signing_request_issue(agreement=agreement, outcome=outcome)),
        values={**SIGNER, "achieved_value": Decimal("55.5"),
                "evidence_summary": "Incidents fell from 12 to 5 a month. " * 20},
        evidence=SimpleUploadedFile("chart.png", png(), "image/png"),
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Safari/537.36 " + "Extension/1.0;" * 20,
    )  # fmt: skip
    risk = StaffUserFactory(email="rita@program.example")
    risk.groups.add(Group.objects.get(name="Risk"))
    page.set_viewport_size({"width": WIDTH, "height": 900})
    url = f"{live_server.url}/admin/attestations/attestation/{attestation.pk}/change/"

    page.goto(url)
    page.get_by_label("Email").fill("rita@program.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("Code").fill(totp_code())  # staff sign in with two factors
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url)
    assert horizontal_overflow(page) == 0
    page.screenshot(path=artifacts_dir / "admin-attestation-review-1280.png", full_page=True)

    page.locator("#id_verifications-0-source").select_option("auditor_report")
    page.locator("#id_verifications-0-verified_value").fill("54")
    page.locator("#id_verifications-0-note").fill("Auditor's letter of 2026-11-20")
    page.locator("#id_verdict").select_option("accepted")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("Verification recorded.")
    expect(page.locator(".messagelist")).to_contain_text("Accepted on")
    assert page.locator(".messagelist .error").count() == 0
    assert horizontal_overflow(page) == 0
    assert Verification.objects.get().verified_value == Decimal("54")
    assert Decision.objects.get().verdict == "accepted"

    page.goto(url)  # decided: the record reads on one screen width too
    assert horizontal_overflow(page) == 0
