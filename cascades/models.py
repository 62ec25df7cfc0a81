"""Customers, engagements and the cascade machinery around them.

Structures, signals and rewards are the shells the cascade engine fills in.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.models import Partner, Tier
from portal.money import CURRENCY_MINOR_UNITS, CurrencyField, MoneyField


class Customer(models.Model):
    """A customer a partner introduced, as the CRM and billing know it."""

    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    contact_email = models.EmailField(help_text="Receives the attestation links.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CascadeStructure(models.Model):
    """One version of a tier's cascade structure, in the canonical JSON form (SPEC §2)."""

    tier = models.CharField(max_length=16, choices=Tier.choices)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    document = models.JSONField(help_text="The structure in its canonical JSON form.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["tier", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "version"], name="structure_version_unique"),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="structure_tier_valid"),
        ]

    def __str__(self):
        return f"{self.name} (v{self.version})"


class Engagement(models.Model):
    """A deal a partner closed with a customer: what the cascade is paid on."""

    external_id = models.CharField(max_length=64, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="engagements")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="engagements")
    signed_at = models.DateField(help_text="The signing date of the deal.")
    tier = models.CharField(
        max_length=16,
        choices=Tier.choices,
        help_text="The partner's tier in force on the signing date.",
    )
    currency = CurrencyField()
    year1_acv = MoneyField(verbose_name="Year-1 ACV")
    structure = models.ForeignKey(
        CascadeStructure,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="engagements",
        help_text="The structure version the snapshot was taken from.",
    )
    snapshot = models.JSONField(
        null=True, blank=True, help_text="The frozen copy of the structure this engagement earns."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-signed_at", "external_id"]
        constraints = [
            models.CheckConstraint(condition=Q(year1_acv__gt=0), name="engagement_acv_positive"),
            models.CheckConstraint(
                condition=Q(currency__in=list(CURRENCY_MINOR_UNITS)),
                name="engagement_currency_supported",
            ),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="engagement_tier_valid"),
        ]
        indexes = [models.Index(fields=["partner", "-signed_at"], name="engagement_by_partner")]

    def __str__(self):
        return f"{self.external_id} · {self.customer}"


class SignalType(models.TextChoices):
    ACTIVE_MEMBERS = "active_members"
    VAULT_SIZE_GB = "vault_size_gb"
    ZONE_COUNT = "zone_count"
    RENEWAL = "renewal"
    PLAN_UPGRADE = "plan_upgrade"
    ORG_ADDED = "org_added"
    MARKETPLACE_PURCHASE = "marketplace_purchase"
    CSAT = "csat"
    CHURN = "churn"
    CHARGEBACK = "chargeback"


class Signal(models.Model):
    """A fact about a customer from billing, telemetry or the CRM; append-only (SPEC §9)."""

    Type = SignalType

    signal_id = models.CharField(max_length=128, unique=True, help_text="The sender's id.")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="signals")
    type = models.CharField(max_length=32, choices=Type.choices)
    occurred_at = models.DateField()
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at", "signal_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=SignalType.values), name="signal_type_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "type", "occurred_at"], name="signal_by_customer")
        ]

    def __str__(self):
        return f"{self.signal_id} ({self.type})"


class Reward(models.Model):
    """A cascade step that fired: one per (engagement, step), one per event for repeats."""

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="rewards")
    step_key = models.CharField(max_length=64)
    event_key = models.CharField(
        max_length=128,
        blank=True,
        help_text="The expansion event a repeat step fired on; empty for other steps.",
    )
    trigger_date = models.DateField()
    amount = MoneyField()
    currency = CurrencyField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["engagement", "trigger_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement", "step_key", "event_key"], name="reward_once_per_step"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="reward_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.engagement.external_id}: {self.step_key} {self.amount} {self.currency}"
