import datetime
import json
from decimal import Decimal
from pathlib import Path

import factory

from cascades.models import CascadeStructure, Customer, Engagement, Signal
from cascades.services import structure_publish
from cascades.structures import Structure, validate_document
from portal.models import Tier
from tests.portal.factories import PartnerFactory

DEFAULTS = Path(__file__).resolve().parents[2] / "cascades" / "data" / "default_structures.json"


def document(*steps, tier="authorized", window_days=90, clawback_percent="100", commission="10"):
    """A structure document with the given steps (dicts in the canonical form)."""
    return {
        "name": f"Test {tier}",
        "tier": tier,
        "standard_commission_percent": commission,
        "clawback": {"window_days": window_days, "percent": clawback_percent},
        "steps": list(steps),
    }


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n:05d}")
    contact_email = factory.LazyAttribute(lambda o: f"{o.external_id}@customer.example")


class StructureFactory(factory.django.DjangoModelFactory):
    """A tier's structure version; pass `document=` to choose its steps."""

    class Meta:
        model = CascadeStructure

    tier = Tier.AUTHORIZED
    version = factory.Sequence(lambda n: 100 + n)
    document = factory.LazyAttribute(
        lambda o: document(
            {"key": "signup", "kind": "signup", "percent": "5", "basis": "year1_acv"}, tier=o.tier
        )  # fmt: skip
    )
    name = factory.LazyAttribute(lambda o: o.document["name"])


def tier_structure(tier):
    """The tier's current structure; the default program's if a transactional test's
    flush removed what the migration loaded."""
    current = CascadeStructure.objects.current_for(tier)
    if current is None:
        documents = json.loads(DEFAULTS.read_text())
        current = structure_publish(document=next(d for d in documents if d["tier"] == tier))
    return current


def _snapshot(engagement):
    structure = engagement.structure or tier_structure(engagement.tier)
    return Structure.from_document(validate_document(structure.document)).snapshot()


class EngagementFactory(factory.django.DjangoModelFactory):
    """An engagement with the snapshot of `structure` (default: the tier's current one)."""

    class Meta:
        model = Engagement

    external_id = factory.Sequence(lambda n: f"eng-{n:05d}")
    partner = factory.SubFactory(PartnerFactory)
    customer = factory.SubFactory(CustomerFactory)
    signed_at = datetime.date(2026, 3, 15)
    tier = Tier.AUTHORIZED
    currency = "USD"
    year1_acv = Decimal("48000.00")
    structure = factory.LazyAttribute(lambda o: tier_structure(o.tier))
    snapshot = factory.LazyAttribute(_snapshot)


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signal

    signal_id = factory.Sequence(lambda n: f"sig-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    type = "churn"
    occurred_at = datetime.date(2026, 6, 1)
    body = factory.LazyAttribute(
        lambda o: {
            "id": o.signal_id,
            "customer": o.customer.external_id,
            "type": o.type,
            "occurred_at": o.occurred_at.isoformat(),
        }  # fmt: skip
    )
