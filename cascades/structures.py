"""Cascade structures: the canonical JSON document (SPEC §2), its validation and defaults.

`validate_document` checks a document and returns it normalised (decimals as
strings); `Structure.from_document` reads a valid one with every default filled
in, which is what an engagement's snapshot stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from cascades.models import CascadeStructure, Clawback, Reward, Signal
from portal.limits import CONTROL_CHARACTERS, NumberRange, column_range, shown
from portal.models import Tier

STEP_KINDS = (
    "signup",
    "tenure",
    "adoption",
    "coverage",
    "retention",
    "expansion",
    "sentiment",
    "outcome",
)
BASES = ("year1_acv", "year2_acv", "year3_acv", "expansion_acv_delta")
COVERAGE_METRICS = ("vault_size_gb", "zone_count")
EXPANSION_EVENTS = ("plan_upgrade", "org_added", "marketplace_purchase")
DEFAULT_CLOSES_AFTER_DAYS = {"retention": 60, "tenure": 0, "signup": 0}
DEFAULT_MIN_SCORE = 9

COMMON_STEP_FIELDS = {"key", "kind", "opens_after_months", "closes_after_days", "percent",
                      "basis", "amount"}  # fmt: skip
KIND_FIELDS = {
    "signup": set(),
    "tenure": set(),
    "adoption": {"min_active_members"},
    "coverage": {"metric", "threshold"},
    "retention": {"contract_year"},
    "expansion": {"events", "repeat"},
    "sentiment": {"min_score"},
    "outcome": {"outcome_key"},
}
REQUIRED_KIND_FIELDS = {
    "adoption": {"min_active_members"},
    "coverage": {"metric", "threshold"},
    "retention": {"contract_year"},
}
TOP_FIELDS = {"name", "tier", "standard_commission_percent", "clawback", "steps"}

# What each number may be: the range of the column it is stored in or compared with,
# narrowed by the rule. Rewards are rounded half-up to the cent (SPEC §2), so a fixed
# amount may have more places, as a percent may. Spans are at most a century, so that
# every date the engine computes from a date the API takes (portal.limits.LATEST_DATE)
# is still a date.
PERCENT = NumberRange(low=Decimal(0), high=Decimal(100), places=None)
CLAWBACK_PERCENT = column_range(Clawback, "percent").within(low=0, high=100)
AMOUNT = column_range(Reward, "amount").within(low=0).rounded()
READING = column_range(Signal, "value").within(low=0)
SCORE = READING.within(high=10)
MEMBERS = READING.within(low=1, high=int(READING.high), places=0)
CONTRACT_YEAR = column_range(Signal, "contract_year").within(low=1, high=100)
MONTHS = NumberRange(low=Decimal(0), high=Decimal(12 * 100), places=0)
DAYS = column_range(Clawback, "window_days").within(high=36_525)
NAME_LENGTH = CascadeStructure._meta.get_field("name").max_length
KEY_LENGTH = Reward._meta.get_field("step_key").max_length


@dataclass(frozen=True)
class Step:
    key: str
    kind: str
    opens_after_months: int
    closes_after_days: int
    percent: Decimal | None
    basis: str | None
    amount: Decimal | None
    min_active_members: int | None = None
    metric: str | None = None
    threshold: Decimal | None = None
    contract_year: int | None = None
    events: tuple[str, ...] = ()
    repeat: bool = False
    min_score: Decimal | None = None
    outcome_key: str | None = None


@dataclass(frozen=True)
class Structure:
    name: str
    tier: str
    standard_commission_percent: Decimal
    clawback_window_days: int
    clawback_percent: Decimal
    steps: tuple[Step, ...]

    @classmethod
    def from_document(cls, document):
        """Read a validated document (or a snapshot), filling in every default."""
        clawback = document["clawback"]
        return cls(
            name=document["name"],
            tier=document["tier"],
            standard_commission_percent=Decimal(document["standard_commission_percent"]),
            clawback_window_days=int(clawback["window_days"]),
            clawback_percent=Decimal(clawback["percent"]),
            steps=tuple(_step(raw) for raw in document["steps"]),
        )

    def step(self, key):
        return next(step for step in self.steps if step.key == key)

    def snapshot(self):
        """The frozen, fully resolved copy an engagement keeps (JSON-ready)."""
        steps = []
        for step in self.steps:
            raw = {k: v for k, v in asdict(step).items() if v is not None and v != ()}
            for name in ("percent", "amount", "threshold", "min_score"):
                if name in raw:
                    raw[name] = str(raw[name])
            if step.kind == "expansion":
                raw["events"] = list(step.events)
            else:
                raw.pop("repeat", None)
            steps.append(raw)
        return {
            "name": self.name,
            "tier": self.tier,
            "standard_commission_percent": str(self.standard_commission_percent),
            "clawback": {
                "window_days": self.clawback_window_days,
                "percent": str(self.clawback_percent),
            },
            "steps": steps,
        }


def _step(raw):
    kind = raw["kind"]
    contract_year = raw.get("contract_year")
    if "opens_after_months" in raw:
        opens_after_months = int(raw["opens_after_months"])
    elif kind == "retention":
        # A retention step is due at the contract year's anniversary (N × 12 months).
        opens_after_months = 12 * int(contract_year)
    else:
        opens_after_months = 0
    closes_default = DEFAULT_CLOSES_AFTER_DAYS.get(kind, 90)
    threshold = raw.get("threshold")
    return Step(
        key=raw["key"],
        kind=kind,
        opens_after_months=opens_after_months,
        closes_after_days=int(raw.get("closes_after_days", closes_default)),
        percent=Decimal(raw["percent"]) if "percent" in raw else None,
        basis=raw.get("basis"),
        amount=Decimal(raw["amount"]) if "amount" in raw else None,
        min_active_members=raw.get("min_active_members"),
        metric=raw.get("metric"),
        threshold=Decimal(str(threshold)) if threshold is not None else None,
        contract_year=int(contract_year) if contract_year is not None else None,
        events=tuple(raw.get("events", EXPANSION_EVENTS)) if kind == "expansion" else (),
        repeat=bool(raw.get("repeat", False)),
        min_score=(
            Decimal(str(raw.get("min_score", DEFAULT_MIN_SCORE))) if kind == "sentiment" else None
        ),
        outcome_key=raw.get("outcome_key"),
    )


class _Errors:
    def __init__(self):
        self.errors = {}

    def add(self, path, message):
        self.errors.setdefault(path, []).append(message)


def _decimal(value, path, errors, limits: NumberRange):
    """A decimal given as a string (or an integer); floats are refused as imprecise."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(path, 'Must be a decimal string, such as "2.5".')
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add(path, f"{shown(value)} is not a decimal number.")
        return None
    if not number.is_finite():
        errors.add(path, f"{shown(value)} is not a decimal number.")
        return None
    if problem := limits.problem(number):
        errors.add(path, problem)
        return None
    return number


