"""The events an evaluation writes: one per change of a step's state, in its transaction,
with the ledger entry that moved the money (issue "steps and events as data")."""

import datetime

import pytest
from django.db import transaction

from cascades.evaluation import engagements_evaluate
from cascades.models import CascadeStep
from payouts.models import LedgerEntry
from portal.models import Event
from tests.cascades.test_evaluation import SIGNUP, TENURE_3M, engagement_with, signal

pytestmark = pytest.mark.django_db

D = datetime.date
# Signed 2026-03-15; its adoption window: 2026-04-15 to 2026-07-14, 40 active members.
ADOPTION = {"key": "adoption", "kind": "adoption", "opens_after_months": 1,
            "min_active_members": 40, "percent": "3", "basis": "year1_acv"}  # fmt: skip


def events_since(first_id=0):
    return list(
        Event.objects.filter(id__gt=first_id)
        .order_by("id")
        .values_list("action", "subject_id", "partner_id", "actor_system", "data")
    )


def entry(kind, step_key, clawback_kind=None):
    entries = LedgerEntry.objects.filter(kind=kind, reward__step_key=step_key)
    if clawback_kind:
        entries = entries.filter(clawback__kind=clawback_kind)
    return entries.get().pk


def step(step_key, was, now, reason, amount, clawed_back, as_of, **more):
    return {"step_key": step_key, "event_key": "", "from": was, "to": now, "reason": reason,
            "amount": amount, "clawed_back_amount": clawed_back, "currency": "USD",
            "as_of": as_of, **more}  # fmt: skip


def test_each_step_change_writes_one_event_with_its_ledger_entry():
    engagement = engagement_with(SIGNUP, TENURE_3M, ADOPTION)  # 48,000.00 USD
    who = (str(engagement.pk), engagement.partner_id, "evaluation")

    # The signup fires on the signing date: 5 % = 2,400.00. The others are pending.
    engagements_evaluate(as_of=D(2026, 3, 31))
    assert events_since() == [
        ("step.fired", *who, step("signup", None, "earned", "signed", "2400", "0",
                                  "2026-03-31", ledger_entry=entry("cascade_reward", "signup"))),
    ]  # fmt: skip
    last = Event.objects.latest("id").pk

    # Three months on (2026-06-15) the tenure step fires (2 % = 960.00); no reading came in
    # the adoption window, closed on 2026-07-14.
    engagements_evaluate(as_of=D(2026, 7, 15))
    assert events_since(last) == [
        ("step.fired", *who, step("active_3m", "pending", "earned", "tenure_reached", "960",
                                  "0", "2026-07-15",
                                  ledger_entry=entry("cascade_reward", "active_3m"))),
        ("step.missed", *who, step("adoption", "pending", "missed", "reading_not_reached",
                                   None, "0", "2026-07-15")),
    ]  # fmt: skip
    last = Event.objects.latest("id").pk

    # Billing backfills a churn of 2026-06-10: inside the signup's clawback window (100 %),
    # before the tenure step fired (reversed in full), inside the adoption window (void).
    signal(engagement, "churn", D(2026, 6, 10), signal_id="churn-1")
    engagements_evaluate(as_of=D(2026, 7, 20))
    assert events_since(last) == [
        ("step.clawed_back", *who, step("signup", "earned", "earned", "clawed_back", "2400",
                                        "2400", "2026-07-20",
                                        ledger_entry=entry("clawback", "signup", "clawback"))),
        ("step.reversed", *who, step("active_3m", "earned", "void", "reversed", "960", "960",
                                     "2026-07-20",
                                     ledger_entry=entry("clawback", "active_3m", "reversal"))),
        ("step.voided", *who, step("adoption", "missed", "void", "churned", None, "0",
                                   "2026-07-20")),
    ]  # fmt: skip

    # Nothing new: no event.
    last = Event.objects.latest("id").pk
    engagements_evaluate(as_of=D(2026, 7, 20))
    assert events_since(last) == []


def test_an_evaluation_rolled_back_leaves_no_event_nor_step():
    engagement_with(SIGNUP)

    with pytest.raises(RuntimeError), transaction.atomic():
        engagements_evaluate(as_of=D(2026, 3, 31))
        assert Event.objects.count() == 1  # written in the transaction...
        raise RuntimeError("the worker stops")

    # ...and gone with it, as the rows and the entry it wrote.
    assert (Event.objects.count(), CascadeStep.objects.count()) == (0, 0)
    assert not LedgerEntry.objects.filter(kind="cascade_reward").exists()
