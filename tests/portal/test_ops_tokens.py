"""Ops API tokens (SPEC §9): who may call the ops API, and how a token is issued."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import OpsToken, Partner, TierChange
from portal.tokens import ops_token_issue
from tests.portal.factories import PartnerFactory

pytestmark = pytest.mark.django_db

PARTNER = {
    "external_id": "acme-partners",
    "name": "Acme Partners",
    "tier": "authorized",
    "tier_effective": "2026-01-01",
}


def client_with(authorization=None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def partner_rows():
    return (Partner.objects.count(), TierChange.objects.count())


def test_ops_call_without_authorization_header_is_401_and_writes_nothing():
    ops_token_issue(name="crm")

    response = client_with().post("/api/v1/ops/partners/", PARTNER, format="json")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert partner_rows() == (0, 0)


def test_ops_call_with_unknown_ops_token_is_401_and_writes_nothing():
    ops_token_issue(name="crm")

    response = client_with("Bearer ops_this-token-was-never-issued").post(
        "/api/v1/ops/partners/", PARTNER, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown or revoked token."}
    assert partner_rows() == (0, 0)


def test_ops_call_with_a_token_that_is_not_an_ops_token_is_401_and_writes_nothing():
    ops_token_issue(name="crm")

    response = client_with("Bearer pt_a-partner-style-token").post(
        "/api/v1/ops/partners/", PARTNER, format="json"
    )

    assert response.status_code == 401
    assert partner_rows() == (0, 0)


def test_ops_call_with_bearer_keyword_but_no_token_is_401_and_writes_nothing():
    response = client_with("Bearer").post("/api/v1/ops/partners/", PARTNER, format="json")

    assert response.status_code == 401
    assert partner_rows() == (0, 0)


def test_ops_call_with_the_token_under_another_scheme_is_401_and_writes_nothing():
    _, token = ops_token_issue(name="crm")

    response = client_with(f"Token {token}").post("/api/v1/ops/partners/", PARTNER, format="json")

    assert response.status_code == 401
    assert partner_rows() == (0, 0)


def test_ops_call_with_revoked_token_is_401_and_writes_nothing():
    row, token = ops_token_issue(name="crm")
    OpsToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now())

    response = client_with(f"Bearer {token}").post("/api/v1/ops/partners/", PARTNER, format="json")

    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown or revoked token."}
    assert partner_rows() == (0, 0)


def test_other_ops_endpoints_refuse_a_call_without_token():
    PartnerFactory(external_id="acme-partners")

    response = client_with().post(
        "/api/v1/ops/partners/acme-partners/tier/",
        {"tier": "gold", "effective": "2026-06-01"},
        format="json",
    )

    assert response.status_code == 401
    assert TierChange.objects.count() == 1
    assert client_with().get("/api/v1/ops/engagements/any-deal/").status_code == 401
    assert client_with().get("/api/v1/ops/evaluations/1/").status_code == 401


def test_ops_call_records_when_the_token_was_last_used():
    row, token = ops_token_issue(name="crm")
    assert row.last_used_at is None

    response = client_with(f"Bearer {token}").post("/api/v1/ops/partners/", PARTNER, format="json")

    assert response.status_code == 201
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_issue_ops_token_prints_a_token_that_calls_the_ops_api():
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("issue_ops_token", "crm", stdout=stdout, stderr=stderr)

    token = stdout.getvalue().strip()
    assert token.startswith("ops_")
    assert "\n" not in token
    assert token not in stderr.getvalue()
    response = client_with(f"Bearer {token}").post("/api/v1/ops/partners/", PARTNER, format="json")
    assert response.status_code == 201
    assert Partner.objects.get().external_id == "acme-partners"


def test_issue_ops_token_stores_only_the_sha256_of_the_token():
    stdout = io.StringIO()

    call_command("issue_ops_token", "crm", stdout=stdout, stderr=io.StringIO())

    token = stdout.getvalue().strip()
    row = OpsToken.objects.get()
    assert row.name == "crm"
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:10]
    stored = [str(getattr(row, f.attname)) for f in OpsToken._meta.concrete_fields]
    assert not any(token in value for value in stored)


def test_issue_ops_token_refuses_a_second_token_with_the_same_name():
    call_command("issue_ops_token", "crm", stdout=io.StringIO(), stderr=io.StringIO())
    first = OpsToken.objects.get()
    stdout = io.StringIO()

    with pytest.raises(CommandError, match="crm"):
        call_command("issue_ops_token", "crm", stdout=stdout, stderr=io.StringIO())

    assert stdout.getvalue() == ""
    assert list(OpsToken.objects.values_list("pk", "key_hash")) == [(first.pk, first.key_hash)]


def test_issue_ops_token_refuses_a_blank_name():
    with pytest.raises(CommandError):
        call_command("issue_ops_token", "  ", stdout=io.StringIO(), stderr=io.StringIO())

    assert OpsToken.objects.count() == 0


def test_an_authorization_header_that_is_not_utf8_is_refused_not_a_crash(client):
    response = client.post(
        "/api/v1/ops/partners/", {}, content_type="application/json",
        HTTP_AUTHORIZATION="B\xe9arer ops_x",
    )  # fmt: skip
    assert response.status_code == 401
