"""The ops API over HTTP (SPEC §9): partners, structures, engagements, signals, evaluations."""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from attestations.models import Outcome, OutcomeAgreement
from cascades.models import (
    CascadeStructure,
    Clawback,
    Customer,
    Engagement,
    EvaluationRun,
    Reward,
    Signal,
)
from payouts.models import LedgerEntry
from portal.models import Partner, TierChange
from portal.tokens import ops_token_issue
from tests.cascades.factories import CustomerFactory, EngagementFactory, SignalFactory
from tests.portal.factories import PartnerFactory, TierChangeFactory

pytestmark = pytest.mark.django_db

AUTHORIZED_2027_SNAPSHOT = {
    "name": "Authorized 2027",
    "tier": "authorized",
    "standard_commission_percent": "10",
    "clawback": {"window_days": 90, "percent": "100"},
    "steps": [
        {"key": "signup", "kind": "signup", "opens_after_months": 0, "closes_after_days": 0,
         "percent": "5", "basis": "year1_acv"},
        {"key": "active_3m", "kind": "tenure", "opens_after_months": 3, "closes_after_days": 0,
         "percent": "2", "basis": "year1_acv"},
        {"key": "active_6m", "kind": "tenure", "opens_after_months": 6, "closes_after_days": 0,
         "percent": "3", "basis": "year1_acv"},
        {"key": "renewal_1", "kind": "retention", "opens_after_months": 12,
         "closes_after_days": 60, "percent": "5", "basis": "year1_acv", "contract_year": 1},
        {"key": "renewal_2", "kind": "retention", "opens_after_months": 24,
         "closes_after_days": 60, "percent": "5", "basis": "year2_acv", "contract_year": 2},
        {"key": "renewal_3", "kind": "retention", "opens_after_months": 36,
         "closes_after_days": 60, "percent": "5", "basis": "year3_acv", "contract_year": 3},
        {"key": "outcome", "kind": "outcome", "opens_after_months": 0, "closes_after_days": 90,
         "percent": "10", "basis": "year1_acv"},
    ],
}  # fmt: skip


