"""The customer's one-page signing forms, driven end to end from the emailed links (SPEC §4)."""

import datetime
import hashlib
import re
import struct
import zlib
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from attestations.models import Attestation, Decision
from attestations.services import attestation_sign, content_hash, signing_path, signing_url
from attestations.services import signing_request_issue as issue
from cascades.services import customer_upsert, engagement_create
from tests.cascades.factories import tier_structure
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

OUTCOME = {"key": "downtime", "title": "Halve downtime", "methodology": "Incident reports",
           "target": Decimal("50"), "unit": "%", "due_months": 6}  # fmt: skip
SIGNER = {"signer_name": "Dana Scully", "signer_title": "CFO",
          "signer_email": "dana@globex.example", "typed_signature": "Dana Scully"}  # fmt: skip
LINK = re.compile(re.escape(settings.PORTAL_BASE_URL.rstrip("/")) + r"(/attest/[^/\s]+/)")


def png(width=4, height=3):
    """A small, valid PNG (signature, IHDR, IDAT, IEND) of red pixels."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def engagement_with_outcome(acv="24000.00"):
    """A silver partner's deal with one outcome; its reward (10 % of 24,000.00) is below the
    verification threshold. The agreement link is emailed when the transaction commits."""
    tier_structure("silver")  # a transactional test's flush removes the migrated structures
    partner = PartnerFactory(tier=None, name="Summit Cloud Partners")
    TierChangeFactory(partner=partner, tier="silver", effective=datetime.date(2020, 1, 1))
    customer = customer_upsert(
        external_id="globex", name="Globex", contact_email="it@globex.example"
    )
    return engagement_create(
        external_id="deal-1", partner=partner, customer=customer,
        signed_at=SIGNED_AT, currency="USD", year1_acv=Decimal(acv),
        outcomes=[OUTCOME],
    )  # fmt: skip


# The outcome falls due today (6 months after signing): its window is open, as the forms
# these tests drive require (SPEC §4).
SIGNED_AT = timezone.localdate() - relativedelta(months=6)


def emailed_link(live_server, message):
    """The link in `message`, pointed at the live server."""
    (path,) = LINK.findall(message.body)
    return live_server.url + path


def signed_agreement():
    """An engagement whose agreement the customer signed (through the service)."""
    engagement = engagement_with_outcome()
    agreement = engagement.outcome_agreement
    token = signing_path(agreement.requests.get()).rstrip("/").rsplit("/", 1)[-1]
    attestation_sign(token=token, values=SIGNER)
    agreement.refresh_from_db()
    return agreement


def outcome_link(live_server, agreement):
    """Issue the outcome's link and return (request, the link from its email)."""
    outcome = agreement.outcomes.get()
    request = issue(agreement=agreement, outcome=outcome)
    message = mail.outbox[-1]
    assert (message.to, message.subject) == (
        ["it@globex.example"],
        "Please attest the outcome “Halve downtime”",
    )
    link = emailed_link(live_server, message)
    assert link == signing_url(request).replace(
        settings.PORTAL_BASE_URL.rstrip("/"), live_server.url
    )
    return request, link


