"""The event log's one door: every money movement and lifecycle change records an event in
the transaction that makes it (pretix's `log_action`, Zulip's `RealmAuditLog`).

An event's data holds ids, codes, dates and decimal strings, never personal data: names,
email addresses, IP addresses and text people typed stay in their own records.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from portal.bulk import insert_rows
from portal.models import Event, OpsToken, User

# --- Actions: `<subject>.<what happened>` ----------------------------------------------
PARTNER_CREATED = "partner.created"
PARTNER_TIER_CHANGED = "partner.tier_changed"
PARTNER_STATUS_CHANGED = "partner.status_changed"
OPS_TOKEN_ISSUED = "ops_token.issued"  # nosec B105: an event's name, not a secret
OPS_TOKEN_REVOKED = "ops_token.revoked"  # nosec B105: an event's name, not a secret
STRUCTURE_PUBLISHED = "structure.published"
ENGAGEMENT_CREATED = "engagement.created"
ENGAGEMENT_STRUCTURE_CUSTOMIZED = "engagement.structure_customized"
LEDGER_STANDARD_COMMISSION_POSTED = "ledger.standard_commission_posted"
LEDGER_ADJUSTMENT_POSTED = "ledger.adjustment_posted"
LEDGER_PAYOUT_POSTED = "ledger.payout_posted"
PAYOUT_RUN_CREATED = "payout_run.created"
PAYOUT_RUN_APPROVED = "payout_run.approved"
PAYOUT_RUN_PAID = "payout_run.paid"
STATEMENT_ISSUED = "statement.issued"
SIGNING_LINK_ISSUED = "signing_link.issued"
SIGNING_LINK_REVOKED = "signing_link.revoked"
AGREEMENT_SIGNED = "agreement.signed"
OUTCOME_ATTESTED = "outcome.attested"
ATTESTATION_VERIFIED = "attestation.verified"
ATTESTATION_ACCEPTED = "attestation.accepted"
ATTESTATION_REJECTED = "attestation.rejected"
# Written by the evaluation (cascades/evaluation.py), one per step change.
STEP_FIRED = "step.fired"
STEP_MISSED = "step.missed"
STEP_VOIDED = "step.voided"
STEP_CLAWED_BACK = "step.clawed_back"
STEP_REVERSED = "step.reversed"

ACTIONS = frozenset({
    PARTNER_CREATED, PARTNER_TIER_CHANGED, PARTNER_STATUS_CHANGED, OPS_TOKEN_ISSUED,
    OPS_TOKEN_REVOKED, STRUCTURE_PUBLISHED, ENGAGEMENT_CREATED, ENGAGEMENT_STRUCTURE_CUSTOMIZED,
    LEDGER_STANDARD_COMMISSION_POSTED, LEDGER_ADJUSTMENT_POSTED, LEDGER_PAYOUT_POSTED,
    PAYOUT_RUN_CREATED, PAYOUT_RUN_APPROVED, PAYOUT_RUN_PAID, STATEMENT_ISSUED,
    SIGNING_LINK_ISSUED, SIGNING_LINK_REVOKED, AGREEMENT_SIGNED, OUTCOME_ATTESTED,
    ATTESTATION_VERIFIED, ATTESTATION_ACCEPTED, ATTESTATION_REJECTED,
    STEP_FIRED, STEP_MISSED, STEP_VOIDED, STEP_CLAWED_BACK, STEP_REVERSED,
})  # fmt: skip

# --- System actors: the job that acted when no person or token did -------------------
SYSTEM = "system"
EVALUATION = "evaluation"
PAYOUT_JOB = "payout job"
ATTESTATION_JOB = "attestation job"
CUSTOMER_FORM = "customer form"
OPS_TOKEN_COMMAND = "issue_ops_token"  # nosec B105: an event's name, not a secret
DEMO = "demo"

BATCH_SIZE = 5000


def json_safe(value):
    """`value` as JSON the event log keeps: dates in ISO form, decimals as normalized strings
    ("10", "2.5"), choices as their value. Objects go in by their id, explicitly."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, str | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no place in an event's data.")


def content_type_id(model) -> int:
    """The content type id of `model` (a class or an instance), cached by Django."""
    return ContentType.objects.get_for_model(model).pk


def _actor(by) -> dict:
    if by is None:
        return {"actor_system": SYSTEM}
    if isinstance(by, User):
        return {"actor_user": by}
    if isinstance(by, OpsToken):
        return {"actor_token": by}
    if isinstance(by, str) and by:
        return {"actor_system": by}
    raise TypeError(f"An event's actor is a User, an OpsToken or a job's name, not {by!r}.")


def user_of(by):
    """The person among the actors `by` may be (a User; not a token or a job's name): for
    the `created_by` / `decided_by` columns of the records themselves."""
    return by if isinstance(by, User) else None


def _check(action):
    if action not in ACTIONS:
        raise ValueError(f"Unknown event action {action!r}: add it to portal/events.py.")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            f"The event {action!r} must be recorded inside the transaction that makes its "
            "change: wrap the service in transaction.atomic()."
        )


def event_record(action, *, subject, by, partner=None, **data) -> Event:
    """Record that `by` (a User, an OpsToken, a job's name, or None for the system) did
    `action` to `subject`, concerning `partner` if any, with `data`'s before / after."""
    _check(action)
    return Event.objects.create(
        action=action,
        subject_type_id=content_type_id(subject),
        subject_id=str(subject.pk),
        partner_id=getattr(partner, "pk", partner),
        data=json_safe(data),
        **_actor(by),
    )


@dataclass(frozen=True)
class EventDraft:
    """An event to write in bulk (`events_record`): the actor is one of user_id, token_id
    and system."""

    action: str
    subject_type_id: int
    subject_id: str | int
    partner_id: int | None = None
    data: dict = field(default_factory=dict)
    user_id: int | None = None
    token_id: int | None = None
    system: str = ""


EVENT_COLUMNS = ("occurred_at", "action", "actor_user_id", "actor_token_id", "actor_system",
                 "subject_type_id", "subject_id", "partner_id", "data")  # fmt: skip


def events_record(drafts: Iterable[EventDraft]) -> int:
    """Write `drafts` in the caller's transaction (on PostgreSQL with COPY; elsewhere one
    INSERT per BATCH_SIZE events); returns how many."""
    now = timezone.now()
    rows = []
    for draft in drafts:
        _check(draft.action)
        if (draft.user_id is not None) + (draft.token_id is not None) + bool(draft.system) != 1:
            raise ValueError(f"An event names exactly one actor: {draft!r}")
        rows.append((now, draft.action, draft.user_id, draft.token_id, draft.system,
                     draft.subject_type_id, str(draft.subject_id), draft.partner_id,
                     json_safe(draft.data)))  # fmt: skip
    return insert_rows(Event, EVENT_COLUMNS, rows, batch_size=BATCH_SIZE)


def actor_draft_fields(by) -> dict:
    """`by` (as event_record takes it) as EventDraft's actor fields."""
    actor = _actor(by)
    if "actor_user" in actor:
        return {"user_id": actor["actor_user"].pk}
    if "actor_token" in actor:
        return {"token_id": actor["actor_token"].pk}
    return {"system": actor["actor_system"]}