@pytest.fixture
def ops():
    _, token = ops_token_issue(name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def deal(**overrides):
    """An engagement request body; `overrides` replace its fields."""
    return {
        "external_id": "deal-1",
        "partner": "acme-partners",
        "customer": {"external_id": "globex", "name": "Globex",
                     "contact_email": "ops@globex.example"},
        "signed_at": "2026-01-15",
        "currency": "USD",
        "year1_acv": "60000.00",
        **overrides,
    }  # fmt: skip


def outcome(**overrides):
    return {
        "key": "uptime",
        "title": "Uptime of the customer's checkout",
        "methodology": "Monthly availability from the customer's status page.",
        "target": "99.9",
        "unit": "percent",
        "due_months": 6,
        **overrides,
    }


def structure_document(**overrides):
    """A valid authorized structure in canonical form, different from the default one."""
    return {
        "name": "Authorized 2028",
        "tier": "authorized",
        "standard_commission_percent": "11",
        "clawback": {"window_days": 60, "percent": "50"},
        "steps": [
            {"key": "signup", "kind": "signup", "percent": "6", "basis": "year1_acv"},
            {"key": "active_3m", "kind": "tenure", "opens_after_months": 3, "percent": "2.5",
             "basis": "year1_acv"},
            {"key": "renewal_1", "kind": "retention", "contract_year": 1, "percent": "5",
             "basis": "year1_acv"},
        ],
        **overrides,
    }  # fmt: skip


def signal(**fields):
    return {"customer": "globex", "occurred_at": "2026-02-10", **fields}


def rows():
    """Row counts of everything the ops API writes."""
    models = (Partner, TierChange, CascadeStructure, Customer, Engagement, LedgerEntry,
              OutcomeAgreement, Outcome, Signal, Reward, Clawback, EvaluationRun)  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


def steps_by_key(body):
    return {step["key"]: step for step in body["steps"]}


# Partners


def test_partner_create_returns_201_with_its_tier_history(ops):
    response = ops.post(
        "/api/v1/ops/partners/",
        {
            "external_id": "acme-partners",
            "name": "Acme Partners",
            "tier": "silver",
            "tier_effective": "2026-01-01",
        },  # fmt: skip
        format="json",
    )

    assert response.status_code == 201
    assert response.json() == {
        "external_id": "acme-partners",
        "name": "Acme Partners",
        "status": "active",
        "tiers": [{"tier": "silver", "effective": "2026-01-01"}],
    }
    partner = Partner.objects.get()
    assert partner.tier_on(datetime.date(2025, 12, 31)) is None
    assert partner.tier_on(datetime.date(2026, 1, 1)) == "silver"


def test_partner_create_with_duplicate_external_id_is_400_naming_external_id(ops):
    PartnerFactory(external_id="acme-partners", name="Acme Partners")
    before = rows()

    response = ops.post(
        "/api/v1/ops/partners/",
        {
            "external_id": "acme-partners",
            "name": "Another Acme",
            "tier": "gold",
            "tier_effective": "2026-01-01",
        },  # fmt: skip
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"external_id"}
    assert rows() == before
    assert Partner.objects.get().name == "Acme Partners"


def test_partner_create_with_unknown_tier_is_400_naming_tier(ops):
    before = rows()

    response = ops.post(
        "/api/v1/ops/partners/",
        {
            "external_id": "acme-partners",
            "name": "Acme Partners",
            "tier": "diamond",
            "tier_effective": "2026-01-01",
        },  # fmt: skip
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"tier"}
    assert rows() == before


def test_partner_create_without_fields_is_400_naming_each_missing_field(ops):
    before = rows()

    response = ops.post("/api/v1/ops/partners/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"external_id", "name", "tier", "tier_effective"}
    assert rows() == before


def test_tier_change_returns_201_with_the_whole_tier_history(ops):
    PartnerFactory(external_id="acme-partners", name="Acme Partners")  # authorized from 2020-01-01

    response = ops.post(
        "/api/v1/ops/partners/acme-partners/tier/",
        {"tier": "gold", "effective": "2026-06-01"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["tiers"] == [
        {"tier": "authorized", "effective": "2020-01-01"},
        {"tier": "gold", "effective": "2026-06-01"},
    ]
    partner = Partner.objects.get()
    assert partner.tier_on(datetime.date(2026, 5, 31)) == "authorized"
    assert partner.tier_on(datetime.date(2026, 6, 1)) == "gold"


def test_second_tier_change_on_the_same_effective_date_is_400_naming_effective(ops):
    partner = PartnerFactory(external_id="acme-partners")
    TierChangeFactory(partner=partner, tier="gold", effective=datetime.date(2026, 6, 1))
    before = rows()

    response = ops.post(
        "/api/v1/ops/partners/acme-partners/tier/",
        {"tier": "platinum", "effective": "2026-06-01"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"effective"}
    assert rows() == before
    assert partner.tier_on(datetime.date(2026, 6, 1)) == "gold"


def test_tier_change_with_unknown_tier_is_400_naming_tier(ops):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post(
        "/api/v1/ops/partners/acme-partners/tier/",
        {"tier": "diamond", "effective": "2026-06-01"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"tier"}
    assert rows() == before


def test_tier_change_of_unknown_partner_is_404(ops):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post(
        "/api/v1/ops/partners/nobody/tier/",
        {"tier": "gold", "effective": "2026-06-01"},
        format="json",
    )

    assert response.status_code == 404
    assert rows() == before


# Structures


def test_structure_post_becomes_version_2_of_its_tier(ops):
    # The migration loaded "Authorized 2027" as version 1.
    assert list(
        CascadeStructure.objects.filter(tier="authorized").values_list("version", "name")
    ) == [(1, "Authorized 2027")]

    response = ops.post("/api/v1/ops/structures/", structure_document(), format="json")

    assert response.status_code == 201
    assert response.json() == {
        "tier": "authorized",
        "version": 2,
        "name": "Authorized 2028",
        "document": structure_document(),
    }
    assert CascadeStructure.objects.current_for("authorized").version == 2
    assert CascadeStructure.objects.current_for("silver").version == 1


def test_new_structure_applies_to_new_engagements_only(ops):
    PartnerFactory(external_id="acme-partners")
    before = ops.post("/api/v1/ops/engagements/", deal(external_id="deal-before"), format="json")
    assert before.status_code == 201

    assert (
        ops.post("/api/v1/ops/structures/", structure_document(), format="json").status_code == 201
    )
    after = ops.post(
        "/api/v1/ops/engagements/",
        deal(external_id="deal-after", customer={"external_id": "initech", "name": "Initech",
                                                 "contact_email": "ops@initech.example"}),
        format="json",
    )  # fmt: skip

    assert after.status_code == 201
    created = after.json()
    assert created["structure"] == {"name": "Authorized 2028", "version": 2, "custom": False}
    assert created["snapshot"] == {
        "name": "Authorized 2028",
        "tier": "authorized",
        "standard_commission_percent": "11",
        "clawback": {"window_days": 60, "percent": "50"},
        "steps": [
            {"key": "signup", "kind": "signup", "opens_after_months": 0, "closes_after_days": 0,
             "percent": "6", "basis": "year1_acv"},
            {"key": "active_3m", "kind": "tenure", "opens_after_months": 3,
             "closes_after_days": 0, "percent": "2.5", "basis": "year1_acv"},
            {"key": "renewal_1", "kind": "retention", "opens_after_months": 12,
             "closes_after_days": 60, "percent": "5", "basis": "year1_acv", "contract_year": 1},
        ],
    }  # fmt: skip
    # 11 %, 6 %, 2.5 % and 5 % of 60,000.00.
    assert created["standard_commission"] == "6600.00"
    assert {s["key"]: s["expected_amount"] for s in created["steps"]} == {
        "signup": "3600.00",
        "active_3m": "1500.00",
        "renewal_1": "3000.00",
    }
    old = ops.get("/api/v1/ops/engagements/deal-before/").json()
    assert old["structure"] == {"name": "Authorized 2027", "version": 1, "custom": False}
    assert old["snapshot"] == AUTHORIZED_2027_SNAPSHOT
    assert old["standard_commission"] == "6000.00"
    assert Engagement.objects.get(external_id="deal-before").snapshot == AUTHORIZED_2027_SNAPSHOT


@pytest.mark.parametrize(
    ("steps", "expected_keys"),
    [
        (
            [{"key": "renewal", "kind": "retention", "percent": "5", "basis": "year1_acv"}],
            {"steps[0].contract_year"},
        ),
        (
            [
                {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"},
                {"key": "signup", "kind": "tenure", "opens_after_months": 3, "percent": "2",
                 "basis": "year1_acv"},
            ],
            {"steps[1].key"},
        ),
        ([{"key": "bonus", "kind": "lottery", "percent": "5", "basis": "year1_acv"}],
         {"steps[0].kind"}),
        ([{"key": "signup", "kind": "signup", "percent": 5.5, "basis": "year1_acv"}],
         {"steps[0].percent"}),
        ([{"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv",
           "amount": "10"}],
         {"steps[0].percent"}),
        ([{"key": "signup", "kind": "signup", "percent": "5", "basis": "expansion_acv_delta"}],
         {"steps[0].basis"}),
        ([{"key": "adopt", "kind": "adoption", "percent": "3", "basis": "year1_acv"}],
         {"steps[0].min_active_members"}),
        ([{"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv",
           "contract_year": 1}],
         {"steps[0].contract_year"}),
        ([], {"steps"}),
    ],
    ids=["retention-without-contract-year", "duplicate-key", "unknown-kind", "float-percent",
         "percent-and-amount", "expansion-basis-outside-expansion", "adoption-without-threshold",
         "field-of-another-kind", "no-steps"],
)  # fmt: skip
def test_invalid_structure_is_400_naming_each_field_path(ops, steps, expected_keys):
    before = rows()

    response = ops.post("/api/v1/ops/structures/", structure_document(steps=steps), format="json")

    assert response.status_code == 400
    assert set(response.json()) == expected_keys
    assert rows() == before


def test_invalid_structure_top_level_fields_are_named(ops):
    document = structure_document(tier="diamond", colour="blue",
                                  clawback={"window_days": -1, "percent": "101"})  # fmt: skip
    del document["name"]
    before = rows()

    response = ops.post("/api/v1/ops/structures/", document, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {
        "name",
        "tier",
        "colour",
        "clawback.window_days",
        "clawback.percent",
    }
    assert rows() == before


# Engagements


def test_engagement_create_returns_201_with_snapshot_and_expected_amounts(ops):
    PartnerFactory(external_id="acme-partners")

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(signed_at="2026-01-31", currency="EUR", year1_acv="48250.50"),
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "deal-1"
    assert body["partner"] == "acme-partners"
    assert body["customer"] == {
        "external_id": "globex",
        "name": "Globex",
        "contact_email": "ops@globex.example",
    }
    assert body["signed_at"] == "2026-01-31"
    assert body["tier"] == "authorized"
    assert body["currency"] == "EUR"
    assert (body["year1_acv"], body["year2_acv"], body["year3_acv"]) == (
        "48250.50",
        "48250.50",
        "48250.50",
    )
    assert body["structure"] == {"name": "Authorized 2027", "version": 1, "custom": False}
    assert body["snapshot"] == AUTHORIZED_2027_SNAPSHOT
    # 10 % of 48,250.50 = 4,825.05.
    assert body["standard_commission"] == "4825.05"
    # Half-up to cents: 5 % = 2,412.525 → 2,412.53; 3 % = 1,447.515 → 1,447.52.
    assert [
        (s["key"], s["kind"], s["opens"], s["closes"], s["expected_amount"], s["currency"])
        for s in body["steps"]
    ] == [
        ("signup", "signup", "2026-01-31", "2026-01-31", "2412.53", "EUR"),
        ("active_3m", "tenure", "2026-04-30", "2026-04-30", "965.01", "EUR"),
        ("active_6m", "tenure", "2026-07-31", "2026-07-31", "1447.52", "EUR"),
        ("renewal_1", "retention", "2027-01-31", "2027-04-01", "2412.53", "EUR"),
        ("renewal_2", "retention", "2028-01-31", "2028-03-31", "2412.53", "EUR"),
        ("renewal_3", "retention", "2029-01-31", "2029-04-01", "2412.53", "EUR"),
        ("outcome", "outcome", "2026-01-31", "2026-05-01", "4825.05", "EUR"),
    ]
    engagement = Engagement.objects.get()
    assert (engagement.year1_acv, engagement.currency) == (Decimal("48250.50"), "EUR")
    assert Customer.objects.get().external_id == "globex"


def test_engagement_create_posts_the_standard_commission_on_the_signing_date(ops):
    PartnerFactory(external_id="acme-partners")

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(signed_at="2026-01-31", currency="EUR", year1_acv="48250.50"),
        format="json",
    )

    assert response.status_code == 201
    entry = LedgerEntry.objects.get()
    assert entry.kind == "standard_commission"
    assert entry.partner.external_id == "acme-partners"
    assert entry.engagement.external_id == "deal-1"
    assert entry.amount == Decimal("4825.05")
    assert entry.currency == "EUR"
    assert entry.effective_date == datetime.date(2026, 1, 31)


def test_engagement_signed_before_a_tier_change_gets_the_old_tiers_structure(ops):
    partner = PartnerFactory(external_id="acme-partners")  # authorized from 2020-01-01
    TierChangeFactory(partner=partner, tier="gold", effective=datetime.date(2026, 6, 1))

    response = ops.post(
        "/api/v1/ops/engagements/", deal(signed_at="2026-05-31", year1_acv="80000.00"),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    body = response.json()
    assert body["tier"] == "authorized"
    assert body["snapshot"]["name"] == "Authorized 2027"
    assert body["standard_commission"] == "8000.00"  # 10 % of 80,000.00


def test_engagement_signed_on_the_tier_change_date_gets_the_new_tiers_structure(ops):
    partner = PartnerFactory(external_id="acme-partners")
    TierChangeFactory(partner=partner, tier="gold", effective=datetime.date(2026, 6, 1))

    on_date = ops.post(
        "/api/v1/ops/engagements/", deal(signed_at="2026-06-01", year1_acv="80000.00"),
        format="json",
    )  # fmt: skip
    after = ops.post(
        "/api/v1/ops/engagements/",
        deal(external_id="deal-2", signed_at="2026-09-30", year1_acv="80000.00"),
        format="json",
    )

    assert on_date.status_code == 201
    assert after.status_code == 201
    for body in (on_date.json(), after.json()):
        assert body["tier"] == "gold"
        assert body["snapshot"]["name"] == "Gold 2027"
        assert body["structure"] == {"name": "Gold 2027", "version": 1, "custom": False}
        assert body["standard_commission"] == "12000.00"  # 15 % of 80,000.00
        assert steps_by_key(body)["signup"]["expected_amount"] == "5600.00"  # 7 %


def test_engagement_of_terminated_partner_is_400_naming_partner_and_writes_nothing(ops):
    PartnerFactory(external_id="acme-partners", status=Partner.Status.TERMINATED)
    before = rows()

    response = ops.post(
        "/api/v1/ops/engagements/", deal(outcomes=[outcome()]), format="json"
    )  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()) == {"partner"}
    assert rows() == before
    assert before["Engagement"] == before["LedgerEntry"] == before["Customer"] == 0


def test_engagement_of_terminated_partner_leaves_an_existing_customer_unchanged(ops):
    PartnerFactory(external_id="acme-partners", status=Partner.Status.TERMINATED)
    CustomerFactory(external_id="globex", name="Globex Corporation",
                    contact_email="billing@globex.example")  # fmt: skip
    before = rows()

    response = ops.post("/api/v1/ops/engagements/", deal(), format="json")

    assert response.status_code == 400
    assert rows() == before
    customer = Customer.objects.get()
    assert (customer.name, customer.contact_email) == (
        "Globex Corporation",
        "billing@globex.example",
    )


def test_engagement_of_unknown_partner_is_400_naming_partner(ops):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post("/api/v1/ops/engagements/", deal(partner="nobody"), format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"partner"}
    assert rows() == before


def test_engagement_with_duplicate_external_id_is_400_and_writes_nothing(ops):
    PartnerFactory(external_id="acme-partners")
    assert ops.post("/api/v1/ops/engagements/", deal(), format="json").status_code == 201
    before = rows()

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(customer={"external_id": "initech", "name": "Initech",
                       "contact_email": "ops@initech.example"}),
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()) == {"external_id"}
    assert rows() == before
    assert before["Engagement"] == before["LedgerEntry"] == before["Customer"] == 1


def test_engagement_signed_before_the_partners_first_tier_is_400_naming_signed_at(ops):
    PartnerFactory(external_id="acme-partners")  # authorized from 2020-01-01
    before = rows()

    response = ops.post("/api/v1/ops/engagements/", deal(signed_at="2019-12-31"), format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"signed_at"}
    assert rows() == before


def test_engagement_with_bad_fields_is_400_naming_each_and_writes_nothing(ops):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(signed_at="2026-02-30", currency="XYZ", year1_acv="lots",
             customer={"external_id": "globex", "name": "Globex", "contact_email": "not-an-email"}),
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"signed_at", "currency", "year1_acv", "customer"}
    assert set(body["customer"]) == {"contact_email"}
    assert rows() == before


def test_engagement_for_a_tier_without_structure_is_400_naming_partner(ops):
    CascadeStructure.objects.filter(tier="silver").delete()
    PartnerFactory(external_id="acme-partners", tier__tier="silver")
    before = rows()

    response = ops.post("/api/v1/ops/engagements/", deal(), format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"partner"}
    assert rows() == before


def test_engagement_currency_defaults_to_usd(ops):
    PartnerFactory(external_id="acme-partners")
    body = deal()
    del body["currency"]

    response = ops.post("/api/v1/ops/engagements/", body, format="json")

    assert response.status_code == 201
    assert response.json()["currency"] == "USD"
    assert Engagement.objects.get().currency == "USD"


def test_engagement_get_with_bad_as_of_is_400_naming_as_of(ops):
    EngagementFactory(external_id="deal-1")

    response = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-02-30")

    assert response.status_code == 400
    assert set(response.json()) == {"as_of"}


def test_engagement_get_of_unknown_engagement_is_404(ops):
    EngagementFactory(external_id="deal-1")

    response = ops.get("/api/v1/ops/engagements/deal-404/")

    assert response.status_code == 404


def test_engagement_outcomes_make_an_agreement_with_outcome_rows(ops):
    PartnerFactory(external_id="acme-partners")

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(outcomes=[outcome(), outcome(key="tickets", title="Fewer support tickets",
                                          target="25", unit="percent", due_months=12)]),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    agreement = OutcomeAgreement.objects.get()
    assert agreement.engagement.external_id == "deal-1"
    assert agreement.signed_at is None
    assert [
        (o.key, o.title, o.methodology, o.target, o.unit, o.due_months)
        for o in agreement.outcomes.order_by("key")
    ] == [
        ("tickets", "Fewer support tickets",
         "Monthly availability from the customer's status page.", Decimal("25"), "percent", 12),
        ("uptime", "Uptime of the customer's checkout",
         "Monthly availability from the customer's status page.", Decimal("99.9"), "percent", 6),
    ]  # fmt: skip
    # The outcome step stays open 90 days after the latest due date (Jan 15 + 12 months).
    assert steps_by_key(response.json())["outcome"]["closes"] == "2027-04-15"


def test_outcome_reward_of_exactly_10000_requires_verification(ops):
    PartnerFactory(external_id="acme-partners")

    # 10 % of 100,000.00 = 10,000.00: at the threshold.
    response = ops.post(
        "/api/v1/ops/engagements/", deal(year1_acv="100000.00", outcomes=[outcome()]),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    assert steps_by_key(response.json())["outcome"]["expected_amount"] == "10000.00"
    assert Outcome.objects.get().verification_required is True


def test_outcome_reward_of_9999_99_needs_no_verification(ops):
    PartnerFactory(external_id="acme-partners")

    # 10 % of 99,999.90 = 9,999.99: a cent under the threshold.
    response = ops.post(
        "/api/v1/ops/engagements/", deal(year1_acv="99999.90", outcomes=[outcome()]),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    assert steps_by_key(response.json())["outcome"]["expected_amount"] == "9999.99"
    assert Outcome.objects.get().verification_required is False


def test_engagement_without_outcomes_has_no_agreement(ops):
    PartnerFactory(external_id="acme-partners")

    response = ops.post("/api/v1/ops/engagements/", deal(), format="json")

    assert response.status_code == 201
    assert OutcomeAgreement.objects.count() == 0


def test_engagement_with_duplicate_outcome_keys_is_400_naming_outcomes(ops):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post(
        "/api/v1/ops/engagements/", deal(outcomes=[outcome(), outcome(title="Again")]),
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()) == {"outcomes"}
    assert rows() == before


# Signals

EVERY_SIGNAL_TYPE = [
    signal(id="s-01", type="active_members", value=40, member_ids=["m-1a2b", "m-3c4d"]),
    signal(id="s-02", type="vault_size_gb", value="512.5"),
    signal(id="s-03", type="zone_count", value=6),
    signal(id="s-04", type="renewal", contract_year=1, acv="52000.00", occurred_at="2027-01-10"),
    signal(id="s-05", type="plan_upgrade", acv_delta="12000.00"),
    signal(id="s-06", type="org_added", acv_delta="2500.50"),
    signal(id="s-07", type="marketplace_purchase", acv_delta="99.99"),
    signal(id="s-08", type="csat", score="9.5"),
    signal(id="s-09", type="churn", occurred_at="2026-08-01"),
    signal(id="s-10", type="chargeback", amount="1250.00", occurred_at="2026-07-01"),
]


def test_every_signal_type_is_accepted_with_its_fields(ops):
    CustomerFactory(external_id="globex")

    response = ops.post("/api/v1/ops/signals/", {"signals": EVERY_SIGNAL_TYPE}, format="json")

    assert response.status_code == 201
    # No engagement for this customer yet: nothing to evaluate.
    assert response.json() == {"created": 10, "duplicates": 0, "evaluation": None}
    stored = {
        s.signal_id: (s.type, s.occurred_at, s.value, s.amount, s.contract_year, s.member_ids)
        for s in Signal.objects.all()
    }
    feb_10 = datetime.date(2026, 2, 10)
    assert stored == {
        "s-01": ("active_members", feb_10, Decimal("40"), None, None, ["m-1a2b", "m-3c4d"]),
        "s-02": ("vault_size_gb", feb_10, Decimal("512.5"), None, None, None),
        "s-03": ("zone_count", feb_10, Decimal("6"), None, None, None),
        "s-04": ("renewal", datetime.date(2027, 1, 10), None, Decimal("52000.00"), 1, None),
        "s-05": ("plan_upgrade", feb_10, None, Decimal("12000.00"), None, None),
        "s-06": ("org_added", feb_10, None, Decimal("2500.50"), None, None),
        "s-07": ("marketplace_purchase", feb_10, None, Decimal("99.99"), None, None),
        "s-08": ("csat", feb_10, Decimal("9.5"), None, None, None),
        "s-09": ("churn", datetime.date(2026, 8, 1), None, None, None, None),
        "s-10": ("chargeback", datetime.date(2026, 7, 1), None, Decimal("1250.00"), None, None),
    }
    assert {s.customer.external_id for s in Signal.objects.all()} == {"globex"}


def test_renewal_signal_without_acv_is_accepted(ops):
    CustomerFactory(external_id="globex")

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="renewal", contract_year=2)]},
        format="json",
    )

    assert response.status_code == 201
    assert (Signal.objects.get().contract_year, Signal.objects.get().amount) == (2, None)


def test_signals_for_a_customer_with_an_engagement_enqueue_its_evaluation(
    ops, django_capture_on_commit_callbacks
):
    engagement = EngagementFactory(
        customer=CustomerFactory(external_id="globex"),
        signed_at=datetime.date(2026, 1, 15),
        year1_acv=Decimal("60000.00"),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            "/api/v1/ops/signals/",
            {"as_of": "2026-04-30", "signals": [signal(id="s-1", type="csat", score=8)]},
            format="json",
        )

    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["duplicates"]) == (1, 0)
    assert body["evaluation"]["as_of"] == "2026-04-30"
    run = EvaluationRun.objects.get(pk=body["evaluation"]["id"])
    assert run.status == "done"
    # As of Apr 30: signup (Jan 15, 5 %) and 3 months active (Apr 15, 2 %) fired.
    assert sorted(engagement.rewards.values_list("step_key", "trigger_date", "amount")) == [
        ("active_3m", datetime.date(2026, 4, 15), Decimal("1200.00")),
        ("signup", datetime.date(2026, 1, 15), Decimal("3000.00")),
    ]


def test_signal_batch_with_item_missing_value_is_400_naming_index_and_field_and_stores_none(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-1", type="active_members", value=40),
            signal(id="s-2", type="churn"),
            signal(id="s-3", type="zone_count"),
        ]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"signals"}
    assert set(body["signals"]) == {"2"}
    assert set(body["signals"]["2"]) == {"value"}
    assert rows() == before
    assert Signal.objects.count() == 0


def test_signal_batch_with_unknown_customer_is_400_naming_index_and_customer(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-1", type="churn"),
            signal(id="s-2", type="churn", customer="nobody"),
        ]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"signals"}
    assert set(body["signals"]) == {"1"}
    assert set(body["signals"]["1"]) == {"customer"}
    assert rows() == before


