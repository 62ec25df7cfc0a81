import json
from functools import wraps

from allauth.account import admin as allauth_admin
from allauth.account.models import EmailAddress
from allauth.mfa import admin as allauth_mfa_admin
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from portal import formatting
from portal.models import Event, OpsToken, Partner, PartnerStatusChange, Tier, TierChange, User
from portal.services import (
    STATUS_TRANSITIONS,
    partner_create,
    partner_set_status,
    partner_tier_change,
)
from portal.staff_groups import (
    PARTNER_USER_FIELDS_STAFF_MAY_CREATE,
    PARTNER_USER_FIELDS_STAFF_MAY_EDIT,
    staff_may_manage_user,
    staff_may_set_credentials,
    users_staff_may_manage,
)
from portal.tokens import ops_token_revoke


class ReadOnlyAdminMixin:
    """For history and append-only records: visible, never edited in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventHistoryMixin:
    """The admin's History page of an object lists its events (portal.events) above Django's
    own log of admin changes, to staff who may view the event log."""

    history_events_shown = 200

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if (
            obj is not None
            and self.has_view_or_change_permission(request, obj)
            and request.user.has_perm("portal.view_event")
        ):
            extra_context = {**self._events_context(obj), **(extra_context or {})}
        return super().history_view(request, object_id, extra_context)

    def _events_context(self, obj):
        subject_type = ContentType.objects.get_for_model(self.model)
        found = Event.objects.filter(subject_type=subject_type, subject_id=str(obj.pk))
        latest = found.select_related("actor_user", "actor_token").order_by("-id")
        shown = list(latest[: self.history_events_shown])
        total = len(shown) if len(shown) < self.history_events_shown else found.count()
        query = urlencode({"subject_type__id__exact": subject_type.pk, "q": obj.pk})
        return {
            "events": [event_row(event) for event in reversed(shown)],
            "events_total": total,
            "events_url": f"{reverse('admin:portal_event_changelist')}?{query}",
        }


class TierChangeInline(admin.TabularInline):
    model = TierChange
    extra = 0
    fields = ["tier", "effective", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False


class PartnerStatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PartnerStatusChange
    extra = 0
    fields = ["changed_at", "from_status", "to_status", "reason", "changed_by"]
    readonly_fields = fields


class PartnerForm(forms.ModelForm):
    status_reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Required when the status changes; kept in the partner's status history.",
    )

    class Meta:
        model = Partner
        fields = ["external_id", "name", "status"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "status" in self.changed_data:
            old = Partner.objects.values_list("status", flat=True).get(pk=self.instance.pk)
            if cleaned.get("status") not in STATUS_TRANSITIONS[Partner.Status(old)]:
                raise ValidationError({"status": f"A partner cannot move from {old} to this."})
            if not cleaned.get("status_reason"):
                raise ValidationError({"status_reason": "Say why the status changes."})
        return cleaned


class TierTodayFilter(admin.SimpleListFilter):
    title = "tier today"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return Tier.choices

    def queryset(self, request, queryset):
        # `tier` is annotated by PartnerAdmin.get_queryset: the tier in force today.
        return queryset.filter(tier=self.value()) if self.value() else queryset


@admin.register(Partner)
class PartnerAdmin(EventHistoryMixin, admin.ModelAdmin):
    form = PartnerForm
    list_display = [
        "name",
        "external_id",
        "current_tier",
        "status",
        "engagement_count",
        "created_at",
    ]
    list_filter = ["status", TierTodayFilter]
    search_fields = ["name", "external_id"]
    inlines = [TierChangeInline, PartnerStatusChangeInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .with_tier_on(timezone.localdate())
            .annotate(engagement_count=Count("engagements", distinct=True))
            .order_by("name", "pk")  # the annotation drops the model's ordering
        )

    def get_readonly_fields(self, request, obj=None):
        # A new partner starts active; its status then moves through the service.
        return [] if obj else ["status"]

    @admin.display(description="Tier today", ordering="tier")
    def current_tier(self, obj):
        return Tier(obj.tier).label if obj.tier else "—"

    @admin.display(description="Engagements", ordering="engagement_count")
    def engagement_count(self, obj):
        return obj.engagement_count

    def save_model(self, request, obj, form, change):
        if not change:
            created = partner_create(external_id=obj.external_id, name=obj.name, by=request.user)
            obj.pk, obj.status, obj.created_at = created.pk, created.status, created.created_at
        elif "status" in form.changed_data:
            new_status = obj.status
            obj.status = Partner.objects.values_list("status", flat=True).get(pk=obj.pk)
            obj.save()
            partner_set_status(
                partner=obj,
                status=new_status,
                reason=form.cleaned_data["status_reason"],
                by=request.user,
            )
        else:
            super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):  # new tier changes: existing ones stay
            tier_change_save(request, instance)
        formset.save_m2m()


def tier_change_save(request, obj):
    """A tier change added in the admin, through the service that records its event."""
    saved = partner_tier_change(
        partner=obj.partner, tier=obj.tier, effective=obj.effective, note=obj.note,
        by=request.user,
    )  # fmt: skip
    obj.pk, obj.created_by, obj.created_at = saved.pk, saved.created_by, saved.created_at


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    list_display = ["partner", "tier", "effective", "created_by", "created_at"]
    list_filter = ["tier", "effective"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "created_by"]
    date_hierarchy = "effective"
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["partner"]

    def has_change_permission(self, request, obj=None):
        # A tier change is history: a correction is a new tier change.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        tier_change_save(request, obj)


@admin.register(PartnerStatusChange)
class PartnerStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "from_status", "to_status", "reason", "changed_by", "changed_at"]
    list_filter = ["to_status", "from_status"]
    search_fields = ["partner__name", "reason"]
    list_select_related = ["partner", "changed_by"]


class UserCreateForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "full_name", "partner", "partner_role"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class PartnerUserForm(forms.ModelForm):
    """A partner user belongs to a partner, with a role there: staff other than superusers
    can neither leave either out nor make a partner user into some other kind of account."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].required = True
        self.fields["partner_role"].required = True


