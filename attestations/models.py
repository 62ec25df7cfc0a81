"""Outcome Attestation Agreements, the links customers sign through, what they signed,
and staff's verification and decision (SPEC §4)."""

from django.db import models
from django.utils import timezone

from cascades.models import Engagement
from portal.append_only import AppendOnlyModel


class OutcomeAgreement(models.Model):
    """The Outcome Attestation Agreement of one engagement."""

    engagement = models.OneToOneField(
        Engagement, on_delete=models.PROTECT, related_name="outcome_agreement"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    signed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Agreement for {self.engagement.external_id}"


class Outcome(models.Model):
    """A business outcome the customer agreed to attest."""

    agreement = models.ForeignKey(
        OutcomeAgreement, on_delete=models.CASCADE, related_name="outcomes"
    )
    key = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    methodology = models.TextField(help_text="How the outcome is measured.")
    target = models.DecimalField(max_digits=18, decimal_places=4)
    unit = models.CharField(max_length=32)
    due_months = models.PositiveSmallIntegerField(help_text="Months after signing.")
    verification_required = models.BooleanField(default=False)
    accepted_on = models.DateField(
        null=True,
        blank=True,
        help_text="When the attestation was accepted: the outcome step's trigger date.",
    )
    window_closes_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="The last day an accepted attestation fires the outcome step (from the "
        "engagement's structure); none when no step pays this outcome.",
    )

    class Meta:
        ordering = ["agreement", "due_months", "key"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "key"], name="outcome_key_unique"),
        ]

    def __str__(self):
        return self.title


class SigningRequest(models.Model):
    """A signed, single-use, expiring link emailed to the customer: to sign the agreement,
    or to attest one outcome."""

    class Purpose(models.TextChoices):
        AGREEMENT = "agreement", "Sign the agreement"
        OUTCOME = "outcome", "Attest an outcome"

    agreement = models.ForeignKey(
        OutcomeAgreement, on_delete=models.PROTECT, related_name="requests"
    )
    outcome = models.ForeignKey(
        Outcome, null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    token = models.UUIDField(unique=True, editable=False)
    sent_to = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    reminded_7_days_at = models.DateTimeField(null=True, blank=True)
    reminded_1_day_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(purpose="agreement", outcome__isnull=True)
                    | models.Q(purpose="outcome", outcome__isnull=False)
                ),
                name="signing_request_outcome_for_outcomes",
            ),
            # At most one usable link per agreement or outcome at a time.
            models.UniqueConstraint(
                fields=["agreement", "outcome", "purpose"],
                condition=models.Q(used_at__isnull=True, revoked_at__isnull=True),
                nulls_distinct=False,
                name="signing_request_one_open_link",
            ),
        ]

    def __str__(self):
        target = self.outcome.title if self.outcome_id else "the agreement"
        return f"Link to {self.get_purpose_display().lower()}: {target}"


class Attestation(AppendOnlyModel):
    """What the customer signed, exactly as shown, with the evidence of signing.

    Written once when the form is submitted and never changed; decisions and
    verifications are records of their own."""

    request = models.OneToOneField(
        SigningRequest, on_delete=models.PROTECT, related_name="attestation"
    )
    agreement = models.ForeignKey(
        OutcomeAgreement, on_delete=models.PROTECT, related_name="attestations"
    )
    outcome = models.ForeignKey(
        Outcome, null=True, blank=True, on_delete=models.PROTECT, related_name="attestations"
    )
    achieved_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    evidence_summary = models.TextField(blank=True)
    # Stored under a random name, never the customer's (SPEC §4: identified by content).
    evidence_file = models.FileField(upload_to="evidence/%Y/%m/", blank=True)
    evidence_content_type = models.CharField(
        max_length=32,
        blank=True,
        help_text="What the file's content showed it to be; its download is typed by it.",
    )
    evidence_original_name = models.CharField(
        max_length=255, blank=True, help_text="The customer's name for the file, as text only."
    )
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    signer_name = models.CharField(max_length=200)
    signer_title = models.CharField(max_length=200)
    signer_email = models.EmailField()
    consent = models.BooleanField()
    typed_signature = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    content = models.JSONField(help_text="Exactly what was shown and signed.")
    content_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(consent=True), name="attestation_consented"),
        ]

    def __str__(self):
        what = self.outcome.title if self.outcome_id else "agreement"
        return f"{what} signed by {self.signer_name} on {self.signed_at:%Y-%m-%d}"


class Verification(models.Model):
    """Staff's independent check of an attested value (SPEC §4)."""

    class Source(models.TextChoices):
        AUDITOR_REPORT = "auditor_report", "Auditor's report"
        ACCOUNTING_METRIC = "accounting_metric", "Accounting-system metric"

    attestation = models.ForeignKey(
        Attestation, on_delete=models.PROTECT, related_name="verifications"
    )
    source = models.CharField(max_length=24, choices=Source.choices)
    verified_value = models.DecimalField(max_digits=18, decimal_places=4)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    recorded_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self):
        return f"{self.get_source_display()}: {self.verified_value}"


class Decision(models.Model):
    """An attestation accepted or rejected; acceptance fires the outcome step."""

    class Verdict(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    attestation = models.OneToOneField(
        Attestation, on_delete=models.PROTECT, related_name="decision"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    decided_on = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(verdict="rejected") | ~models.Q(reason=""),
                name="decision_rejection_has_reason",
            ),
        ]

    def __str__(self):
        return f"{self.get_verdict_display()} on {self.decided_on:%Y-%m-%d}"
