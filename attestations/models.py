"""Outcome Attestation Agreements and the outcomes customers attest (SPEC §4).

Shells for now: the attestation issue adds links, forms and evidence.
"""

from django.db import models
from django.utils import timezone

from cascades.models import Engagement


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

    class Meta:
        ordering = ["agreement", "due_months", "key"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "key"], name="outcome_key_unique"),
        ]

    def __str__(self):
        return self.title
