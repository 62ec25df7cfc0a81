"""The event log (portal.events): each service that moves money or a lifecycle state
records exactly its event, in its transaction; events are append-only and hold no personal
data; staff read them in the admin."""

import datetime
import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from attestations.models import Decision, SigningRequest, Verification
from attestations.services import (
    attestation_decide,
    attestation_sign,
    signing_request_issue,
    signing_request_revoke,
    signing_token,
    verification_record,
)
from cascades.models import CascadeStructure
from cascades.services import engagement_structure_customize, structure_publish
from payouts import admin as payouts_admin
from payouts.ledger import ledger_post_adjustment
from payouts.models import LedgerEntry, PayoutRun, Statement
from payouts.services import (
    payout_run_approve,
    payout_run_create,
    payout_run_mark_paid,
    statement_issue_pdf,
)
from portal import events
from portal.append_only import AppendOnlyError
from portal.events import EventDraft, event_record, events_record, json_safe
from portal.models import Event, OpsToken, Partner, TierChange
from portal.services import partner_create, partner_set_status, partner_tier_change
from portal.tokens import ops_token_issue, ops_token_revoke
from tests.attestations.test_signing import engagement_with_outcome
from tests.cascades.factories import EngagementFactory, document
from tests.payouts.factories import post
from tests.portal.factories import PartnerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

D = datetime.date
NOW = datetime.datetime(2026, 7, 20, 10, tzinfo=datetime.UTC)
SIGNER = {"signer_name": "Dana Scully", "signer_title": "CFO",
          "signer_email": "dana@globex.example", "typed_signature": "Dana Scully"}  # fmt: skip
SIGNER_IP = "203.0.113.7"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture(autouse=True)
def clock(time_machine):
    """Inside the outcome window of engagement_with_outcome (signed 2026-01-15, due
    2026-07-15, closes 2026-10-13); June 2026 has ended."""
    time_machine.move_to(NOW, tick=False)


def staff_in(group, **fields):
    user = StaffUserFactory(**fields)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def last_id():
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def written_since(mark):
    """The events written after `mark` (last_id()), oldest first, as
    (action, actor, subject, partner id, data)."""
    return [
        (event.action, event.actor, event.subject, event.partner_id, event.data)
        for event in Event.objects.filter(id__gt=mark).order_by("id")
    ]


def one_event_of(call):
    """Call `call()`; returns its result and the one event it wrote."""
    mark = last_id()
    result = call()
    written = written_since(mark)
    assert len(written) == 1, written
    return result, written[0]


# --- Partners and ops tokens ---------------------------------------------------------


def test_partner_create_through_the_ops_api_records_the_token():
    token_row, token = ops_token_issue(name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"external_id": "initech", "name": "Initech", "tier": "silver",
            "tier_effective": "2026-01-01"}  # fmt: skip

    response, event = one_event_of(
        lambda: client.post("/api/v1/ops/partners/", body, format="json")
    )

    assert response.status_code == 201
    partner = Partner.objects.get(external_id="initech")
    assert event == (
        "partner.created", token_row, partner, partner.pk,
        {"external_id": "initech", "status": "active", "tier": "silver",
         "tier_effective": "2026-01-01"},
    )  # fmt: skip
    assert partner.tier_changes.get().created_by is None  # a token is not a person


def test_partner_tier_change_records_the_tier_before_and_after():
    staff = staff_in("Partner operations")
    partner = partner_create(external_id="acme", name="Acme", tier="silver",
                             tier_effective=D(2026, 1, 1), by=staff)  # fmt: skip

    change, event = one_event_of(
        lambda: partner_tier_change(
            partner=partner,
            tier="gold",
            effective=D(2026, 9, 1),
            by=staff,
            note="Hit the gold target",
        )  # fmt: skip
    )

    assert change.created_by == staff
    assert event == (
        "partner.tier_changed", staff, partner, partner.pk,
        {"tier_change": change.pk, "from_tier": "silver", "to_tier": "gold",
         "effective": "2026-09-01"},
    )  # fmt: skip


