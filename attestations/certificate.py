"""The certificate of a signing: a printable page (HTML) and its PDF, for staff."""

from django.template.loader import render_to_string
from weasyprint import HTML

from portal.pdf import STATIC_BASE_URL, StaticOnlyURLFetcher

TEMPLATE = "attestations/certificate.html"


def certificate_html(attestation, request=None) -> str:
    """The page; given the request, its inline style carries the request's CSP nonce."""
    context = {"attestation": attestation, "content": attestation.content}
    return render_to_string(TEMPLATE, context, request=request)


def certificate_pdf_bytes(attestation) -> bytes:
    """The same page through WeasyPrint, which reads only the project's static files."""
    return HTML(
        string=certificate_html(attestation),
        base_url=STATIC_BASE_URL,
        url_fetcher=StaticOnlyURLFetcher(),
    ).write_pdf()
