"""Shared by the attestation tests: the clock inside the outcome's window, an attested
high-value outcome, the review form's empty management data."""

import datetime

import pytest

from attestations.models import Attestation
from attestations.services import signing_request_issue
from tests.attestations.test_signing import engagement_with_outcome, sign


@pytest.fixture(autouse=True)
def inside_the_outcome_window(time_machine):
    """Signed 2026-01-15, the outcome is due 2026-07-15 and its step's window closes
    2026-10-13 (90 days): the customer attests in between, unless a test moves the clock."""
    time_machine.move_to(datetime.datetime(2026, 7, 20, 10, tzinfo=datetime.UTC))


@pytest.fixture
def attested(client):
    """A high-value outcome (needs verification), attested by the customer."""
    engagement = engagement_with_outcome(acv="100000.00")
    agreement = engagement.outcome_agreement
    sign(client, agreement.requests.get())
    outcome = agreement.outcomes.get()
    sign(
        client, signing_request_issue(agreement=agreement, outcome=outcome),
        achieved_value="52", evidence_summary="Incident export",
    )  # fmt: skip
    return Attestation.objects.get(outcome=outcome)


def review_form(**fields):
    return {
        "verifications-TOTAL_FORMS": "0", "verifications-INITIAL_FORMS": "0",
        "verdict": "", "reason": "",
        **fields,
    }  # fmt: skip