def test_a_refused_tier_change_records_nothing():
    partner = PartnerFactory()  # authorized from 2020-01-01
    mark = last_id()

    with pytest.raises(Exception, match="already has a tier change"):
        partner_tier_change(partner=partner, tier="gold", effective=D(2020, 1, 1))

    assert written_since(mark) == []


def test_partner_status_change_records_the_move_but_not_the_reason():
    risk = staff_in("Risk")
    partner = PartnerFactory()

    _, event = one_event_of(
        lambda: partner_set_status(
            partner=partner, status="under_review", reason="Churn after trigger, twice", by=risk
        )  # fmt: skip
    )

    change = partner.status_changes.get()
    assert event == (
        "partner.status_changed", risk, partner, partner.pk,
        {"status_change": change.pk, "from_status": "active", "to_status": "under_review"},
    )  # fmt: skip


def test_ops_token_issued_by_the_command_and_revoked_by_a_superuser():
    superuser = staff_in(None, is_superuser=True)

    (row, _), issued = one_event_of(lambda: ops_token_issue(name="billing"))
    revoked, revocation = one_event_of(lambda: ops_token_revoke(token=row, by=superuser))

    assert issued == ("ops_token.issued", "issue_ops_token", row, None, {})
    assert revoked is True
    assert revocation == (
        "ops_token.revoked",
        superuser,
        row,
        None,
        {"revoked_at": "2026-07-20T10:00:00+00:00"},
    )
    mark = last_id()
    assert ops_token_revoke(token=row, by=superuser) is False  # once only
    assert written_since(mark) == []


def test_ops_token_revoked_in_the_admin_records_who(client):
    superuser = staff_in(None, is_superuser=True)
    client.force_login(superuser)
    row, _ = ops_token_issue(name="billing")
    mark = last_id()

    client.post("/admin/portal/opstoken/", {"action": "revoke", "_selected_action": [row.pk]})

    assert OpsToken.objects.get(pk=row.pk).revoked_at == NOW
    assert written_since(mark) == [
        ("ops_token.revoked", superuser, row, None, {"revoked_at": "2026-07-20T10:00:00+00:00"})
    ]


def test_partner_and_tier_change_added_in_the_admin_go_through_the_services(client):
    ops = staff_in("Partner operations")
    client.force_login(ops)
    mark = last_id()

    response = client.post("/admin/portal/partner/add/", {
        "external_id": "umbrella", "name": "Umbrella",
        "tier_changes-TOTAL_FORMS": "1", "tier_changes-INITIAL_FORMS": "0",
        "tier_changes-0-tier": "gold", "tier_changes-0-effective": "2026-07-01",
        "tier_changes-0-note": "",
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0",
    })  # fmt: skip

    assert response.status_code == 302
    partner = Partner.objects.get(external_id="umbrella")
    change = TierChange.objects.get(partner=partner)
    assert change.created_by == ops
    assert written_since(mark) == [
        ("partner.created", ops, partner, partner.pk,
         {"external_id": "umbrella", "status": "active"}),
        ("partner.tier_changed", ops, partner, partner.pk,
         {"tier_change": change.pk, "from_tier": None, "to_tier": "gold",
          "effective": "2026-07-01"}),
    ]  # fmt: skip


# --- Structures, engagements and the ledger --------------------------------------------