def test_signal_with_unknown_field_is_400_naming_the_field(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="churn", reason="too expensive")]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["signals"]["0"].keys() == {"reason"}
    assert rows() == before


def test_signal_batch_names_every_bad_field_of_every_bad_item(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-1", type="csat", score=11),
            signal(id="s-2", type="churn"),
            signal(id="s-3", type="plan_upgrade", acv_delta=12.5, occurred_at="2026-02-30"),
            signal(id="s-4", type="weather"),
        ]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    errors = response.json()["signals"]
    assert {index: set(fields) for index, fields in errors.items()} == {
        "0": {"score"},
        "2": {"acv_delta", "occurred_at"},
        "3": {"type"},
    }
    assert rows() == before


def test_signal_batch_that_is_not_a_list_is_400_naming_signals(ops):
    before = rows()

    for body in ({"signals": []}, {"signals": "s-1"}, {}):
        response = ops.post("/api/v1/ops/signals/", body, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"signals"}
    assert rows() == before


def test_same_signal_batch_twice_is_a_no_op_the_second_time(ops):
    CustomerFactory(external_id="globex")
    batch = {"signals": [signal(id="s-1", type="active_members", value=40),
                         signal(id="s-2", type="churn")]}  # fmt: skip
    first = ops.post("/api/v1/ops/signals/", batch, format="json")
    assert first.status_code == 201
    assert (first.json()["created"], first.json()["duplicates"]) == (2, 0)
    before = rows()

    second = ops.post("/api/v1/ops/signals/", batch, format="json")

    assert second.status_code == 200
    assert second.json() == {"created": 0, "duplicates": 2, "evaluation": None}
    assert rows() == before


