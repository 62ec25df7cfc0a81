"""The events of step changes (portal.events): one per change of a step's state that the
evaluation writes, in its transaction, referring to the ledger entry that moved money."""

from cascades.models import Clawback, Engagement
from cascades.reasons import REVERSED
from cascades.steps import EARNED, MISSED, VOID
from payouts.models import LedgerEntry
from portal import events
from portal.events import EventDraft


def _actions(prior, row):
    """The actions a change from `prior` (a StepRow, None if new) to `row` records."""
    was = prior.status if prior else None
    taken_before = prior.clawed_back_amount if prior else 0
    actions = []
    if row.status == EARNED and was != EARNED:
        actions.append(events.STEP_FIRED)
    if row.status == MISSED and was != MISSED:
        actions.append(events.STEP_MISSED)
    if row.clawed_back_amount > taken_before:
        reversed_ = row.reason == REVERSED
        actions.append(events.STEP_REVERSED if reversed_ else events.STEP_CLAWED_BACK)
    elif row.status == VOID and was != VOID:
        actions.append(events.STEP_VOIDED)
    return actions


def _entries(engagement_ids):
    """(engagement id, step key, event key) → {ledger entry kind or clawback kind: entry id}
    of the rewards of these engagements."""
    found = {}
    rows = LedgerEntry.objects.filter(
        engagement_id__in=engagement_ids, reward__isnull=False
    ).values_list("engagement_id", "reward__step_key", "reward__event_key", "kind",
                  "clawback__kind", "id")  # fmt: skip
    for engagement_id, step_key, event_key, kind, clawback_kind, entry_id in rows:
        found.setdefault((engagement_id, step_key, event_key), {})[clawback_kind or kind] = entry_id
    return found


ENTRY_OF = {
    events.STEP_FIRED: LedgerEntry.Kind.CASCADE_REWARD,
    events.STEP_CLAWED_BACK: Clawback.Kind.CLAWBACK,
    events.STEP_REVERSED: Clawback.Kind.REVERSAL,
}


def step_events_record(transitions, as_of) -> int:
    """Record the events of `transitions`: (the evaluated engagement, the row before or
    None, the row after). Returns how many were written."""
    changes = [(e, prior, row, _actions(prior, row)) for e, prior, row in transitions]
    changes = [change for change in changes if change[3]]
    if not changes:
        return 0
    with_money = {e.id for e, _, _, actions in changes if set(actions) & set(ENTRY_OF)}
    entries = _entries(with_money) if with_money else {}
    engagement_type = events.content_type_id(Engagement)
    drafts = []
    for evaluated, prior, row, actions in changes:
        for action in actions:
            data = {
                "step_key": row.step_key,
                "event_key": row.event_key,
                "from": prior.status if prior else None,
                "to": row.status,
                "reason": row.reason,
                "amount": row.amount,
                "clawed_back_amount": row.clawed_back_amount,
                "currency": row.currency,
                "as_of": as_of,
            }
            if action in ENTRY_OF:
                key = (evaluated.id, row.step_key, row.event_key)
                data["ledger_entry"] = entries.get(key, {}).get(ENTRY_OF[action])
            drafts.append(
                EventDraft(
                    action=action,
                    subject_type_id=engagement_type,
                    subject_id=evaluated.id,
                    partner_id=evaluated.partner_id,
                    data=data,
                    system=events.EVALUATION,
                )
            )
    return events.events_record(drafts)