def test_structure_published_records_its_tier_and_version():
    staff = staff_in("Partner operations")
    previous = CascadeStructure.objects.current_for("authorized").version
    signup = {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"}

    row, event = one_event_of(lambda: structure_publish(document=document(signup), by=staff))

    assert row.version == previous + 1
    assert event == (
        "structure.published", staff, row, None,
        {"tier": "authorized", "version": previous + 1, "previous_version": previous},
    )  # fmt: skip


def test_engagement_create_records_the_deal_its_commission_and_its_link():
    mark = last_id()

    engagement = engagement_with_outcome(acv="48000.00")

    commission = LedgerEntry.objects.get(engagement=engagement)
    link = engagement.outcome_agreement.requests.get()
    partner = engagement.partner_id
    assert written_since(mark) == [
        ("engagement.created", "system", engagement, partner,
         {"external_id": "deal-1", "customer": engagement.customer_id,
          "signed_at": "2026-01-15", "tier": "authorized", "currency": "USD",
          "year1_acv": "48000", "structure": engagement.structure_id,
          "outcomes": ["downtime"]}),
        ("ledger.standard_commission_posted", "system", commission, partner,
         {"kind": "standard_commission", "amount": "4800", "currency": "USD",
          "effective_date": "2026-01-15", "engagement": engagement.pk}),
        ("signing_link.issued", "system", link, partner,
         {"purpose": "agreement", "agreement": engagement.outcome_agreement.pk,
          "outcome": None, "expires_at": "2026-08-03T10:00:00+00:00", "replaces": []}),
    ]  # fmt: skip


def test_engagement_given_its_own_structure_records_it_and_the_adjustment():
    staff = staff_in("Partner operations")
    engagement = EngagementFactory()  # 48,000.00, authorized: 10 % standard commission
    before = engagement.structure_id
    signup = {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"}
    mark = last_id()

    engagement_structure_customize(
        engagement=engagement, document=document(signup, commission="12"), by=staff
    )

    engagement.refresh_from_db()
    adjustment = LedgerEntry.objects.get(engagement=engagement, kind="adjustment")
    assert written_since(mark) == [
        ("engagement.structure_customized", staff, engagement, engagement.partner_id,
         {"from_structure": before, "to_structure": engagement.structure_id}),
        ("ledger.adjustment_posted", staff, adjustment, engagement.partner_id,
         {"kind": "adjustment", "amount": "960", "currency": "USD",
          "effective_date": "2026-03-15", "engagement": engagement.pk}),
    ]  # fmt: skip


def test_adjustment_records_the_amount_but_not_the_reason():
    finance = staff_in("Finance")
    partner = PartnerFactory()

    entry, event = one_event_of(
        lambda: ledger_post_adjustment(
            partner=partner,
            amount=Decimal("-12.50"),
            currency="EUR",
            effective_date=D(2026, 7, 1),
            reason="Refund for a duplicate invoice",
            by=finance,
        )  # fmt: skip
    )

    assert event == (
        "ledger.adjustment_posted", finance, entry, partner.pk,
        {"kind": "adjustment", "amount": "-12.5", "currency": "EUR",
         "effective_date": "2026-07-01", "engagement": None},
    )  # fmt: skip


# --- Payout runs and statements -----------------------------------------------------


@pytest.fixture
def june_entries():
    """Two partners with June 2026 earnings: 300.00 USD and 80.00 EUR payable."""
    usd = EngagementFactory(currency="USD")
    eur = EngagementFactory(currency="EUR")
    post(usd, "cascade_reward", "300.00", D(2026, 6, 10))
    post(eur, "cascade_reward", "80.00", D(2026, 6, 12))
    return usd.partner, eur.partner


def test_payout_run_created_approved_and_paid(june_entries):
    usd_partner, eur_partner = june_entries
    maker, checker = staff_in("Finance"), staff_in("Finance")

    (run, created), creation = one_event_of(
        lambda: payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=maker)
    )
    _, approval = one_event_of(lambda: payout_run_approve(run=run, by=checker))
    mark = last_id()
    payout_run_mark_paid(run=run, by=checker, reference="BANK-REF-0001",
                         paid_on=D(2026, 7, 28))  # fmt: skip

    assert created
    assert creation == (
        "payout_run.created", maker, run, None,
        {"period": "2026-06", "to_status": "draft", "statements": 2,
         "payable": {"EUR": "80", "USD": "300"}},
    )  # fmt: skip
    assert approval == (
        "payout_run.approved", checker, run, None,
        {"period": "2026-06", "from_status": "draft", "to_status": "approved"},
    )  # fmt: skip
    usd_payout = LedgerEntry.objects.get(kind="payout", partner=usd_partner)
    eur_payout = LedgerEntry.objects.get(kind="payout", partner=eur_partner)
    usd_statement = Statement.objects.get(run=run, partner=usd_partner)
    eur_statement = Statement.objects.get(run=run, partner=eur_partner)
    payouts = sorted(
        [
            ("ledger.payout_posted", checker, usd_payout, usd_partner.pk,
             {"kind": "payout", "amount": "-300", "currency": "USD",
              "effective_date": "2026-07-28", "engagement": None,
              "statement": usd_statement.pk}),
            ("ledger.payout_posted", checker, eur_payout, eur_partner.pk,
             {"kind": "payout", "amount": "-80", "currency": "EUR",
              "effective_date": "2026-07-28", "engagement": None,
              "statement": eur_statement.pk}),
        ],
        key=lambda event: event[2].paid_statement_id,
    )  # fmt: skip
    assert written_since(mark) == [
        ("payout_run.paid", checker, run, None,
         {"period": "2026-06", "from_status": "approved", "to_status": "paid",
          "paid_on": "2026-07-28", "payouts": 2, "paid": {"EUR": "80", "USD": "300"}}),
        *payouts,
    ]  # fmt: skip


def test_a_run_created_again_or_by_the_monthly_job_records_what_happened(june_entries):
    (run, _), creation = one_event_of(
        lambda: payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1))
    )
    mark = last_id()

    again, created = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 2))

    assert (again, created) == (run, False)
    assert creation[:2] == ("payout_run.created", "payout job")
    assert written_since(mark) == []  # nothing changed


