"""Signing links, signed records, evidence sniffing, verification and acceptance."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from attestations.models import Attestation, Decision, Outcome, SigningRequest
from attestations.services import (
    attestation_decide,
    attestations_daily,
    content_hash,
    signing_path,
    signing_request_issue,
    verification_record,
)
from cascades.evaluation import engagements_evaluate
from cascades.models import Reward
from cascades.services import customer_upsert, engagement_create
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

D = datetime.date
SIGNER = {
    "signer_name": "Dana Scully",
    "signer_title": "CFO",
    "signer_email": "dana@globex.example",
    "consent": "on",
    "typed_signature": "Dana Scully",
}
OUTCOME = {"key": "downtime", "title": "Halve downtime", "methodology": "Incident reports",
           "target": Decimal("50"), "unit": "%", "due_months": 6}  # fmt: skip


def png_bytes():
    """A real 4 x 3 PNG: evidence must pass the image library's checks, not only start
    with the signature."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, "PNG")
    return buffer.getvalue()


PNG = png_bytes()


def engagement_with_outcome(acv="48000.00", django_capture_on_commit_callbacks=None):
    partner = PartnerFactory(tier=None)
    TierChangeFactory(partner=partner, tier="authorized", effective=D(2020, 1, 1))
    customer = customer_upsert(
        external_id="globex", name="Globex", contact_email="it@globex.example"
    )
    return engagement_create(
        external_id="deal-1", partner=partner, customer=customer, signed_at=D(2026, 1, 15),
        currency="USD", year1_acv=Decimal(acv), outcomes=[OUTCOME],
    )  # fmt: skip


def token_of(request):
    return signing_path(request).rstrip("/").rsplit("/", 1)[-1]


def sign(client, request, **fields):
    return client.post(signing_path(request), {**SIGNER, **fields})


@pytest.fixture
def signed_agreement(client):
    engagement = engagement_with_outcome()
    agreement = engagement.outcome_agreement
    sign(client, agreement.requests.get())
    agreement.refresh_from_db()
    return agreement