def test_signal_batch_with_some_known_ids_stores_only_the_new_ones(ops):
    CustomerFactory(external_id="globex")
    SignalFactory(signal_id="s-1", customer=Customer.objects.get(), type="churn",
                  occurred_at=datetime.date(2026, 2, 10))  # fmt: skip

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="churn"), signal(id="s-2", type="zone_count", value=3)]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json() == {"created": 1, "duplicates": 1, "evaluation": None}
    assert sorted(Signal.objects.values_list("signal_id", flat=True)) == ["s-1", "s-2"]


def test_same_signal_id_with_another_body_is_409_and_stores_nothing_of_the_batch(ops):
    CustomerFactory(external_id="globex")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="active_members", value=40)]},
        format="json",
    )
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-2", type="churn"),
            signal(id="s-1", type="active_members", value=41),
        ]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Signals with these ids were already received with another body.",
        "conflicting_ids": ["s-1"],
    }
    assert rows() == before
    assert Signal.objects.get().value == Decimal("40")


def test_same_signal_id_twice_in_one_batch_with_different_bodies_is_409(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-1", type="zone_count", value=3),
            signal(id="s-1", type="zone_count", value=4),
        ]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 409
    assert response.json()["conflicting_ids"] == ["s-1"]
    assert rows() == before


