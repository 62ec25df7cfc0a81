from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import F
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from attestations.certificate import certificate_html, certificate_pdf_bytes
from attestations.evidence import EVIDENCE_EXTENSIONS, evidence_identify
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
    outcome_window_closed,
    signing_request_issue,
    signing_request_revoke,
    signing_url,
    verification_record,
)
from portal import formatting
from portal.admin import (
    BR,
    EventHistoryMixin,
    ReadOnlyAdminMixin,
    number_display,
    staff_file_view,
)


class OutcomeInline(admin.StackedInline):
    model = Outcome
    extra = 0
    readonly_fields = ["accepted_on", "window_closes_on"]


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
class OutcomeAgreementAdmin(EventHistoryMixin, admin.ModelAdmin):
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
        agreement_prepare(agreement=form.instance, by=request.user)

    @admin.action(description="Issue a fresh link to sign the agreement (revokes the old one)")
    def reissue_agreement_link(self, request, queryset):
        for agreement in queryset.filter(signed_at__isnull=True):
            signing_request_issue(agreement=agreement, by=request.user)
        self.message_user(request, "Fresh links sent to the customers' contacts.")


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = ["title", "key", "agreement", "target_display", "unit", "due_months",
                    "verification_required", "window_closes_on", "accepted_on"]  # fmt: skip
    list_filter = ["verification_required", "unit", "accepted_on"]
    search_fields = ["title", "key", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement"]
    readonly_fields = ["accepted_on", "window_closes_on"]
    actions = ["reissue_outcome_link"]
    target_display = number_display("target")

    @admin.action(description="Issue a fresh attestation link (revokes the old one)")
    def reissue_outcome_link(self, request, queryset):
        today, sent = timezone.localdate(), 0
        for outcome in queryset.select_related("agreement"):
            if outcome.agreement.signed_at is None:
                why = "the agreement is not signed yet"
            elif outcome.accepted_on is not None:
                why = "it was accepted already"
            elif outcome_window_closed(outcome, today):
                why = (
                    f"its step's window closed on {outcome.window_closes_on:%Y-%m-%d}"
                    if outcome.window_closes_on
                    else "no step of the engagement's structure pays it"
                )
            else:
                signing_request_issue(agreement=outcome.agreement, outcome=outcome, by=request.user)
                sent += 1
                continue
            self.message_user(request, f"No link for “{outcome}”: {why}.", messages.WARNING)
        if sent:
            self.message_user(request, f"{sent} fresh link{'s' if sent > 1 else ''} sent.",
                              messages.SUCCESS)  # fmt: skip


@admin.register(SigningRequest)
class SigningRequestAdmin(EventHistoryMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
            signing_request_revoke(request=signing_request, by=request.user)
        self.message_user(request, "Links revoked.")


class VerificationInline(admin.TabularInline):
    """Only to record a verification; those recorded read as sentences in the review."""

    model = Verification
    extra = 1
    max_num = 1
    fields = ["source", "verified_value", "note"]
    can_delete = False
    verbose_name = "verification"
    verbose_name_plural = "record a verification"
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2})}}

    def get_queryset(self, request):
        return super().get_queryset(request).none()


class AttestationReviewForm(forms.ModelForm):
    verdict = forms.ChoiceField(
        choices=[("", "—"), *Decision.Verdict.choices],
        required=False,
        help_text="Accept (the outcome step fires with today's date, while its window is "
        "open) or reject with a reason.",
    )
    reason = forms.CharField(max_length=500, required=False, help_text="Required to reject.")

    class Meta:
        model = Attestation
        fields = []


class ReviewStatusFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("awaiting", "Awaiting review"), *Decision.Verdict.choices,
                ("agreement", "Agreement signatures")]  # fmt: skip

    def queryset(self, request, queryset):
        value = self.value()
        if value == "awaiting":
            return queryset.filter(outcome__isnull=False, decision__isnull=True)
        if value == "agreement":
            return queryset.filter(outcome__isnull=True)
        if value in Decision.Verdict.values:
            return queryset.filter(decision__verdict=value)
        return queryset