def _integer(value, path, errors, limits: NumberRange):
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "Must be a whole number.")
        return None
    if problem := limits.problem(value):
        errors.add(path, problem)
        return None
    return value


def _text(value, path, errors, *, max_length):
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "Must be a non-empty string.")
        return None
    if len(value.strip()) > max_length:
        errors.add(path, f"At most {max_length} characters.")
        return None
    if CONTROL_CHARACTERS.search(value):
        errors.add(path, "Must not contain control characters.")
        return None
    return value.strip()


def _validate_step(raw, path, errors):
    if not isinstance(raw, dict):
        errors.add(path, "Each step must be an object.")
        return None
    step = {}
    key = None
    if "key" in raw:
        key = _text(raw["key"], f"{path}.key", errors, max_length=KEY_LENGTH)
    else:
        errors.add(f"{path}.key", "This field is required.")
    kind = raw.get("kind")
    if kind not in STEP_KINDS:
        errors.add(
            f"{path}.kind", f"Unknown kind {shown(kind)}; expected one of {', '.join(STEP_KINDS)}."
        )
        return None
    step["key"], step["kind"] = key, kind

    allowed = COMMON_STEP_FIELDS | KIND_FIELDS[kind]
    for name in sorted(set(raw) - allowed):
        errors.add(f"{path}.{name}", f"Unknown field for a {kind} step.")
    for name in sorted(REQUIRED_KIND_FIELDS.get(kind, set()) - set(raw)):
        errors.add(f"{path}.{name}", f"This field is required for a {kind} step.")

    for name in ("opens_after_months", "closes_after_days"):
        if name in raw:
            limits = MONTHS if name == "opens_after_months" else DAYS
            step[name] = _integer(raw[name], f"{path}.{name}", errors, limits)

    has_percent, has_amount = "percent" in raw, "amount" in raw
    if has_percent == has_amount:
        errors.add(f"{path}.percent", "Give either percent (with basis) or a fixed amount.")
    if has_percent:
        percent = _decimal(raw["percent"], f"{path}.percent", errors, PERCENT)
        step["percent"] = str(percent) if percent is not None else None
        basis = raw.get("basis")
        if basis not in BASES:
            errors.add(
                f"{path}.basis",
                f"Unknown basis {shown(basis)}; expected one of {', '.join(BASES)}.",
            )
        elif basis == "expansion_acv_delta" and kind != "expansion":
            errors.add(f"{path}.basis", "expansion_acv_delta is a basis for expansion steps only.")
        step["basis"] = basis
    elif "basis" in raw:
        errors.add(f"{path}.basis", "A fixed amount takes no basis.")
    if has_amount:
        amount = _decimal(raw["amount"], f"{path}.amount", errors, AMOUNT)
        if amount == 0:
            errors.add(f"{path}.amount", "Must be greater than 0.")
            amount = None
        step["amount"] = str(amount) if amount is not None else None

    if "min_active_members" in raw:
        step["min_active_members"] = _integer(
            raw["min_active_members"], f"{path}.min_active_members", errors, MEMBERS
        )
    if "metric" in raw:
        if raw["metric"] not in COVERAGE_METRICS:
            errors.add(
                f"{path}.metric", f"Unknown metric; expected one of {', '.join(COVERAGE_METRICS)}."
            )
        step["metric"] = raw["metric"]
    if "threshold" in raw:
        threshold = _decimal(raw["threshold"], f"{path}.threshold", errors, READING)
        if threshold is not None:
            step["threshold"] = (
                raw["threshold"] if isinstance(raw["threshold"], int) else str(threshold)
            )
    if "contract_year" in raw:
        step["contract_year"] = _integer(
            raw["contract_year"], f"{path}.contract_year", errors, CONTRACT_YEAR
        )
    if "events" in raw:
        events = raw["events"]
        if not isinstance(events, list) or not events:
            errors.add(f"{path}.events", "Must be a non-empty list.")
        else:
            unknown = [event for event in events if event not in EXPANSION_EVENTS]
            expected = ", ".join(EXPANSION_EVENTS)
            for event in unknown:
                errors.add(
                    f"{path}.events", f"Unknown event {shown(event)}; expected any of {expected}."
                )
            if not unknown and len(set(events)) != len(events):
                errors.add(f"{path}.events", "Events are listed twice.")
            step["events"] = events
    if "repeat" in raw:
        if not isinstance(raw["repeat"], bool):
            errors.add(f"{path}.repeat", "Must be true or false.")
        step["repeat"] = raw["repeat"]
    if "min_score" in raw:
        score = _decimal(raw["min_score"], f"{path}.min_score", errors, SCORE)
        if score is not None:
            step["min_score"] = (
                raw["min_score"] if isinstance(raw["min_score"], int) else str(score)
            )
    if "outcome_key" in raw:
        step["outcome_key"] = _text(
            raw["outcome_key"], f"{path}.outcome_key", errors, max_length=KEY_LENGTH
        )
    return step