def test_same_signal_id_with_12_5_and_12_50_is_not_a_conflict(ops):
    CustomerFactory(external_id="globex")
    first = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="vault_size_gb", value="12.5"),
                     signal(id="s-2", type="org_added", acv_delta="2500.5")]},
        format="json",
    )  # fmt: skip
    assert first.status_code == 201
    before = rows()

    second = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="vault_size_gb", value="12.50"),
                     signal(id="s-2", type="org_added", acv_delta="2500.50")]},
        format="json",
    )  # fmt: skip

    assert second.status_code == 200
    assert second.json() == {"created": 0, "duplicates": 2, "evaluation": None}
    assert rows() == before
    assert Signal.objects.get(signal_id="s-1").value == Decimal("12.5")


# Evaluations


def test_evaluation_request_is_202_and_the_run_finishes_done_with_its_counts(
    ops, django_capture_on_commit_callbacks
):
    EngagementFactory(signed_at=datetime.date(2026, 1, 15), year1_acv=Decimal("60000.00"))

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-04-30"}, format="json")

    assert response.status_code == 202
    accepted = response.json()
    assert (accepted["as_of"], accepted["scope"]) == ("2026-04-30", "all engagements")
    run = ops.get(f"/api/v1/ops/evaluations/{accepted['id']}/")
    assert run.status_code == 200
    body = run.json()
    assert body["status"] == "done"
    assert body["error"] == ""
    assert body["finished_at"] is not None
    # signup (Jan 15) and active_3m (Apr 15) fired; nothing to claw back.
    assert (
        body["engagements_total"],
        body["engagements_done"],
        body["rewards_created"],
        body["clawbacks_created"],
    ) == (1, 1, 2, 0)


