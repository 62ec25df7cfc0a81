import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import ParseError

from cascades.models import (
    CascadeStructure,
    Clawback,
    Customer,
    Engagement,
    EvaluationRun,
    Reward,
    Signal,
)
from cascades.services import engagement_structure_customize, structure_publish
from cascades.structures import Structure, validate_document
from portal.admin import (
    EventHistoryMixin,
    ReadOnlyAdminMixin,
    money_display,
    number_display,
    percent_display,
)
from portal.formatting import money
from portal.parsers import check_nesting


def _condition(step):
    if step.kind == "adoption":
        return f"≥ {step.min_active_members} active members"
    if step.kind == "coverage":
        return f"{step.metric} ≥ {step.threshold}"
    if step.kind == "retention":
        return f"renewal out of contract year {step.contract_year}"
    if step.kind == "expansion":
        return ", ".join(step.events) + (" (every event)" if step.repeat else " (first event)")
    if step.kind == "sentiment":
        return f"CSAT ≥ {step.min_score}"
    if step.kind == "outcome":
        return f"outcome {step.outcome_key}" if step.outcome_key else "any agreed outcome"
    return "—"


def steps_table(document):
    """The structure's steps as a readable table for staff."""
    if not document:
        return "—"
    structure = Structure.from_document(document)
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                step.key,
                step.kind,
                f"+{step.opens_after_months} months",
                f"{step.closes_after_days} days",
                f"{step.amount} fixed" if step.amount is not None
                else f"{step.percent} % of {step.basis}",
                _condition(step),
            )
            for step in structure.steps
        ),
    )  # fmt: skip
    return format_html(
        "<p>Standard commission {} % · clawback {} % within {} days</p>"
        "<table><thead><tr><th>Key</th><th>Kind</th><th>Opens</th><th>Window</th>"
        "<th>Reward</th><th>Condition</th></tr></thead><tbody>{}</tbody></table>",
        structure.standard_commission_percent,
        structure.clawback_percent,
        structure.clawback_window_days,
        rows,
    )


def _validation_messages(error):
    if hasattr(error, "error_dict"):
        return [f"{path}: {'; '.join(msgs)}" for path, msgs in error.message_dict.items()]
    return error.messages


class StructureDocumentField(forms.CharField):
    """A structure in its canonical JSON form, checked field by field."""

    widget = forms.Textarea(attrs={"rows": 30, "cols": 100, "class": "json-document"})

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            check_nesting(value.encode())  # before json.loads, which has no depth limit
            document = json.loads(value)
        except ParseError as error:
            raise ValidationError(str(error.detail)) from None
        except json.JSONDecodeError as error:
            raise ValidationError(f"Not valid JSON: {error}") from None
        try:
            return validate_document(document)
        except ValidationError as error:
            raise ValidationError(_validation_messages(error)) from None


class StructurePublishForm(forms.ModelForm):
    document = StructureDocumentField(
        help_text="The canonical JSON form (SPEC §2). Saving publishes it as the tier's next "
        "version; engagements already signed keep their snapshot."
    )

    class Meta:
        model = CascadeStructure
        fields = ["document"]


@admin.register(CascadeStructure)
class CascadeStructureAdmin(EventHistoryMixin, admin.ModelAdmin):
    form = StructurePublishForm
    list_display = ["name", "tier", "version", "is_custom", "engagement_count", "created_by",
                    "created_at"]  # fmt: skip
    list_filter = ["tier", "is_custom"]
    search_fields = ["name"]
    list_select_related = ["created_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(engagement_count=Count("engagements"))

    @admin.display(description="Engagements", ordering="engagement_count")
    def engagement_count(self, obj):
        return obj.engagement_count

    @admin.display(description="Steps")
    def steps(self, obj):
        return steps_table(obj.document)

    @admin.display(description="Document (canonical JSON)")
    def document_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.document, indent=2))

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["document"]
        return ["name", "tier", "version", "is_custom", "created_by", "created_at", "steps",
                "document_json"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request):
        """`?copy_from=<id>` starts a new version from an existing one."""
        source = CascadeStructure.objects.filter(pk=request.GET.get("copy_from")).first()
        if source is None:
            return {}
        return {"document": json.dumps(source.document, indent=2)}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        row = structure_publish(document=form.cleaned_data["document"], by=request.user)
        obj.pk, obj.tier, obj.version, obj.name = row.pk, row.tier, row.version, row.name
        messages.info(request, f"Published {row.name} as version {row.version} of {row.tier}.")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "contact_email", "created_at"]
    search_fields = ["name", "external_id", "contact_email"]


