"""Staff review in the admin, the certificate of signing, and the ops API listing."""

import datetime
import re
import subprocess

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from attestations.models import Decision, Verification
from attestations.services import signing_request_issue
from portal.tokens import ops_token_issue
from tests.attestations.conftest import review_form
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def risk(client):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Risk"))
    client.force_login(user)
    return user


def test_risk_records_a_verification_then_accepts_in_the_admin(client, risk, attested):
    url = f"/admin/attestations/attestation/{attested.pk}/change/"
    client.post(url, review_form(**{
        "verifications-TOTAL_FORMS": "1", "verifications-0-source": "auditor_report",
        "verifications-0-verified_value": "51.5", "verifications-0-note": "Audit 2026-07",
    }))  # fmt: skip
    verification = Verification.objects.get()
    assert (verification.recorded_by, str(verification.verified_value)) == (risk, "51.5000")

    client.post(url, review_form(verdict="accepted"))

    decision = Decision.objects.get()
    assert (decision.verdict, decision.decided_by) == ("accepted", risk)
    attested.outcome.refresh_from_db()
    assert attested.outcome.accepted_on == decision.decided_on


def test_the_admin_refuses_to_accept_before_verification(client, risk, attested):
    url = f"/admin/attestations/attestation/{attested.pk}/change/"
    response = client.post(url, review_form(verdict="accepted"), follow=True)
    assert "needs independent verification" in response.content.decode()
    assert not Decision.objects.exists()


def test_staff_download_the_certificate_as_html_and_pdf(client, risk, attested):
    html = client.get(f"/admin/attestations/attestation/{attested.pk}/certificate.html")
    pdf = client.get(f"/admin/attestations/attestation/{attested.pk}/certificate.pdf")
    assert attested.content_sha256 in html.content.decode()
    # Its inline style runs under the page's Content-Security-Policy: it carries the nonce.
    nonce = re.search(r"'nonce-([^']+)'", html["Content-Security-Policy"])[1]
    assert f'<style nonce="{nonce}">' in html.content.decode()
    assert pdf["Content-Type"] == "application/pdf"
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert "Certificate of signing" in text
    assert "Dana Scully" in text


def test_ops_api_lists_the_agreement_requests_and_open_links(attested):
    _, token = ops_token_issue(name="crm")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    reissued = signing_request_issue(agreement=attested.agreement, outcome=attested.outcome)

    body = api.get("/api/v1/ops/attestations/?engagement=deal-1").json()

    assert body["engagement"] == "deal-1"
    assert body["agreement"]["signed_at"] is not None
    assert [(r["purpose"], r["status"]) for r in body["requests"]] == [
        ("agreement", "signed"),
        ("outcome", "signed"),
        ("outcome", "open"),
    ]
    assert f"/attest/{reissued.token}:" in body["requests"][2]["link"]
    assert api.get("/api/v1/ops/attestations/?engagement=nope").status_code == 404
    assert api.get("/api/v1/ops/attestations/").status_code == 400
    assert body["outcomes"][0]["accepted_on"] is None  # verification still pending


def test_an_agreement_made_in_the_admin_gets_its_verification_flags_and_a_link(client):
    from attestations.models import OutcomeAgreement, SigningRequest
    from tests.cascades.factories import EngagementFactory

    client.force_login(StaffUserFactory(is_superuser=True))
    engagement = EngagementFactory(year1_acv="100000.00")  # 10 % outcome reward: 10,000.00
    response = client.post("/admin/attestations/outcomeagreement/add/", {
        "engagement": engagement.pk,
        "outcomes-TOTAL_FORMS": "1", "outcomes-INITIAL_FORMS": "0",
        "outcomes-0-key": "cost", "outcomes-0-title": "Cut cost", "outcomes-0-methodology": "GL",
        "outcomes-0-target": "10", "outcomes-0-unit": "%", "outcomes-0-due_months": "6",
        "requests-TOTAL_FORMS": "0", "requests-INITIAL_FORMS": "0",
    })  # fmt: skip

    assert response.status_code == 302
    agreement = OutcomeAgreement.objects.get(engagement=engagement)
    assert agreement.outcomes.get().verification_required is True
    assert SigningRequest.objects.filter(agreement=agreement, purpose="agreement").count() == 1


def test_an_outcome_awaiting_verification_is_not_at_risk_but_a_rejected_one_is(client, attested):
    from attestations.services import attestation_decide
    from cascades.selectors import engagement_cascade

    engagement = attested.agreement.engagement
    as_of = datetime.date(2026, 7, 10)  # due 2026-07-15: within 30 days

    def outcome_step():
        steps = engagement_cascade(engagement=engagement, as_of=as_of).steps
        return next(s for s in steps if s.step_key == "outcome")

    assert (outcome_step().status, outcome_step().at_risk_reasons) == ("pending", ())

    attestation_decide(attestation=attested, verdict="rejected", on=as_of, reason="No match")

    assert outcome_step().status == "at_risk"
    assert outcome_step().at_risk_reasons == (
        "At risk: the attestation of outcome “downtime” was rejected.",
    )
    assert (outcome_step().reason, outcome_step().facts) == (
        "attestation_rejected", {"outcome_key": "downtime"},
    )  # fmt: skip