@pytest.mark.parametrize("as_of", ["2026-02-30", "yesterday", "", None])
def test_evaluation_request_with_bad_date_is_400_naming_as_of(ops, as_of):
    EngagementFactory()
    before = rows()

    response = ops.post("/api/v1/ops/evaluations/", {"as_of": as_of}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"as_of"}
    assert rows() == before


def test_evaluation_request_without_as_of_is_400_naming_as_of(ops):
    before = rows()

    response = ops.post("/api/v1/ops/evaluations/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"as_of"}
    assert rows() == before


def test_evaluation_get_of_unknown_run_is_404(ops):
    assert ops.get("/api/v1/ops/evaluations/999999/").status_code == 404


def test_engagement_steps_after_evaluation_with_tenure_churn_and_void_retention(
    ops, django_capture_on_commit_callbacks
):
    # Given: authorized, signed Jan 15, Year-1 ACV 60,000.00; the customer churns Jun 1.
    PartnerFactory(external_id="acme-partners")
    assert ops.post("/api/v1/ops/engagements/", deal(), format="json").status_code == 201
    # Outside the capture: the evaluation these signals enqueue never runs.
    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-churn", type="churn", occurred_at="2026-06-01")]},
        format="json",
    )
    assert response.status_code == 201

    # When
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    run = ops.get(f"/api/v1/ops/evaluations/{response.json()['id']}/").json()
    body = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json()

    # Then
    assert (run["status"], run["rewards_created"], run["clawbacks_created"]) == ("done", 2, 1)
    assert body["as_of"] == "2026-12-31"
    assert body["standard_commission"] == "6000.00"
    fields = ("key", "kind", "status", "opens", "closes", "trigger_date", "amount",
              "expected_amount", "clawed_back_amount", "currency", "at_risk_reasons")  # fmt: skip
    assert [tuple(step[f] for f in fields) for step in body["steps"]] == [
        # Jun 1 is after signup's window (Jan 15 + 90 days = Apr 15): kept.
        ("signup", "signup", "earned", "2026-01-15", "2026-01-15", "2026-01-15", "3000.00",
         "3000.00", "0.00", "USD", []),
        # Fired Apr 15; Jun 1 is inside its window (to Jul 14): clawed back 100 %.
        ("active_3m", "tenure", "earned", "2026-04-15", "2026-04-15", "2026-04-15", "1200.00",
         "1200.00", "1200.00", "USD", []),
        # Opens Jul 15, after the churn: void.
        ("active_6m", "tenure", "void", "2026-07-15", "2026-07-15", None, None,
         "1800.00", "0.00", "USD", []),
        ("renewal_1", "retention", "void", "2027-01-15", "2027-03-16", None, None,
         "3000.00", "0.00", "USD", []),
        ("renewal_2", "retention", "void", "2028-01-15", "2028-03-15", None, None,
         "3000.00", "0.00", "USD", []),
        ("renewal_3", "retention", "void", "2029-01-15", "2029-03-16", None, None,
         "3000.00", "0.00", "USD", []),
        # No outcome agreed; its window closed Apr 15, before the churn: missed.
        ("outcome", "outcome", "missed", "2026-01-15", "2026-04-15", None, None,
         "6000.00", "0.00", "USD", []),
    ]  # fmt: skip
    # Every step says why, as a code, its facts and a sentence.
    assert [(step["reason"], step["facts"], step["explanation"]) for step in body["steps"]] == [
        ("signed", {"fired_on": "2026-01-15", "signed_at": "2026-01-15"},
         "Fired on 15 January 2026: the deal was signed."),
        # 100 % of 1,200.00 taken back, 47 days after Apr 15 (15 + 31 + 1).
        ("clawed_back", {"fired_on": "2026-04-15", "amount": "1200", "cause": "churn",
                         "cause_date": "2026-06-01", "percent": "100", "days_after": 47},
         "Clawed back 100 % (1,200.00) after the churn of 1 June 2026, 47 days after it "
         "fired."),
        *[("churned", {"churned_on": "2026-06-01", "signal_id": "s-churn"},
           "Void: the customer churned on 1 June 2026.")] * 4,
        ("outcome_not_accepted", {"closes": "2026-04-15", "agreement": "none"},
         "Missed: the customer had no Outcome Attestation Agreement when the window closed "
         "on 15 April 2026."),
    ]  # fmt: skip
    assert sorted(
        LedgerEntry.objects.values_list("kind", "amount", "effective_date"),
        key=lambda e: (e[2], e[0], e[1]),
    ) == [
        ("cascade_reward", Decimal("3000.00"), datetime.date(2026, 1, 15)),
        ("standard_commission", Decimal("6000.00"), datetime.date(2026, 1, 15)),
        ("cascade_reward", Decimal("1200.00"), datetime.date(2026, 4, 15)),
        ("clawback", Decimal("-1200.00"), datetime.date(2026, 6, 1)),
    ]