def validate_document(document):
    """Check a structure document; return it normalised or raise ValidationError by field path."""
    errors = _Errors()
    if not isinstance(document, dict):
        raise ValidationError({"document": ["A structure must be a JSON object."]})
    for name in sorted(set(document) - TOP_FIELDS):
        errors.add(name, "Unknown field.")
    for name in sorted(TOP_FIELDS - set(document)):
        errors.add(name, "This field is required.")

    clean = {}
    if "name" in document:
        clean["name"] = _text(document["name"], "name", errors, max_length=NAME_LENGTH)
    if "tier" in document:
        if document["tier"] not in Tier.values:
            expected = ", ".join(Tier.values)
            errors.add(
                "tier", f"Unknown tier {shown(document['tier'])}; expected one of {expected}."
            )
        clean["tier"] = document["tier"]
    if "standard_commission_percent" in document:
        percent = _decimal(
            document["standard_commission_percent"], "standard_commission_percent", errors, PERCENT
        )
        clean["standard_commission_percent"] = str(percent) if percent is not None else None
    if "clawback" in document:
        clawback = document["clawback"]
        if not isinstance(clawback, dict):
            errors.add("clawback", "Must be an object with window_days and percent.")
        else:
            for name in sorted(set(clawback) - {"window_days", "percent"}):
                errors.add(f"clawback.{name}", "Unknown field.")
            for name in sorted({"window_days", "percent"} - set(clawback)):
                errors.add(f"clawback.{name}", "This field is required.")
            window = _integer(clawback.get("window_days", 0), "clawback.window_days", errors, DAYS)
            percent = _decimal(
                clawback.get("percent", "0"), "clawback.percent", errors, CLAWBACK_PERCENT
            )
            clean["clawback"] = {
                "window_days": window,
                "percent": str(percent) if percent is not None else None,
            }
    if "steps" in document:
        steps = document["steps"]
        if not isinstance(steps, list) or not steps:
            errors.add("steps", "Must be a non-empty list of steps.")
        else:
            clean_steps, seen = [], set()
            for index, raw in enumerate(steps):
                step = _validate_step(raw, f"steps[{index}]", errors)
                if step is None:
                    continue
                if step["key"] in seen:
                    errors.add(f"steps[{index}].key", f"Duplicate key {step['key']!r}.")
                seen.add(step["key"])
                clean_steps.append(step)
            clean["steps"] = clean_steps
    if errors.errors:
        raise ValidationError(errors.errors)
    return clean
