"""Evidence files (SPEC §4): identified by their content, never their name; active content
refused with nothing stored and the link still usable; accepted files stored under a random
name and downloaded by the staff who review them as an attachment nothing in may run."""

import io
import re
import zipfile
import zlib
from decimal import Decimal

import pytest
import weasyprint
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.html import escape
from PIL import Image

from attestations.evidence import evidence_identify
from attestations.models import Attestation
from attestations.services import attestation_sign, signing_request_issue, signing_token
from tests.attestations.test_review_admin import SIGNER, staff
from tests.attestations.test_signing import engagement_with_outcome, sign

pytestmark = pytest.mark.django_db

REFUSED = "Evidence must be a PDF, CSV, PNG or JPEG file."
STORED_NAME = re.compile(r"evidence/\d{4}/\d{2}/[0-9a-f]{32}\.(pdf|png|jpg|csv)")


def image(format):
    """A real 4 x 3 image in `format` (PNG or JPEG), made with Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format)
    return buffer.getvalue()


def pdf(*, catalog=b"", objects=()):
    """A minimal valid PDF of one empty page: a catalog (with `catalog` added to it), its
    pages, `objects` numbered from 4, a cross-reference table and the end-of-file marker."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        *objects,
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%b\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return out


def zip_archive():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("figures.csv", "month,tickets\nJanuary,1410\n")
    return buffer.getvalue()


SCRIPT_ACTION = b"<< /S /JavaScript /JS (app.alert(document.cookie)) >>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3">'
    b"<script>alert(document.cookie)</script></svg>"
)
# A Windows program's headers: the MZ stub pointing at its PE header.
EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 44
    + b"\x40\x00\x00\x00"
    + b"This program cannot be run in DOS mode.\r\n$"
    + b"PE\x00\x00"
    + b"\x00" * 200
)

HOSTILE = {
    "html-with-script-named-pdf": (
        "report.pdf",
        b"<!DOCTYPE html><html><body><script>fetch('/admin/')</script>a,b</body></html>",
        "This file is an HTML page.",
    ),
    "svg-with-script-named-png": ("chart.png", SVG, "This file is an SVG image."),
    "svg-with-script-named-csv": ("figures.csv", SVG, "This file is an SVG image."),
    "csv-with-a-script-cell": (
        "figures.csv",
        b"month,tickets\nJanuary,<script>alert(1)</script>\n",
        "This CSV contains markup (<script>), which evidence may not contain.",
    ),
    "csv-with-a-hyperlink-formula": (
        "figures.csv",
        b'month,source\nJanuary,"=HYPERLINK(""https://evil.example/"",""Open"")"\n',
        'This CSV has a cell that starts like a spreadsheet formula (=HYPERLINK("https://evil…), '
        "which evidence may not contain.",
    ),
    "pdf-with-javascript": (
        "audit.pdf",
        pdf(catalog=b"/OpenAction 4 0 R ", objects=[SCRIPT_ACTION]),
        "This PDF contains scripts, launch actions or embedded files (/JS), which evidence may "
        "not contain.",
    ),
    "png-header-then-garbage": (
        "chart.png",
        b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>" * 4,
        "This PNG image is damaged or incomplete.",
    ),
    "executable-named-jpg": ("photo.jpg", EXECUTABLE, "This file is a program."),
    "zip-named-csv": (
        "figures.csv",
        zip_archive(),
        "This file is a ZIP archive or an Office document.",
    ),
}

