import contextlib
import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from payouts.models import PayoutRun, Statement, StatementLine
from payouts.services import payout_run_create
from portal.tokens import ops_token_issue
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post
from tests.payouts.test_payout_runs import pay

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def two_months():
    engagement = EngagementFactory(signed_at=D(2026, 11, 3))
    post(engagement, "standard_commission", "4800.00", D(2026, 11, 3))
    reward = post(engagement, "cascade_reward", "2400.00", D(2026, 11, 3)).reward
    november, _ = payout_run_create(month=D(2026, 11, 1), as_of=D(2026, 12, 1))
    pay(november, D(2026, 12, 20))
    post(engagement, "clawback", "-2400.00", D(2026, 12, 5), of_reward=reward)
    post(engagement, "adjustment", "100.00", D(2026, 12, 6))
    payout_run_create(month=D(2026, 12, 1), as_of=D(2027, 1, 2))
    post(engagement, "cascade_reward", "75.00", D(2027, 1, 3))  # awaits January's statement
    return engagement


def test_reconcile_passes_when_ledger_statements_and_payouts_agree(two_months):
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "agree" in out.getvalue()


@contextlib.contextmanager
def database_checks_bypassed():
    """Write as if someone had switched PostgreSQL's triggers off (a superuser can), so
    that reconcile has something to find."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The checks already due (the runs made so far) pass first.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                cursor.execute("SET LOCAL session_replication_role = replica")
        yield
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_reconcile_fails_and_names_a_statement_whose_lines_do_not_add_up(two_months):
    stray = post(two_months, "adjustment", "10.00", D(2026, 12, 7))
    december = Statement.objects.get(run__period__month=D(2026, 12, 1))
    with database_checks_bypassed():  # PostgreSQL refuses a line on a sealed statement
        StatementLine.objects.create(statement=december, entry=stray)
    err = StringIO()

    with pytest.raises(CommandError, match="disagreement"):
        call_command("reconcile", stdout=StringIO(), stderr=err)

    assert f"Statement {december.pk}" in err.getvalue()
    assert "adjustments is 100.00 but its entries add up to 110.00" in err.getvalue()


def test_run_payouts_command_creates_the_run_once():
    post(EngagementFactory(), "cascade_reward", "300.00", D(2026, 11, 10))
    out = StringIO()
    call_command("run_payouts", "--period=2026-11", "--as-of=2026-12-01", stdout=out)
    call_command("run_payouts", "--period=2026-11", "--as-of=2026-12-01", stdout=out)
    assert "Created payout run 2026-11 (draft) with 1 statement." in out.getvalue()
    assert "Already existed: payout run 2026-11" in out.getvalue()
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("run_payouts", "--period=November", stdout=out)
    assert PayoutRun.objects.count() == 1


@pytest.fixture
def ops():
    _, token = ops_token_issue(name="finance-system")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_ops_api_creates_a_run_and_returns_it_unchanged_the_second_time(ops, time_machine):
    time_machine.move_to(datetime.datetime(2026, 12, 2, 9, tzinfo=datetime.UTC))
    engagement = EngagementFactory(partner__external_id="acme")
    post(engagement, "cascade_reward", "300.00", D(2026, 11, 10))

    first = ops.post("/api/v1/ops/payout-runs/", {"period": "2026-11"}, format="json")
    post(engagement, "cascade_reward", "99.00", D(2026, 11, 11))
    second = ops.post("/api/v1/ops/payout-runs/", {"period": "2026-11"}, format="json")
    fetched = ops.get("/api/v1/ops/payout-runs/2026-11/")

    assert (first.status_code, second.status_code, fetched.status_code) == (201, 200, 200)
    assert first.json() == second.json() == fetched.json()
    statement = fetched.json()["statements"][0]
    assert {
        k: statement[k] for k in ("partner", "currency", "payable", "closing_balance", "due_date")
    } == {  # fmt: skip
        "partner": "acme",
        "currency": "USD",
        "payable": "300.00",
        "closing_balance": "0.00",
        "due_date": "2026-12-30",
    }
    assert fetched.json()["status"] == "draft"


def test_ops_api_names_a_bad_period_and_writes_nothing(ops):
    response = ops.post("/api/v1/ops/payout-runs/", {"period": "2026/11"}, format="json")
    assert response.status_code == 400
    assert "period" in response.json()
    assert ops.get("/api/v1/ops/payout-runs/2026-10/").status_code == 404
    assert not PayoutRun.objects.exists()