def focused(page):
    """The focused element: its id, else its tag and text."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.id || e.tagName.toLowerCase() + ':' + e.textContent.trim(); }"
    )


def is_post(response):
    return response.request.method == "POST"


def test_customer_signs_the_agreement_from_the_emailed_link_with_the_keyboard_only(
    live_server, page
):
    engagement = engagement_with_outcome()
    agreement = engagement.outcome_agreement
    assert agreement.outcomes.get().verification_required is False
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert (message.to, message.subject) == (
        ["it@globex.example"],
        "Please sign the Outcome Attestation Agreement",
    )
    link = emailed_link(live_server, message)

    response = page.goto(link)
    assert response.status == 200
    assert page.title() == "Outcome Attestation Agreement · Cascade rewards"
    assert page.get_by_role("heading", level=1).inner_text() == "Outcome Attestation Agreement"
    outcome = page.get_by_role("region", name="Outcome Halve downtime")
    assert outcome.get_by_role("heading", level=2).inner_text() == "Halve downtime"
    assert outcome.locator("dd").all_inner_texts() == [
        "50 %",
        "6 months after signing",
        "Incident reports",
    ]

    # Keyboard only, in the order a customer tabs through the page: the form comes
    # first (the header has no link for someone without an account).
    page.keyboard.press("Tab")
    assert focused(page) == "id_signer_name"
    page.keyboard.type("Dana Scully")
    page.keyboard.press("Tab")
    assert focused(page) == "id_signer_title"
    page.keyboard.type("CFO")
    page.keyboard.press("Tab")
    assert focused(page) == "id_signer_email"
    page.keyboard.type("dana@globex.example")
    page.keyboard.press("Tab")
    assert focused(page) == "id_consent"
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name="I agree").is_checked() is True
    page.keyboard.press("Tab")
    assert focused(page) == "id_typed_signature"
    page.keyboard.type("Dana Scully")
    page.keyboard.press("Tab")
    assert focused(page) == "button:Sign"
    with page.expect_response(is_post) as posted:
        page.keyboard.press("Enter")
    assert posted.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, Dana Scully")

    agreement.refresh_from_db()
    attestation = Attestation.objects.get()
    assert agreement.signed_at == attestation.signed_at
    assert (attestation.agreement, attestation.outcome, attestation.request.purpose) == (
        agreement,
        None,
        "agreement",
    )
    assert (
        attestation.signer_name,
        attestation.signer_title,
        attestation.signer_email,
        attestation.typed_signature,
        attestation.consent,
    ) == ("Dana Scully", "CFO", "dana@globex.example", "Dana Scully", True)
    assert attestation.ip_address == "127.0.0.1"
    assert attestation.user_agent == page.evaluate("navigator.userAgent")
    assert attestation.content["outcomes"] == [
        {
            "key": "downtime",
            "title": "Halve downtime",
            "methodology": "Incident reports",
            "target": "50",
            "unit": "%",
            "due_months": 6,
            "verification_required": False,
        }
    ]
    assert attestation.content_sha256 == content_hash(attestation.content)
    assert page.locator("code").inner_text() == attestation.content_sha256
    assert attestation.request.used_at == attestation.signed_at


def test_customer_attests_an_outcome_with_an_evidence_file_and_it_is_accepted(live_server, page):
    agreement = signed_agreement()
    request, link = outcome_link(live_server, agreement)
    evidence = png()

    response = page.goto(link)
    assert response.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Outcome attestation"
    page.get_by_label("Achieved value", exact=True).fill("55.5")
    page.get_by_label("Evidence summary", exact=True).fill("Incidents fell from 12 to 5 a month.")
    page.get_by_label("Evidence file", exact=False).set_input_files(
        {"name": "downtime.png", "mimeType": "image/png", "buffer": evidence}
    )
    page.get_by_label("Your full name", exact=True).fill("Dana Scully")
    page.get_by_label("Your job title", exact=True).fill("CFO")
    page.get_by_label("Your work email", exact=True).fill("dana@globex.example")
    page.get_by_role("checkbox", name="I agree").check()
    page.get_by_label("Type your full name as your signature", exact=True).fill("Dana Scully")
    with page.expect_response(is_post) as posted:
        page.get_by_role("button", name="Sign").click()
    assert posted.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, Dana Scully")

    attestation = Attestation.objects.get(request=request)
    outcome = agreement.outcomes.get()
    assert attestation.outcome == outcome
    assert attestation.achieved_value == Decimal("55.5")
    assert attestation.evidence_summary == "Incidents fell from 12 to 5 a month."
    assert attestation.evidence_sha256 == hashlib.sha256(evidence).hexdigest()
    assert attestation.content["signed"]["evidence_sha256"] == attestation.evidence_sha256
    assert attestation.content["signed"]["achieved_value"] == "55.5"
    assert attestation.content_sha256 == content_hash(attestation.content)
    with attestation.evidence_file.open("rb") as stored:
        assert stored.read() == evidence
    attestation.evidence_file.storage.delete(attestation.evidence_file.name)

    today = timezone.localdate()
    decision = Decision.objects.get()
    assert (decision.attestation, decision.verdict, decision.decided_on) == (
        attestation,
        "accepted",
        today,
    )
    outcome.refresh_from_db()
    assert outcome.accepted_on == today


def test_errors_are_shown_and_nothing_stored_then_used_and_altered_links_are_refused(
    live_server, page
):
    agreement = signed_agreement()
    request, link = outcome_link(live_server, agreement)

    page.goto(link)
    page.get_by_label("Achieved value", exact=True).fill("55.5")
    page.get_by_label("Evidence summary", exact=True).fill("Incidents fell from 12 to 5 a month.")
    page.get_by_label("Your full name", exact=True).fill("Dana Scully")
    page.get_by_label("Your job title", exact=True).fill("CFO")
    page.get_by_label("Your work email", exact=True).fill("dana@globex.example")
    page.get_by_label("Type your full name as your signature", exact=True).fill("D. Scully")
    with page.expect_response(is_post) as posted:
        page.get_by_role("button", name="Sign").click()
    assert posted.value.status == 400

    expect(page.locator(".field-error")).to_have_text(
        ["This field is required.", "Type your full name exactly as above."]
    )
    consent = page.get_by_role("checkbox", name="I agree")
    assert consent.get_attribute("aria-invalid") == "true"
    assert consent.get_attribute("aria-describedby") == "id_consent_error"
    assert page.locator("#id_consent_error").inner_text() == "This field is required."
    signature = page.get_by_label("Type your full name as your signature", exact=True)
    assert signature.get_attribute("aria-invalid") == "true"
    assert signature.input_value() == "D. Scully"
    assert page.get_by_label("Achieved value", exact=True).input_value() == "55.5"
    assert Attestation.objects.filter(request=request).count() == 0
    assert Decision.objects.count() == 0
    request.refresh_from_db()
    assert request.used_at is None
    assert agreement.outcomes.get().accepted_on is None

    # Corrected, the same link signs once ...
    consent.check()
    signature.fill("Dana Scully")
    with page.expect_response(is_post) as posted:
        page.get_by_role("button", name="Sign").click()
    assert posted.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, Dana Scully")
    assert Attestation.objects.filter(request=request).count() == 1

    # ... and is refused when opened again.
    response = page.goto(link)
    assert response.status == 410
    assert page.get_by_role("heading", level=1).inner_text() == "This link cannot be used"
    assert page.get_by_role("alert").locator("p").inner_text() == (
        "This link has already been used: the form was signed."
    )

    # The same link with one character changed is not valid.
    token = link.rstrip("/").rsplit("/", 1)[-1]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = page.goto(link.replace(token, altered))
    assert response.status == 400
    assert page.get_by_role("heading", level=1).inner_text() == "This link cannot be used"
    assert page.get_by_role("alert").locator("p").inner_text() == (
        "This link is not valid. Please use the link exactly as it was emailed."
    )
    assert Attestation.objects.filter(request=request).count() == 1


def test_outcome_form_screenshots_on_desktop_and_phone(live_server, page, artifacts_dir):
    agreement = signed_agreement()
    _, link = outcome_link(live_server, agreement)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(link)
    page.screenshot(path=artifacts_dir / "attestation-form-desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link)
    page.screenshot(path=artifacts_dir / "attestation-form-phone.png", full_page=True)
    # Nothing is wider than the phone's screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") == 390


def test_on_a_phone_the_footer_lines_up_with_the_header(live_server, page):
    agreement = signed_agreement()
    _, link = outcome_link(live_server, agreement)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link)
    # The header's navigation and the main column start at Pico's container padding.
    nav = page.get_by_role("navigation").bounding_box()
    form = page.locator("main article").bounding_box()
    footer = page.get_by_text("Cascade rewards partner portal").bounding_box()
    assert (nav["x"], form["x"]) == (16, 16)
    assert footer["x"] == 16


def test_a_text_field_error_is_the_description_of_its_input(live_server, page):
    agreement = signed_agreement()
    _, link = outcome_link(live_server, agreement)

    page.goto(link)
    page.get_by_label("Your full name", exact=True).fill("Dana Scully")
    page.get_by_label("Type your full name as your signature", exact=True).fill("D. Scully")
    with page.expect_response(is_post) as posted:
        page.get_by_role("button", name="Sign").click()
    assert posted.value.status == 400
    signature = page.get_by_label("Type your full name as your signature", exact=True)
    assert signature.get_attribute("aria-describedby") == "id_typed_signature_error"
    expect(signature).to_have_accessible_description(
        "Type your full name exactly as above.", timeout=1000
    )
