"""What attestations change in an engagement's inputs (cascades.dirty): its agreement
signed, an outcome added or accepted, an attestation signed, a decision made. Each marks
the engagement changed in the transaction that saves the row."""

from django.db.models.signals import post_save

from attestations.models import Attestation, Decision, Outcome, OutcomeAgreement
from cascades.dirty import engagements_mark_changed


def _agreement_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        engagements_mark_changed(engagement_ids=[instance.engagement_id])


def _outcome_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        engagements_mark_changed(
            engagement_ids=OutcomeAgreement.objects.filter(pk=instance.agreement_id).values(
                "engagement_id"
            )
        )


def _attestation_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        engagements_mark_changed(
            engagement_ids=OutcomeAgreement.objects.filter(pk=instance.agreement_id).values(
                "engagement_id"
            )
        )


def _decision_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        engagements_mark_changed(
            engagement_ids=Attestation.objects.filter(pk=instance.attestation_id).values(
                "agreement__engagement_id"
            )
        )


def connect():
    """Called once the apps are ready (attestations.apps)."""
    post_save.connect(_agreement_saved, sender=OutcomeAgreement, dispatch_uid="att.agreement")
    post_save.connect(_outcome_saved, sender=Outcome, dispatch_uid="att.outcome")
    post_save.connect(_attestation_saved, sender=Attestation, dispatch_uid="att.attestation")
    post_save.connect(_decision_saved, sender=Decision, dispatch_uid="att.decision")
