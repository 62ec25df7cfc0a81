import datetime
from decimal import Decimal

from cascades.models import Clawback, Reward
from payouts.models import LedgerEntry

_counter = iter(range(1, 10**9))


def post(engagement, kind, amount, on: datetime.date, **fields):
    """A ledger entry of `kind` for `engagement`, with the reward or clawback it needs."""
    amount = Decimal(amount)
    if kind == "cascade_reward" and "reward" not in fields:
        fields["reward"] = Reward.objects.create(
            engagement=engagement, step_key=f"step-{next(_counter)}", step_kind="tenure",
            trigger_date=on, amount=amount, currency=engagement.currency,
        )  # fmt: skip
    if kind == "clawback" and "clawback" not in fields:
        reward = fields.pop("of_reward")
        fields["clawback"] = Clawback.objects.create(
            reward=reward, kind="clawback", cause_date=on, percent=Decimal(100), window_days=90,
            amount=-amount,
        )  # fmt: skip
        fields["reward"] = reward
    if kind == "adjustment":
        fields.setdefault("reason", "Goodwill")
    return LedgerEntry.objects.create(
        partner=engagement.partner, engagement=engagement, kind=kind, amount=amount,
        currency=engagement.currency, effective_date=on, **fields,
    )  # fmt: skip