class PartnerUserCreateForm(PartnerUserForm):
    """Staff other than superusers create partner users without a password: the new user
    picks one through allauth's password reset, sent to the address given here."""

    class Meta:
        model = User
        fields = PARTNER_USER_FIELDS_STAFF_MAY_CREATE
        help_texts = {
            "email": "The user sets a password with “Forgot your password?” at this address.",
        }

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


class PartnerUserEditForm(PartnerUserForm):
    class Meta:
        model = User
        fields = PARTNER_USER_FIELDS_STAFF_MAY_EDIT


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Superusers manage every account; other staff only partner users, never their
    password or email (the rules: portal.staff_groups)."""

    form = UserEditForm
    add_form = UserCreateForm
    ordering = ["email"]
    list_display = [
        "email",
        "full_name",
        "partner",
        "partner_role",
        "is_staff",
        "is_active",
        "last_login",
    ]
    list_filter = ["is_staff", "is_superuser", "is_active", "partner_role", "groups"]
    search_fields = ["email", "full_name", "partner__name"]
    list_select_related = ["partner"]
    autocomplete_fields = ["partner"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "partner", "partner_role"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "email",
                    "full_name",
                    "partner",
                    "partner_role",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined"]
    partner_user_fieldsets = [
        (None, {"fields": ["email"]}),
        ("Profile", {"fields": ["full_name", "partner", "partner_role"]}),
        ("Access", {"fields": ["is_active"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]

    def get_queryset(self, request):
        return users_staff_may_manage(super().get_queryset(request), staff=request.user)

    def get_object(self, request, object_id, from_field=None):
        # Any account, whoever asks: a staff account is out of a non-superuser's list
        # (get_queryset), and its pages are refused by the permission checks below (403)
        # rather than passed off as missing.
        field = User._meta.pk if from_field is None else User._meta.get_field(from_field)
        try:
            return User.objects.get(**{field.name: field.to_python(object_id)})
        except (User.DoesNotExist, ValidationError, ValueError):
            return None

    def _may_manage(self, request, obj):
        return obj is None or staff_may_manage_user(staff=request.user, user=obj)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._may_manage(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if not staff_may_set_credentials(staff=request.user):
            kwargs["form"] = PartnerUserCreateForm if obj is None else PartnerUserEditForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if staff_may_set_credentials(staff=request.user):
            return super().get_fieldsets(request, obj)
        if obj is None:
            return [(None, {"fields": PARTNER_USER_FIELDS_STAFF_MAY_CREATE})]
        return self.partner_user_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None or staff_may_set_credentials(staff=request.user):
            return self.readonly_fields
        # Shown, never taken from the form (staff rights, groups and password are not shown).
        return [*self.readonly_fields, "email"]

    def user_change_password(self, request, id, form_url=""):
        if not staff_may_set_credentials(staff=request.user):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


class SuperuserOnlyAdminMixin:
    """Account records only superusers see or touch, whatever permissions a group holds."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