class EngagementForm(forms.ModelForm):
    custom_structure = StructureDocumentField(
        required=False,
        help_text="Give this engagement its own structure (canonical JSON). Only before its "
        "first step fires; the standard commission is re-based by an adjustment.",
    )

    class Meta:
        model = Engagement
        fields = ["external_id", "partner", "customer", "signed_at", "currency", "year1_acv"]

    def clean_custom_structure(self):
        document = self.cleaned_data.get("custom_structure")
        if document and self.instance.pk and self.instance.rewards.exists():
            raise ValidationError("A step of this engagement has fired: its structure is frozen.")
        return document


@admin.register(Engagement)
class EngagementAdmin(EventHistoryMixin, admin.ModelAdmin):
    form = EngagementForm
    list_display = ["external_id", "customer", "partner", "tier", "signed_at", "acv",
                    "structure"]  # fmt: skip
    list_filter = ["tier", "currency", "partner__status", "signed_at"]
    search_fields = ["external_id", "customer__name", "customer__external_id", "partner__name"]
    list_select_related = ["customer", "partner", "structure"]
    autocomplete_fields = ["partner", "customer"]
    date_hierarchy = "signed_at"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["external_id", "partner", "customer", "signed_at", "currency", "year1_acv"]
        return ["external_id", "partner", "customer", "signed_at", "tier", "acv",
                "structure", "snapshot_steps", "custom_structure"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["external_id", "partner", "customer", "signed_at", "tier", "acv",
                "structure", "snapshot_steps"]  # fmt: skip

    acv = money_display("year1_acv", description="Year-1 ACV")

    @admin.display(description="Snapshot")
    def snapshot_steps(self, obj):
        return steps_table(obj.snapshot)

    def has_add_permission(self, request):
        # Engagements arrive from the CRM through the ops API (with snapshot and commission).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        document = form.cleaned_data.get("custom_structure")
        if document:
            engagement_structure_customize(engagement=obj, document=document, by=request.user)
            messages.info(request, "The engagement now earns its own structure.")


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["signal_id", "customer", "type", "occurred_at", "reading", "amount_shown",
                    "contract_year", "received_at"]  # fmt: skip
    fields = ["signal_id", "customer", "type", "occurred_at", "reading", "amount_shown",
              "contract_year", "member_count", "received_at"]  # fmt: skip
    readonly_fields = fields
    list_filter = ["type", "occurred_at"]
    search_fields = ["signal_id", "customer__name", "customer__external_id"]
    list_select_related = ["customer"]
    date_hierarchy = "occurred_at"
    # A signal names a customer, not an engagement: its amounts carry no currency of their own.
    reading = number_display("value", description="value")
    amount_shown = number_display("amount", description="amount")

    @admin.display(description="member identifiers")
    def member_count(self, obj):
        return len(obj.member_ids or ())


class ClawbackDisplay:
    percent_shown = percent_display("percent")
    amount_shown = money_display("amount", currency="reward__currency", description="amount")


class ClawbackInline(ClawbackDisplay, ReadOnlyAdminMixin, admin.TabularInline):
    model = Clawback
    extra = 0
    fields = ["kind", "cause", "cause_date", "percent_shown", "window_days", "amount_shown",
              "created_at"]  # fmt: skip
    readonly_fields = fields


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["engagement", "step_key", "step_kind", "event_key", "trigger_date",
                    "amount_shown", "clawed_back"]  # fmt: skip
    fields = ["engagement", "step_key", "step_kind", "event_key", "trigger_date", "amount_shown",
              "created_at"]  # fmt: skip
    readonly_fields = fields
    amount_shown = money_display("amount", description="amount")
    list_filter = ["step_kind", "currency", "trigger_date"]
    search_fields = ["engagement__external_id", "engagement__customer__name", "step_key"]
    list_select_related = ["engagement__customer"]
    date_hierarchy = "trigger_date"
    inlines = [ClawbackInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(clawed_back_total=Sum("clawbacks__amount"))

    @admin.display(description="Clawed back", ordering="clawed_back_total")
    def clawed_back(self, obj):
        return money(obj.clawed_back_total, obj.currency) if obj.clawed_back_total else "—"


@admin.register(Clawback)
class ClawbackAdmin(ClawbackDisplay, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reward", "kind", "cause_date", "percent_shown", "window_days",
                    "amount_shown", "created_at"]  # fmt: skip
    fields = ["reward", "kind", "cause", "cause_date", "percent_shown", "window_days",
              "amount_shown", "created_at"]  # fmt: skip
    readonly_fields = fields
    list_filter = ["kind", "cause_date"]
    search_fields = ["reward__engagement__external_id", "reward__step_key"]
    list_select_related = ["reward__engagement"]


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "as_of", "scope", "status", "engagements_done",
                    "engagements_total", "rewards_created", "clawbacks_created", "requested_by",
                    "finished_at"]  # fmt: skip
    list_filter = ["status", "as_of"]
    search_fields = ["requested_by", "error"]
