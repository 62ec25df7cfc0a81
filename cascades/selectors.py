"""Reads of engagements and their cascades for pages and APIs."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404

from cascades import engine
from cascades.evaluation import load_engagements
from cascades.explanations import explain
from cascades.models import Clawback, Engagement
from portal.money import round_money


def partner_engagements(*, partner):
    return (
        Engagement.objects.filter(partner=partner)
        .select_related("customer")
        .order_by("-signed_at", "external_id")
    )


def partner_engagement_get(*, partner, external_id):
    """The partner's engagement `external_id`; 404 for anyone else's or none at all."""
    return get_object_or_404(partner_engagements(partner=partner), external_id=external_id)


def partner_engagement_totals(*, partner):
    """Engagement count and Year-1 ACV summed per currency, in one query."""
    return list(
        Engagement.objects.filter(partner=partner)
        .values("currency")
        .annotate(count=Count("id"), year1_acv=Sum("year1_acv"))
        .order_by("currency")
    )


@dataclass(frozen=True)
class StepView:
    """A step as partners and the ops API see it (SPEC §9 `steps`)."""

    key: str
    kind: str
    status: str  # pending, at_risk, earned, missed, void
    opens: datetime.date
    closes: datetime.date
    trigger_date: datetime.date | None
    amount: Decimal | None
    expected_amount: Decimal | None
    clawed_back_amount: Decimal
    currency: str
    reason: engine.Reason
    at_risk: tuple[engine.Reason, ...] = ()

    @property
    def status_label(self):
        return self.status.replace("_", " ").capitalize()

    @property
    def explanation(self):
        """Why the step is in its state, in one sentence."""
        return explain(self.reason.code, self.reason.facts, self.currency)

    @property
    def at_risk_reasons(self):
        return tuple(explain(code, facts, self.currency) for code, facts in self.at_risk)


@dataclass(frozen=True)
class EngagementCascade:
    acv: dict
    standard_commission: Decimal
    steps: list


def engagement_cascade(*, engagement, as_of: datetime.date) -> EngagementCascade:
    """Every step of `engagement` as of `as_of`: the engine's states, with the rewards and
    clawbacks already recorded taking precedence for what was paid."""
    if not engagement.snapshot:
        return EngagementCascade(acv={1: engagement.year1_acv}, standard_commission=Decimal(0),
                                 steps=[])  # fmt: skip
    data = next(load_engagements(engagement_ids=[engagement.pk]))
    structure = data.facts.structure
    recorded = {(r.step_key, r.event_key): r for r in data.rewards}
    taken_back = _taken_back_reasons(engagement)
    currency = engagement.currency
    steps = []
    for state in engine.evaluate(data.facts, as_of):
        step = structure.step(state.key)
        reward = recorded.pop((state.key, state.event_key), None)
        status, reason = state.status, state.reason
        if status == engine.PENDING and state.at_risk:
            status, reason = "at_risk", state.at_risk[0]
        if reward is not None:
            reason = taken_back.get(reward.id, reason)
        steps.append(
            StepView(
                key=state.key,
                kind=state.kind,
                status=status
                if reward is None
                else (status if status == engine.VOID else "earned"),
                opens=state.opens,
                closes=state.closes,
                trigger_date=reward.trigger_date if reward else state.trigger_date,
                amount=reward.amount if reward else state.amount,
                expected_amount=engine.expected_amount(step, engagement.year1_acv, currency),
                clawed_back_amount=round_money(reward.clawed_back if reward else 0, currency),
                currency=currency,
                reason=reason,
                at_risk=state.at_risk,
            )
        )
    # Recorded rewards the data no longer supports (a late churn): shown as void, reversed.
    for reward in recorded.values():
        step = structure.step(reward.step_key)
        opens, closes = engine.step_window(step, data.facts)
        steps.append(
            StepView(
                key=reward.step_key,
                kind=step.kind,
                status=engine.VOID,
                opens=opens,
                closes=closes,
                trigger_date=reward.trigger_date,
                amount=reward.amount,
                expected_amount=engine.expected_amount(step, engagement.year1_acv, currency),
                clawed_back_amount=round_money(reward.clawed_back, currency),
                currency=currency,
                reason=taken_back[reward.id],
            )
        )
    return EngagementCascade(
        acv=engine.acv_by_year(data.facts, as_of),
        standard_commission=engine.standard_commission(structure, engagement.year1_acv, currency),
        steps=steps,
    )


def _taken_back_reasons(engagement):
    """Reward id → why it was taken back (a reversal before a clawback: it took the rest)."""
    reasons = {}
    for clawback in (
        Clawback.objects.filter(reward__engagement=engagement)
        .select_related("reward", "cause")
        .order_by("reward_id", "kind")  # a reversal (after a clawback) took the rest: it wins
    ):
        reasons[clawback.reward_id] = engine.taken_back_reason(
            kind=clawback.kind,
            fired_on=clawback.reward.trigger_date,
            percent=clawback.percent,
            amount=clawback.amount,
            cause_type=clawback.cause.type if clawback.cause else None,
            cause_date=clawback.cause_date,
        )
    return reasons
