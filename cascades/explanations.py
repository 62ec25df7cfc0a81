"""The one place where a step's reason code and facts become the sentence people read
(SPEC §7 "Explanations"), on the partner's pages, in the APIs and on statements.

`explain("reading_reached", {"fired_on": "2024-05-20", "metric": "active_members",
"reading": "41", "threshold": "40", ...}, "USD")` is "Fired on 20 May 2024: 41 active
members, 40 needed." The facts are those the engine decided on (`cascades.engine`), as
stored: a sentence can be rendered again from a step row or a statement line years later.
"""

import datetime
from decimal import Decimal

from cascades import reasons
from portal.formatting import number
from portal.money import CURRENCY_MINOR_UNITS

METRIC_NOUNS = {
    "active_members": "active members",
    "vault_size_gb": "GB in the vault",
    "zone_count": "zones",
    "csat": "CSAT",
}
# What a reading measures, for "no … reading".
READING_NAMES = {
    "active_members": "active members",
    "vault_size_gb": "vault size",
    "zone_count": "zone count",
    "csat": "CSAT",
}
EVENT_NOUNS = {
    "plan_upgrade": "plan upgrade",
    "org_added": "organization added",
    "marketplace_purchase": "marketplace purchase",
}
CAUSES = {"churn": "the churn", "chargeback": "the chargeback", None: "the partner's termination"}


def day(text):
    """'2024-05-20' as people read it: 20 May 2024."""
    value = datetime.date.fromisoformat(text)
    return f"{value.day} {value:%B %Y}"


def amount(text, currency):
    """An amount in the currency's minor unit, grouped: 1,234.50 (the currency is shown
    beside the sentence)."""
    return f"{Decimal(text):,.{CURRENCY_MINOR_UNITS.get(currency, 2)}f}"


def reading(metric, value):
    """41 active members, 120 GB in the vault, 12 zones, a CSAT score of 8."""
    if metric == "csat":
        return f"a CSAT score of {number(value)}"
    return f"{number(value)} {METRIC_NOUNS.get(metric, metric.replace('_', ' '))}"


def needed(metric, threshold):
    return f"{number(threshold)} needed"


def fired(facts, why):
    return f"Fired on {day(facts['fired_on'])}: {why}."


def _reading_reached(f, currency):
    return fired(f, f"{reading(f['metric'], f['reading'])}, {needed(f['metric'], f['threshold'])}")


def _reading_not_reached(f, currency):
    closes = day(f["closes"])
    if f["reading"] is None:
        noun = READING_NAMES.get(f["metric"], f["metric"].replace("_", " "))
        return (f"Missed: no {noun} reading when the window closed on {closes}, "
                f"{needed(f['metric'], f['threshold'])}.")  # fmt: skip
    return (f"Missed: {reading(f['metric'], f['reading'])} when the window closed on {closes}, "
            f"{needed(f['metric'], f['threshold'])}.")  # fmt: skip


def _outcome_not_accepted(f, currency):
    closes = day(f["closes"])
    if f["agreement"] == reasons.NO_AGREEMENT:
        return (f"Missed: the customer had no Outcome Attestation Agreement when the window "
                f"closed on {closes}.")  # fmt: skip
    if f["agreement"] == reasons.AGREEMENT_UNSIGNED:
        return (f"Missed: the customer had not signed its Outcome Attestation Agreement when "
                f"the window closed on {closes}.")  # fmt: skip
    return f"Missed: no attestation was accepted when the window closed on {closes}."


def _clawed_back(f, currency):
    days = f["days_after"]
    return (f"Clawed back {number(f['percent'])} % ({amount(f['amount'], currency)}) after "
            f"{CAUSES[f['cause']]} of {day(f['cause_date'])}, {days} day{'s' * (days != 1)} "
            f"after it fired.")  # fmt: skip


def _reversed(f, currency):
    if f["cause"] is None:
        cause = f"the partner was terminated on {day(f['cause_date'])}"
    else:
        cause = f"the customer churned on {day(f['cause_date'])}"
    return (f"Reversed ({amount(f['amount'], currency)} taken back): {cause}, on or before "
            f"the day it fired, {day(f['fired_on'])}.")  # fmt: skip


def _events(names):
    """plan upgrade; plan upgrade or org added; plan upgrade, org added or purchase."""
    nouns = [EVENT_NOUNS.get(name, name.replace("_", " ")) for name in names]
    return nouns[0] if len(nouns) == 1 else f"{', '.join(nouns[:-1])} or {nouns[-1]}"


