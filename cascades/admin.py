from django.contrib import admin

from cascades.models import CascadeStructure, Customer, Engagement, Reward, Signal
from portal.admin import ReadOnlyAdminMixin


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "contact_email", "created_at"]
    search_fields = ["name", "external_id", "contact_email"]


@admin.register(Engagement)
class EngagementAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer",
        "partner",
        "tier",
        "signed_at",
        "currency",
        "year1_acv",
    ]
    list_filter = ["tier", "currency", "partner__status", "signed_at"]
    search_fields = ["external_id", "customer__name", "customer__external_id", "partner__name"]
    list_select_related = ["customer", "partner"]
    autocomplete_fields = ["partner", "customer"]
    date_hierarchy = "signed_at"
    readonly_fields = ["tier", "structure", "snapshot", "created_at"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CascadeStructure)
class CascadeStructureAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "version", "created_by", "created_at"]
    list_filter = ["tier"]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["signal_id", "customer", "type", "occurred_at", "received_at"]
    list_filter = ["type", "occurred_at"]
    search_fields = ["signal_id", "customer__name", "customer__external_id"]
    list_select_related = ["customer"]
    date_hierarchy = "occurred_at"


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["engagement", "step_key", "event_key", "trigger_date", "amount", "currency"]
    list_filter = ["step_key", "currency", "trigger_date"]
    search_fields = ["engagement__external_id", "engagement__customer__name", "step_key"]
    list_select_related = ["engagement__customer"]
    date_hierarchy = "trigger_date"