# allauth's own admin for email addresses would let anyone given its permissions point an
# account at a new address (and its password reset with it).
admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class EmailAddressAdmin(SuperuserOnlyAdminMixin, allauth_admin.EmailAddressAdmin):
    pass


# allauth's authenticator admin shows the TOTP secret in `data`: superusers may see that an
# authenticator exists and delete it (a staff member lost the device), never read it.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(SuperuserOnlyAdminMixin, allauth_mfa_admin.AuthenticatorAdmin):
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OpsToken)
class OpsTokenAdmin(EventHistoryMixin, admin.ModelAdmin):
    """Tokens are issued with `manage.py issue_ops_token NAME`; staff can see and revoke them."""

    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = sum(ops_token_revoke(token=token, by=request.user) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).")


# Between the lines of a readonly field (format_html_join's separator).
BR = mark_safe("<br>")  # nosec B308: a literal tag, no data in it


def _field_display(field, description, show):
    """A ModelAdmin method showing `show(obj, value of field)`, sortable by the field."""

    def display(self, obj):
        return show(obj, getattr(obj, field))

    label = description or field.replace("_", " ")
    return admin.display(description=label, ordering=field)(display)


def money_display(field, *, currency="currency", description=None):
    """A ModelAdmin method showing the amount `field` with its currency: 10,428.00 USD.
    `currency` names the object's currency, through relations if need be (`reward__currency`)."""

    def show(obj, amount):
        for part in currency.split("__"):
            obj = getattr(obj, part)
        return formatting.money(amount, obj)

    return _field_display(field, description, show)


def number_display(field, *, description=None):
    """A ModelAdmin method showing the decimal `field` without trailing zeros."""
    return _field_display(field, description, lambda obj, value: formatting.number(value))


def percent_display(field, *, description=None):
    """A ModelAdmin method showing the percentage `field`: 50 %."""
    return _field_display(field, description, lambda obj, value: formatting.percent(value))


def staff_file_view(admin_site, view):
    """Wrap an admin view that serves a file (evidence, a certificate, a PDF): signed-out
    visitors go to the login page, partner users get a 404 (nothing tells them the file
    exists), and staff are let through to the view, which checks their permission (403)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.is_staff:
            raise Http404
        return admin_site.admin_view(view)(request, *args, **kwargs)

    return wrapper


class ActorKindFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        return [("user", "A person"), ("token", "An ops token"), ("system", "A system job")]

    def queryset(self, request, queryset):
        return {
            "user": queryset.filter(actor_user__isnull=False),
            "token": queryset.filter(actor_token__isnull=False),
            "system": queryset.exclude(actor_system=""),
        }.get(self.value(), queryset)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event log: read by staff, written only by portal.events, changed by nobody."""

    list_display = ["occurred_at", "action", "actor_shown", "subject_shown", "partner"]
    list_filter = ["action", ActorKindFilter, "subject_type"]
    search_fields = ["=subject_id"]
    search_help_text = "The subject's id."
    list_select_related = ["actor_user", "actor_token", "subject_type", "partner"]
    fields = ["occurred_at", "action", "actor_shown", "subject_shown", "partner", "data_shown"]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="actor")
    def actor_shown(self, obj):
        return event_actor(obj)

    @admin.display(description="subject", ordering="subject_type")
    def subject_shown(self, obj):
        return event_subject(obj)

    @admin.display(description="data")
    def data_shown(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))


def event_row(event):
    """An event as the History page lists it: its data one `key: value` per line."""
    return {
        "occurred_at": event.occurred_at,
        "action": event.action,
        "actor": event_actor(event),
        "data": [
            (key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            for key, value in sorted(event.data.items())
        ],
    }


def event_actor(event):
    if event.actor_user_id:
        return str(event.actor_user)
    if event.actor_token_id:
        return f"ops token {event.actor_token.name}"
    return event.actor_system


def event_subject(event):
    """'payout run 12', linked to its admin page when it has one."""
    model = event.subject_type.model_class()
    label = f"{model._meta.verbose_name if model else event.subject_type.model} {event.subject_id}"
    try:
        url = reverse(
            f"admin:{event.subject_type.app_label}_{event.subject_type.model}_change",
            args=[event.subject_id],
        )
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)
