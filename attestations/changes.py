"""How attestations follow the cascades below them, in the transaction of each change:

- what attestations change in an engagement's inputs (cascades.dirty): its agreement
  signed, an outcome added or accepted, an attestation signed, a decision made, each marks
  the engagement changed;
- what cascades announce (cascades.hooks): a deal recorded with agreed outcomes gets its
  agreement; an engagement's new structure brings its outcomes' terms in line;
- what the evaluation reads of the agreed outcomes (`outcome_rows`).
"""

from django.db.models import Exists, OuterRef
from django.db.models.signals import post_save

from attestations.models import Attestation, Decision, Outcome, OutcomeAgreement
from attestations.services import agreement_create, engagement_outcomes_refresh
from cascades import hooks
from cascades.dirty import engagements_mark_changed
from cascades.evaluation import STREAM_CHUNK, outcome_source_register


def _agreement_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        engagements_mark_changed(engagement_ids=[instance.engagement_id])


def _agreement_changed(agreement_id):
    engagements_mark_changed(
        engagement_ids=OutcomeAgreement.objects.filter(pk=agreement_id).values("engagement_id")
    )


def _outcome_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _agreement_changed(instance.agreement_id)


def _attestation_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        _agreement_changed(instance.agreement_id)


def _decision_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        engagements_mark_changed(
            engagement_ids=Attestation.objects.filter(pk=instance.attestation_id).values(
                "agreement__engagement_id"
            )
        )


def _engagement_created(sender, engagement, outcomes, by=None, **kwargs):
    agreement_create(engagement=engagement, outcomes=outcomes, by=by)


def _engagement_structure_changed(sender, engagement, by=None, **kwargs):
    engagement_outcomes_refresh(engagement=engagement)


def outcome_rows(scope):
    """The agreed outcomes of the engagements of `scope` (None: all) as the evaluation reads
    them (cascades.evaluation.outcome_source_register), in customer id order."""
    outcomes = Outcome.objects.order_by("agreement__engagement__customer_id")
    if scope is not None:
        outcomes = outcomes.filter(agreement__engagement__in=scope)
    return (
        outcomes.annotate(
            attested=Exists(Attestation.objects.filter(outcome=OuterRef("pk"))),
            rejected=Exists(
                Decision.objects.filter(
                    attestation__outcome=OuterRef("pk"), verdict=Decision.Verdict.REJECTED
                )
            ),
        )
        .values_list(
            "agreement__engagement__customer_id",
            "agreement__engagement_id",
            "key",
            "due_months",
            "accepted_on",
            "attested",
            "rejected",
        )
        .iterator(chunk_size=STREAM_CHUNK)
    )


def connect():
    """Called once the apps are ready (attestations.apps)."""
    outcome_source_register(outcome_rows)
    hooks.engagement_created.connect(_engagement_created, dispatch_uid="att.created")
    hooks.engagement_structure_changed.connect(
        _engagement_structure_changed, dispatch_uid="att.structure"
    )
    post_save.connect(_agreement_saved, sender=OutcomeAgreement, dispatch_uid="att.agreement")
    post_save.connect(_outcome_saved, sender=Outcome, dispatch_uid="att.outcome")
    post_save.connect(_attestation_saved, sender=Attestation, dispatch_uid="att.attestation")
    post_save.connect(_decision_saved, sender=Decision, dispatch_uid="att.decision")
