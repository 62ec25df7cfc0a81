"""The ops API records which token did what; a token never approves or pays a run."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from cascades.models import Engagement, Signal
from payouts.models import PayoutRun
from payouts.services import payout_run_approve, payout_run_mark_paid
from portal.tokens import OpsPrincipal, ops_token_issue
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post
from tests.portal.factories import PartnerFactory, StaffUserFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def crm():
    row, token = ops_token_issue(name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.row = row
    return client


def test_an_engagement_and_a_signal_batch_record_the_token_that_sent_them(crm):
    partner = PartnerFactory(external_id="initech", tier=None)
    TierChangeFactory(partner=partner, tier="silver", effective=D(2026, 1, 1))
    created = crm.post("/api/v1/ops/engagements/", {
        "external_id": "initech-umbrella", "partner": "initech", "signed_at": "2026-02-02",
        "customer": {"external_id": "umbrella", "name": "Umbrella Corp",
                     "contact_email": "it@umbrella.example"},
        "currency": "USD", "year1_acv": "60000.00",
    }, format="json")  # fmt: skip
    signals = crm.post("/api/v1/ops/signals/", {"signals": [
        {"id": "tel-1", "customer": "umbrella", "type": "active_members",
         "occurred_at": "2026-08-10", "value": 31},
    ]}, format="json")  # fmt: skip

    assert (created.status_code, signals.status_code) == (201, 201)
    assert Engagement.objects.get(external_id="initech-umbrella").created_by_token == crm.row
    assert Signal.objects.get(signal_id="tel-1").received_by_token == crm.row


def test_a_run_created_by_a_token_is_approved_by_finance_and_never_by_a_token(crm):
    post(EngagementFactory(), "cascade_reward", "300.00", D(2026, 10, 10))
    finance = StaffUserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))

    created = crm.post("/api/v1/ops/payout-runs/", {"period": "2026-10"}, format="json")
    run = PayoutRun.objects.get()

    assert created.status_code == 201
    assert (run.created_by, run.created_by_token) == (None, crm.row)
    assert run.status_changes.get().note == "created by ops token crm"
    # No call of the ops API moves a run on.
    assert crm.post("/api/v1/ops/payout-runs/2026-10/", {"status": "approved"},
                    format="json").status_code == 405  # fmt: skip
    for move in (
        lambda: payout_run_approve(run=run, by=OpsPrincipal(crm.row)),
        lambda: payout_run_mark_paid(
            run=run, by=OpsPrincipal(crm.row), reference="X", paid_on=D(2026, 11, 20)
        ),  # fmt: skip
    ):
        with pytest.raises(ValidationError, match="Only Finance"):
            move()
    run.refresh_from_db()
    assert run.status == "draft"

    payout_run_approve(run=run, by=finance)
    run.refresh_from_db()
    assert (run.status, run.approved_by, run.statements.get().payable) == (
        "approved", finance, Decimal("300.00"),
    )  # fmt: skip
