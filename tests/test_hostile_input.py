"""Hostile input is a clear 4xx and changes nothing, never a 500: oversized and deeply
nested bodies, numbers too large for their columns, dates outside the calendar the engine
computes in, control characters in URLs.

The clients re-raise any exception a view lets through, so a 500 fails these tests too.
"""

import datetime
import hashlib
import json

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from attestations.models import OutcomeAgreement
from attestations.services import signing_path, signing_request_issue
from cascades.models import CascadeStructure, Customer, Engagement, EvaluationRun, Signal
from payouts.models import LedgerEntry, PayoutRun
from portal.models import Partner, TierChange
from portal.tokens import ops_token_issue
from tests.cascades.factories import CustomerFactory, EngagementFactory
from tests.portal.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.fixture
def ops():
    _, token = ops_token_issue(name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def rows():
    """Row counts of everything hostile input could write."""
    models = (Partner, TierChange, CascadeStructure, Customer, Engagement, Signal, LedgerEntry,
              PayoutRun, EvaluationRun)  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


def post_json(client, path, text):
    return client.post(path, text, content_type="application/json")


def signal(**fields):
    return {"customer": "globex", "occurred_at": "2026-02-10", **fields}


def deal(**overrides):
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
    return {"key": "uptime", "title": "Uptime", "methodology": "Status page.", "target": "99.9",
            "unit": "percent", "due_months": 6, **overrides}  # fmt: skip


def structure(*steps, **overrides):
    return {
        "name": "Authorized 2028",
        "tier": "authorized",
        "standard_commission_percent": "11",
        "clawback": {"window_days": 60, "percent": "50"},
        "steps": list(steps) or [
            {"key": "signup", "kind": "signup", "percent": "6", "basis": "year1_acv"}
        ],
        **overrides,
    }  # fmt: skip


def nested(depth, innermost="x"):
    """JSON text of `depth` arrays, one inside the other."""
    return "[" * depth + json.dumps(innermost) + "]" * depth


# Body size


def padded_body(size):
    """A JSON signal batch (with an empty list of signals) of exactly `size` bytes."""
    head, tail = '{"signals": [], "padding": "', '"}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_api_body_one_byte_over_8_mib_is_413_with_a_json_error_and_writes_nothing(ops):
    before = rows()
    body = padded_body(8 * MIB + 1)

    response = post_json(ops, "/api/v1/ops/signals/", body)

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 8,388,608 bytes."}
    assert rows() == before


def test_api_body_over_8_mib_is_413_even_past_the_middleware(ops, settings):
    # Django raises RequestDataTooBig as DRF reads the body: the API says 413, not 400.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "InputLimits" not in m]

    response = post_json(ops, "/api/v1/ops/signals/", padded_body(8 * MIB + 1))

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 8,388,608 bytes."}


def test_api_body_of_exactly_8_mib_is_read_and_answered_by_the_schema(ops):
    response = post_json(ops, "/api/v1/ops/signals/", padded_body(8 * MIB))

    assert response.status_code == 400
    assert set(response.json()) == {"signals"}


def test_page_body_over_8_mib_is_a_413_page(client):
    body = "email=a%40b.example&password=" + "x" * (8 * MIB)

    response = client.post(
        "/accounts/login/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"This request is too large" in response.content
    assert b"larger than 8,388,608 bytes" in response.content


def test_form_fields_over_8_mib_beside_room_for_a_file_are_a_413_page_not_a_400():
    # Multipart bodies may carry an evidence file on top of 8 MiB, but Django counts the
    # fields alone against the limit: it raises as the CSRF check reads them.
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32

    response = client.post("/accounts/login/", {"email": "a@b.example", "note": "x" * (8 * MIB)})

    assert response.status_code == 413
    assert b"This request is too large" in response.content


def test_multipart_body_over_the_limit_and_an_evidence_file_is_a_413_page(client):
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + settings.EVIDENCE_MAX_BYTES + 1
    body = b"x" * size

    response = client.generic(
        "POST", "/accounts/login/", body, content_type="multipart/form-data; boundary=b"
    )

    assert response.status_code == 413
    assert b"This request is too large" in response.content


def member_ids(index):
    """Twenty hashed member ids of 16 hex digits each, as telemetry would send them."""
    return [hashlib.sha256(f"{index}-{n}".encode()).hexdigest()[:16] for n in range(20)]


def test_a_batch_of_10000_signals_with_20_member_ids_each_fits_and_is_stored(ops):
    CustomerFactory(external_id="globex")
    batch = {"signals": [
        signal(id=f"tel-{n:06d}", type="active_members", value=31, member_ids=member_ids(n))
        for n in range(10_000)
    ]}  # fmt: skip
    body = json.dumps(batch)
    # More than the old limit of 2.5 MB, well within 8 MiB.
    assert 5 * MIB < len(body) < 8 * MIB

    response = post_json(ops, "/api/v1/ops/signals/", body)

    assert response.status_code == 201
    assert response.json() == {"created": 10_000, "duplicates": 0, "evaluation": None}
    assert Signal.objects.count() == 10_000
    assert Signal.objects.get(signal_id="tel-000042").member_ids == member_ids(42)


# Nesting and JSON the parser refuses


def test_json_nested_1000_deep_in_4_kb_is_400_not_a_recursion_error(ops):
    before = rows()
    body = nested(1000)
    assert len(body) < 4 * 1024

    response = post_json(ops, "/api/v1/ops/signals/", body)

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 32 levels."}
    assert rows() == before


def signals_with_member_ids_nested(depth):
    """A batch whose arrays and objects nest `depth` deep: the batch object, its list,
    the signal, its member_ids and the arrays inside."""
    inner = nested(depth - 4, "m-1")
    return (
        '{"signals": [{"id": "s-1", "customer": "globex", "type": "active_members", '
        f'"occurred_at": "2026-02-10", "value": 3, "member_ids": [{inner}]}}]}}'
    )


def test_json_nested_33_deep_is_400_before_parsing(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = post_json(ops, "/api/v1/ops/signals/", signals_with_member_ids_nested(33))

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 32 levels."}
    assert rows() == before


def test_json_nested_32_deep_is_parsed_and_refused_by_the_schema_naming_the_field(ops):
    CustomerFactory(external_id="globex")
    before = rows()

    response = post_json(ops, "/api/v1/ops/signals/", signals_with_member_ids_nested(32))

    assert response.status_code == 400
    assert response.json() == {
        "signals": {"0": {"member_ids": "Must be a list of (hashed) member identifiers."}}
    }
    assert rows() == before


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting(ops):
    CustomerFactory(external_id="globex")
    odd_id = '\\"' + "[{" * 40 + "\\\\"

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="active_members", value=3, member_ids=[odd_id])]},
        format="json",
    )

    assert response.status_code == 201
    assert Signal.objects.get().member_ids == [odd_id]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"as_of": NaN}', "JSON parse error - NaN is not a JSON number; send numbers as "
                           "decimal strings."),
        ('{"as_of": -Infinity}', "JSON parse error - -Infinity is not a JSON number; send "
                                 "numbers as decimal strings."),
        ('{"as_of": 1e400}', "JSON parse error - Number 1e400 is out of range."),
        ('{"as_of": "2026-01-01", "as_of": "2026-02-01"}',
         "JSON parse error - Duplicate key 'as_of' in an object."),
        ('{"as_of": "2026-01-01\\u0000"}', "JSON strings may not contain NUL (\\u0000)."),
        ('{"as_of": [[[[', "JSON parse error - brackets or quotes do not balance."),
        ('{"as_of": "2026-01-01}', "JSON parse error - brackets or quotes do not balance."),
    ],
    ids=["nan", "infinity", "float-overflow", "duplicate-key", "nul", "unclosed", "open-string"],
)  # fmt: skip
def test_json_the_parser_refuses_is_400_with_its_reason(ops, body, message):
    before = rows()

    response = post_json(ops, "/api/v1/ops/evaluations/", body)

    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert rows() == before


