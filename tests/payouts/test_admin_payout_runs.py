"""The payout runs admin: creating a run from an ended month, the Approve and Mark paid
buttons (maker-checker through the services), read-only run pages, money with currency."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.test import Client

from payouts import admin as payouts_admin
from payouts.models import LedgerEntry, PayoutRun, Statement, StatementPeriod
from payouts.services import payout_run_approve, payout_run_create, payout_run_mark_paid
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

D = datetime.date
SEP, OCT, NOV = D(2026, 9, 1), D(2026, 10, 1), D(2026, 11, 1)
ADD_URL = "/admin/payouts/payoutrun/add/"


def staff_in(group):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name=group))
    return user


def page(run):
    return f"/admin/payouts/payoutrun/{run.pk}/change/"


def approve_url(run):
    return f"/admin/payouts/payoutrun/{run.pk}/approve/"


def mark_paid_url(run):
    return f"/admin/payouts/payoutrun/{run.pk}/mark-paid/"


def shown_messages(response):
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def form_errors(response):
    return response.context["adminform"].form.errors


def run_for(month, **kwargs):
    """A run made by the service on the first day after `month`."""
    as_of = (month + datetime.timedelta(days=32)).replace(day=1)
    return payout_run_create(month=month, as_of=as_of, **kwargs)[0]


def status_of(run):
    run.refresh_from_db()
    return run.status


@pytest.fixture(autouse=True)
def today(time_machine):
    """Mid-December 2026: November is the newest month that has ended."""
    time_machine.move_to(datetime.datetime(2026, 12, 15, 10, tzinfo=datetime.UTC), tick=False)
    return D(2026, 12, 15)


@pytest.fixture
def maker(client):
    """The Finance user signed in: creates runs, so may not approve them."""
    user = staff_in("Finance")
    client.force_login(user)
    return user


@pytest.fixture
def checker():
    return staff_in("Finance")


@pytest.fixture
def partners():
    """Three partners with November earnings: 1,234.56 USD, 4,800.00 USD, and 49.99 USD
    (under the minimum payout: carried forward)."""
    engagements = [EngagementFactory(signed_at=D(2026, 11, 3)) for _ in range(3)]
    post(engagements[0], "cascade_reward", "1234.56", D(2026, 11, 5))
    post(engagements[1], "standard_commission", "4800.00", D(2026, 11, 3))
    post(engagements[2], "adjustment", "49.99", D(2026, 11, 20))
    return [engagement.partner for engagement in engagements]


def test_adding_a_run_for_an_ended_month_creates_it_in_draft_and_opens_it(client, maker, partners):
    response = client.post(ADD_URL, {"month": "2026-11"})

    run = PayoutRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(run)
    assert shown_messages(response) == [
        (
            "success",
            "Payout run 2026-11 created in draft with 3 statement(s). "
            "Another Finance user approves it.",
        )
    ]
    assert (run.period.month, run.status, run.created_by) == (NOV, "draft", maker)
    assert run.statements.count() == 3


def test_the_add_page_offers_the_ended_months_of_the_last_two_years_newest_first(client, maker):
    response = client.get(ADD_URL)

    assert response.status_code == 200
    choices = list(response.context["adminform"].form.fields["month"].choices)
    assert choices[:3] == [
        ("", "---------"),
        ("2026-11", "2026-11 (November 2026)"),
        ("2026-10", "2026-10 (October 2026)"),
    ]
    assert choices[-1] == ("2024-12", "2024-12 (December 2024)")
    assert len(choices) == 1 + 24
    assert 'value="Create the run"' in response.text
    assert 'name="_addanother"' not in response.text


def test_the_add_page_proposes_the_month_after_the_last_run(client, maker, checker):
    run_for(OCT, created_by=checker)

    response = client.get(ADD_URL)

    month = response.context["adminform"].form["month"]
    assert month.initial == "2026-11"
    assert ("2026-10", "2026-10 (October 2026): draft") in month.field.choices


def test_adding_a_run_for_the_current_month_is_refused_and_creates_nothing(client, maker):
    response = client.post(ADD_URL, {"month": "2026-12"})

    assert response.status_code == 200
    assert form_errors(response) == {
        "month": [
            "Choose one of the months offered: “2026-12” is not a month that has ended in "
            "the last two years."
        ]
    }
    assert "Please correct the error below." in response.text
    assert not PayoutRun.objects.exists()
    assert not StatementPeriod.objects.exists()


@pytest.mark.parametrize(
    ("month", "error"),
    [
        ("2026-13", "Choose one of the months offered: “2026-13” is not a month that has "
                    "ended in the last two years."),
        ("garbage", "Choose one of the months offered: “garbage” is not a month that has "
                    "ended in the last two years."),
        ("", "Choose the month to run."),
    ],
)  # fmt: skip
def test_adding_a_run_for_a_month_not_offered_shows_the_error_and_creates_nothing(
    client, maker, partners, month, error
):
    response = client.post(ADD_URL, {"month": month})

    assert response.status_code == 200
    assert form_errors(response) == {"month": [error]}
    assert not PayoutRun.objects.exists()
    assert not Statement.objects.exists()


def test_adding_a_run_without_a_month_at_all_shows_the_error(client, maker):
    response = client.post(ADD_URL, {})

    assert response.status_code == 200
    assert form_errors(response) == {"month": ["Choose the month to run."]}
    assert not PayoutRun.objects.exists()


@pytest.mark.parametrize(
    ("last_run", "month", "error"),
    [
        (OCT, "2026-09", "2026-09 is before the last run (2026-10)."),
        (SEP, "2026-11", "Run 2026-10 first: runs go month by month."),
    ],
)
def test_adding_a_run_out_of_order_shows_the_services_refusal_and_creates_nothing(
    client, maker, checker, partners, last_run, month, error
):
    existing = run_for(last_run, created_by=checker)

    response = client.post(ADD_URL, {"month": month})

    assert response.status_code == 200
    assert form_errors(response) == {"month": [error]}
    assert list(PayoutRun.objects.all()) == [existing]
    assert list(StatementPeriod.objects.values_list("month", flat=True)) == [last_run]


def test_a_refusal_by_the_service_when_saving_ends_as_a_form_error(
    client, maker, checker, partners, monkeypatch
):
    # Another run lands between the form's check and the creation: the service refuses.
    run_for(SEP, created_by=checker)
    monkeypatch.setattr(payouts_admin, "payout_run_check", lambda **kwargs: None)

    response = client.post(ADD_URL, {"month": "2026-11"})

    assert response.status_code == 200
    assert form_errors(response) == {"month": ["Run 2026-10 first: runs go month by month."]}
    assert list(PayoutRun.objects.values_list("period__month", flat=True)) == [SEP]


def test_adding_a_month_that_has_its_run_opens_that_run_and_creates_nothing(
    client, maker, checker, partners
):
    existing = run_for(NOV, created_by=checker)

    response = client.post(ADD_URL, {"month": "2026-11"})

    assert response.status_code == 302
    assert response["Location"] == page(existing)
    assert shown_messages(response) == [
        ("warning", "Payout run 2026-11 exists already; nothing was created.")
    ]
    assert list(PayoutRun.objects.all()) == [existing]
    assert Statement.objects.count() == 3
    existing.refresh_from_db()
    assert existing.created_by == checker


def test_a_draft_run_page_has_an_approve_button_and_nothing_to_save(client, maker, checker):
    run = run_for(OCT, created_by=checker)

    response = client.get(page(run))

    assert response.status_code == 200
    assert f'action="{approve_url(run)}"' in response.text
    assert 'value="Approve"' in response.text
    assert mark_paid_url(run) not in response.text
    assert 'name="payment_reference"' not in response.text
    assert 'name="_save"' not in response.text
    assert 'name="_continue"' not in response.text


def test_an_approved_run_page_has_a_mark_paid_button_with_the_reference_to_give(
    client, maker, checker
):
    run = run_for(OCT, created_by=checker)
    payout_run_approve(run=run, by=maker)

    response = client.get(page(run))

    assert f'action="{mark_paid_url(run)}"' in response.text
    assert 'name="payment_reference"' in response.text
    assert 'value="Mark paid"' in response.text
    assert approve_url(run) not in response.text
    assert 'name="_save"' not in response.text


def test_a_paid_run_page_has_no_buttons(client, maker, checker):
    run = run_for(OCT, created_by=checker)
    payout_run_approve(run=run, by=maker)
    payout_run_mark_paid(run=run, by=maker, reference="BANK-1", paid_on=D(2026, 11, 20))

    response = client.get(page(run))

    assert response.status_code == 200
    assert approve_url(run) not in response.text
    assert mark_paid_url(run) not in response.text
    assert 'name="payment_reference"' not in response.text
    assert 'name="_save"' not in response.text


def test_saving_a_run_page_is_refused(client, maker, checker):
    run = run_for(OCT, created_by=checker)
    payout_run_approve(run=run, by=maker)

    response = client.post(page(run), {"payment_reference": "BANK-1"})

    assert response.status_code == 403
    assert (status_of(run), run.payment_reference) == ("approved", "")


def test_the_creator_of_a_run_cannot_approve_it_with_the_button(client, maker, partners):
    run = run_for(NOV, created_by=maker)

    response = client.post(approve_url(run))

    assert response.status_code == 302
    assert response["Location"] == page(run)
    assert shown_messages(response) == [
        (
            "error",
            "Payout run 2026-11 was not approved: "
            "The person who created a run cannot approve it too.",
        )
    ]
    run.refresh_from_db()
    assert (run.status, run.approved_by, run.approved_at) == ("draft", None, None)
    assert run.status_changes.count() == 1


def test_another_finance_user_approves_a_run_with_the_button(client, maker, checker, partners):
    run = run_for(NOV, created_by=checker)

    response = client.post(approve_url(run))

    assert response.status_code == 302
    assert response["Location"] == page(run)
    assert shown_messages(response) == [("success", "Payout run 2026-11 approved.")]
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("approved", maker)
    assert run.approved_at == datetime.datetime(2026, 12, 15, 10, tzinfo=datetime.UTC)
    assert list(run.status_changes.values_list("from_status", "to_status", "changed_by")) == [
        ("", "draft", checker.pk),
        ("draft", "approved", maker.pk),
    ]


def test_approving_an_approved_run_again_is_refused(client, maker, checker):
    run = run_for(NOV, created_by=checker)
    payout_run_approve(run=run, by=maker)

    response = client.post(approve_url(run))

    assert shown_messages(response) == [
        ("error", "Payout run 2026-11 was not approved: A approved run cannot become approved.")
    ]
    assert status_of(run) == "approved"


def test_the_changelist_action_still_approves_runs(client, maker, checker):
    run = run_for(NOV, created_by=checker)

    response = client.post(
        "/admin/payouts/payoutrun/", {"action": "approve", "_selected_action": [run.pk]}
    )

    assert response.status_code == 302
    assert shown_messages(response) == [("success", "Payout run 2026-11 approved.")]
    run.refresh_from_db()
    assert (run.status, run.approved_by) == ("approved", maker)


def test_marking_a_run_paid_posts_one_payout_per_statement_with_an_amount_payable(
    client, maker, checker, partners
):
    run = run_for(NOV, created_by=checker)
    payout_run_approve(run=run, by=maker)

    response = client.post(mark_paid_url(run), {"payment_reference": " BANK-2026-12-001 "})

    assert response.status_code == 302
    assert response["Location"] == page(run)
    assert shown_messages(response) == [
        (
            "success",
            "Payout run 2026-11 marked paid (BANK-2026-12-001): 2 payout(s) posted to the ledger.",
        )
    ]
    run.refresh_from_db()
    assert (run.status, run.paid_by, run.payment_reference) == ("paid", maker, "BANK-2026-12-001")
    payouts = LedgerEntry.objects.filter(kind="payout").order_by("amount")
    assert [(e.partner, e.amount, e.currency, e.effective_date) for e in payouts] == [
        (partners[1], Decimal("-4800.00"), "USD", D(2026, 12, 15)),
        (partners[0], Decimal("-1234.56"), "USD", D(2026, 12, 15)),
    ]
    assert {e.paid_statement.partner for e in payouts} == {partners[0], partners[1]}


@pytest.mark.parametrize("reference", ["", "   "])
def test_marking_a_run_paid_without_a_reference_is_refused(
    client, maker, checker, partners, reference
):
    run = run_for(NOV, created_by=checker)
    payout_run_approve(run=run, by=maker)

    response = client.post(mark_paid_url(run), {"payment_reference": reference})

    assert response.status_code == 302
    assert shown_messages(response) == [
        (
            "error",
            "Payout run 2026-11 was not marked paid: Give the payment's external reference.",
        )
    ]
    run.refresh_from_db()
    assert (run.status, run.paid_at, run.payment_reference) == ("approved", None, "")
    assert not LedgerEntry.objects.filter(kind="payout").exists()


def test_a_draft_run_cannot_be_marked_paid(client, maker, checker, partners):
    run = run_for(NOV, created_by=checker)

    response = client.post(mark_paid_url(run), {"payment_reference": "BANK-1"})

    assert shown_messages(response) == [
        ("error", "Payout run 2026-11 was not marked paid: A draft run cannot become paid.")
    ]
    assert status_of(run) == "draft"
    assert not LedgerEntry.objects.filter(kind="payout").exists()


@pytest.mark.parametrize("group", ["Partner operations", "Risk"])
def test_staff_who_may_not_change_runs_cannot_use_the_buttons(client, checker, partners, group):
    draft = run_for(OCT, created_by=checker)
    approved = run_for(NOV, created_by=checker)
    payout_run_approve(run=approved, by=staff_in("Finance"))
    client.force_login(staff_in(group))

    approving = client.post(approve_url(draft))
    paying = client.post(mark_paid_url(approved), {"payment_reference": "BANK-1"})

    assert (approving.status_code, paying.status_code) == (403, 403)
    assert (status_of(draft), status_of(approved)) == ("draft", "approved")
    assert not LedgerEntry.objects.filter(kind="payout").exists()
    assert shown_messages(paying) == []


@pytest.mark.parametrize("group", ["Partner operations", "Risk"])
def test_staff_who_may_not_add_runs_cannot_create_one(client, partners, group):
    client.force_login(staff_in(group))

    response = client.post(ADD_URL, {"month": "2026-11"})

    assert response.status_code == 403
    assert not PayoutRun.objects.exists()
    assert not StatementPeriod.objects.exists()


def test_staff_who_may_only_view_runs_see_no_buttons(client, checker):
    run = run_for(OCT, created_by=checker)
    viewer = StaffUserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_payoutrun"))
    client.force_login(viewer)

    response = client.get(page(run))

    assert response.status_code == 200
    assert approve_url(run) not in response.text
    assert client.post(approve_url(run)).status_code == 403
    assert status_of(run) == "draft"


def test_the_buttons_answer_only_posts(client, maker, checker):
    run = run_for(OCT, created_by=checker)

    assert client.get(approve_url(run)).status_code == 405
    assert client.get(mark_paid_url(run)).status_code == 405
    assert status_of(run) == "draft"


def test_the_buttons_need_the_csrf_token(maker, checker):
    run = run_for(OCT, created_by=checker)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(maker)

    response = browser.post(approve_url(run))

    assert response.status_code == 403
    assert status_of(run) == "draft"


def test_the_run_page_shows_money_with_its_currency(client, maker, checker, partners):
    run = run_for(NOV, created_by=checker)

    response = client.get(page(run))

    assert response.status_code == 200
    assert "1,234.56 USD" in response.text  # the statement inline
    assert "4,800.00 USD" in response.text
    assert "6,034.56 USD on 3 statement(s)" in response.text  # the run's payable


def test_the_ledger_entry_list_and_page_show_money_with_its_currency(client, maker, partners):
    entry = LedgerEntry.objects.get(amount=Decimal("1234.56"))

    listed = client.get("/admin/payouts/ledgerentry/")
    shown = client.get(f"/admin/payouts/ledgerentry/{entry.pk}/change/")

    assert listed.status_code == shown.status_code == 200
    assert "1,234.56 USD" in listed.text
    assert "4,800.00 USD" in listed.text
    assert "1,234.56 USD" in shown.text
    assert 'name="_save"' not in shown.text  # append-only: nothing to save


def test_the_statement_list_shows_money_with_its_currency(client, maker, checker, partners):
    run_for(NOV, created_by=checker)

    response = client.get("/admin/payouts/statement/")

    assert response.status_code == 200
    assert "1,234.56 USD" in response.text
    assert "49.99 USD" in response.text  # carried forward: the closing balance


@pytest.mark.parametrize("statements", [1, 30])
def test_the_run_page_takes_as_many_queries_for_thirty_statements_as_for_one(
    client, maker, checker, django_assert_max_num_queries, statements
):
    for _ in range(statements):
        post(EngagementFactory(), "cascade_reward", "100.00", D(2026, 11, 10))
    run = run_for(NOV, created_by=checker)

    with django_assert_max_num_queries(12):  # one of them: staff two-factor (portal.middleware)
        response = client.get(page(run))

    assert response.status_code == 200
    assert response.text.count('<td class="field-payable_display">') == statements
    assert response.text.count("<p>100.00 USD</p>") == statements * 2  # cascade, payable