@admin.register(Attestation)
class AttestationAdmin(EventHistoryMixin, admin.ModelAdmin):
    """Signed records are read-only; Risk and Partner operations verify and decide, the
    outcomes whose window closes first at the top."""

    form = AttestationReviewForm
    # Narrow columns, so that the days left show on a 1,280 px screen beside the filters.
    list_display = ["engagement", "days_left", "verdict", "outcome", "achieved", "signed_on"]
    list_display_links = ["engagement"]
    list_filter = [ReviewStatusFilter, "signed_at"]
    search_fields = ["signer_name", "signer_email", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement", "outcome", "decision"]
    ordering = [F("outcome__window_closes_on").asc(nulls_last=True), "-signed_at"]
    inlines = [VerificationInline]
    record_fields = ["engagement", "outcome", "achieved", "evidence_summary", "evidence",
                     "evidence_sha256", "signer", "signed_at", "ip_address", "user_agent",
                     "content_sha256", "certificate"]  # fmt: skip
    review_fields = ["window", "verifications_recorded", "decision_made"]
    readonly_fields = [*record_fields, *review_fields]

    def get_fieldsets(self, request, obj=None):
        review = list(self.review_fields)
        if self._reviewable(obj) and self.has_change_permission(request, obj):
            review += ["verdict", "reason"]
        sections = [("Signed record", {"fields": self.record_fields})]
        if obj is not None and obj.outcome_id:
            sections.append(("Review", {"fields": review}))
        return sections

    def get_inlines(self, request, obj):
        return self.inlines if self._reviewable(obj) else []

    @staticmethod
    def _reviewable(obj):
        """An outcome attestation not decided yet: verifications and a verdict go here."""
        return obj is not None and obj.outcome_id is not None and not _decision(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # A decided attestation, or an agreement's signature, is only read.
        if obj is not None and not self._reviewable(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="engagement", ordering="agreement__engagement__external_id")
    def engagement(self, obj):
        return obj.agreement.engagement.external_id

    @admin.display(description="achieved value", ordering="achieved_value")
    def achieved(self, obj):
        if obj.achieved_value is None:
            return "—"
        return f"{formatting.number(obj.achieved_value)} {obj.outcome.unit if obj.outcome else ''}"

    @admin.display(description="signed on", ordering="signed_at")
    def signed_on(self, obj):
        return f"{timezone.localdate(obj.signed_at):%Y-%m-%d}"

    @admin.display(description="signer")
    def signer(self, obj):
        return f"{obj.signer_name}, {obj.signer_title} <{obj.signer_email}>"

    @admin.display(description="evidence file")
    def evidence(self, obj):
        if not obj.evidence_file:
            return "—"
        url = reverse("admin:attestations_attestation_evidence", args=[obj.pk])
        kind = EVIDENCE_EXTENSIONS.get(obj.evidence_content_type, "file").upper()
        sent_as = f", sent as “{obj.evidence_original_name}”" if obj.evidence_original_name else ""
        return format_html('<a href="{}">Download</a> ({}, {} KB{})', url, kind,
                           max(1, round(obj.evidence_file.size / 1024)), sent_as)  # fmt: skip

    @admin.display(description="certificate")
    def certificate(self, obj):
        html = reverse("admin:attestations_attestation_certificate", args=[obj.pk, "html"])
        pdf = reverse("admin:attestations_attestation_certificate", args=[obj.pk, "pdf"])
        return format_html('<a href="{}">HTML</a> · <a href="{}">PDF</a>', html, pdf)

    @admin.display(description="outcome window")
    def window(self, obj):
        closes, today = obj.outcome.window_closes_on, timezone.localdate()
        if closes is None:
            return "No step of this engagement's structure pays this outcome."
        if outcome_window_closed(obj.outcome, today):
            return (f"Closed on {closes:%Y-%m-%d}: an acceptance no longer fires the outcome "
                    "step.")  # fmt: skip
        left = (closes - today).days
        return f"Closes on {closes:%Y-%m-%d}: {left} day{'' if left == 1 else 's'} left to accept."

    @admin.display(description="verifications")
    def verifications_recorded(self, obj):
        rows = [
            f"{v.get_source_display()}: {formatting.number(v.verified_value)} "
            f"{obj.outcome.unit}, recorded {v.recorded_at:%Y-%m-%d} by "
            f"{v.recorded_by or 'the system'}" + (f" ({v.note})" if v.note else "")
            for v in obj.verifications.select_related("recorded_by").order_by("recorded_at")
        ]
        return format_html_join(BR, "{}", ((row,) for row in rows)) or "None yet."

    @admin.display(description="decision")
    def decision_made(self, obj):
        return _decision_sentence(_decision(obj))

    @admin.display(description="review", ordering="decision__verdict")
    def verdict(self, obj):
        if obj.outcome_id is None:
            return "agreement signed"
        decision = _decision(obj)
        return decision.get_verdict_display() if decision else "awaiting review"

    @admin.display(description="days left", ordering="outcome__window_closes_on")
    def days_left(self, obj):
        if not self._reviewable(obj) or obj.outcome.window_closes_on is None:
            return "—"
        left = (obj.outcome.window_closes_on - timezone.localdate()).days
        return left if left >= 0 else "closed"

    def get_urls(self):
        return [
            path(
                "<int:pk>/certificate.<str:format>",
                staff_file_view(self.admin_site, self.certificate_view),
                name="attestations_attestation_certificate",
            ),
            path(
                "<int:pk>/evidence/",
                staff_file_view(self.admin_site, self.evidence_view),
                name="attestations_attestation_evidence",
            ),
            *super().get_urls(),
        ]

    def _viewable(self, request, pk):
        attestation = get_object_or_404(Attestation, pk=pk)
        if not self.has_view_permission(request, attestation):
            raise PermissionDenied
        return attestation

    def certificate_view(self, request, pk, format):
        attestation = self._viewable(request, pk)
        if format == "html":
            return HttpResponse(certificate_html(attestation, request))
        if format != "pdf":
            raise Http404
        response = HttpResponse(certificate_pdf_bytes(attestation), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="certificate-{pk}.pdf"'
        return response

    def evidence_view(self, request, pk):
        """The evidence file, always a download typed by the content it was accepted for
        (never its name), which the browser may neither sniff nor run."""
        attestation = self._viewable(request, pk)
        if not attestation.evidence_file:
            raise Http404("This attestation has no evidence file.")
        handle = attestation.evidence_file.open("rb")
        content_type = attestation.evidence_content_type
        if not content_type:  # stored before its type was kept: checked as uploads are now
            try:
                content_type = evidence_identify(handle.read())
            except ValidationError:
                content_type = "application/octet-stream"
            handle.seek(0)
        extension = EVIDENCE_EXTENSIONS.get(content_type, "bin")
        response = FileResponse(handle, as_attachment=True, content_type=content_type,
                                filename=f"evidence-{pk}.{extension}")  # fmt: skip
        response["X-Content-Type-Options"] = "nosniff"
        # The response's own policy, whatever the site's: nothing in the file may run.
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    def save_formset(self, request, form, formset, change):
        request.verifications_recorded = [
            verification_record(
                attestation=form.instance,
                source=verification.source,
                verified_value=verification.verified_value,
                note=verification.note,
                by=request.user,
            )  # fmt: skip
            for verification in formset.save(commit=False)
        ]

    def save_model(self, request, obj, form, change):
        pass  # the signed record never changes; verifications and the decision follow

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        verdict = form.cleaned_data.get("verdict")
        if verdict:
            try:
                request.decision = attestation_decide(
                    attestation=form.instance, verdict=verdict, on=timezone.localdate(),
                    reason=form.cleaned_data.get("reason", ""), by=request.user,
                )  # fmt: skip
            except ValidationError as error:
                request.decision_refused = "; ".join(error.messages)

    def response_change(self, request, obj):
        """One message saying what happened: never an error beside "changed successfully"."""
        if getattr(request, "verifications_recorded", None):
            self.message_user(request, "Verification recorded.", messages.SUCCESS)
        refused = getattr(request, "decision_refused", None)
        decision = getattr(request, "decision", None)
        if refused:
            self.message_user(request, f"Not decided: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        if decision is not None:
            self.message_user(request, _decision_sentence(decision), messages.SUCCESS)
        elif not getattr(request, "verifications_recorded", None):
            self.message_user(request, "Nothing to record.", messages.INFO)
        if "_continue" in request.POST or decision is None:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:attestations_attestation_changelist"))


def _decision_sentence(decision):
    if decision is None:
        return "Awaiting review."
    who = f" by {decision.decided_by}" if decision.decided_by else " on signing"
    why = f": {decision.reason}" if decision.reason else "."
    return f"{decision.get_verdict_display()} on {decision.decided_on:%Y-%m-%d}{who}{why}"


def _decision(attestation):
    try:
        return attestation.decision
    except Decision.DoesNotExist:
        return None
