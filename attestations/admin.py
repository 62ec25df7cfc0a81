from django.contrib import admin

from attestations.models import Outcome, OutcomeAgreement


class OutcomeInline(admin.StackedInline):
    model = Outcome
    extra = 0


@admin.register(OutcomeAgreement)
class OutcomeAgreementAdmin(admin.ModelAdmin):
    list_display = ["engagement", "created_at", "signed_at"]
    list_filter = ["signed_at"]
    search_fields = ["engagement__external_id", "engagement__customer__name"]
    list_select_related = ["engagement__customer"]
    autocomplete_fields = ["engagement"]
    inlines = [OutcomeInline]


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "key",
        "agreement",
        "target",
        "unit",
        "due_months",
        "verification_required",
    ]
    list_filter = ["verification_required", "unit"]
    search_fields = ["title", "key", "agreement__engagement__external_id"]
    list_select_related = ["agreement__engagement"]
