"""The ledger, statement periods, payout runs and statements (SPEC §6).

The ledger is append-only: corrections are new entries. Periods, runs and
statements are shells the payouts issue fills in.
"""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q, Value
from django.utils import timezone

from portal.append_only import AppendOnlyModel
from portal.formatting import money
from portal.models import Partner
from portal.money import CurrencyField, MoneyField


class LedgerEntryKind(models.TextChoices):
    STANDARD_COMMISSION = "standard_commission", "Standard commission"
    CASCADE_REWARD = "cascade_reward", "Cascade reward"
    CLAWBACK = "clawback", "Clawback"
    ADJUSTMENT = "adjustment", "Adjustment"
    PAYOUT = "payout", "Payout"


class LedgerEntry(AppendOnlyModel):
    """A money movement for a partner; append-only."""

    Kind = LedgerEntryKind

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="ledger_entries")
    engagement = models.ForeignKey(
        "cascades.Engagement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    reward = models.ForeignKey(
        "cascades.Reward",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    clawback = models.OneToOneField(
        "cascades.Clawback",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entry",
    )
    paid_statement = models.OneToOneField(
        "payouts.Statement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payout_entry",
        help_text="For a payout: the statement it pays.",
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    amount = MoneyField(help_text="Positive: owed to the partner; negative: owed back.")
    currency = CurrencyField()
    effective_date = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    # Why a cascade reward or clawback was posted, as the evaluation decided it (SPEC §7):
    # its reason code and facts (cascades.reasons), frozen with the entry; statements
    # render their sentence from them (cascades.explanations).
    reason_code = models.CharField(max_length=32, blank=True, default="", db_default="")
    facts = models.JSONField(
        blank=True, default=dict, db_default=models.Value({}, output_field=models.JSONField())
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-effective_date", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=LedgerEntryKind.values), name="ledger_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | ~Q(reason=""),
                name="ledger_adjustment_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(kind="cascade_reward") | Q(reward__isnull=False, amount__gte=0),
                name="ledger_reward_entry_names_its_reward",
            ),
            models.CheckConstraint(
                condition=~Q(kind="clawback") | Q(clawback__isnull=False, amount__lt=0),
                name="ledger_clawback_entry_is_negative",
            ),
            models.UniqueConstraint(
                fields=["reward"],
                condition=Q(kind="cascade_reward"),
                name="ledger_one_entry_per_reward",
            ),
            models.UniqueConstraint(
                fields=["engagement"],
                condition=Q(kind="standard_commission"),
                name="ledger_one_standard_commission_per_engagement",
            ),
            models.CheckConstraint(
                condition=~Q(kind="payout") | Q(paid_statement__isnull=False, amount__lt=0),
                name="ledger_payout_pays_a_statement",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "currency", "effective_date"], name="ledger_by_partner")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {money(self.amount, self.currency)}"


class StatementPeriod(models.Model):
    """A calendar month, identified by its first day."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    month = models.DateField(unique=True, help_text="The first day of the month.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="period_starts_on_first"),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m}"


class PayoutRun(models.Model):
    """The monthly run for a period: draft → approved (by another Finance user) → paid."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"

    period = models.OneToOneField(StatementPeriod, on_delete=models.PROTECT, related_name="run")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_token = models.ForeignKey(
        "portal.OpsToken",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The ops API token that created it; tokens never approve or pay.",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment_reference = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-period__month"]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="payout_run_approver_is_not_creator",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | ~Q(payment_reference=""),
                name="payout_run_paid_has_reference",
            ),
        ]

    def __str__(self):
        return f"Payout run {self.period}"


class PayoutRunStatusChange(models.Model):
    """The record of each move of a run's status."""

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=8, blank=True)
    to_status = models.CharField(max_length=8)
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    changed_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self):
        return f"{self.run}: {self.from_status or 'new'} → {self.to_status}"


STATEMENT_TOTAL = (
    F("opening_balance")
    + F("standard_earnings")
    + F("cascade_earnings")
    + F("clawbacks")
    + F("adjustments")
    - F("payable")
)
HALF_MILLI = Value(Decimal("0.0005"))


class Statement(models.Model):
    """One partner's earnings statement for a period, in one currency (SPEC §6).

    Its figures are frozen when the run is created; the PDF, once rendered, is kept
    with its SHA-256 and never rendered again."""

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="statements")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="statements")
    currency = CurrencyField()
    tier = models.CharField(max_length=16, blank=True, help_text="The tier at the period's end.")
    opening_balance = MoneyField(default=0)
    standard_earnings = MoneyField(default=0)
    cascade_earnings = MoneyField(default=0)
    clawbacks = MoneyField(default=0, help_text="Negative: clawbacks and reversals.")
    adjustments = MoneyField(default=0)
    payable = MoneyField(default=0)
    closing_balance = MoneyField(default=0)
    issue_date = models.DateField()
    due_date = models.DateField()
    clawback_exposure = models.JSONField(
        default=list, blank=True, help_text="Rewards still inside their clawback window."
    )
    pdf = models.FileField(upload_to="statements/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sealed = models.BooleanField(
        default=False,
        editable=False,
        help_text="Its figures are the sums of its lines; no line joins it afterwards.",
    )

    class Meta:
        ordering = ["run", "partner"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "partner", "currency"], name="statement_one_per_partner_currency"
            ),
            models.CheckConstraint(condition=Q(payable__gte=0), name="statement_payable_positive"),
            models.CheckConstraint(
                # Equal to the cent; the tolerance only absorbs SQLite's floating point.
                condition=Q(closing_balance__gte=STATEMENT_TOTAL - HALF_MILLI)
                & Q(closing_balance__lte=STATEMENT_TOTAL + HALF_MILLI),
                name="statement_lines_add_up",
            ),
        ]

    def __str__(self):
        return f"{self.partner} {self.run.period} {self.currency}"

    @property
    def entries_total(self):
        return self.standard_earnings + self.cascade_earnings + self.clawbacks + self.adjustments


class StatementLine(models.Model):
    """Which statement a ledger entry landed on: each entry on exactly one."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="line")

    class Meta:
        ordering = ["statement", "entry"]

    def __str__(self):
        return f"{self.entry} on {self.statement}"