def test_a_refused_approval_records_nothing(june_entries):
    maker = staff_in("Finance")
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=maker)
    mark = last_id()

    with pytest.raises(Exception, match="cannot approve it too"):
        payout_run_approve(run=run, by=maker)

    assert written_since(mark) == []
    assert PayoutRun.objects.get(pk=run.pk).status == "draft"


def test_statement_issued_when_its_pdf_is_stored(june_entries):
    usd_partner, _ = june_entries
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1))
    statement = Statement.objects.get(run=run, partner=usd_partner)

    issued, event = one_event_of(lambda: statement_issue_pdf(statement.pk))

    assert event == (
        "statement.issued", "payout job", statement, usd_partner.pk,
        {"period": "2026-06", "currency": "USD", "payable": "300", "closing_balance": "0",
         "due_date": "2026-07-30", "pdf_sha256": issued.pdf_sha256},
    )  # fmt: skip
    mark = last_id()
    statement_issue_pdf(statement.pk)  # issued once: never rendered again
    assert written_since(mark) == []


# --- Signing links, signatures, verification and decisions ----------------------------


@pytest.fixture
def engagement():
    return engagement_with_outcome(acv="100000.00")  # its outcome needs verification


def sign(request, **values):
    return attestation_sign(
        token=signing_token(request), values={**SIGNER, **values}, ip=SIGNER_IP,
        user_agent="Mozilla/5.0",
    )  # fmt: skip


def test_signing_link_reissued_by_staff_revokes_the_open_one(engagement):
    ops = staff_in("Partner operations")
    agreement = engagement.outcome_agreement
    old = agreement.requests.get()
    mark = last_id()

    new = signing_request_issue(agreement=agreement, by=ops)

    partner = engagement.partner_id
    assert written_since(mark) == [
        ("signing_link.revoked", ops, old, partner,
         {"revoked_at": "2026-07-20T10:00:00+00:00", "replaced_by": new.pk}),
        ("signing_link.issued", ops, new, partner,
         {"purpose": "agreement", "agreement": agreement.pk, "outcome": None,
          "expires_at": "2026-08-03T10:00:00+00:00", "replaces": [old.pk]}),
    ]  # fmt: skip


def test_signing_link_revoked_by_staff(engagement):
    risk = staff_in("Risk")
    link = engagement.outcome_agreement.requests.get()

    revoked, event = one_event_of(lambda: signing_request_revoke(request=link, by=risk))

    assert revoked is True
    assert event == (
        "signing_link.revoked", risk, link, engagement.partner_id,
        {"revoked_at": "2026-07-20T10:00:00+00:00"},
    )  # fmt: skip
    mark = last_id()
    assert signing_request_revoke(request=link, by=risk) is False
    assert written_since(mark) == []