# Numbers the columns cannot hold


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"type": "active_members", "value": 10**16}, "value",
         "Must be at most 99999999999999.9999."),
        ({"type": "vault_size_gb", "value": "1E+15"}, "value",
         "Must be at most 99999999999999.9999."),
        ({"type": "zone_count", "value": "2.00001"}, "value", "At most 4 decimal places."),
        ({"type": "renewal", "contract_year": 2, "acv": str(10**20)}, "acv",
         "Must be at most 999999999999.99."),
        ({"type": "renewal", "contract_year": 40_000}, "contract_year", "Must be at most 32767."),
        ({"type": "plan_upgrade", "acv_delta": "1000000000000.00"}, "acv_delta",
         "Must be at most 999999999999.99."),
        ({"type": "chargeback", "amount": "12.005"}, "amount", "At most 2 decimal places."),
        ({"type": "csat", "score": 10**30}, "score", "Must be at most 10."),
        ({"type": "churn", "occurred_at": "9999-12-31"}, "occurred_at",
         "Must be between 1900-01-01 and 2999-12-31."),
        ({"type": "churn", "id": "s-\u0001"}, "id", "Must not contain control characters."),
        ({"type": ["churn"]}, "type", "Unknown type ['churn']; expected one of active_members, "
         "vault_size_gb, zone_count, renewal, plan_upgrade, org_added, marketplace_purchase, "
         "csat, churn, chargeback."),
    ],
    ids=["members", "vault", "zone-places", "renewal-acv", "contract-year", "acv-delta",
         "chargeback-places", "score", "occurred-at", "control-character", "unhashable-type"],
)  # fmt: skip
def test_signal_number_out_of_its_columns_range_is_400_naming_item_and_field(
    ops, bad, field, message
):
    CustomerFactory(external_id="globex")
    before = rows()

    response = ops.post(
        "/api/v1/ops/signals/",
        {"signals": [signal(id="s-1", type="churn"), signal(**{"id": "s-2", **bad})]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"signals": {"1": {field: message}}}
    assert rows() == before


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"year1_acv": str(10**20)},
         {"year1_acv": ["Ensure that there are no more than 14 digits in total."]}),
        ({"year1_acv": "1000000000000"},
         {"year1_acv": ["Ensure that there are no more than 12 digits before the decimal "
                        "point."]}),
        ({"outcomes": [outcome(target="1E+20")]},
         {"outcomes": {"0": {"target": ["Ensure that there are no more than 18 digits in "
                                        "total."]}}}),
        ({"outcomes": [outcome(due_months=40_000)]},
         {"outcomes": {"0": {"due_months": ["Ensure this value is less than or equal to "
                                            "120."]}}}),
        ({"signed_at": "9999-12-01"},
         {"signed_at": ["Must be between 1900-01-01 and 2999-12-31."]}),
    ],
    ids=["acv-10e20", "acv-13-digits", "target", "due-months", "signed-at"],
)  # fmt: skip
def test_engagement_number_out_of_its_columns_range_is_400_naming_the_field(ops, overrides, errors):
    PartnerFactory(external_id="acme-partners")
    before = rows()

    response = ops.post("/api/v1/ops/engagements/", deal(**overrides), format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert rows() == before


def test_engagement_contact_email_longer_than_its_column_is_400_naming_it(ops):
    PartnerFactory(external_id="acme-partners")
    email = ".".join(["a" * 60] * 4) + "@globex.example"  # valid, but 256 characters
    before = rows()

    response = ops.post(
        "/api/v1/ops/engagements/",
        deal(customer={"external_id": "globex", "name": "Globex", "contact_email": email}),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "customer": {"contact_email": ["Ensure this field has no more than 254 characters."]}
    }
    assert rows() == before


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("9999-12", "Must be between 1900-01-01 and 2999-12-31."),
        ("0001-01", "Must be between 1900-01-01 and 2999-12-31."),
        ("2026-13", "Use YYYY-MM, a month from 01 to 12."),
        ("2026-1", "Use YYYY-MM."),
    ],
)
def test_payout_run_for_a_period_out_of_range_is_400_naming_period(ops, period, message):
    before = rows()

    response = ops.post("/api/v1/ops/payout-runs/", {"period": period}, format="json")

    assert response.status_code == 400
    assert response.json() == {"period": [message]}
    assert rows() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/ops/evaluations/", {"as_of": "9999-12-31"}),
        ("/api/v1/ops/evaluations/", {"as_of": "0001-01-01"}),
        ("/api/v1/ops/signals/", {"as_of": "9999-12-31",
                                  "signals": [signal(id="s-1", type="churn")]}),
        ("/api/v1/ops/partners/", {"external_id": "p-1", "name": "P", "tier": "silver",
                                   "tier_effective": "9999-12-31"}),
    ],
    ids=["evaluation-9999", "evaluation-0001", "signals-as-of", "partner-tier-effective"],
)  # fmt: skip
def test_date_outside_the_engines_calendar_is_400_naming_the_field(ops, path, body):
    EngagementFactory(customer=CustomerFactory(external_id="globex"))
    before = rows()

    response = ops.post(path, body, format="json")

    assert response.status_code == 400
    assert list(response.json().values()) == [["Must be between 1900-01-01 and 2999-12-31."]]
    assert rows() == before


