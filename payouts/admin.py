from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from payouts.ledger import ledger_post_adjustment
from payouts.models import (
    LedgerEntry,
    PayoutRun,
    PayoutRunStatusChange,
    Statement,
    StatementLine,
    StatementPeriod,
)
from payouts.services import (
    parse_period,
    payout_run_approve,
    payout_run_create,
    payout_run_mark_paid,
)
from portal.admin import ReadOnlyAdminMixin
from portal.money import CURRENCY_CHOICES


class AdjustmentForm(forms.ModelForm):
    """Staff adjustments: the only ledger entries made by hand, always with a reason."""

    class Meta:
        model = LedgerEntry
        fields = ["partner", "engagement", "amount", "currency", "effective_date", "reason"]
        widgets = {"currency": forms.Select(choices=CURRENCY_CHOICES)}

    def clean_reason(self):
        reason = self.cleaned_data.get("reason", "").strip()
        if not reason:
            raise ValidationError("Say why: an adjustment needs a reason.")
        return reason

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if not amount:
            raise ValidationError("An adjustment of zero changes nothing.")
        return amount


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Append-only: entries are never edited or deleted; staff add adjustments only."""

    list_display = ["effective_date", "partner", "kind", "amount", "currency", "engagement",
                    "reason", "on_statement"]  # fmt: skip
    list_filter = ["kind", "currency", "effective_date"]
    search_fields = ["partner__name", "partner__external_id", "engagement__external_id",
                     "reason"]  # fmt: skip
    list_select_related = ["partner", "engagement", "line__statement__run__period"]
    date_hierarchy = "effective_date"
    autocomplete_fields = ["partner", "engagement"]

    @admin.display(description="Statement")
    def on_statement(self, obj):
        line = getattr(obj, "line", None)
        return str(line.statement.run.period) if line else "—"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = AdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return AdjustmentForm.Meta.fields
        return ["partner", "engagement", "kind", "amount", "currency", "effective_date",
                "reason", "reward", "clawback", "created_by", "created_at"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return (
            False
            if obj is not None and request.method == "POST"
            else super().has_view_permission(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        entry = ledger_post_adjustment(
            partner=form.cleaned_data["partner"],
            engagement=form.cleaned_data.get("engagement"),
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            effective_date=form.cleaned_data["effective_date"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
        obj.pk = entry.pk


@admin.register(StatementPeriod)
class StatementPeriodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month", "status"]
    list_filter = ["status"]


class StatementInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Statement
    extra = 0
    fields = ["partner", "currency", "opening_balance", "standard_earnings", "cascade_earnings",
              "clawbacks", "adjustments", "payable", "closing_balance", "pdf_link"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return statement_pdf_link(obj)


class StatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PayoutRunStatusChange
    extra = 0
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields


class PayoutRunCreateForm(forms.ModelForm):
    month = forms.CharField(label="Period", help_text="The month to pay, YYYY-MM.")

    class Meta:
        model = PayoutRun
        fields = []

    def clean_month(self):
        return parse_period(self.cleaned_data["month"])


class PayoutRunPayForm(forms.ModelForm):
    class Meta:
        model = PayoutRun
        fields = ["payment_reference"]


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = ["period", "status", "created_by", "approved_by", "paid_at",
                    "payment_reference"]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["period", "created_by", "approved_by"]
    inlines = [StatementInline, StatusChangeInline]
    actions = ["approve"]

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = PayoutRunCreateForm if obj is None else PayoutRunPayForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["month"]
        fields = ["period", "status", "created_by", "created_at", "approved_by", "approved_at",
                  "paid_at", "paid_by", "payment_reference"]  # fmt: skip
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fields = self.get_fields(request, obj)
        if obj.status == PayoutRun.Status.APPROVED:
            # An approved run is paid by giving the payment's reference.
            return [f for f in fields if f != "payment_reference"]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            run, created = payout_run_create(
                month=form.cleaned_data["month"],
                as_of=timezone.localdate(),
                created_by=request.user,
            )
            obj.pk = run.pk
            if not created:
                messages.warning(request, f"The run for {run.period} existed already.")
            return
        reference = form.cleaned_data.get("payment_reference")
        if reference:
            payout_run_mark_paid(
                run=obj, by=request.user, reference=reference, paid_on=timezone.localdate()
            )
            messages.success(request, f"Run {obj.period} marked paid ({reference}).")

    @admin.action(description="Approve the selected runs (maker-checker)")
    def approve(self, request, queryset):
        for run in queryset:
            try:
                payout_run_approve(run=run, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{run}: {'; '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{run} approved.", messages.SUCCESS)


def statement_pdf_link(statement):
    if not statement.pdf_sha256:
        return "rendering…"
    url = reverse("admin:payouts_statement_pdf", args=[statement.pk])
    return format_html('<a href="{}">PDF</a>', url)


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "run", "currency", "opening_balance", "payable", "closing_balance",
                    "due_date", "pdf_link"]  # fmt: skip
    list_filter = ["currency", "run__status", "run__period"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "run__period"]

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return statement_pdf_link(obj)

    def get_urls(self):
        return [
            path(
                "<int:pk>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="payouts_statement_pdf",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        """The issued PDF, to staff who may see statements (media files are not public)."""
        statement = get_object_or_404(Statement, pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        if not statement.pdf_sha256:
            raise Http404("This statement's PDF is still being rendered.")
        return FileResponse(
            statement.pdf.open("rb"),
            content_type="application/pdf",
            filename=statement.pdf.name.rsplit("/", 1)[-1],
        )


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["statement", "entry"]
    list_select_related = ["statement__partner", "statement__run__period", "entry"]