def test_agreement_signed_by_the_customer(engagement):
    agreement = engagement.outcome_agreement
    link = agreement.requests.get()

    attestation, event = one_event_of(lambda: sign(link))

    assert event == (
        "agreement.signed", "customer form", agreement, engagement.partner_id,
        {"attestation": attestation.pk, "signing_request": link.pk,
         "signed_at": "2026-07-20T10:00:00+00:00"},
    )  # fmt: skip


@pytest.fixture
def attested(engagement):
    """The agreement signed, the outcome attested (52 %): it waits for verification."""
    agreement = engagement.outcome_agreement
    sign(agreement.requests.get())
    outcome = agreement.outcomes.get()
    return sign(signing_request_issue(agreement=agreement, outcome=outcome),
                achieved_value=Decimal("52"), evidence_summary="Incident export")  # fmt: skip


def test_outcome_attested_by_the_customer(engagement):
    agreement = engagement.outcome_agreement
    sign(agreement.requests.get())
    outcome = agreement.outcomes.get()
    link = signing_request_issue(agreement=agreement, outcome=outcome)

    attestation, event = one_event_of(
        lambda: sign(link, achieved_value=Decimal("52.0"), evidence_summary="Incident export")
    )

    assert event == (
        "outcome.attested", "customer form", attestation, engagement.partner_id,
        {"attestation": attestation.pk, "signing_request": link.pk,
         "signed_at": "2026-07-20T10:00:00+00:00", "outcome": outcome.pk,
         "achieved_value": "52", "evidence_file": False},
    )  # fmt: skip


def test_outcome_attested_without_verification_is_accepted_on_signing():
    engagement = engagement_with_outcome(acv="48000.00")  # under the verification threshold
    agreement = engagement.outcome_agreement
    sign(agreement.requests.get())
    outcome = agreement.outcomes.get()
    link = signing_request_issue(agreement=agreement, outcome=outcome)
    mark = last_id()

    attestation = sign(link, achieved_value=Decimal("51"))

    decision = Decision.objects.get(attestation=attestation)
    assert [event[:4] for event in written_since(mark)] == [
        ("outcome.attested", "customer form", attestation, engagement.partner_id),
        ("attestation.accepted", "customer form", attestation, engagement.partner_id),
    ]
    assert written_since(mark)[1][4] == {
        "decision": decision.pk, "outcome": outcome.pk, "decided_on": "2026-07-20",
        "outcome_accepted_on": "2026-07-20",
    }  # fmt: skip


def test_verification_recorded_by_risk(attested):
    risk = staff_in("Risk")

    verification, event = one_event_of(
        lambda: verification_record(
            attestation=attested,
            source="auditor_report",
            verified_value=Decimal("50.5"),
            note="Audit by K. Smith",
            by=risk,
        )  # fmt: skip
    )

    assert event == (
        "attestation.verified", risk, attested, attested.agreement.engagement.partner_id,
        {"verification": verification.pk, "outcome": attested.outcome_id,
         "source": "auditor_report", "verified_value": "50.5"},
    )  # fmt: skip
    assert Verification.objects.get().recorded_by == risk


def test_attestation_accepted_by_risk_fires_the_outcome(attested):
    risk = staff_in("Risk")
    verification_record(attestation=attested, source="auditor_report",
                        verified_value=Decimal("51"), by=risk)  # fmt: skip

    decision, event = one_event_of(
        lambda: attestation_decide(
            attestation=attested, verdict="accepted", on=D(2026, 7, 20), by=risk
        )  # fmt: skip
    )

    assert event == (
        "attestation.accepted", risk, attested, attested.agreement.engagement.partner_id,
        {"decision": decision.pk, "outcome": attested.outcome_id, "decided_on": "2026-07-20",
         "outcome_accepted_on": "2026-07-20"},
    )  # fmt: skip