def test_engagement_as_of_outside_the_engines_calendar_is_400_naming_as_of(ops):
    EngagementFactory(external_id="eng-1")

    response = ops.get("/api/v1/ops/engagements/eng-1/", {"as_of": "0001-01-01"})

    assert response.status_code == 400
    assert response.json() == {"as_of": ["Must be between 1900-01-01 and 2999-12-31."]}


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        ({"amount": str(10**20)}, "steps[0].amount", "Must be at most 999999999999.99."),
        ({"amount": "999999999999.995"}, "steps[0].amount", "Must be at most 999999999999.99."),
        ({"amount": "0"}, "steps[0].amount", "Must be greater than 0."),
        ({"percent": "100.5", "basis": "year1_acv"}, "steps[0].percent", "Must be at most 100."),
        ({"opens_after_months": 10**6}, "steps[0].opens_after_months", "Must be at most 1200."),
        ({"closes_after_days": 10**9}, "steps[0].closes_after_days", "Must be at most 36525."),
        ({"kind": "retention", "contract_year": 32_767}, "steps[0].contract_year",
         "Must be at most 100."),
        ({"kind": "adoption", "min_active_members": 10**20}, "steps[0].min_active_members",
         "Must be at most 99999999999999."),
        ({"kind": "coverage", "metric": "zone_count", "threshold": "1E+15"}, "steps[0].threshold",
         "Must be at most 99999999999999.9999."),
        ({"kind": "sentiment", "min_score": "10.5"}, "steps[0].min_score", "Must be at most 10."),
        ({"key": "k" * 65}, "steps[0].key", "At most 64 characters."),
        ({"key": "sign\u0001up"}, "steps[0].key", "Must not contain control characters."),
        ({"kind": "expansion", "events": [[]]}, "steps[0].events",
         "Unknown event []; expected any of plan_upgrade, org_added, marketplace_purchase."),
    ],
    ids=["amount", "amount-rounding-up", "amount-zero", "percent", "months", "days",
         "contract-year", "members", "threshold", "min-score", "key-length", "key-control",
         "unhashable-event"],
)  # fmt: skip
def test_structure_number_out_of_range_is_400_naming_its_path(ops, step, path, message):
    raw = {"key": "step", "kind": "tenure", "percent": "2", "basis": "year1_acv"}
    if "amount" in step:
        del raw["percent"], raw["basis"]
    before = rows()

    response = ops.post("/api/v1/ops/structures/", structure({**raw, **step}), format="json")

    assert response.status_code == 400
    assert response.json() == {path: [message]}
    assert rows() == before


