"""Demo data for `manage.py seed_demo`: a small, believable program around an as-of date.

Deterministic and idempotent: running it twice with the same as-of date leaves
the same rows; every demo row is found again by its external id or email.
"""

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal

from allauth.account.models import EmailAddress
from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import Group
from django.db import transaction

from cascades.models import Customer, Engagement
from cascades.services import engagement_create
from portal.models import Partner, Tier, TierChange, User

DEMO_PASSWORD = "cascade-demo"
HISTORY_MONTHS = 30
CUSTOMER_COUNT = 40

# (external id, name, tier history as (months before as-of, tier)), lowest tier first.
PARTNERS = [
    ("demo-authorized", "Northwind Integrators", [(30, Tier.AUTHORIZED)]),
    ("demo-silver", "Bluebird Consulting", [(30, Tier.SILVER)]),
    ("demo-gold", "Summit Cloud Partners", [(30, Tier.SILVER), (12, Tier.GOLD)]),
    ("demo-platinum", "Atlas Systems", [(30, Tier.PLATINUM)]),
]
STAFF = [
    ("staff@demo.example", "Sam Staff", None),
    ("ops@demo.example", "Olivia Ops", "Partner operations"),
    ("finance@demo.example", "Fred Finance", "Finance"),
    ("risk@demo.example", "Rita Risk", "Risk"),
]
CUSTOMER_NAMES = [
    "Acme Robotics",
    "Birch Logistics",
    "Cobalt Health",
    "Delta Freight",
    "Ember Foods",
    "Fjord Energy",
    "Granite Insurance",
    "Harbor Retail",
    "Ion Pharma",
    "Juniper Media",
    "Kestrel Aviation",
    "Lumen Labs",
    "Maple Finance",
    "Nimbus Travel",
    "Orchid Clinics",
    "Pioneer Mining",
    "Quartz Telecom",
    "Redwood Legal",
    "Saffron Hotels",
    "Tidal Marine",
    "Umber Textiles",
    "Vertex Games",
    "Willow Schools",
    "Xenon Motors",
    "Yarrow Farms",
    "Zephyr Wind",
    "Aurora Bank",
    "Basalt Construction",
    "Cinder Security",
    "Dune Analytics",
    "Elm Property",
    "Falcon Couriers",
    "Garnet Jewelry",
    "Helix Biotech",
    "Indigo Apparel",
    "Jade Restaurants",
    "Kite Software",
    "Lotus Wellness",
    "Meridian Shipping",
    "Nova Utilities",
]


@dataclass
class DemoSummary:
    as_of: datetime.date
    partners: list = field(default_factory=list)
    partner_logins: list = field(default_factory=list)
    staff_logins: list = field(default_factory=list)
    customers: int = 0
    engagements: int = 0


def _user(email, full_name, **fields):
    user, created = User.objects.update_or_create(
        email=email, defaults={"full_name": full_name, "is_active": True, **fields}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _partner(external_id, name, history, as_of):
    partner, _ = Partner.objects.update_or_create(
        external_id=external_id, defaults={"name": name, "status": Partner.Status.ACTIVE}
    )
    wanted = {as_of - relativedelta(months=months): tier for months, tier in history}
    # The demo's tier history is whatever the as-of date makes it, nothing else.
    partner.tier_changes.exclude(effective__in=wanted).delete()
    for effective, tier in wanted.items():
        TierChange.objects.update_or_create(
            partner=partner, effective=effective, defaults={"tier": tier, "note": "Demo data"}
        )
    return partner


def _engagement_plan(index, as_of):
    """Signing date, currency and Year-1 ACV of demo engagement `index`, spread over 30 months."""
    rng = random.Random(index)
    months_ago = 1 + index * (HISTORY_MONTHS - 1) // (CUSTOMER_COUNT - 1)
    signed_at = as_of - relativedelta(months=months_ago) + datetime.timedelta(days=index % 5)
    currency = "EUR" if index % 10 == 3 else "USD"
    year1_acv = Decimal(rng.randrange(12_000, 180_000, 500))
    return signed_at, currency, year1_acv


@transaction.atomic
def seed_demo(*, as_of: datetime.date) -> DemoSummary:
    summary = DemoSummary(as_of=as_of)
    partners = [_partner(ext, name, history, as_of) for ext, name, history in PARTNERS]
    summary.partners = partners

    for partner in partners:
        tier_slug = partner.external_id.removeprefix("demo-")
        for role in (User.PartnerRole.ADMIN, User.PartnerRole.MEMBER):
            email = f"{tier_slug}.{role}@demo.example"
            _user(
                email,
                f"{partner.name} {role}",
                partner=partner,
                partner_role=role,
                is_staff=False,
                is_superuser=False,
            )
            summary.partner_logins.append((email, partner.name, role))

    for email, full_name, group_name in STAFF:
        user = _user(
            email,
            full_name,
            is_staff=True,
            is_superuser=group_name is None,
            partner=None,
            partner_role="",
        )
        if group_name:
            user.groups.set([Group.objects.get(name=group_name)])
        summary.staff_logins.append((email, group_name or "superuser"))

    for index, name in enumerate(CUSTOMER_NAMES[:CUSTOMER_COUNT]):
        slug = name.lower().replace(" ", "-")
        customer, _ = Customer.objects.update_or_create(
            external_id=f"demo-cust-{index + 1:02d}",
            defaults={"name": name, "contact_email": f"success@{slug}.example"},
        )
        partner = partners[index % len(partners)]
        signed_at, currency, year1_acv = _engagement_plan(index, as_of)
        external_id = f"demo-eng-{index + 1:02d}"
        existing = Engagement.objects.filter(external_id=external_id)
        if existing.exists():
            existing.update(
                partner=partner,
                customer=customer,
                signed_at=signed_at,
                currency=currency,
                year1_acv=year1_acv,
                tier=partner.tier_on(signed_at),
            )
        else:
            engagement_create(
                external_id=external_id,
                partner=partner,
                customer=customer,
                signed_at=signed_at,
                currency=currency,
                year1_acv=year1_acv,
            )
    summary.customers = CUSTOMER_COUNT
    summary.engagements = CUSTOMER_COUNT
    return summary