def test_evaluating_the_same_date_twice_writes_nothing_the_second_time(
    ops, django_capture_on_commit_callbacks
):
    PartnerFactory(external_id="acme-partners")
    ops.post("/api/v1/ops/engagements/", deal(), format="json")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-churn", type="churn", occurred_at="2026-06-01")]},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    first = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json()
    before = rows()

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")

    run = ops.get(f"/api/v1/ops/evaluations/{response.json()['id']}/").json()
    assert (run["status"], run["rewards_created"], run["clawbacks_created"]) == ("done", 0, 0)
    assert rows() == {**before, "EvaluationRun": before["EvaluationRun"] + 1}
    assert ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json() == first


def test_churn_and_chargeback_in_the_same_window_claw_a_reward_back_once(
    ops, django_capture_on_commit_callbacks
):
    PartnerFactory(external_id="acme-partners")
    ops.post("/api/v1/ops/engagements/", deal(), format="json")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="s-chargeback", type="chargeback", amount="500.00", occurred_at="2026-05-20"),
            signal(id="s-churn", type="churn", occurred_at="2026-06-01"),
        ]},
        format="json",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")

    # active_3m fired Apr 15: both fall in its window; the earlier one is the cause.
    step = steps_by_key(ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json())[
        "active_3m"
    ]
    assert (step["amount"], step["clawed_back_amount"]) == ("1200.00", "1200.00")
    assert list(Clawback.objects.values_list("reward__step_key", "kind", "amount", "cause_id")) == [
        ("active_3m", "clawback", Decimal("1200.00"), "s-chargeback")
    ]
    assert list(
        LedgerEntry.objects.filter(kind="clawback").values_list("amount", "effective_date")
    ) == [(Decimal("-1200.00"), datetime.date(2026, 5, 20))]


def test_pending_step_with_a_reading_below_threshold_shows_at_risk(ops):
    # Gold adoption_4m opens May 15 (within 60 days of Apr 30) and needs 25 active members.
    PartnerFactory(external_id="acme-partners", tier__tier="gold")
    ops.post("/api/v1/ops/engagements/", deal(year1_acv="80000.00"), format="json")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="active_members", value=10, occurred_at="2026-04-01")]},
        format="json",
    )

    body = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-04-30").json()

    step = steps_by_key(body)["adoption_4m"]
    assert (step["status"], step["opens"], step["closes"], step["trigger_date"]) == (
        "at_risk",
        "2026-05-15",
        "2026-08-13",
        None,
    )
    assert step["amount"] == step["expected_amount"] == "2400.00"  # 3 % of 80,000.00
    below = {"metric": "active_members", "reading": "10", "reading_date": "2026-04-01",
             "threshold": "25"}  # fmt: skip
    sentence = (
        "At risk: the latest reading, 10 active members on 1 April 2026, is below the 25 needed."
    )
    assert (step["reason"], step["facts"]) == ("reading_below", below)
    assert step["explanation"] == sentence
    assert step["at_risk"] == [{"reason": "reading_below", "facts": below, "explanation": sentence}]
    assert step["at_risk_reasons"] == [sentence]
    assert steps_by_key(body)["coverage_zones"]["status"] == "pending"


def test_engagement_get_query_count_does_not_grow_with_signals_and_rewards(
    ops, django_capture_on_commit_callbacks
):
    PartnerFactory(external_id="acme-partners", tier__tier="gold")
    ops.post("/api/v1/ops/engagements/", deal(year1_acv="80000.00"), format="json")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-0", type="plan_upgrade", acv_delta="100.00")]},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    with CaptureQueriesContext(connection) as few:
        ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id=f"s-{n}", type="plan_upgrade", acv_delta="100.00",
                   occurred_at=f"2026-03-{n:02d}")
            for n in range(1, 21)
        ]},
        format="json",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")

    with CaptureQueriesContext(connection) as many:
        body = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json()

    assert len([s for s in body["steps"] if s["key"] == "expansion"]) == 22
    assert len(many.captured_queries) == len(few.captured_queries)