def test_structure_clawback_and_name_beyond_their_columns_are_400_naming_each(ops):
    before = rows()
    document = structure(name="n" * 201, clawback={"window_days": 10**12, "percent": "50.00005"})

    response = ops.post("/api/v1/ops/structures/", document, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "name": ["At most 200 characters."],
        "clawback.window_days": ["Must be at most 36525."],
        "clawback.percent": ["At most 4 decimal places."],
    }
    assert rows() == before


# Control characters in URLs


@pytest.fixture
def partner_client(client):
    user = UserFactory()
    EngagementFactory(partner=user.partner, external_id="demo-eng-01")
    client.force_login(user)
    return client


def test_nul_byte_in_the_partner_engagement_url_is_a_400_page(partner_client):
    assert partner_client.get("/engagements/demo-eng-01/").status_code == 200

    response = partner_client.get("/engagements/demo-eng-01%00/")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"This request cannot be read" in response.content
    assert b"The address contains control characters." in response.content


def test_partner_engagement_id_longer_than_its_column_is_a_404(partner_client):
    assert partner_client.get(f"/engagements/{'e' * 65}/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ops/engagements/eng-1%00/",
        "/api/v1/ops/payout-runs/2026-01%00/",
        "/api/v1/ops/partners/acme%00/tier/",
        "/api/v1/ops/attestations/?engagement=eng-1%00",
        "/api/v1/ops/engagements/eng-1/?as_of=2026-01-01%0A",
        "/api/v1/ops/engagements/eng-1/?as%1Fof=2026-01-01",
    ],
    ids=["engagement", "payout-run", "partner-tier", "query-value", "newline", "query-key"],
)
def test_control_character_in_an_ops_url_or_query_string_is_400_json(ops, path):
    EngagementFactory(external_id="eng-1")

    response = ops.get(path)

    assert response.status_code == 400
    assert response.json() == {"detail": "The address contains control characters."}


def test_control_character_in_a_post_to_the_ops_api_writes_nothing(ops):
    before = rows()

    response = ops.post("/api/v1/ops/partners/acme%00/tier/", {}, format="json")

    assert response.status_code == 400
    assert rows() == before


def test_ops_ids_and_periods_of_the_wrong_shape_are_404(ops):
    EngagementFactory(external_id="eng-1")

    assert ops.get(f"/api/v1/ops/engagements/{'e' * 65}/").status_code == 404
    assert ops.get("/api/v1/ops/payout-runs/2026-1/").status_code == 404
    assert ops.get("/api/v1/ops/payout-runs/2026-01/").status_code == 404  # no run yet


def test_nul_byte_in_a_signing_link_is_a_400_page_and_the_link_still_works(client):
    engagement = EngagementFactory(signed_at=datetime.date(2026, 1, 15))
    agreement = OutcomeAgreement.objects.create(engagement=engagement)
    path = signing_path(signing_request_issue(agreement=agreement))

    response = client.get(path[:-1] + "%00/")

    assert response.status_code == 400
    assert b"The address contains control characters." in response.content
    assert client.get(path).status_code == 200