def _an(noun):
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


SENTENCES = {
    # earned
    reasons.SIGNED: lambda f, c: fired(f, "the deal was signed"),
    reasons.TENURE_REACHED: lambda f, c: fired(
        f, f"still a customer {f['months']} month{'s' * (f['months'] != 1)} after signing"
    ),
    reasons.READING_REACHED: _reading_reached,
    reasons.RENEWED: lambda f, c: fired(
        f, f"renewed out of contract year {f['contract_year']} on {day(f['renewed_on'])}"
    ),
    reasons.EXPANSION_EVENT: lambda f, c: fired(
        f, f"{_an(_events([f['event']]))} adding {amount(f['acv_delta'] or '0', c)} of ACV"
    ),
    reasons.OUTCOME_ACCEPTED: lambda f, c: fired(
        f, f"the attestation of outcome “{f['outcome_key']}” was accepted"
    ),
    reasons.CLAWED_BACK: _clawed_back,
    reasons.REVERSED: _reversed,
    # pending
    reasons.OPENS_LATER: lambda f, c: f"Pending: its window opens on {day(f['opens'])}.",
    reasons.WINDOW_OPEN: lambda f, c: f"Pending: its window is open until {day(f['closes'])}.",
    # at risk
    reasons.GAMING_CASE_OPEN: lambda f, c: "At risk: an open gaming case names this customer.",
    reasons.READING_BELOW: lambda f, c: (
        f"At risk: the latest reading, {reading(f['metric'], f['reading'])} on "
        f"{day(f['reading_date'])}, is below the {number(f['threshold'])} needed."
    ),
    reasons.MEMBERS_FELL: lambda f, c: (
        f"At risk: active members fell from {number(f['before'])} to {number(f['now'])} "
        f"in {f['days']} days."
    ),
    reasons.CSAT_BELOW: lambda f, c: (
        f"At risk: the last CSAT score was {number(f['score'])}, below {number(f['below'])}."
    ),
    reasons.NO_AGREEMENT_SIGNED: lambda f, c: (
        "At risk: the customer has no Outcome Attestation Agreement."
    ),
    reasons.AGREEMENT_NOT_SIGNED: lambda f, c: (
        "At risk: the customer has not signed its Outcome Attestation Agreement."
    ),
    reasons.ATTESTATION_REJECTED: lambda f, c: (
        f"At risk: the attestation of outcome “{f['outcome_key']}” was rejected."
    ),
    reasons.OUTCOME_NOT_ATTESTED: lambda f, c: (
        f"At risk: outcome “{f['outcome_key']}” is due on {day(f['due'])} and not attested."
    ),
    # missed
    reasons.READING_NOT_REACHED: _reading_not_reached,
    reasons.NO_RENEWAL: lambda f, c: (
        f"Missed: no renewal out of contract year {f['contract_year']} when the window "
        f"closed on {day(f['closes'])}."
    ),
    reasons.NO_EXPANSION: lambda f, c: (
        f"Missed: no {_events(f['events'])} when the window closed on {day(f['closes'])}."
    ),
    reasons.OUTCOME_NOT_ACCEPTED: _outcome_not_accepted,
    reasons.WINDOW_CLOSED: lambda f, c: f"Missed: the window closed on {day(f['closes'])}.",
    # void
    reasons.CHURNED: lambda f, c: f"Void: the customer churned on {day(f['churned_on'])}.",
    reasons.PARTNER_TERMINATED: lambda f, c: (
        f"Void: the partner was terminated on {day(f['terminated_on'])}."
    ),
}


def explain(code: str, facts: dict, currency: str) -> str:
    """The sentence for a reason code and its facts; amounts in `currency`'s minor unit."""
    return SENTENCES[code](facts, currency)


class Explained:
    """What a step (a cascades.models.CascadeStep, a cascades.steps.StepRow) says to
    people: its status and its sentences. Needs status, reason, facts, at_risk, currency."""

    @property
    def status_label(self):
        return self.status.replace("_", " ").capitalize()

    @property
    def explanation(self):
        return explain(self.reason, self.facts, self.currency)

    @property
    def at_risk_reasons(self):
        return tuple(explain(item["reason"], item["facts"], self.currency) for item in self.at_risk)
