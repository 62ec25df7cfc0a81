from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from attestations.certificate import certificate_html, certificate_pdf_bytes
from attestations.models import (
    Attestation,
    Decision,
    Outcome,
    OutcomeAgreement,
    SigningRequest,
    Verification,
)
from attestations.services import (
    agreement_prepare,
    attestation_decide,
    signing_request_issue,
    signing_request_revoke,
    signing_url,
    verification_record,
)
from portal.admin import ReadOnlyAdminMixin


class OutcomeInline(admin.StackedInline):
    model = Outcome
    extra = 0
    readonly_fields = ["accepted_on"]


class SigningRequestInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SigningRequest
    extra = 0
    fields = ["purpose", "outcome", "sent_to", "created_at", "expires_at", "used_at",
              "revoked_at", "link"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Link")
    def link(self, obj):
        if obj.used_at or obj.revoked_at or obj.expires_at <= timezone.now():
            return "—"
        return format_html('<a href="{0}">{0}</a>', signing_url(obj))


@admin.register(OutcomeAgreement)
class OutcomeAgreementAdmin(admin.ModelAdmin):
    list_display = ["engagement", "created_at", "signed_at"]
    list_filter = ["signed_at"]
    search_fields = ["engagement__external_id", "engagement__customer__name"]
    list_select_related = ["engagement__customer"]
    autocomplete_fields = ["engagement"]
    readonly_fields = ["signed_at"]
    inlines = [OutcomeInline, SigningRequestInline]
    actions = ["reissue_agreement_link"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        agreement_prepare(agreement=form.instance)

    @admin.action(description="Issue a fresh link to sign the agreement (revokes the old one)")
    def reissue_agreement_link(self, request, queryset):
        for agreement in queryset.filter(signed_at__isnull=True):
            signing_request_issue(agreement=agreement)
        self.message_user(request, "Fresh links sent to the customers' contacts.")


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = ["title", "key", "agreement", "target", "unit", "due_months",
                    "verification_required", "accepted_on"]  # fmt: skip
    list_filter = ["verification_required", "unit", "accepted_on"]
    search_fields = ["title", "key", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement"]
    readonly_fields = ["accepted_on"]
    actions = ["reissue_outcome_link"]

    @admin.action(description="Issue a fresh attestation link (revokes the old one)")
    def reissue_outcome_link(self, request, queryset):
        for outcome in queryset.select_related("agreement"):
            if outcome.agreement.signed_at is None:
                self.message_user(
                    request, f"{outcome}: the agreement is not signed yet.", messages.ERROR
                )
                continue
            signing_request_issue(agreement=outcome.agreement, outcome=outcome)
        self.message_user(request, "Fresh links sent where the agreement was signed.")


@admin.register(SigningRequest)
class SigningRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "agreement", "sent_to", "created_at", "expires_at", "used_at",
                    "revoked_at"]  # fmt: skip
    list_filter = ["purpose", "used_at", "revoked_at"]
    search_fields = ["sent_to", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement", "outcome"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        # Revoking goes through the action; nothing is edited in place.
        return request.user.has_perm("attestations.change_signingrequest") and obj is None

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        for signing_request in queryset:
            signing_request_revoke(request=signing_request)
        self.message_user(request, "Links revoked.")


class VerificationInline(admin.TabularInline):
    model = Verification
    extra = 1
    fields = ["source", "verified_value", "note", "recorded_by", "recorded_at"]
    readonly_fields = ["recorded_by", "recorded_at"]
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False


class DecisionInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = Decision
    fields = ["verdict", "decided_on", "reason", "decided_by", "decided_at"]
    readonly_fields = fields


class AttestationReviewForm(forms.ModelForm):
    verdict = forms.ChoiceField(
        choices=[("", "—"), *Decision.Verdict.choices],
        required=False,
        help_text="Accept (fires the outcome step today) or reject with a reason.",
    )
    reason = forms.CharField(max_length=500, required=False)

    class Meta:
        model = Attestation
        fields = []


@admin.register(Attestation)
class AttestationAdmin(admin.ModelAdmin):
    """Signed records are read-only; Risk and Partner operations verify and decide."""

    form = AttestationReviewForm
    list_display = ["__str__", "agreement", "outcome", "achieved_value", "signed_at",
                    "verdict"]  # fmt: skip
    list_filter = ["decision__verdict", "signed_at"]
    search_fields = ["signer_name", "signer_email", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement", "outcome", "decision"]
    inlines = [VerificationInline, DecisionInline]
    fields = ["agreement", "outcome", "achieved_value", "evidence_summary", "evidence_file",
              "evidence_sha256", "signer_name", "signer_title", "signer_email",
              "typed_signature", "signed_at", "ip_address", "user_agent", "content_sha256",
              "certificate", "verdict", "reason"]  # fmt: skip
    readonly_fields = fields[:-2]

    @admin.display(description="Decision")
    def verdict(self, obj):
        decision = getattr(obj, "decision", None)
        return decision.get_verdict_display() if decision else "awaiting review"

    @admin.display(description="Certificate")
    def certificate(self, obj):
        html = reverse("admin:attestations_attestation_certificate", args=[obj.pk, "html"])
        pdf = reverse("admin:attestations_attestation_certificate", args=[obj.pk, "pdf"])
        return format_html('<a href="{}">HTML</a> · <a href="{}">PDF</a>', html, pdf)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<int:pk>/certificate.<str:format>",
                self.admin_site.admin_view(self.certificate_view),
                name="attestations_attestation_certificate",
            ),
            *super().get_urls(),
        ]

    def certificate_view(self, request, pk, format):
        attestation = get_object_or_404(Attestation, pk=pk)
        if not self.has_view_permission(request, attestation) or format not in ("html", "pdf"):
            raise PermissionDenied
        if format == "html":
            return HttpResponse(certificate_html(attestation))
        response = HttpResponse(certificate_pdf_bytes(attestation), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="certificate-{pk}.pdf"'
        return response

    def save_formset(self, request, form, formset, change):
        for verification in formset.save(commit=False):
            verification_record(
                attestation=form.instance, source=verification.source,
                verified_value=verification.verified_value, note=verification.note,
                by=request.user,
            )  # fmt: skip

    def save_model(self, request, obj, form, change):
        pass  # the signed record never changes; verifications and the decision follow

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        verdict = form.cleaned_data.get("verdict")
        if verdict:
            try:
                attestation_decide(
                    attestation=form.instance, verdict=verdict, on=timezone.localdate(),
                    reason=form.cleaned_data.get("reason", ""), by=request.user,
                )  # fmt: skip
            except ValidationError as error:
                messages.error(request, "; ".join(error.messages))
            else:
                messages.success(request, f"Attestation {verdict}.")