def test_attestation_rejected_keeps_its_reason_on_the_decision(attested):
    ops = staff_in("Partner operations")

    decision, event = one_event_of(
        lambda: attestation_decide(
            attestation=attested,
            verdict="rejected",
            on=D(2026, 7, 21),
            reason="Evidence is a screenshot",
            by=ops,
        )  # fmt: skip
    )

    assert event == (
        "attestation.rejected", ops, attested, attested.agreement.engagement.partner_id,
        {"decision": decision.pk, "outcome": attested.outcome_id, "decided_on": "2026-07-21"},
    )  # fmt: skip
    assert decision.reason == "Evidence is a screenshot"


# --- The door itself ------------------------------------------------------------------


def test_a_rolled_back_transaction_leaves_no_event():
    partner = PartnerFactory()
    mark = last_id()

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        partner_set_status(partner=partner, status="terminated", reason="Fraud")
        ops_token_issue(name="crm")
        1 / 0  # noqa: B018 (whatever fails later in the same transaction)

    assert written_since(mark) == []
    assert Partner.objects.get(pk=partner.pk).status == "active"
    assert not OpsToken.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_outside_a_transaction_is_refused():
    partner = PartnerFactory()
    draft = EventDraft(action=events.PARTNER_CREATED, subject_type_id=events.content_type_id(
        Partner), subject_id=partner.pk, system="test")  # fmt: skip

    with pytest.raises(RuntimeError, match="inside the transaction that makes its change"):
        event_record(events.PARTNER_CREATED, subject=partner, by=None)
    with pytest.raises(RuntimeError, match="inside the transaction that makes its change"):
        events_record([draft])

    assert not Event.objects.exists()


def test_events_are_append_only_through_the_orm():
    partner = PartnerFactory()
    event = event_record(events.PARTNER_CREATED, subject=partner, by="test", partner=partner)

    event.action = events.PARTNER_STATUS_CHANGED
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(data={"forged": True})
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()
    assert Event.objects.get(pk=event.pk).action == "partner.created"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql", ["UPDATE portal_event SET data = '{}' WHERE id = %s",
            "DELETE FROM portal_event WHERE id = %s"],
)  # fmt: skip
def test_postgresql_refuses_to_update_or_delete_an_event(sql):
    partner = PartnerFactory()
    event = event_record(events.PARTNER_CREATED, subject=partner, by="test", x="1")

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])

    assert Event.objects.get(pk=event.pk).data == {"x": "1"}


def test_the_database_wants_exactly_one_actor():
    partner = PartnerFactory()
    user = StaffUserFactory()
    subject = {"subject_type_id": events.content_type_id(Partner), "subject_id": partner.pk}
    for actors in [{}, {"actor_user": user, "actor_system": "evaluation"}]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Event.objects.create(action="partner.created", **subject, **actors)


def test_event_record_refuses_an_unknown_action_or_actor():
    partner = PartnerFactory()
    with pytest.raises(ValueError, match="Unknown event action 'partner.renamed'"):
        event_record("partner.renamed", subject=partner, by=None)
    with pytest.raises(TypeError, match="is a User, an OpsToken or a job's name"):
        event_record(events.PARTNER_CREATED, subject=partner, by=42)
    with pytest.raises(TypeError, match="Partner has no place in an event's data"):
        event_record(events.PARTNER_CREATED, subject=partner, by=None, partner_row=partner)


def test_events_record_writes_one_statement_per_batch_or_one_copy(monkeypatch):
    monkeypatch.setattr(events, "BATCH_SIZE", 2)
    partners = PartnerFactory.create_batch(5)
    partner_type = events.content_type_id(Partner)
    drafts = [
        EventDraft(
            action=events.STEP_FIRED,
            subject_type_id=partner_type,
            subject_id=p.pk,
            partner_id=p.pk,
            data={"amount": Decimal("10.00"), "on": D(2026, 5, 20)},
            system=events.EVALUATION,
        )  # fmt: skip
        for p in partners
    ]

    with CaptureQueriesContext(connection) as queries:
        written = events_record(drafts)

    inserts = [q for q in queries.captured_queries if q["sql"].startswith(("INSERT", "COPY"))]
    # PostgreSQL: one COPY, whatever the number; elsewhere one INSERT per batch of two.
    assert (written, len(inserts)) == (5, 1 if connection.vendor == "postgresql" else 3)
    assert list(Event.objects.order_by("id").values_list(
        "subject_id", "partner_id", "actor_system", "data")) == [
        (str(p.pk), p.pk, "evaluation", {"amount": "10", "on": "2026-05-20"}) for p in partners
    ]  # fmt: skip


