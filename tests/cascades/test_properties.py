"""Properties of evaluation over random timelines (hypothesis)."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascades.evaluation import engagements_evaluate
from cascades.models import CascadeStructure, Clawback, Reward
from cascades.services import customer_upsert, engagement_create
from payouts.models import LedgerEntry
from tests.cascades.factories import SignalFactory
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

SIGNED = datetime.date(2025, 1, 31)
READINGS = ("active_members", "vault_size_gb", "zone_count")
EXPANSIONS = ("plan_upgrade", "org_added", "marketplace_purchase")

days = st.integers(min_value=-20, max_value=1200).map(lambda n: SIGNED + datetime.timedelta(n))
signal = st.one_of(
    st.tuples(st.sampled_from(READINGS), days, st.integers(0, 900)).map(
        lambda t: {"type": t[0], "occurred_at": t[1], "value": Decimal(t[2])}
    ),
    st.tuples(days, st.integers(0, 10)).map(
        lambda t: {"type": "csat", "occurred_at": t[0], "value": Decimal(t[1])}
    ),
    st.tuples(days, st.integers(1, 3), st.none() | st.integers(1000, 90000)).map(
        lambda t: {
            "type": "renewal",
            "occurred_at": t[0],
            "contract_year": t[1],
            "amount": None if t[2] is None else Decimal(t[2]),
        }  # fmt: skip
    ),
    st.tuples(st.sampled_from(EXPANSIONS), days, st.integers(0, 50000)).map(
        lambda t: {"type": t[0], "occurred_at": t[1], "amount": Decimal(t[2]) / 100}
    ),
    days.map(lambda d: {"type": "churn", "occurred_at": d}),
    st.tuples(days, st.integers(1, 5000)).map(
        lambda t: {"type": "chargeback", "occurred_at": t[0], "amount": Decimal(t[1])}
    ),
)
timeline = st.lists(st.tuples(signal, st.integers(0, 3)), max_size=14)
as_of_dates = st.lists(
    st.integers(min_value=0, max_value=1300).map(lambda n: SIGNED + datetime.timedelta(n)),
    min_size=1,
    max_size=4,
).map(sorted)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tier=st.sampled_from(["authorized", "silver", "gold", "platinum"]),
    acv=st.integers(100, 500000).map(lambda n: Decimal(n) / 10),
    events=timeline,
    as_ofs=as_of_dates,
)
def test_evaluation_invariants_hold_over_random_timelines(tier, acv, events, as_ofs):
    """Signals arrive in up to four deliveries, each followed by an evaluation."""
    with transaction.atomic():
        partner = PartnerFactory(tier=None)
        TierChangeFactory(partner=partner, tier=tier, effective=datetime.date(2020, 1, 1))
        customer = customer_upsert(external_id="c", name="C", contact_email="c@example.com")
        engagement = engagement_create(
            external_id="e", partner=partner, customer=customer, signed_at=SIGNED,
            currency="USD", year1_acv=acv,
        )  # fmt: skip
        for delivery, as_of in enumerate(as_ofs):
            for index, (fields, arrives) in enumerate(events):
                if min(arrives, len(as_ofs) - 1) == delivery:
                    SignalFactory(customer=customer, signal_id=f"s{index}", **fields)
            engagements_evaluate(as_of=as_of)
        final = as_ofs[-1]

        # Re-running the last evaluation is a no-op.
        before = (Reward.objects.count(), Clawback.objects.count(), LedgerEntry.objects.count())
        again = engagements_evaluate(as_of=final)
        assert (again.rewards_created, again.clawbacks_created) == (0, 0)
        assert before == (
            Reward.objects.count(),
            Clawback.objects.count(),
            LedgerEntry.objects.count(),
        )

        # No reward stands after the churn: whatever fired on or after it is reversed.
        churns = [f["occurred_at"] for f, _ in events if f["type"] == "churn"]
        churn = min((d for d in churns if d <= final), default=None)
        for reward in Reward.objects.annotate(clawed=Sum("clawbacks__amount")):
            clawed = reward.clawed or Decimal(0)
            # Every clawback (and reversal) is at most its reward.
            assert clawed <= reward.amount
            if churn is not None and reward.trigger_date >= churn:
                assert clawed == reward.amount

        # The ledger is rewards − clawbacks + the standard commission, to the cent.
        structure = CascadeStructure.objects.current_for(tier).document
        commission = (acv * Decimal(structure["standard_commission_percent"]) / 100).quantize(
            Decimal("0.01"), rounding="ROUND_HALF_UP"
        )
        rewarded = Reward.objects.aggregate(t=Sum("amount"))["t"] or Decimal(0)
        clawed = Clawback.objects.aggregate(t=Sum("amount"))["t"] or Decimal(0)
        ledger = LedgerEntry.objects.filter(engagement=engagement).aggregate(t=Sum("amount"))["t"]
        assert ledger == rewarded - clawed + commission
        transaction.set_rollback(True)