def test_an_engagement_with_outcomes_emails_the_agreement_link(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        engagement = engagement_with_outcome()
    request = engagement.outcome_agreement.requests.get()
    assert (request.purpose, request.sent_to) == ("agreement", "it@globex.example")
    assert len(mail.outbox) == 1
    assert f"http://127.0.0.1:8000/attest/{request.token}:" in mail.outbox[0].body
    assert request.expires_at - request.created_at == datetime.timedelta(days=14)


def test_signing_the_agreement_records_the_evidence_of_signing(client):
    engagement = engagement_with_outcome()
    request = engagement.outcome_agreement.requests.get()

    response = client.post(
        signing_path(request), SIGNER, HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="203.0.113.9"
    )

    assert response.status_code == 200
    attestation = Attestation.objects.get()
    assert (attestation.ip_address, attestation.user_agent) == ("203.0.113.9", "Firefox/140")
    assert attestation.content["outcomes"][0]["title"] == "Halve downtime"
    assert attestation.content_sha256 == content_hash(attestation.content)
    engagement.outcome_agreement.refresh_from_db()
    assert engagement.outcome_agreement.signed_at == attestation.signed_at


def test_a_later_change_to_the_outcome_does_not_alter_the_signed_record(signed_agreement):
    attestation = Attestation.objects.get()
    before = (attestation.content, attestation.content_sha256)
    Outcome.objects.filter(agreement=signed_agreement).update(title="Quarter downtime")
    attestation.refresh_from_db()
    assert (attestation.content, attestation.content_sha256) == before
    assert before[0]["outcomes"][0]["title"] == "Halve downtime"


@pytest.mark.parametrize("problem", ["reused", "expired", "revoked", "tampered"])
def test_a_link_that_cannot_be_used_is_refused_and_changes_nothing(client, problem, time_machine):
    engagement = engagement_with_outcome()
    request = engagement.outcome_agreement.requests.get()
    path = signing_path(request)
    if problem == "reused":
        client.post(path, SIGNER)
    elif problem == "expired":
        time_machine.move_to(timezone.now() + datetime.timedelta(days=14, seconds=1))
    elif problem == "revoked":
        signing_request_issue(agreement=engagement.outcome_agreement)  # reissue revokes it
    else:
        token = token_of(request)
        path = path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    attestations_before = Attestation.objects.count()

    response = client.post(path, SIGNER)

    assert response.status_code == {"tampered": 400}.get(problem, 410)
    expected = {"reused": "already been used", "expired": "expired", "revoked": "withdrawn",
                "tampered": "not valid"}[problem]  # fmt: skip
    assert expected in response.content.decode()
    assert Attestation.objects.count() == attestations_before


def test_a_renamed_executable_is_refused_as_evidence(client, signed_agreement):
    outcome = signed_agreement.outcomes.get()
    request = signing_request_issue(agreement=signed_agreement, outcome=outcome)
    executable = SimpleUploadedFile("report.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf")

    response = sign(
        client, request, achieved_value="52", evidence_summary="Incident export",
        evidence_file=executable,
    )  # fmt: skip

    assert response.status_code == 400
    assert "PDF, CSV, PNG or JPEG" in response.content.decode()
    assert not Attestation.objects.filter(outcome=outcome).exists()
    request.refresh_from_db()
    assert request.used_at is None


def test_an_accepted_attestation_fires_the_outcome_step_on_its_acceptance_date(
    client, signed_agreement, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(datetime.datetime(2026, 7, 20, 10, tzinfo=datetime.UTC))
    outcome = signed_agreement.outcomes.get()
    request = signing_request_issue(agreement=signed_agreement, outcome=outcome)
    evidence = SimpleUploadedFile("chart.png", PNG, "image/png")

    with django_capture_on_commit_callbacks(execute=True):
        sign(
            client, request, achieved_value="52", evidence_summary="Export", evidence_file=evidence
        )

    # Not verification-required (10 % of 48,000.00 < 10,000.00): accepted when signed.
    decision = Decision.objects.get()
    assert (decision.verdict, decision.decided_on) == ("accepted", D(2026, 7, 20))
    reward = Reward.objects.get(step_key="outcome")
    assert (reward.trigger_date, reward.amount) == (D(2026, 7, 20), Decimal("4800.00"))


def test_without_a_signed_agreement_or_acceptance_no_outcome_reward(client):
    unsigned = engagement_with_outcome()
    engagements_evaluate(as_of=D(2026, 12, 31))
    assert not Reward.objects.filter(engagement=unsigned, step_key="outcome").exists()


def test_verification_is_needed_before_a_high_value_outcome_is_accepted(client):
    engagement = engagement_with_outcome(acv="100000.00")  # 10 % = 10,000.00: verification
    agreement = engagement.outcome_agreement
    sign(client, agreement.requests.get())
    outcome = agreement.outcomes.get()
    assert outcome.verification_required
    request = signing_request_issue(agreement=agreement, outcome=outcome)
    sign(client, request, achieved_value="52", evidence_summary="Export")
    attestation = Attestation.objects.get(outcome=outcome)
    assert not Decision.objects.exists()

    with pytest.raises(Exception, match="independent verification"):
        attestation_decide(attestation=attestation, verdict="accepted", on=D(2026, 8, 1))
    verification_record(attestation=attestation, source="auditor_report",
                        verified_value=Decimal("51"))  # fmt: skip
    attestation_decide(attestation=attestation, verdict="accepted", on=D(2026, 8, 3))

    outcome.refresh_from_db()
    assert outcome.accepted_on == D(2026, 8, 3)


def test_a_rejection_needs_a_reason_and_fires_nothing(client, signed_agreement):
    outcome = signed_agreement.outcomes.get()
    Outcome.objects.filter(pk=outcome.pk).update(verification_required=True)
    request = signing_request_issue(agreement=signed_agreement, outcome=outcome)
    sign(client, request, achieved_value="52", evidence_summary="Export")
    attestation = Attestation.objects.get(outcome=outcome)

    with pytest.raises(Exception, match="Say why"):
        attestation_decide(attestation=attestation, verdict="rejected", on=D(2026, 8, 1))
    attestation_decide(attestation=attestation, verdict="rejected", on=D(2026, 8, 1),
                       reason="Evidence does not match the export")  # fmt: skip

    outcome.refresh_from_db()
    assert outcome.accepted_on is None


def test_the_daily_job_sends_due_outcome_links_once_and_reminds_before_expiry(
    signed_agreement, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    outcome = signed_agreement.outcomes.get()  # signed 2026-01-15, due 6 months later
    now = datetime.datetime(2026, 7, 15, 8, tzinfo=datetime.UTC)

    with django_capture_on_commit_callbacks(execute=True):
        assert attestations_daily(as_of=D(2026, 7, 14), now=now) == 0
        assert attestations_daily(as_of=D(2026, 7, 15), now=now) == 1
        assert attestations_daily(as_of=D(2026, 7, 15), now=now) == 0
    request = SigningRequest.objects.get(outcome=outcome)
    week_left = request.expires_at - datetime.timedelta(days=7)
    day_left = request.expires_at - datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert attestations_daily(as_of=D(2026, 7, 22), now=week_left) == 1
        assert attestations_daily(as_of=D(2026, 7, 22), now=week_left) == 0
        assert attestations_daily(as_of=D(2026, 7, 28), now=day_left) == 1

    assert [m.subject for m in mail.outbox] == [
        "Please attest the outcome “Halve downtime”",
        "Reminder: please attest the outcome “Halve downtime”",
        "Reminder: please attest the outcome “Halve downtime”",
    ]
