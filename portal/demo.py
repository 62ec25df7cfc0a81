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
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from attestations.models import OutcomeAgreement, SigningRequest
from attestations.services import (
    attestation_decide,
    attestation_sign,
    signing_request_issue,
    signing_token,
    signing_url,
    verification_record,
)
from cascades.evaluation import engagements_evaluate
from cascades.ingest import signals_ingest
from cascades.models import Customer, Engagement
from cascades.services import engagement_create
from payouts.models import PayoutRun
from payouts.services import (
    due_date,
    payout_run_approve,
    payout_run_create,
    payout_run_mark_paid,
)
from payouts.tasks import statements_render
from portal.demo_mfa import demo_totp
from portal.events import DEMO
from portal.models import OpsToken, Partner, Tier, TierChange, User
from portal.tokens import ops_token_issue

DEMO_PASSWORD = "cascade-demo"  # nosec B105: the demo's published password (DEBUG only)
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
    signals: int = 0
    ops_token: str = ""
    payout_runs: list = field(default_factory=list)
    attestation_link: str = ""


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
            partner=partner,
            effective=effective,
            defaults={"tier": tier, "note": f"{AS_OF_NOTE}{as_of:%Y-%m-%d}"},
        )
    return partner


def _engagement_plan(index, as_of):
    """Signing date, currency and Year-1 ACV of demo engagement `index`, spread over 30 months."""
    rng = random.Random(index)  # nosec B311: reproducible demo data, not a secret
    months_ago = 1 + index * (HISTORY_MONTHS - 1) // (CUSTOMER_COUNT - 1)
    signed_at = as_of - relativedelta(months=months_ago) + datetime.timedelta(days=index % 5)
    currency = "EUR" if index % 10 == 3 else "USD"
    year1_acv = Decimal(rng.randrange(12_000, 180_000, 500))
    return signed_at, currency, year1_acv


def demo_as_of():
    """The as-of date the existing demo data was seeded with, or None."""
    note = (
        TierChange.objects.filter(partner__external_id=PARTNERS[0][0], note__startswith=AS_OF_NOTE)
        .values_list("note", flat=True)
        .first()
    )
    return datetime.date.fromisoformat(note.removeprefix(AS_OF_NOTE)) if note else None


def _signals(index, engagement, as_of):
    """A deterministic history of signals for demo engagement `index`, up to `as_of`."""
    rng = random.Random(1000 + index)  # nosec B311: reproducible demo data, not a secret
    customer = engagement.customer.external_id
    signed = engagement.signed_at
    items = []

    def add(kind, day, **fields):
        if day <= as_of:
            items.append({"id": f"demo-sig-{index + 1:02d}-{len(items) + 1:03d}",
                          "customer": customer, "type": kind, "occurred_at": day.isoformat(),
                          **fields})  # fmt: skip

    thriving = index % 6 != 5  # every sixth customer lags behind on adoption
    members = rng.randrange(8, 20)
    for month in range(1, HISTORY_MONTHS + 1, 2):
        members = members + rng.randrange(3, 9) if thriving else max(members - 1, 5)
        add("active_members", signed + relativedelta(months=month), value=members)
        if engagement.tier in ("gold", "platinum"):
            add("zone_count", signed + relativedelta(months=month, days=3), value=min(month, 9))
            add("vault_size_gb", signed + relativedelta(months=month, days=5), value=60 * month)
    for month in (5, 11, 17, 23, 29):
        add("csat", signed + relativedelta(months=month), score=rng.choice([6, 8, 9, 9, 10]))
    if engagement.tier in ("gold", "platinum"):
        add(
            "plan_upgrade",
            signed + relativedelta(months=4),
            acv_delta=str(rng.randrange(2, 9) * 1000),
        )
        add(
            "org_added", signed + relativedelta(months=9), acv_delta=str(rng.randrange(1, 5) * 1000)
        )
    for year in (1, 2):
        if index % 7 != 2:  # a few customers never renew
            acv = (engagement.year1_acv * Decimal("1.1") ** year).quantize(Decimal("1"))
            add("renewal", signed + relativedelta(months=12 * year, days=-10), contract_year=year,
                acv=str(acv))  # fmt: skip
    if index in CHURNED:
        # Churns 40 days after the 3-month milestone fired: inside the 90-day clawback window.
        add("churn", signed + relativedelta(months=3, days=40))
    if index == CHARGEBACK:
        add("chargeback", signed + relativedelta(months=1), amount="1200.00")
    return items


