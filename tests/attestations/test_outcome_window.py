"""Outcomes against their step's window (SPEC §4): no link, no acceptance once it closed.

The test engagement is signed 2026-01-15 with one outcome due at 6 months
(2026-07-15); the default authorized outcome step closes 90 days after that:
Jul 31 → 16, Aug 31 → 47, Sep 30 → 77, Oct 13 → 90, so 2026-10-13.
"""

import copy
import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from attestations.models import Attestation, Decision, SigningRequest
from attestations.services import (
    attestation_decide,
    attestations_daily,
    signing_path,
    signing_request_issue,
    verification_record,
)
from cascades.models import CascadeStructure
from cascades.services import engagement_structure_customize
from tests.attestations.test_signing import SIGNER, engagement_with_outcome, sign

pytestmark = pytest.mark.django_db

D = datetime.date
CLOSES = D(2026, 10, 13)


def at(day, hour=10):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)


@pytest.fixture
def agreement(client, time_machine):
    time_machine.move_to(at(D(2026, 1, 20)))
    engagement = engagement_with_outcome(acv="100000.00")  # verification required
    agreement = engagement.outcome_agreement
    sign(client, agreement.requests.get())
    agreement.refresh_from_db()
    return agreement


def test_an_outcome_knows_the_last_day_its_acceptance_fires_the_step(agreement):
    assert agreement.outcomes.get().window_closes_on == CLOSES


def test_the_outcome_window_follows_a_structure_given_to_the_engagement(agreement):
    document = copy.deepcopy(CascadeStructure.objects.current_for("authorized").document)
    for step in document["steps"]:
        if step["kind"] == "outcome":
            step["closes_after_days"] = 30  # 2026-07-15 + 30 days

    engagement_structure_customize(engagement=agreement.engagement, document=document)

    assert agreement.outcomes.get().window_closes_on == D(2026, 8, 14)


def test_no_outcome_link_is_sent_once_the_window_has_closed(agreement):
    now = at(D(2026, 10, 14), 8)
    assert attestations_daily(as_of=D(2026, 10, 14), now=now) == 0
    assert not SigningRequest.objects.filter(outcome__isnull=False).exists()

    # On the window's last day the link still goes out.
    assert attestations_daily(as_of=CLOSES, now=at(CLOSES, 8)) == 1
    assert SigningRequest.objects.filter(outcome__isnull=False).count() == 1


def test_no_reminder_is_sent_for_an_outcome_whose_window_has_closed(agreement):
    outcome = agreement.outcomes.get()
    request = signing_request_issue(agreement=agreement, outcome=outcome, now=at(D(2026, 10, 10)))
    week_left = request.expires_at - datetime.timedelta(days=7)  # 2026-10-17

    assert attestations_daily(as_of=D(2026, 10, 17), now=week_left) == 0
    request.refresh_from_db()
    assert request.reminded_7_days_at is None


def test_the_customer_form_says_the_window_closed_and_records_nothing(
    client, agreement, time_machine
):
    outcome = agreement.outcomes.get()
    request = signing_request_issue(agreement=agreement, outcome=outcome, now=at(D(2026, 10, 10)))
    time_machine.move_to(at(CLOSES, 23))
    assert client.get(signing_path(request)).status_code == 200  # the last day

    time_machine.move_to(at(D(2026, 10, 14), 9))
    page = client.get(signing_path(request))
    posted = client.post(signing_path(request), {**SIGNER, "achieved_value": "52"})

    assert (page.status_code, posted.status_code) == (410, 410)
    assert "The time to attest this outcome ended on 13 October 2026" in page.content.decode()
    assert not Attestation.objects.filter(outcome=outcome).exists()
    request.refresh_from_db()
    assert request.used_at is None


def test_an_attestation_is_not_accepted_after_the_window_closed_but_may_be_rejected(
    client, agreement, time_machine
):
    outcome = agreement.outcomes.get()
    time_machine.move_to(at(D(2026, 10, 10)))
    sign(client, signing_request_issue(agreement=agreement, outcome=outcome),
         achieved_value="52", evidence_summary="Export")  # fmt: skip
    attestation = Attestation.objects.get(outcome=outcome)
    verification_record(attestation=attestation, source="auditor_report",
                        verified_value=Decimal("51"))  # fmt: skip

    with pytest.raises(ValidationError, match="window closed on 2026-10-13"):
        attestation_decide(attestation=attestation, verdict="accepted", on=D(2026, 10, 14))
    assert not Decision.objects.exists()
    outcome.refresh_from_db()
    assert outcome.accepted_on is None

    attestation_decide(attestation=attestation, verdict="rejected", on=D(2026, 10, 14),
                       reason="Reviewed after the window closed")  # fmt: skip
    assert Decision.objects.get().verdict == "rejected"
