"""Several evaluators at once: the database, not the code, keeps one reward per step."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from cascades.evaluation import engagements_evaluate
from cascades.models import Clawback, Reward
from payouts.models import LedgerEntry
from tests.cascades.factories import EngagementFactory, SignalFactory

EVALUATORS = 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_four_concurrent_evaluators_record_exactly_one_reward_per_step():
    engagements = EngagementFactory.create_batch(30, signed_at=datetime.date(2025, 1, 10))
    for engagement in engagements[:10]:
        SignalFactory(customer=engagement.customer, type="churn",
                      occurred_at=datetime.date(2025, 4, 20))  # fmt: skip
    for engagement in engagements[10:]:
        SignalFactory(
            customer=engagement.customer, type="renewal", occurred_at=datetime.date(2026, 1, 5),
            contract_year=1, amount=None,
        )  # fmt: skip
    start = threading.Barrier(EVALUATORS)
    errors = []

    def evaluate():
        try:
            start.wait()
            engagements_evaluate(as_of=datetime.date(2026, 6, 30))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(EVALUATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert connection.vendor == "postgresql"
    # Authorized default structure, signed 2025-01-10, as of 2026-06-30:
    #   churned (10): signup and active_3m (2025-04-10) fire before the 2025-04-20 churn;
    #   renewed (20): signup, active_3m, active_6m (2025-07-10), renewal_1 (2026-01-10).
    assert Reward.objects.count() == 10 * 2 + 20 * 4
    assert LedgerEntry.objects.filter(kind="cascade_reward").count() == 100
    # The churn (2025-04-20) is 100 days after the signup reward (outside its 90-day
    # window) and 10 days after active_3m: one clawback per churned engagement.
    assert Clawback.objects.count() == 10
    assert set(Clawback.objects.values_list("reward__step_key", flat=True)) == {"active_3m"}
    assert LedgerEntry.objects.filter(kind="clawback").count() == 10
    renewal = Reward.objects.filter(step_key="renewal_1").first()
    assert (renewal.trigger_date, renewal.amount) == (
        datetime.date(2026, 1, 10),
        Decimal("2400.00"),
    )