ACCEPTED = {
    "png": ("downtime-chart.png", image("PNG"), "image/png", "png"),
    "jpeg-named-png": ("site photo.png", image("JPEG"), "image/jpeg", "jpg"),
    "pdf": ("audit report.pdf", pdf(), "application/pdf", "pdf"),
    "csv-with-semicolons-and-a-negative-number": (
        "helpdesk-export.txt",
        "\ufeffmonth;change;note\nJanuary;-3.5;fewer tickets\nFebruary;+2;-\n".encode(),
        "text/csv",
        "csv",
    ),
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test's own media folder, so that what was stored can be listed."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def outcome_request(client):
    """The link to attest the outcome of an engagement whose agreement the customer signed."""
    agreement = engagement_with_outcome().outcome_agreement
    sign(client, agreement.requests.get())
    return signing_request_issue(agreement=agreement, outcome=agreement.outcomes.get())


def attest(client, request, name, content):
    return sign(
        client, request, achieved_value="52", evidence_summary="Incident export",
        evidence_file=SimpleUploadedFile(name, content, "application/octet-stream"),
    )  # fmt: skip


def stored_files(media_root):
    return sorted(path for path in media_root.rglob("*") if path.is_file())


def assert_nothing_recorded(request, media_root):
    assert not Attestation.objects.filter(outcome=request.outcome).exists()
    request.refresh_from_db()
    assert request.used_at is None
    assert stored_files(media_root) == []


@pytest.mark.parametrize(("name", "content", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_evidence_is_refused_with_its_reason_and_nothing_is_stored(
    client, outcome_request, media_root, name, content, reason
):
    response = attest(client, outcome_request, name, content)

    assert response.status_code == 400
    assert response.context["form"].errors["evidence_file"] == [f"{REFUSED} {reason}"]
    assert escape(f"{REFUSED} {reason}") in response.content.decode()
    assert_nothing_recorded(outcome_request, media_root)


def test_an_empty_file_is_refused_and_nothing_is_stored(client, outcome_request, media_root):
    response = attest(client, outcome_request, "figures.csv", b"")

    assert response.status_code == 400
    assert response.context["form"].errors["evidence_file"] == ["The submitted file is empty."]
    assert_nothing_recorded(outcome_request, media_root)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "The file is empty."),
        (SVG, "This file is an SVG image."),
        (
            pdf(catalog=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> "),
            "This PDF contains scripts, launch actions or embedded files (/JS), which evidence "
            "may not contain.",
        ),
    ],
    ids=["empty", "svg", "pdf-with-an-escaped-javascript-name"],
)
def test_the_service_identifies_evidence_itself_when_called_without_the_form(
    outcome_request, media_root, content, reason
):
    with pytest.raises(ValidationError) as refused:
        attestation_sign(
            token=signing_token(outcome_request),
            values={**SIGNER, "evidence_summary": "Export"},
            evidence=ContentFile(content, name="figures.csv"),
        )

    assert refused.value.messages == [f"{REFUSED} {reason}"]
    assert_nothing_recorded(outcome_request, media_root)


def test_a_script_hidden_in_a_compressed_object_stream_is_found(
    client, outcome_request, media_root
):
    # PDF 1.5 keeps dictionaries in compressed object streams: the action is not in the
    # file's bytes as such.
    objects = b"5 0 " + SCRIPT_ACTION
    compressed = zlib.compress(objects)
    object_stream = (
        b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n%b\n"
        b"endstream" % (len(compressed), compressed)
    )
    content = pdf(catalog=b"/OpenAction 5 0 R ", objects=[object_stream])
    assert b"JavaScript" not in content

    response = attest(client, outcome_request, "audit.pdf", content)

    assert response.status_code == 400
    assert response.context["form"].errors["evidence_file"] == [
        f"{REFUSED} This PDF contains scripts, launch actions or embedded files (/JS), which "
        "evidence may not contain."
    ]
    assert_nothing_recorded(outcome_request, media_root)


@pytest.mark.parametrize(
    "content",
    [
        b"month,tickets\r\nJanuary,1410\r\n",
        b"month\ttickets\nJanuary\t1410\n",
        "month,tickets\nJanuary,1\u00a0410\n".encode(),  # a no-break space
        b'metric,value\nlatency,<5 ms\nerrors,-\nbalance,"-1,234.50"\nshare,+12%\n',
        b"month,tickets,note\nJanuary,1410,\n\nFebruary,,\n",
    ],
    ids=[
        "crlf",
        "tabs",
        "no-break-space",
        "signed-numbers-a-dash-and-a-less-than",
        "empty-cells-and-a-blank-line",
    ],
)
def test_a_csv_is_recognised_by_reading_it(content):
    assert evidence_identify(content) == "text/csv"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"month;tickets\nJanuary;1410;3\n",
         "The rows of this CSV have different numbers of columns."),
        (b"just one column\nof text\n",
         "A CSV needs at least two columns, separated by commas, semicolons or tabs."),
        (b'month,tickets\n"January,1410\n',
         "This CSV has a misplaced quote or an overlong cell (line 2)."),
        ("month,tickets\nJanuary,\u202e0141\n".encode(),
         "This CSV contains a character that is not printable (U+202E)."),
        ("month,tickets\nm\xe4rz,1410\n".encode("latin-1"),
         "This file is not a PDF, PNG or JPEG, nor a CSV saved as UTF-8 text."),
        (b"month,tickets\nJanuary,+cmd|' /C calc'!A0\n",
         "This CSV has a cell that starts like a spreadsheet formula (+cmd|' /C calc'!A0), which "
         "evidence may not contain."),
        (b"month,tickets\n<?xml version='1.0'?>,1\n",
         "This CSV contains markup (<?xml>), which evidence may not contain."),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "This file is an image, but not a PNG or JPEG."),
        (image("JPEG")[:-40], "This JPEG image is damaged or incomplete."),
        (pdf()[:-8], "This PDF is damaged or incomplete."),
        (pdf(catalog=b"/Names << /EmbeddedFiles 4 0 R >> ", objects=[b"<< /Names [] >>"]),
         "This PDF contains scripts, launch actions or embedded files (/EmbeddedFiles), which "
         "evidence may not contain."),
        (pdf(catalog=b"/Encrypt << /Filter /Standard >> "),
         "This PDF is encrypted, so its content cannot be checked. Please upload a copy without "
         "a password or encryption."),
    ],
    ids=["ragged-rows", "one-column", "misplaced-quote", "bidi-override", "not-utf-8",
         "dde-formula", "xml-instruction", "gif", "truncated-jpeg", "pdf-without-end",
         "pdf-with-embedded-files", "encrypted-pdf"],
)  # fmt: skip
def test_evidence_whose_content_or_structure_is_wrong_is_refused_with_its_reason(content, reason):
    with pytest.raises(ValidationError) as refused:
        evidence_identify(content)

    assert refused.value.messages == [f"{REFUSED} {reason}"]


