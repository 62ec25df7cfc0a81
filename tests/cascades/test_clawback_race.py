"""Nothing takes back more than the reward, even when two evaluations write at once (SPEC §5)."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections, transaction
from django.db.models import Sum

from cascades import evaluation
from cascades.evaluation import engagements_evaluate
from cascades.models import Clawback, Reward
from payouts.models import LedgerEntry
from tests.cascades.factories import EngagementFactory, SignalFactory

D = datetime.date
AS_OF = D(2026, 4, 30)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def signup():
    """Signed 2026-03-15 for 48,000.00 (authorized): the sign-up reward, 2,400.00, fired."""
    engagement = EngagementFactory()
    engagements_evaluate(as_of=AS_OF)
    return Reward.objects.get(engagement=engagement, step_key="signup")


def test_a_clawback_and_a_reversal_written_at_once_take_back_the_reward_once(signup, monkeypatch):
    customer = signup.engagement.customer
    SignalFactory(customer=customer, signal_id="cb-1", type="chargeback",
                  occurred_at=D(2026, 4, 1), amount=Decimal("1200"))  # fmt: skip
    writing, first_read, second_done = threading.local(), threading.Event(), threading.Event()
    real_write, real_due = evaluation._write_clawbacks, evaluation.engine.clawbacks_due

    def write_clawbacks(batch, as_of):
        writing.active = True
        try:
            return real_write(batch, as_of)
        finally:
            writing.active = False

    def clawbacks_due(facts, rewards, as_of):
        due = real_due(facts, rewards, as_of)
        if getattr(writing, "active", False) and not first_read.is_set():
            # The first evaluation has read what was taken back: hold it there while the
            # second runs (it waits for the first to commit, if the reward row is locked).
            first_read.set()
            second_done.wait(timeout=3)
        return due

    monkeypatch.setattr(evaluation, "_write_clawbacks", write_clawbacks)
    monkeypatch.setattr(evaluation.engine, "clawbacks_due", clawbacks_due)
    errors = []

    def evaluate(done=None):
        try:
            engagements_evaluate(as_of=AS_OF)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()
            if done:
                done.set()

    # The first evaluation saw only the chargeback (100 % clawback inside the window) ...
    first = threading.Thread(target=evaluate)
    first.start()
    assert first_read.wait(timeout=10)
    # ... the second also sees a churn dated on the trigger date (a reversal of the rest).
    SignalFactory(customer=customer, signal_id="churn-1", type="churn",
                  occurred_at=D(2026, 3, 15))  # fmt: skip
    second = threading.Thread(target=evaluate, args=(second_done,))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

    assert errors == []
    assert list(Clawback.objects.values_list("kind", "amount")) == [
        ("clawback", Decimal("2400.00"))
    ]
    taken = LedgerEntry.objects.filter(kind="clawback").aggregate(total=Sum("amount"))["total"]
    assert taken == Decimal("-2400.00")


def test_the_database_refuses_clawbacks_worth_more_than_their_reward(signup):
    Clawback.objects.create(
        reward=signup,
        kind="clawback",
        cause_date=D(2026, 4, 1),
        percent=Decimal(50),
        window_days=90,
        amount=Decimal("1200.00"),
    )
    refused = pytest.raises(IntegrityError, match="would lose 2400.01 but is worth 2400.00")
    with refused, transaction.atomic():
        Clawback.objects.create(
            reward=signup,
            kind="reversal",
            cause_date=D(2026, 3, 15),
            percent=Decimal(100),
            amount=Decimal("1200.01"),
        )
    Clawback.objects.create(
        reward=signup,
        kind="reversal",
        cause_date=D(2026, 3, 15),
        percent=Decimal(100),
        amount=Decimal("1200.00"),
    )  # the rest
    assert Clawback.objects.aggregate(total=Sum("amount"))["total"] == Decimal("2400.00")
