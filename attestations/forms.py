"""The one-page form customers sign; the evidence file is checked by its content."""

from django import forms
from django.conf import settings

# File signatures of the evidence formats SPEC §4 allows (the name and the browser's
# content type are not trusted).
SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


EVIDENCE_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "text/csv": "csv",
}


def evidence_type(head: bytes) -> str | None:
    """The type of evidence whose first 4,096 bytes are `head` (PDF, PNG, JPEG or CSV), or
    None for anything else."""
    for signature, content_type in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if (
        "\x00" not in text
        and ("," in text or ";" in text)
        and (all(ch.isprintable() or ch in "\r\n\t" for ch in text))
    ):
        return "text/csv"
    return None


def sniff_evidence(upload):
    """The evidence's real type (PDF, PNG, JPEG or CSV), or a ValidationError."""
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        limit = settings.EVIDENCE_MAX_BYTES // (1024 * 1024)
        raise forms.ValidationError(f"The file is larger than {limit} MB.")
    head = upload.read(4096)
    upload.seek(0)
    content_type = evidence_type(head)
    if content_type is None:
        raise forms.ValidationError("Evidence must be a PDF, CSV, PNG or JPEG file.")
    return content_type


class SignatureForm(forms.Form):
    """Signer details, consent and a typed signature: every form has these."""

    signer_name = forms.CharField(label="Your full name", max_length=200)
    signer_title = forms.CharField(label="Your job title", max_length=200)
    signer_email = forms.EmailField(label="Your work email")
    consent = forms.BooleanField(label="I agree", required=True)
    typed_signature = forms.CharField(label="Type your full name as your signature", max_length=200)

    def clean(self):
        cleaned = super().clean()
        name, typed = cleaned.get("signer_name"), cleaned.get("typed_signature")
        if name and typed and name.strip().casefold() != typed.strip().casefold():
            self.add_error("typed_signature", "Type your full name exactly as above.")
        return cleaned


class OutcomeAttestationForm(SignatureForm):
    achieved_value = forms.DecimalField(label="Achieved value", max_digits=18, decimal_places=4)
    evidence_summary = forms.CharField(
        label="Evidence summary", widget=forms.Textarea(attrs={"rows": 4}), max_length=5000
    )
    evidence_file = forms.FileField(
        label="Evidence file (optional: PDF, CSV, PNG or JPEG, up to 10 MB)", required=False
    )

    field_order = ["achieved_value", "evidence_summary", "evidence_file", "signer_name",
                   "signer_title", "signer_email", "consent", "typed_signature"]  # fmt: skip

    def clean_evidence_file(self):
        upload = self.cleaned_data.get("evidence_file")
        if upload:
            sniff_evidence(upload)
        return upload
