"""Amounts in the cascades admin read like money: grouped, with their currency."""

import datetime
from decimal import Decimal

import pytest

from cascades.evaluation import engagements_evaluate
from cascades.models import Clawback, Reward
from tests.cascades.factories import EngagementFactory, SignalFactory
from tests.portal.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clawed_back(client):
    """Signed 2026-03-15 for 48,000.00 USD (authorized: sign-up 5 % = 2,400.00); a chargeback
    on 2026-04-01, inside the 90-day window, claws the sign-up back 100 %."""
    client.force_login(StaffUserFactory(is_superuser=True))
    engagement = EngagementFactory(external_id="eng-money")
    SignalFactory(customer=engagement.customer, signal_id="cb-1", type="chargeback",
                  occurred_at=datetime.date(2026, 4, 1), amount=Decimal("1200"))  # fmt: skip
    SignalFactory(customer=engagement.customer, signal_id="m-1", type="active_members",
                  occurred_at=datetime.date(2026, 4, 2), value=Decimal("31"))  # fmt: skip
    engagements_evaluate(as_of=datetime.date(2026, 4, 10))
    return engagement


def test_engagement_reward_and_clawback_lists_show_money_with_its_currency(client, clawed_back):
    engagements = client.get("/admin/cascades/engagement/").content.decode()
    rewards = client.get("/admin/cascades/reward/?step_kind=signup").content.decode()
    clawbacks = client.get("/admin/cascades/clawback/").content.decode()

    assert "48,000.00 USD" in engagements and "48000.00" not in engagements
    assert '<td class="field-amount_shown">2,400.00 USD</td>' in rewards
    assert '<td class="field-clawed_back">2,400.00 USD</td>' in rewards
    assert '<td class="field-percent_shown">100 %</td>' in clawbacks
    assert '<td class="field-amount_shown">2,400.00 USD</td>' in clawbacks


def test_reward_clawback_and_signal_pages_show_amounts_and_readings_as_people_write_them(
    client, clawed_back
):
    reward = Reward.objects.get(step_kind="signup")
    clawback = Clawback.objects.get()
    signals = client.get("/admin/cascades/signal/").content.decode()

    assert (
        "2,400.00 USD" in client.get(f"/admin/cascades/reward/{reward.pk}/change/").content.decode()
    )
    page = client.get(f"/admin/cascades/clawback/{clawback.pk}/change/").content.decode()
    assert "100 %" in page and "2,400.00 USD" in page
    assert '<td class="field-reading">31</td>' in signals
    assert '<td class="field-amount_shown">1,200</td>' in signals
