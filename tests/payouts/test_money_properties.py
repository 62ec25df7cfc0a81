"""Money invariants over random programs, timelines, clawbacks, adjustments and runs.

After every step of a random sequence of evaluations, staff adjustments and payout runs:
the ledger, the statements and the payments reconcile; no reward has lost more than its
amount; every statement's figures are the sums of its lines; every entry is on exactly
one statement or still pending (SPEC §5, §6).
"""

import datetime
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascades.evaluation import engagements_evaluate
from cascades.models import Reward
from cascades.services import customer_upsert, engagement_create
from payouts.ledger import ledger_post_adjustment
from payouts.models import LedgerEntry, Statement, StatementLine
from payouts.reconciliation import reconcile
from payouts.services import KIND_TO_LINE, payout_run_create, period_end
from tests.cascades.factories import SignalFactory
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

START = datetime.date(2025, 1, 1)
TIERS = ["authorized", "silver", "gold", "platinum"]
CENT = Decimal("0.01")

day = st.integers(min_value=0, max_value=700).map(lambda n: START + datetime.timedelta(n))
engagement = st.fixed_dictionaries(
    {
        "partner": st.integers(0, 1),
        "signed": st.integers(0, 240).map(lambda n: START + datetime.timedelta(n)),
        "acv": st.integers(1_000, 200_000).map(Decimal),
        "currency": st.sampled_from(["USD", "USD", "EUR"]),
        "signals": st.lists(
            st.one_of(
                st.tuples(st.just("churn"), day, st.none()),
                st.tuples(st.just("chargeback"), day, st.integers(1, 900).map(Decimal)),
                st.tuples(st.just("active_members"), day, st.integers(0, 400).map(Decimal)),
                st.tuples(st.just("csat"), day, st.integers(0, 10).map(Decimal)),
            ),
            max_size=5,
        ),
    }
)
step = st.one_of(
    st.tuples(st.just("evaluate"), st.integers(1, 60)),  # days forward
    st.tuples(st.just("run"), st.just(0)),
    st.tuples(st.just("adjust"), st.integers(-30_000, 30_000)),  # cents
)


def invariants():
    assert reconcile() == []
    over = Reward.objects.annotate(taken=Sum("clawbacks__amount")).filter(taken__gt=F("amount"))
    assert not over.exists()
    for statement in Statement.objects.all():
        sums = dict.fromkeys(KIND_TO_LINE.values(), Decimal(0))
        for kind, total in (
            statement.lines.values_list("entry__kind").annotate(t=Sum("entry__amount"))
            .order_by()
        ):  # fmt: skip
            sums[KIND_TO_LINE[kind]] += Decimal(total).quantize(CENT)  # SQLite: floats
        assert {f: getattr(statement, f) for f in sums} == sums
        assert statement.sealed
    assert (
        StatementLine.objects.count()
        == StatementLine.objects.aggregate(n=Count("entry", distinct=True))["n"]
    )
    on_a_statement = LedgerEntry.objects.filter(line__isnull=False).count()
    pending = LedgerEntry.objects.filter(~Q(kind="payout"), line__isnull=True).count()
    assert on_a_statement + pending == LedgerEntry.objects.exclude(kind="payout").count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tiers=st.tuples(st.sampled_from(TIERS), st.sampled_from(TIERS)),
    engagements=st.lists(engagement, min_size=1, max_size=4),
    steps=st.lists(step, min_size=1, max_size=12),
)
def test_money_invariants_hold_after_every_step(tiers, engagements, steps):
    with transaction.atomic():
        partners = []
        for tier in tiers:
            partner = PartnerFactory(tier=None)
            TierChangeFactory(partner=partner, tier=tier, effective=datetime.date(2020, 1, 1))
            partners.append(partner)
        for index, plan in enumerate(engagements):
            customer = customer_upsert(external_id=f"c{index}", name=f"C{index}",
                                       contact_email=f"c{index}@example.com")  # fmt: skip
            engagement_create(
                external_id=f"e{index}", partner=partners[plan["partner"]], customer=customer,
                signed_at=plan["signed"], currency=plan["currency"], year1_acv=plan["acv"],
            )  # fmt: skip
            for number, (kind, on, value) in enumerate(plan["signals"]):
                fields = {"value": value} if kind in ("active_members", "csat") else {}
                if kind == "chargeback":
                    fields = {"amount": value}
                SignalFactory(customer=customer, signal_id=f"s{index}-{number}", type=kind,
                              occurred_at=on, **fields)  # fmt: skip

        today, month = START + datetime.timedelta(days=240), START.replace(day=1)
        for kind, size in steps:
            if kind == "evaluate":
                today += datetime.timedelta(days=size)
                engagements_evaluate(as_of=today)
            elif kind == "adjust" and size:
                ledger_post_adjustment(
                    partner=partners[size % 2], amount=Decimal(size) / 100, currency="USD",
                    effective_date=today, reason="Goodwill",
                )  # fmt: skip
            elif kind == "run" and period_end(month) < today:
                payout_run_create(month=month, as_of=today)
                month += relativedelta(months=1)
            invariants()
        transaction.set_rollback(True)