@pytest.mark.parametrize(
    ("name", "content", "content_type", "extension"), ACCEPTED.values(), ids=ACCEPTED.keys()
)
def test_accepted_evidence_is_stored_under_a_random_name_and_downloaded_as_an_attachment(
    client, outcome_request, media_root, name, content, content_type, extension
):
    response = attest(client, outcome_request, name, content)

    assert response.status_code == 200
    attestation = Attestation.objects.get(outcome=outcome_request.outcome)
    stored = attestation.evidence_file.name
    assert STORED_NAME.fullmatch(stored)
    assert stored.endswith(f".{extension}")
    assert name.rsplit(".", 1)[0] not in stored
    assert stored_files(media_root) == [media_root / stored]
    assert (attestation.evidence_content_type, attestation.evidence_original_name) == (
        content_type,
        name,
    )
    outcome_request.refresh_from_db()
    assert outcome_request.used_at is not None

    staff(client, "Risk")
    download = client.get(f"/admin/attestations/attestation/{attestation.pk}/evidence/")

    assert download.status_code == 200
    assert {
        header: download[header]
        for header in [
            "Content-Type",
            "Content-Disposition",
            "X-Content-Type-Options",
            "Content-Security-Policy",
        ]
    } == {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="evidence-{attestation.pk}.{extension}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    assert b"".join(download.streaming_content) == content


def test_a_pdf_with_compressed_object_streams_is_checked_and_accepted(
    client, outcome_request, media_root
):
    content = weasyprint.HTML(string="<p>Incidents fell from 12 to 5 a month.</p>").write_pdf()
    assert b"/ObjStm" in content

    response = attest(client, outcome_request, "incidents.pdf", content)

    assert response.status_code == 200
    attestation = Attestation.objects.get(outcome=outcome_request.outcome)
    assert attestation.evidence_content_type == "application/pdf"
    assert attestation.evidence_file.name.endswith(".pdf")


def test_the_original_name_is_kept_as_text_without_its_folders(outcome_request, media_root):
    attestation = attestation_sign(
        token=signing_token(outcome_request),
        values={**SIGNER, "evidence_summary": "Export"},
        evidence=ContentFile(image("PNG"), name="C:\\Users\\dana\\..\\chart\x07.png"),
    )

    assert attestation.evidence_original_name == "chart.png"
    assert STORED_NAME.fullmatch(attestation.evidence_file.name)
    assert "chart" not in attestation.evidence_file.name


@pytest.mark.parametrize(
    ("content", "content_type", "extension"),
    [(image("PNG"), "image/png", "png"), (SVG, "application/octet-stream", "bin")],
    ids=["png", "svg"],
)
def test_evidence_stored_before_its_type_was_kept_is_checked_again_for_its_download(
    client, outcome_request, content, content_type, extension
):
    # Signed before the fix: the customer's file name, no type recorded.
    legacy = Attestation.objects.create(
        request=outcome_request, agreement=outcome_request.agreement,
        outcome=outcome_request.outcome, achieved_value=Decimal("52"),
        evidence_file=default_storage.save("evidence/2026/07/chart.png", ContentFile(content)),
        signer_name="Dana Scully", signer_title="CFO", signer_email="dana@globex.example",
        consent=True, typed_signature="Dana Scully", signed_at=timezone.now(), content={},
        content_sha256="0" * 64,
    )  # fmt: skip
    staff(client, "Risk")

    response = client.get(f"/admin/attestations/attestation/{legacy.pk}/evidence/")

    assert (response["Content-Type"], response["Content-Disposition"]) == (
        content_type,
        f'attachment; filename="evidence-{legacy.pk}.{extension}"',
    )
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert b"".join(response.streaming_content) == content
