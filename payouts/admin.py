from django.contrib import admin

from payouts.models import LedgerEntry, PayoutRun, Statement, StatementPeriod
from portal.admin import ReadOnlyAdminMixin


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: entries are written by services, never edited or deleted."""

    list_display = [
        "effective_date",
        "partner",
        "kind",
        "amount",
        "currency",
        "engagement",
        "reason",
    ]
    list_filter = ["kind", "currency", "effective_date"]
    search_fields = ["partner__name", "partner__external_id", "engagement__external_id", "reason"]
    list_select_related = ["partner", "engagement"]
    date_hierarchy = "effective_date"


@admin.register(StatementPeriod)
class StatementPeriodAdmin(admin.ModelAdmin):
    list_display = ["month", "status"]
    list_filter = ["status"]


class StatementInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Statement
    extra = 0
    fields = ["partner", "currency", "payable"]
    readonly_fields = fields


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = ["period", "status", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["period", "created_by"]
    readonly_fields = ["created_by", "created_at"]
    inlines = [StatementInline]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "run", "currency", "payable", "created_at"]
    list_filter = ["currency", "run__status"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "run__period"]
