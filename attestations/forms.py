"""The one-page form customers sign; its evidence file is checked by attestations.evidence."""

from django import forms

from attestations.evidence import sniff_evidence


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