def test_events_record_wants_exactly_one_actor_per_draft():
    draft = EventDraft(action=events.STEP_FIRED, subject_type_id=1, subject_id=1,
                       user_id=1, system="evaluation")  # fmt: skip
    with pytest.raises(ValueError, match="exactly one actor"):
        events_record([draft])


def test_json_safe_values():
    assert json_safe({
        "amount": Decimal("2.50"), "whole": Decimal("10.00"), "big": Decimal("1E+3"),
        "on": D(2026, 5, 1), "at": datetime.datetime(2026, 5, 1, 8, tzinfo=datetime.UTC),
        "status": PayoutRun.Status.APPROVED, "ids": (1, 2), "none": None, "flag": True,
        "nested": {"USD": Decimal("-0.10")},
    }) == {
        "amount": "2.5", "whole": "10", "big": "1000", "on": "2026-05-01",
        "at": "2026-05-01T08:00:00+00:00", "status": "approved", "ids": [1, 2], "none": None,
        "flag": True, "nested": {"USD": "-0.1"},
    }  # fmt: skip


# --- The admin ------------------------------------------------------------------------


def test_the_history_page_of_a_payout_run_lists_its_events(client, june_entries):
    maker, checker = staff_in("Finance"), staff_in("Finance")
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=maker)
    payout_run_approve(run=run, by=checker)
    client.force_login(staff_in("Finance"))  # who may see the run sees its events

    response = client.get(f"/admin/payouts/payoutrun/{run.pk}/history/")

    assert response.status_code == 200
    assert [(row["action"], row["actor"]) for row in response.context["events"]] == [
        ("payout_run.created", maker.email),
        ("payout_run.approved", checker.email),
    ]
    assert response.context["events_total"] == 2
    assert response.context["events"][1]["data"] == [
        ("from_status", "draft"),
        ("period", "2026-06"),
        ("to_status", "approved"),
    ]
    html = response.text
    assert html.index("payout_run.created") < html.index("payout_run.approved")
    assert "from_status: draft" in html
    assert "2 events." in html


def test_a_long_history_links_to_all_of_the_objects_events(client, june_entries, monkeypatch):
    monkeypatch.setattr(payouts_admin.PayoutRunAdmin, "history_events_shown", 1)
    finance = staff_in("Finance")
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=finance)
    payout_run_approve(run=run, by=staff_in("Finance"))
    client.force_login(finance)

    response = client.get(f"/admin/payouts/payoutrun/{run.pk}/history/")

    assert [row["action"] for row in response.context["events"]] == ["payout_run.approved"]
    assert "The latest 1 of 2 events" in response.text
    listed = client.get(response.context["events_url"])
    assert [event.action for event in listed.context["cl"].result_list] == [
        "payout_run.approved",
        "payout_run.created",
    ]


def test_the_history_page_shows_no_events_to_staff_without_the_right(client, june_entries):
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1))
    Group.objects.get(name="Finance").permissions.remove(
        Permission.objects.get(codename="view_event")
    )
    client.force_login(staff_in("Finance"))

    response = client.get(f"/admin/payouts/payoutrun/{run.pk}/history/")

    assert response.status_code == 200
    assert "events" not in response.context
    assert "payout_run.created" not in response.text