CHURNED = {13, 17}
CHARGEBACK = 9
AS_OF_NOTE = "Demo data as of "


@transaction.atomic
def seed_demo(*, as_of: datetime.date, pdfs: bool = True) -> DemoSummary:
    """Create the demo program around `as_of`, or refresh the one that exists (same as-of)."""
    seeded = demo_as_of()
    if seeded is not None and seeded != as_of:
        raise DemoExists(seeded)
    summary = DemoSummary(as_of=as_of)
    partners = [_partner(ext, name, history, as_of) for ext, name, history in PARTNERS]
    summary.partners = partners

    for partner in partners:
        tier_slug = partner.external_id.removeprefix("demo-")
        for role in (User.PartnerRole.ADMIN, User.PartnerRole.MEMBER):
            email = f"{tier_slug}.{role}@demo.example"
            _user(email, f"{partner.name} {role}", partner=partner, partner_role=role,
                  is_staff=False, is_superuser=False)  # fmt: skip
            summary.partner_logins.append((email, partner.name, role))

    for email, full_name, group_name in STAFF:
        user = _user(email, full_name, is_staff=True, is_superuser=group_name is None,
                     partner=None, partner_role="")  # fmt: skip
        if group_name:
            user.groups.set([Group.objects.get(name=group_name)])
        if settings.DEBUG:  # staff need two-factor; the demo's secret is published
            demo_totp(user)
        summary.staff_logins.append((email, group_name or "superuser"))

    signals = []
    for index, name in enumerate(CUSTOMER_NAMES[:CUSTOMER_COUNT]):
        slug = name.lower().replace(" ", "-")
        customer, _ = Customer.objects.update_or_create(
            external_id=f"demo-cust-{index + 1:02d}",
            defaults={"name": name, "contact_email": f"success@{slug}.example"},
        )
        signed_at, currency, year1_acv = _engagement_plan(index, as_of)
        engagement = Engagement.objects.filter(external_id=f"demo-eng-{index + 1:02d}").first()
        if engagement is None:
            engagement = engagement_create(
                external_id=f"demo-eng-{index + 1:02d}", partner=partners[index % len(partners)],
                customer=customer, signed_at=signed_at, currency=currency, year1_acv=year1_acv,
                outcomes=_outcomes(index),
            )  # fmt: skip
        signals.extend(_signals(index, engagement, as_of))
    signals_ingest(items=signals)
    summary.attestation_link = _attestations(as_of)
    engagements_evaluate(as_of=as_of)
    summary.payout_runs = _payout_runs(as_of, pdfs=pdfs)
    summary.customers = CUSTOMER_COUNT
    summary.engagements = CUSTOMER_COUNT
    summary.signals = len(signals)
    summary.ops_token = _demo_ops_token()
    return summary


DEMO_OUTCOME = {
    "key": "support_cost",
    "title": "Cut support cost per seat by 20 %",
    "methodology": "Support tickets per seat per month, from the helpdesk export, "
    "first three months against the three months before the due date.",
    "target": Decimal("20"),
    "unit": "%",
    "due_months": 6,
}
# Demo index → how far the customer got. Kestrel Aviation's outcome (due two months ago,
# its window open a month more) needs verification: it waits for Risk's review.
ATTESTED = {8: "accepted", 10: "awaiting review", 16: "signed agreement"}
DEMO_EVIDENCE = (
    b"month,tickets,seats,tickets_per_seat\n"
    b"first quarter,1410,3000,0.47\n"
    b"last quarter,1080,3000,0.36\n"
)


