"""An engagement's step rows: the engine's states with the rewards and clawbacks already
recorded taking precedence for what was paid. Pure: the evaluation stores these rows
(cascades.models.CascadeStep); pages and APIs read them back."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from cascades import engine
from cascades.explanations import Explained
from portal.money import round_money

PENDING, AT_RISK, EARNED, MISSED, VOID = "pending", "at_risk", "earned", "missed", "void"


@dataclass(frozen=True)
class StepRow(Explained):
    """One row of cascades.models.CascadeStep, as computed (its fields, as_of aside)."""

    position: int
    step_key: str
    event_key: str
    kind: str
    status: str
    opens: datetime.date
    closes: datetime.date
    trigger_date: datetime.date | None
    amount: Decimal | None
    expected_amount: Decimal | None
    clawed_back_amount: Decimal
    currency: str
    reason: str
    facts: dict
    at_risk: list

    @property
    def slot(self):
        """What identifies the row among its engagement's: (step key, event key)."""
        return self.step_key, self.event_key

    def content(self):
        """Everything the row says, as JSON-able values in a fixed order."""
        return [
            self.position, self.step_key, self.event_key, self.kind, self.status,
            self.opens.isoformat(), self.closes.isoformat(), engine.iso(self.trigger_date),
            _money(self.amount), _money(self.expected_amount), _money(self.clawed_back_amount),
            self.currency, self.reason, self.facts, self.at_risk,
        ]  # fmt: skip


def _money(value):
    return engine.decimal_text(value)  # 2400.00 and 2400 are the same amount


def digest(rows) -> str:
    """A fingerprint of an engagement's rows as computed here: equal exactly when every row
    is (their facts are built in one order by the engine, so their text is too)."""
    text = repr(rows)  # the rows' fields, in their order
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _at_risk(reasons):
    return [{"reason": code, "facts": facts} for code, facts in reasons]


def cascade_steps(facts, rewards, states) -> list[StepRow]:
    """The rows of an engagement with `facts` (engine.EngagementFacts), its `rewards`
    (engine.RewardFact, each with why it was taken back, if it was) and the engine's
    `states` (engine.evaluate), in the structure's order."""
    structure = facts.structure
    currency = facts.currency
    position = {step.key: index for index, step in enumerate(structure.steps)}
    recorded = {(r.step_key, r.event_key): r for r in rewards}
    rows = []

    def row(step_key, *, status, reason, reward=None, at_risk=(), **values):
        step = structure.step(step_key)
        return StepRow(
            position=position[step.key],
            step_key=step.key,
            kind=step.kind,
            status=status,
            expected_amount=engine.expected_amount(step, facts.year1_acv, currency),
            clawed_back_amount=round_money(reward.clawed_back if reward else 0, currency),
            currency=currency,
            reason=reason[0],
            facts=reason[1],
            at_risk=_at_risk(at_risk),
            **values,
        )

    for state in states:
        reward = recorded.pop((state.key, state.event_key), None)
        status, reason = state.status, state.reason
        if status == engine.PENDING and state.at_risk:
            status, reason = AT_RISK, state.at_risk[0]
        if reward is not None:
            status = VOID if status == VOID else EARNED
            reason = reward.taken_back or reason
        rows.append(
            row(
                state.key,
                status=status,
                reason=reason,
                reward=reward,
                at_risk=state.at_risk,
                event_key=state.event_key,
                opens=state.opens,
                closes=state.closes,
                trigger_date=reward.trigger_date if reward else state.trigger_date,
                amount=reward.amount if reward else state.amount,
            )
        )
    # Recorded rewards the data no longer supports (a late churn): void, reversed.
    for reward in recorded.values():
        opens, closes = engine.step_window(structure.step(reward.step_key), facts)
        rows.append(
            row(
                reward.step_key,
                status=VOID,
                reason=reward.taken_back,
                reward=reward,
                event_key=reward.event_key,
                opens=opens,
                closes=closes,
                trigger_date=reward.trigger_date,
                amount=reward.amount,
            )
        )
    rows.sort(key=lambda r: (r.position, r.trigger_date or datetime.date.max, r.event_key))
    return rows
