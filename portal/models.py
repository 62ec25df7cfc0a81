"""Partners, their tier history and status, and the people who sign in."""

import datetime

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from portal.append_only import AppendOnlyModel


class Tier(models.TextChoices):
    """Partner tiers, lowest first (SPEC §1)."""

    AUTHORIZED = "authorized", "Authorized"
    SILVER = "silver", "Silver"
    GOLD = "gold", "Gold"
    PLATINUM = "platinum", "Platinum"


class PartnerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    UNDER_REVIEW = "under_review", "Under review"
    TERMINATED = "terminated", "Terminated"


class PartnerQuerySet(models.QuerySet):
    def with_tier_on(self, on_date):
        """Annotate each partner with `tier` in force on `on_date`, in the same query."""
        in_force = TierChange.objects.filter(partner=OuterRef("pk"), effective__lte=on_date)
        return self.annotate(
            tier=Subquery(in_force.order_by("-effective").values("tier")[:1]),
        )


class Partner(models.Model):
    Status = PartnerStatus

    external_id = models.CharField(
        max_length=64, unique=True, help_text="The partner's id in the CRM."
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PartnerStatus.values),
                name="partner_status_valid",
            ),
        ]

    def __str__(self):
        return self.name

    def tier_on(self, on_date: datetime.date):
        """The tier in force on `on_date` (one query), or None before the first tier."""
        return (
            self.tier_changes.filter(effective__lte=on_date)
            .order_by("-effective")
            .values_list("tier", flat=True)
            .first()
        )


class TierChange(models.Model):
    """One entry of a partner's tier history: `tier` applies from `effective` on."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tier_changes")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    effective = models.DateField(help_text="The first day on which this tier applies.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["partner", "-effective"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "effective"], name="tier_change_one_per_partner_and_day"
            ),
            models.CheckConstraint(
                condition=Q(tier__in=Tier.values), name="tier_change_tier_valid"
            ),
        ]
        indexes = [models.Index(fields=["partner", "-effective"], name="tier_change_lookup")]

    def __str__(self):
        return f"{self.partner}: {self.get_tier_display()} from {self.effective:%Y-%m-%d}"


class PartnerStatusChange(models.Model):
    """The record of each move of a partner's status (see services.partner_set_status)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=Partner.Status.choices)
    to_status = models.CharField(max_length=16, choices=Partner.Status.choices)
    reason = models.CharField(max_length=500)
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    changed_by = models.ForeignKey(
        "portal.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-changed_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_status=F("to_status")), name="status_change_moves"
            ),
        ]

    def __str__(self):
        return f"{self.partner}: {self.from_status} → {self.to_status}"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who signs in: partner users (with a partner and a role) and staff."""

    class PartnerRole(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    partner_role = models.CharField(max_length=8, choices=PartnerRole.choices, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff sign in to the admin; partner users do not."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(
                condition=(
                    Q(partner__isnull=True, partner_role="")
                    | Q(partner__isnull=False, partner_role__in=["admin", "member"])
                ),
                name="user_partner_role_with_partner",
            ),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_partner_admin(self):
        return self.partner_id is not None and self.partner_role == self.PartnerRole.ADMIN


class OpsToken(models.Model):
    """A staff service token for the ops API (SPEC §9). Only its SHA-256 is stored."""

    name = models.CharField(max_length=100, unique=True, help_text="Which integration uses it.")
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "ops API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None


ONE_ACTOR = (
    Q(actor_user__isnull=False, actor_token__isnull=True, actor_system="")
    | Q(actor_user__isnull=True, actor_token__isnull=False, actor_system="")
    | (Q(actor_user__isnull=True, actor_token__isnull=True) & ~Q(actor_system=""))
)


class Event(AppendOnlyModel):
    """One money movement or lifecycle change: who did what to which object, and the
    before / after that matter as ids, codes, dates and decimal strings (never personal
    data). Written by `portal.events` in the transaction that makes the change; append-only
    (on PostgreSQL a trigger refuses UPDATE and DELETE)."""

    occurred_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64, help_text="A dotted code: payout_run.approved.")
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_token = models.ForeignKey(
        OpsToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_system = models.CharField(
        max_length=64, blank=True, help_text="The job that acted, when no person or token did."
    )
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    subject_id = models.CharField(max_length=64, help_text="The subject's primary key.")
    subject = GenericForeignKey("subject_type", "subject_id")
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=ONE_ACTOR, name="event_exactly_one_actor"),
            models.CheckConstraint(condition=~Q(action=""), name="event_has_action"),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "id"], name="event_by_subject"),
            models.Index(fields=["partner", "id"], name="event_by_partner"),
        ]

    def __str__(self):
        return f"{self.action} {self.subject_type.model} {self.subject_id}"

    @property
    def actor_kind(self):
        if self.actor_user_id is not None:
            return "user"
        return "token" if self.actor_token_id is not None else "system"

    @property
    def actor(self):
        """Who acted: the user, the ops token, or the system job's name."""
        return self.actor_user or self.actor_token or self.actor_system
