"""Evaluation in proportion to change, as a property (hypothesis): after any sequence of
signal batches, agreement signatures, outcome acceptances, partner terminations and
incremental evaluations with the as-of date moving forward, the step rows are those a
full evaluation from scratch writes at the same date, and evaluating again writes no row
and no event."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascades.evaluation import engagements_evaluate
from cascades.models import CascadeStep, Clawback, Engagement, Reward
from cascades.services import customer_upsert, engagement_create
from portal.models import Event, PartnerStatusChange
from tests.attestations.test_signing import OUTCOME
from tests.cascades.factories import SignalFactory
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

SIGNED = datetime.date(2025, 1, 31)
READINGS = ("active_members", "vault_size_gb", "zone_count")
EXPANSIONS = ("plan_upgrade", "org_added", "marketplace_purchase")
CUSTOMERS = ("c1", "c2")

# Mostly within the first year and a half, where the evaluations below are.
days = st.one_of(st.integers(-20, 500), st.integers(-20, 1200)).map(
    lambda n: SIGNED + datetime.timedelta(n)
)
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
action = st.one_of(
    st.tuples(st.just("signals"), st.sampled_from(CUSTOMERS), st.lists(signal, max_size=4)),
    st.tuples(st.just("sign_agreement"), st.sampled_from(CUSTOMERS), days),
    st.tuples(st.just("accept_outcome"), st.sampled_from(CUSTOMERS), days),
    st.tuples(st.just("terminate"), st.sampled_from(CUSTOMERS), days),
    st.tuples(st.just("evaluate"), st.just(""), st.integers(0, 120)),
)


def noon(day):
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def rows():
    """Every step row, as it reads (its id and as-of date aside)."""
    fields = [f.attname for f in CascadeStep._meta.concrete_fields if f.attname not in
              ("id", "as_of")]  # fmt: skip
    return sorted(
        (tuple(str(value) for value in row) for row in CascadeStep.objects.values_list(*fields)),
    )


def written():
    """What an evaluation may write: rewards, clawbacks, step rows (their ids too), events."""
    step_ids = sorted(CascadeStep.objects.values_list("id", flat=True))
    return Reward.objects.count(), Clawback.objects.count(), rows(), step_ids, Event.objects.count()


def from_scratch(as_of):
    """The step rows a full evaluation writes at `as_of` with no step rows to start from,
    and whether it found any reward or clawback due that the incremental ones had not
    written; rolled back."""
    with transaction.atomic():
        before = (Reward.objects.count(), Clawback.objects.count())
        CascadeStep.objects.all().delete()
        Engagement.objects.update(
            steps_digest="", evaluated_as_of=None, evaluated_version=None, next_change_on=None
        )
        engagements_evaluate(as_of=as_of, full=True)
        result = rows(), before != (Reward.objects.count(), Clawback.objects.count())
        transaction.set_rollback(True)
    return result


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tier=st.sampled_from(["authorized", "silver", "gold", "platinum"]),
    actions=st.lists(action, min_size=1, max_size=12),
)
def test_incremental_step_rows_equal_a_full_evaluation_and_again_writes_nothing(tier, actions):
    with transaction.atomic():
        engagements = {}
        for name in CUSTOMERS:
            partner = PartnerFactory(tier=None)
            TierChangeFactory(partner=partner, tier=tier, effective=datetime.date(2020, 1, 1))
            customer = customer_upsert(external_id=name, name=name,
                                       contact_email=f"{name}@example.com")  # fmt: skip
            engagements[name] = engagement_create(
                external_id=f"e-{name}", partner=partner, customer=customer, signed_at=SIGNED,
                currency="USD", year1_acv=Decimal("48000.00"), outcomes=[OUTCOME],
            )  # fmt: skip
        as_of = SIGNED
        engagements_evaluate(as_of=as_of)
        for index, (kind, name, value) in enumerate(actions):
            engagement = engagements.get(name)
            if kind == "signals":
                for number, fields in enumerate(value):
                    SignalFactory(customer=engagement.customer, signal_id=f"s{index}-{number}",
                                  **fields)  # fmt: skip
            elif kind == "sign_agreement":
                agreement = engagement.outcome_agreement
                agreement.signed_at = noon(value)
                agreement.save(update_fields=["signed_at"])
            elif kind == "accept_outcome":
                outcome = engagement.outcome_agreement.outcomes.get()
                outcome.accepted_on = value
                outcome.save(update_fields=["accepted_on"])
            elif kind == "terminate":
                PartnerStatusChange.objects.create(
                    partner=engagement.partner, from_status="active", to_status="terminated",
                    reason="Test", changed_at=noon(value),
                )  # fmt: skip
            else:
                as_of += datetime.timedelta(days=value)
            # An evaluation follows each change (as a signal batch's does) and each new date.
            engagements_evaluate(as_of=as_of)

            full, full_wrote_money = from_scratch(as_of)
            assert rows() == full
            assert not full_wrote_money

            before = written()
            again = engagements_evaluate(as_of=as_of)
            assert (again.engagements, again.steps_written, again.events_written) == (0, 0, 0)
            assert written() == before
        transaction.set_rollback(True)