def test_late_churn_before_a_trigger_date_reverses_the_reward_in_full(
    ops, django_capture_on_commit_callbacks
):
    # Given: evaluated as of Dec 31 without a churn, so 6 months active fired on Jul 15.
    PartnerFactory(external_id="acme-partners")
    ops.post("/api/v1/ops/engagements/", deal(), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    assert (
        steps_by_key(ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json())[
            "active_6m"
        ]["status"]
        == "earned"
    )

    # When: a churn dated Jun 1 arrives late, and the evaluation runs again.
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-churn", type="churn", occurred_at="2026-06-01")]},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")

    # Then: the Jul 15 reward is void and reversed in full on its own trigger date.
    step = steps_by_key(ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json())[
        "active_6m"
    ]
    assert (step["status"], step["trigger_date"], step["amount"], step["clawed_back_amount"]) == (
        "void",
        "2026-07-15",
        "1800.00",
        "1800.00",
    )
    reward = Reward.objects.get(step_key="active_6m")
    assert list(reward.ledger_entries.order_by("id").values_list("kind", "amount",
                                                                  "effective_date")) == [
        ("cascade_reward", Decimal("1800.00"), datetime.date(2026, 7, 15)),
        ("clawback", Decimal("-1800.00"), datetime.date(2026, 7, 15)),
    ]  # fmt: skip


def test_gold_repeat_expansion_shows_each_fired_event_and_one_pending_entry(
    ops, django_capture_on_commit_callbacks
):
    # Given: gold, signed Jan 15; expansion step open to Jan 15 2028 (730 days), 5 % of delta.
    PartnerFactory(external_id="acme-partners", tier__tier="gold")
    created = ops.post("/api/v1/ops/engagements/", deal(year1_acv="80000.00"), format="json")
    assert created.status_code == 201
    assert created.json()["tier"] == "gold"
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [
            signal(id="up-1", type="plan_upgrade", acv_delta="20000.00", occurred_at="2026-03-10"),
            signal(id="org-1", type="org_added", acv_delta="8000.50", occurred_at="2026-05-20"),
        ]},
        format="json",
    )  # fmt: skip

    # When
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    body = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json()

    # Then
    expansion = [step for step in body["steps"] if step["key"] == "expansion"]
    common = {"key": "expansion", "kind": "expansion", "opens": "2026-01-15",
              "closes": "2028-01-15", "expected_amount": None, "clawed_back_amount": "0.00",
              "currency": "USD", "at_risk": [], "at_risk_reasons": []}  # fmt: skip
    assert expansion == [
        # 5 % of 20,000.00.
        {**common, "status": "earned", "trigger_date": "2026-03-10", "amount": "1000.00",
         "reason": "expansion_event",
         "facts": {"fired_on": "2026-03-10", "event": "plan_upgrade", "signal_id": "up-1",
                   "acv_delta": "20000"},
         "explanation": "Fired on 10 March 2026: a plan upgrade adding 20,000.00 of ACV."},
        # 5 % of 8,000.50 = 400.025 → 400.03 (half-up).
        {**common, "status": "earned", "trigger_date": "2026-05-20", "amount": "400.03",
         "reason": "expansion_event",
         "facts": {"fired_on": "2026-05-20", "event": "org_added", "signal_id": "org-1",
                   "acv_delta": "8000.5"},
         "explanation": "Fired on 20 May 2026: an organization added adding 8,000.50 of ACV."},
        {**common, "status": "pending", "trigger_date": None, "amount": None,
         "reason": "window_open", "facts": {"closes": "2028-01-15"},
         "explanation": "Pending: its window is open until 15 January 2028."},
    ]  # fmt: skip
    assert sorted(
        Reward.objects.filter(step_key="expansion").values_list("event_key", "amount")
    ) == [("org-1", Decimal("400.03")), ("up-1", Decimal("1000.00"))]
    # signup (7 %) and active_2m (2 %) fired too: 4 rewards in all.
    run = ops.get(f"/api/v1/ops/evaluations/{response.json()['id']}/").json()
    assert run["rewards_created"] == 4


def test_gold_repeat_expansion_has_no_pending_entry_once_its_window_closed(
    ops, django_capture_on_commit_callbacks
):
    PartnerFactory(external_id="acme-partners", tier__tier="gold")
    ops.post("/api/v1/ops/engagements/", deal(year1_acv="80000.00"), format="json")
    ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="up-1", type="plan_upgrade", acv_delta="20000.00",
                            occurred_at="2026-03-10")]},
        format="json",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        ops.post("/api/v1/ops/evaluations/", {"as_of": "2028-01-16"}, format="json")
    body = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2028-01-16").json()

    expansion = [(s["status"], s["trigger_date"], s["amount"]) for s in body["steps"]
                 if s["key"] == "expansion"]  # fmt: skip
    assert expansion == [("earned", "2026-03-10", "1000.00")]


# Schema


def test_openapi_schema_is_served_without_authentication():
    response = APIClient().get("/api/v1/schema/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    assert response.content.startswith(b"openapi: 3.0.3\n")


def test_openapi_schema_describes_the_ops_api_and_its_bearer_token():
    response = APIClient().get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "Cascade rewards portal API"
    assert set(schema["paths"]) >= {
        "/api/v1/ops/partners/",
        "/api/v1/ops/partners/{external_id}/tier/",
        "/api/v1/ops/structures/",
        "/api/v1/ops/engagements/",
        "/api/v1/ops/engagements/{external_id}/",
        "/api/v1/ops/signals/",
        "/api/v1/ops/evaluations/",
        "/api/v1/ops/evaluations/{id}/",
    }
    assert schema["components"]["securitySchemes"]["opsToken"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/ops/partners/"]["post"]["security"] == [{"opsToken": []}]
