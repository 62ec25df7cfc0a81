from functools import wraps

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from portal import formatting
from portal.models import OpsToken, Partner, PartnerStatusChange, Tier, TierChange, User
from portal.services import STATUS_TRANSITIONS, partner_set_status


class ReadOnlyAdminMixin:
    """For history and append-only records: visible, never edited in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
class PartnerAdmin(admin.ModelAdmin):
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
        if change and "status" in form.changed_data:
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
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, TierChange) and instance.created_by_id is None:
                instance.created_by = request.user
            instance.save()
        formset.save_m2m()


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    list_display = ["partner", "tier", "effective", "created_by", "created_at"]
    list_filter = ["tier", "effective"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "created_by"]
    date_hierarchy = "effective"
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["partner"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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

    def get_readonly_fields(self, request, obj=None):
        # Only superusers hand out staff rights: nobody promotes themselves.
        if request.user.is_superuser:
            return self.readonly_fields
        return [*self.readonly_fields, "is_staff", "is_superuser", "groups", "user_permissions"]


@admin.register(OpsToken)
class OpsTokenAdmin(admin.ModelAdmin):
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
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


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