def _outcomes(index):
    return [DEMO_OUTCOME] if index % 8 == 0 or index in ATTESTED else []


def _attestations(as_of):
    """Customers who signed: one attested and was accepted, one attested with evidence and
    waits for Risk's review; the link of one who has not signed yet, for the visitor."""
    signer = {
        "signer_name": "Dana Scully",
        "signer_title": "VP Operations",
        "signer_email": "dana@customer.example",
        "typed_signature": "Dana Scully",
    }
    # The demo's customers sign on its as-of date, so its outcome fires as of that date
    # too; at noon, or now if that is earlier: never in the future.
    now = min(datetime.datetime.combine(as_of, datetime.time(12), tzinfo=datetime.UTC),
              timezone.now())  # fmt: skip
    for index, stage in ATTESTED.items():
        agreement = OutcomeAgreement.objects.filter(
            engagement__external_id=f"demo-eng-{index + 1:02d}"
        ).first()
        if agreement is None or agreement.signed_at is not None:
            continue
        request = agreement.requests.filter(used_at__isnull=True, revoked_at__isnull=True).first()
        attestation_sign(token=signing_token(request), values=signer, now=now)
        if stage in ("accepted", "awaiting review"):
            outcome = agreement.outcomes.get()
            request = signing_request_issue(agreement=agreement, outcome=outcome, by=DEMO)
            attestation = attestation_sign(
                token=signing_token(request),
                now=now,
                values={**signer, "achieved_value": Decimal("23.5"),
                        "evidence_summary": "Helpdesk export: 0.47 → 0.36 tickets per seat."},
                evidence=ContentFile(DEMO_EVIDENCE, name="helpdesk-export.csv"),
            )  # fmt: skip
            if stage == "awaiting review":
                continue
            if outcome.verification_required:  # a high-value outcome: Risk verifies first
                verification_record(
                    attestation=attestation, source="accounting_metric",
                    verified_value=Decimal("22.9"), note="Helpdesk metrics, demo", by=DEMO,
                )  # fmt: skip
                attestation_decide(attestation=attestation, verdict="accepted", on=as_of,
                                   by=DEMO)  # fmt: skip
    waiting = (
        SigningRequest.objects.filter(
            agreement__engagement__external_id__startswith="demo-",
            used_at__isnull=True,
            revoked_at__isnull=True,
        )
        .order_by("agreement__engagement__external_id")
        .first()
    )
    return signing_url(waiting) if waiting else ""


def _payout_runs(as_of, *, pdfs):
    """The last three months' payout runs: two approved by Finance and paid, one in draft."""
    maker = User.objects.get(email="staff@demo.example")
    checker = User.objects.get(email="finance@demo.example")
    runs = []
    for months_back in (3, 2, 1):
        month = (as_of - relativedelta(months=months_back)).replace(day=1)
        run, _ = payout_run_create(month=month, as_of=as_of, created_by=maker)
        if months_back > 1 and run.status == PayoutRun.Status.DRAFT:
            payout_run_approve(run=run, by=checker)
            payout_run_mark_paid(
                run=run, by=checker, reference=f"DEMO-{month:%Y%m}",
                paid_on=min(due_date(month) - datetime.timedelta(days=2), as_of),
            )  # fmt: skip
        if pdfs:
            statements_render(run.pk)
        run.refresh_from_db()
        runs.append(run)
    return runs


class DemoExists(Exception):
    def __init__(self, as_of):
        self.as_of = as_of
        super().__init__(f"The demo data was seeded as of {as_of:%Y-%m-%d}.")


def _demo_ops_token():
    """The demo's ops token for the README's curl calls: random, issued when the demo is
    first seeded and shown then only (it is stored hashed); "" when it exists already."""
    if OpsToken.objects.filter(name="demo").exists():
        return ""
    _, token = ops_token_issue(name="demo", by=DEMO)
    return token
