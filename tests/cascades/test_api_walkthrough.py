"""The README's ops API walk-through, end to end through the HTTP API."""

import pytest
from rest_framework.test import APIClient

from portal.tokens import ops_token_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops():
    _, token = ops_token_issue(name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_walkthrough_partner_engagement_signals_evaluation_steps(
    ops, django_capture_on_commit_callbacks
):
    response = ops.post(
        "/api/v1/ops/partners/",
        {
            "external_id": "acme-partners",
            "name": "Acme Partners",
            "tier": "authorized",
            "tier_effective": "2026-01-01",
        },  # fmt: skip
        format="json",
    )
    assert response.status_code == 201, response.json()

    response = ops.post(
        "/api/v1/ops/engagements/",
        {
            "external_id": "deal-1",
            "partner": "acme-partners",
            "customer": {
                "external_id": "globex",
                "name": "Globex",
                "contact_email": "ops@globex.example",
            },
            "signed_at": "2026-01-31",
            "currency": "USD",
            "year1_acv": "100000.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["snapshot"]["name"] == "Authorized 2027"
    assert created["standard_commission"] == "10000.00"
    expected = {s["key"]: s["expected_amount"] for s in created["steps"]}
    assert expected == {
        "signup": "5000.00",
        "active_3m": "2000.00",
        "active_6m": "3000.00",
        "renewal_1": "5000.00",
        "renewal_2": "5000.00",
        "renewal_3": "5000.00",
        "outcome": "10000.00",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            "/api/v1/ops/signals/",
            {
                "as_of": "2026-12-31",
                "signals": [
                    {
                        "id": "s-1",
                        "customer": "globex",
                        "type": "active_members",
                        "occurred_at": "2026-02-10",
                        "value": 40,
                    },
                    {
                        "id": "s-2",
                        "customer": "globex",
                        "type": "churn",
                        "occurred_at": "2026-06-15",
                    },
                ],
            },  # fmt: skip
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post("/api/v1/ops/evaluations/", {"as_of": "2026-12-31"}, format="json")
    assert response.status_code == 202
    run = ops.get(f"/api/v1/ops/evaluations/{response.json()['id']}/").json()
    assert run["status"] == "done"

    steps = ops.get("/api/v1/ops/engagements/deal-1/?as_of=2026-12-31").json()["steps"]
    by_key = {s["key"]: s for s in steps}
    # Signed Jan 31: 3 months active on Apr 30 (month-end), 6 months on Jul 31, after the churn.
    assert by_key["signup"] == {
        **by_key["signup"], "status": "earned", "trigger_date": "2026-01-31", "amount": "5000.00",
        "clawed_back_amount": "0.00",
    }  # fmt: skip
    assert (by_key["active_3m"]["status"], by_key["active_3m"]["trigger_date"]) == (
        "earned",
        "2026-04-30",
    )
    # Churn on Jun 15 is inside the 90-day window of Apr 30: clawed back in full.
    assert by_key["active_3m"]["clawed_back_amount"] == "2000.00"
    assert by_key["active_6m"]["status"] == "void"
    assert by_key["renewal_1"]["status"] == "void"