def test_nobody_changes_an_event_in_the_admin_not_even_a_superuser(client):
    partner = PartnerFactory()
    event = event_record(events.PARTNER_CREATED, subject=partner, by="test", partner=partner,
                         external_id=partner.external_id)  # fmt: skip
    client.force_login(staff_in(None, is_superuser=True))
    page = f"/admin/portal/event/{event.pk}/change/"

    shown = client.get(page)
    changed = client.post(page, {"action": "forged"})
    deleted = client.post(f"/admin/portal/event/{event.pk}/delete/", {"post": "yes"})
    listed = client.get("/admin/portal/event/", {"q": str(partner.pk), "actor": "system"})

    assert (shown.status_code, changed.status_code, deleted.status_code) == (200, 403, 403)
    assert "partner.created" in shown.text and 'name="_save"' not in shown.text
    assert list(listed.context["cl"].result_list) == [event]
    assert Event.objects.get(pk=event.pk).action == "partner.created"


# --- No personal data -----------------------------------------------------------------


def test_no_event_holds_an_email_address_or_what_people_typed(client, june_entries):
    """Every service above, once: the events name people and text by id only."""
    ops, risk = staff_in("Partner operations"), staff_in("Risk")
    maker, checker = staff_in("Finance"), staff_in("Finance")
    token_row, _ = ops_token_issue(name="crm")
    partner = partner_create(external_id="acme", name="Acme Resellers", tier="silver",
                             tier_effective=D(2026, 1, 1), by=token_row)  # fmt: skip
    partner_tier_change(partner=partner, tier="gold", effective=D(2026, 6, 1), by=ops,
                        note="Gold from June, as agreed with Jane Doe")  # fmt: skip
    partner_set_status(partner=partner, status="under_review", reason="Call from jane@x.example",
                       by=risk)  # fmt: skip
    engagement = engagement_with_outcome(acv="100000.00")
    agreement = engagement.outcome_agreement
    sign(agreement.requests.get())
    outcome = agreement.outcomes.get()
    attestation = sign(signing_request_issue(agreement=agreement, outcome=outcome, by=ops),
                       achieved_value=Decimal("52"),
                       evidence_summary="Export by dana@globex.example")  # fmt: skip
    verification_record(attestation=attestation, source="auditor_report",
                        verified_value=Decimal("51"), note="Checked with bob@audit.example",
                        by=risk)  # fmt: skip
    attestation_decide(attestation=attestation, verdict="accepted", on=D(2026, 7, 20), by=risk)
    ledger_post_adjustment(partner=partner, amount=Decimal("25.00"), currency="USD",
                           effective_date=D(2026, 6, 30), reason="Goodwill for Jane Doe",
                           by=maker)  # fmt: skip
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=maker)
    payout_run_approve(run=run, by=checker)
    payout_run_mark_paid(run=run, by=checker, reference="Transfer by Fred Finance",
                         paid_on=D(2026, 7, 28))  # fmt: skip
    statement_issue_pdf(run.statements.order_by("id").first().pk)
    signing_request_revoke(request=SigningRequest.objects.create(
        agreement=agreement, outcome=outcome, purpose="outcome", token="0" * 32,
        sent_to="it@globex.example", expires_at=NOW), by=ops)  # fmt: skip
    ops_token_revoke(token=token_row, by=staff_in(None, is_superuser=True))
    signup = {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"}
    structure_publish(document=document(signup), by=ops)
    engagement_structure_customize(engagement=EngagementFactory(),
                                   document=document(signup, commission="11"), by=ops)  # fmt: skip

    written = list(Event.objects.values_list("action", "data"))
    evaluation = {events.STEP_FIRED, events.STEP_MISSED, events.STEP_VOIDED,
                  events.STEP_CLAWED_BACK, events.STEP_REVERSED}  # fmt: skip
    not_here = {events.ATTESTATION_REJECTED}  # its data: test_attestation_rejected_...
    assert {action for action, _ in written} == events.ACTIONS - evaluation - not_here
    text = json.dumps([data for _, data in written])
    assert EMAIL.findall(text) == []
    for personal in [
        "Dana",
        "Scully",
        "Jane",
        "Fred",
        SIGNER_IP,
        "Mozilla",
        "Export",
        "Checked",
        "Goodwill",
        "Transfer",
        "Call from",
        "Acme Resellers",
    ]:
        assert personal not in text
