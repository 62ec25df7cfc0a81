"""The attestation review page and list: evidence behind permissions, one clear message,
the outcome's window in days, numbers as people read them."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from attestations.models import Decision, Verification
from attestations.services import attestation_sign, signing_request_issue, signing_token
from cascades.services import customer_upsert, engagement_create
from tests.attestations.conftest import review_form
from tests.attestations.test_signing import OUTCOME, PNG
from tests.attestations.test_signing import SIGNER as FORM_SIGNER
from tests.portal.factories import PartnerFactory, StaffUserFactory, TierChangeFactory, UserFactory

pytestmark = pytest.mark.django_db

D = datetime.date
SIGNER = {k: v for k, v in FORM_SIGNER.items() if k != "consent"}


def staff(client, group=None, **fields):
    user = StaffUserFactory(**fields)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def messages_of(response):
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def with_evidence(attested):
    """The outcome attested once more, the evidence a PNG file named like a spreadsheet."""
    request = signing_request_issue(agreement=attested.agreement, outcome=attested.outcome)
    return attestation_sign(
        token=signing_token(request),
        values={**SIGNER, "achieved_value": Decimal("52"), "evidence_summary": "Chart"},
        evidence=SimpleUploadedFile("figures.xlsx", PNG, "application/vnd.ms-excel"),
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ({"group": "Risk"}, 200),
        ({"group": "Partner operations"}, 200),
        ({"is_superuser": True}, 200),
        ({"group": "Finance"}, 403),
    ],
    ids=["risk", "partner-ops", "superuser", "finance"],
)
def test_staff_who_review_download_the_evidence_and_certificate_others_are_refused(
    client, with_evidence, who, status
):
    staff(client, **who)

    response = client.get(f"/admin/attestations/attestation/{with_evidence.pk}/evidence/")
    certificate = client.get(f"/admin/attestations/attestation/{with_evidence.pk}/certificate.html")

    assert (response.status_code, certificate.status_code) == (status, status)
    if status == 200:
        assert response["Content-Type"] == "image/png"  # by its content, not its name
        assert response["Content-Disposition"] == (
            f'attachment; filename="evidence-{with_evidence.pk}.png"'
        )
        assert b"".join(response.streaming_content) == PNG


def test_a_partner_gets_a_404_and_a_visitor_the_login_page_for_evidence_and_certificates(
    client, with_evidence
):
    url = f"/admin/attestations/attestation/{with_evidence.pk}/evidence/"
    assert client.get(url).status_code == 302  # to the login page

    client.force_login(UserFactory())  # a partner's user
    assert client.get(url).status_code == 404
    certificate = f"/admin/attestations/attestation/{with_evidence.pk}/certificate.pdf"
    assert client.get(certificate).status_code == 404
    assert client.get(f"/media/{with_evidence.evidence_file.name}").status_code == 404


def test_the_review_page_shows_no_decision_before_one_is_made(client, attested):
    staff(client, "Risk")

    page = client.get(f"/admin/attestations/attestation/{attested.pk}/change/").content.decode()

    assert "Awaiting review." in page
    assert "Decided at" not in page
    assert "52 %" in page and "52.0000" not in page  # the achieved value as people write it
    assert "Closes on 2026-10-13: 85 days left to accept." in page  # from 2026-07-20


def test_accepting_without_verification_says_so_and_nothing_else(client, attested):
    staff(client, "Risk")
    url = f"/admin/attestations/attestation/{attested.pk}/change/"

    response = client.post(url, review_form(verdict="accepted"))

    assert response.status_code == 302 and response["Location"] == url
    assert messages_of(response) == [
        ("error", "Not decided: This outcome needs independent verification before it is "
                  "accepted."),
    ]  # fmt: skip
    assert not Decision.objects.exists()


def test_a_verification_and_an_acceptance_in_one_save_give_two_success_messages(client, attested):
    risk = staff(client, "Risk")
    url = f"/admin/attestations/attestation/{attested.pk}/change/"

    response = client.post(url, review_form(verdict="accepted", **{
        "verifications-TOTAL_FORMS": "1", "verifications-0-source": "auditor_report",
        "verifications-0-verified_value": "51.5", "verifications-0-note": "Audit",
    }))  # fmt: skip

    assert messages_of(response) == [
        ("success", "Verification recorded."),
        ("success", f"Accepted on 2026-07-20 by {risk}."),
    ]
    assert Verification.objects.get().verified_value == Decimal("51.5")
    assert Decision.objects.get().decided_on == D(2026, 7, 20)
    page = client.get(url).content.decode()  # decided: read only, the decision in words
    assert f"Accepted on 2026-07-20 by {risk}." in page
    assert "Auditor&#x27;s report: 51.5 %, recorded 2026-07-20" in page
    assert 'name="verdict"' not in page


def test_after_the_window_closed_the_review_refuses_an_acceptance_and_says_why(
    client, attested, time_machine
):
    Verification.objects.create(attestation=attested, source="auditor_report",
                                verified_value=Decimal("51"))  # fmt: skip
    time_machine.move_to(datetime.datetime(2026, 10, 14, 9, tzinfo=datetime.UTC))
    staff(client, "Risk")
    url = f"/admin/attestations/attestation/{attested.pk}/change/"

    page = client.get(url).content.decode()
    response = client.post(url, review_form(verdict="accepted"))

    assert "Closed on 2026-10-13: an acceptance no longer fires the outcome step." in page
    assert messages_of(response) == [
        ("error", "Not decided: The outcome step's window closed on 2026-10-13: an acceptance "
                  "no longer fires it. Reject it with that reason."),
    ]  # fmt: skip
    assert not Decision.objects.exists()


def test_the_review_list_shows_days_left_and_puts_the_soonest_window_first(client, attested):
    # A second customer whose outcome is due later (9 months): its window closes 2027-01-13.
    partner = PartnerFactory(tier=None)
    TierChangeFactory(partner=partner, tier="authorized", effective=D(2020, 1, 1))
    later = engagement_create(
        external_id="deal-2", partner=partner,
        customer=customer_upsert(external_id="initech", name="Initech",
                                 contact_email="it@initech.example"),
        signed_at=D(2026, 1, 15), currency="USD", year1_acv=Decimal("100000.00"),
        outcomes=[{**OUTCOME, "due_months": 9}],
    )  # fmt: skip
    agreement = later.outcome_agreement
    attestation_sign(token=signing_token(agreement.requests.get()), values=SIGNER)
    request = signing_request_issue(agreement=agreement, outcome=agreement.outcomes.get())
    late = attestation_sign(token=signing_token(request),
                            values={**SIGNER, "achieved_value": Decimal("40")})  # fmt: skip
    staff(client, "Risk")

    response = client.get("/admin/attestations/attestation/?review=awaiting")

    rows = list(response.context["cl"].result_list)
    assert rows == [attested, late]
    page = response.content.decode()
    assert '<td class="field-days_left">85</td>' in page  # 2026-07-20 → 2026-10-13
    assert '<td class="field-days_left">177</td>' in page  # → 2027-01-13
