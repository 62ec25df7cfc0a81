"""Customers, engagements and the cascade machinery around them.

Structures, signals and rewards are the shells the cascade engine fills in.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cascades.explanations import Explained
from portal.append_only import AppendOnlyModel
from portal.formatting import money
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


class CascadeStructureQuerySet(models.QuerySet):
    def current_for(self, tier):
        """The tier's current structure: its latest published version, or None."""
        return self.filter(tier=tier, is_custom=False).order_by("-version").first()


class CascadeStructure(models.Model):
    """One version of a tier's cascade structure, in the canonical JSON form (SPEC §2)."""

    tier = models.CharField(max_length=16, choices=Tier.choices)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    document = models.JSONField(help_text="The structure in its canonical JSON form.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    is_custom = models.BooleanField(
        default=False,
        help_text="Made for one engagement; never a tier's current structure.",
    )
    created_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CascadeStructureQuerySet.as_manager()

    class Meta:
        ordering = ["tier", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "version"],
                condition=Q(is_custom=False),
                name="structure_version_unique",
            ),
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
    created_by_token = models.ForeignKey(
        "portal.OpsToken",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The ops API token that recorded it (the CRM).",
    )
    # What the evaluation keeps to evaluate in proportion to change: every write of an
    # input (signals, attestations and decisions, structure overrides, partner status)
    # adds one to inputs_version in its transaction; an evaluation records the version it
    # read, the as-of date of its step rows and the next date their state could change
    # without new data (cascades.dirty).
    inputs_version = models.BigIntegerField(default=0, db_default=0, editable=False)
    evaluated_version = models.BigIntegerField(null=True, blank=True, editable=False)
    evaluated_as_of = models.DateField(null=True, blank=True, editable=False)
    next_change_on = models.DateField(null=True, blank=True, editable=False)
    steps_digest = models.CharField(
        max_length=32, blank=True, default="", db_default="", editable=False
    )
    year2_acv = MoneyField(null=True, blank=True, editable=False, verbose_name="Year-2 ACV")
    year3_acv = MoneyField(null=True, blank=True, editable=False, verbose_name="Year-3 ACV")

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
        indexes = [
            models.Index(fields=["partner", "-signed_at"], name="engagement_by_partner"),
            # What an evaluation looks at (cascades.evaluation.evaluation_scope): those whose
            # inputs changed or were never evaluated, and those whose date has come.
            models.Index(
                fields=["id"],
                condition=Q(evaluated_version__isnull=True)
                | Q(inputs_version__gt=models.F("evaluated_version")),
                name="engagement_changed",
            ),
            models.Index(fields=["next_change_on"], name="engagement_next_change"),
        ]

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


class Signal(AppendOnlyModel):
    """A fact about a customer from billing, telemetry or the CRM; append-only (SPEC §9)."""

    Type = SignalType

    signal_id = models.CharField(max_length=128, unique=True, help_text="The sender's id.")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="signals")
    type = models.CharField(max_length=32, choices=Type.choices)
    occurred_at = models.DateField()
    value = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The reading (active members, GB, zones) or the CSAT score.",
    )
    amount = MoneyField(
        null=True, blank=True, help_text="Renewal ACV, expansion ACV delta or chargeback amount."
    )
    contract_year = models.PositiveSmallIntegerField(null=True, blank=True)
    member_ids = models.JSONField(null=True, blank=True, help_text="Hashed member identifiers.")
    body = models.JSONField(help_text="The signal exactly as received.")
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    received_by_token = models.ForeignKey(
        "portal.OpsToken",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The ops API token whose batch brought it.",
    )

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


class Reward(AppendOnlyModel):
    """A cascade step that fired: one per (engagement, step), one per event for repeats."""

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="rewards")
    step_key = models.CharField(max_length=64)
    step_kind = models.CharField(max_length=16)
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
        return f"{self.engagement.external_id}: {self.step_key} {money(self.amount, self.currency)}"


class Clawback(AppendOnlyModel):
    """Money taken back from a reward: a clawback on churn or chargeback inside the
    window (SPEC §5), or the reversal of a reward a late churn disproved (SPEC §2).
    A reward is clawed back at most once per kind, and never by more than its amount."""

    class Kind(models.TextChoices):
        CLAWBACK = "clawback", "Clawback"
        REVERSAL = "reversal", "Reversal"

    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="clawbacks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    cause = models.ForeignKey(
        Signal,
        to_field="signal_id",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clawbacks",
        help_text="The churn or chargeback; empty for a reversal on termination.",
    )
    cause_date = models.DateField(help_text="The churn or chargeback date.")
    percent = models.DecimalField(max_digits=7, decimal_places=4)
    window_days = models.PositiveIntegerField(null=True, blank=True)
    amount = MoneyField(help_text="The part of the reward taken back (positive).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["reward", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["reward", "kind"], name="clawback_once_per_kind"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="clawback_amount_positive"),
        ]

    def __str__(self):
        amount = money(self.amount, self.reward.currency)
        return f"{self.get_kind_display()} of {self.reward}: {amount}"


class EvaluationRun(models.Model):
    """One evaluation job: what was asked, how far it got, what it wrote."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    as_of = models.DateField()
    scope = models.CharField(max_length=200, default="all engagements")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    engagements_total = models.PositiveIntegerField(default=0)
    engagements_done = models.PositiveIntegerField(default=0)
    rewards_created = models.PositiveIntegerField(default=0)
    clawbacks_created = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Evaluation as of {self.as_of:%Y-%m-%d} ({self.status})"


class CascadeStep(Explained, models.Model):
    """The state of one step of an engagement's cascade as the latest evaluation found it
    (SPEC §9 `steps`): one row per step, one per reward of a repeat expansion step plus
    the open one. Written only by the evaluation (cascades.evaluation), read by pages and
    APIs. `amount` is what the step paid (earned, or void after a reversal) or is expected
    to pay as known on `as_of` (pending, at risk); `expected_amount` what it pays at
    signing's knowledge; why is `reason` with its `facts` (cascades.engine), and each
    at-risk reason in `at_risk`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        AT_RISK = "at_risk", "At risk"
        EARNED = "earned"
        MISSED = "missed"
        VOID = "void"

    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="steps")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(help_text="Its order in the structure.")
    step_key = models.CharField(max_length=64)
    event_key = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=Status.choices)
    as_of = models.DateField(help_text="The as-of date of the evaluation that wrote it.")
    opens = models.DateField()
    closes = models.DateField()
    trigger_date = models.DateField(null=True, blank=True)
    amount = MoneyField(null=True, blank=True)
    expected_amount = MoneyField(null=True, blank=True)
    clawed_back_amount = MoneyField(default=0)
    currency = CurrencyField()
    reason = models.CharField(max_length=32)
    facts = models.JSONField(default=dict)
    at_risk = models.JSONField(default=list, help_text="[{reason, facts}] of a pending step.")

    class Meta:
        ordering = ["engagement", "position", "trigger_date", "event_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement", "step_key", "event_key"], name="cascade_step_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "at_risk", "earned", "missed", "void"]),
                name="cascade_step_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["partner", "status"], name="cascade_step_by_partner")]

    def __str__(self):
        return f"{self.engagement_id}: {self.step_key} {self.event_key} {self.status}"
