"""Evaluation in proportion to change: an engagement whose inputs change is marked, in the
transaction that changes them, by adding one to its inputs_version; the next evaluation
looks at it (cascades.evaluation.evaluation_scope) and records the version it read.

The inputs: the customer's signals, the engagement's attestations, decisions and outcome
acceptances (attestations.changes), its structure (an override, whose service marks it),
and its partner's status.
Model signals catch every way a row is saved (services, the admin, the demo, tests); bulk
writers call `engagements_mark_changed` themselves (cascades.ingest).
"""

from django.db import connection, transaction
from django.db.models import F
from django.db.models.signals import post_save

from cascades.models import Engagement, Signal
from portal.models import PartnerStatusChange


def engagements_mark_changed(*, engagement_ids=None, customer_ids=None, partner_ids=None) -> int:
    """Mark the engagements named, or those of these customers or partners, as changed;
    returns how many. Rows are locked in id order, as the evaluation locks them."""
    scope = Engagement.objects.all()
    if engagement_ids is not None:
        scope = scope.filter(id__in=engagement_ids)
    if customer_ids is not None:
        scope = scope.filter(customer_id__in=customer_ids)
    if partner_ids is not None:
        scope = scope.filter(partner_id__in=partner_ids)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            locked = (
                scope.order_by("id").select_for_update(no_key=True).values_list("id", flat=True)
            )
            scope = Engagement.objects.filter(id__in=list(locked))
        return scope.update(inputs_version=F("inputs_version") + 1)


def _signal_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        engagements_mark_changed(customer_ids=[instance.customer_id])


def _partner_status_changed(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        engagements_mark_changed(partner_ids=[instance.partner_id])


def connect():
    """Called once the apps are ready (cascades.apps)."""
    post_save.connect(_signal_saved, sender=Signal, dispatch_uid="cascades.dirty.signal")
    post_save.connect(
        _partner_status_changed, sender=PartnerStatusChange, dispatch_uid="cascades.dirty.status"
    )
