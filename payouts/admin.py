"""The payouts admin: the ledger (adjustments only), payout runs and their statements.

Runs are created, approved and paid through `payouts.services`; the pages are read-only.
"""

import datetime

from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Sum
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from cascades.explanations import explain
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
    payout_run_check,
    payout_run_create,
    payout_run_mark_paid,
)
from portal.admin import (
    BR,
    EventHistoryMixin,
    ReadOnlyAdminMixin,
    money_display,
    staff_file_view,
)
from portal.formatting import money
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
class LedgerEntryAdmin(EventHistoryMixin, admin.ModelAdmin):
    """Append-only: entries are never edited or deleted; staff add adjustments only."""

    list_display = ["effective_date", "partner", "kind", "amount_display", "engagement_ref",
                    "why", "on_statement"]  # fmt: skip
    list_filter = ["kind", "currency", "effective_date"]
    search_fields = ["partner__name", "partner__external_id", "engagement__external_id",
                     "reason"]  # fmt: skip
    list_select_related = ["partner", "engagement", "line__statement__run__period"]
    date_hierarchy = "effective_date"
    autocomplete_fields = ["partner", "engagement"]
    amount_display = money_display("amount", description="amount")

    @admin.display(description="engagement", ordering="engagement__external_id")
    def engagement_ref(self, obj):
        # The external id alone: the customer's name would widen the list past the screen.
        return obj.engagement.external_id if obj.engagement_id else "—"

    @admin.display(description="why")
    def why(self, obj):
        """The evaluation's reason for a reward or clawback, else the reason staff gave."""
        if obj.reason_code:
            return explain(obj.reason_code, obj.facts, obj.currency)
        return obj.reason or "—"

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
        return ["partner", "engagement", "kind", "amount_display", "effective_date", "why",
                "reward", "clawback", "created_by", "created_at"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        # An entry's page is read-only (no Save buttons): corrections are new adjustments.
        return False

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
    # Each amount carries its currency: no separate currency column.
    fields = ["partner", "opening_balance_display", "standard_earnings_display",
              "cascade_earnings_display", "clawbacks_display", "adjustments_display",
              "payable_display", "closing_balance_display", "pdf_link"]  # fmt: skip
    readonly_fields = fields
    opening_balance_display = money_display("opening_balance", description="opening")
    standard_earnings_display = money_display("standard_earnings", description="standard")
    cascade_earnings_display = money_display("cascade_earnings", description="cascade")
    clawbacks_display = money_display("clawbacks")
    adjustments_display = money_display("adjustments")
    payable_display = money_display("payable")
    closing_balance_display = money_display("closing_balance", description="closing")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner", "run__period")

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return statement_pdf_link(obj)


class StatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PayoutRunStatusChange
    extra = 0
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


OFFERED_MONTHS = 24


def ended_months(as_of: datetime.date, count: int = OFFERED_MONTHS) -> list[datetime.date]:
    """The `count` calendar months that ended before `as_of`, newest first."""
    this_month = as_of.replace(day=1)
    return [this_month - relativedelta(months=n) for n in range(1, count + 1)]


class PayoutRunCreateForm(forms.Form):
    """The month to run, among the months that have ended; the service decides the rest."""

    month = forms.TypedChoiceField(
        label="Period",
        coerce=parse_period,
        empty_value=None,
        help_text="Runs go month by month, for months that have ended. Choosing a month that "
        "has its run already opens that run.",
        error_messages={
            "required": "Choose the month to run.",
            "invalid_choice": "Choose one of the months offered: “%(value)s” is not a month "
            "that has ended in the last two years.",
        },
    )

    def __init__(self, *args, as_of: datetime.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.as_of = as_of
        months = ended_months(as_of)
        statuses = dict(
            PayoutRun.objects.filter(period__month__gte=months[-1]).values_list(
                "period__month", "status"
            )
        )
        field = self.fields["month"]
        field.choices = [("", "---------")] + [
            (f"{month:%Y-%m}", month_label(month, statuses.get(month))) for month in months
        ]
        if statuses:
            following = max(statuses) + relativedelta(months=1)
            field.initial = f"{following:%Y-%m}" if following in months else None
        else:
            field.initial = f"{months[0]:%Y-%m}"

    def clean_month(self):
        month = self.cleaned_data["month"]
        try:
            payout_run_check(month=month, as_of=self.as_of)
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        return month


def month_label(month: datetime.date, status: str | None) -> str:
    """'2026-10 (October 2026)', and the status of its run if it has one."""
    label = f"{month:%Y-%m} ({date_format(month, 'F Y')})"
    return f"{label}: {PayoutRun.Status(status).label.lower()}" if status else label


class PaymentForm(forms.Form):
    """The payment's reference; the service refuses an empty one."""

    payment_reference = forms.CharField(
        label="Payment reference",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"class": "vTextField", "required": True}),
        help_text="The bank transfer's reference. Marking the run paid posts one payout entry "
        "per statement with an amount payable.",
    )


@admin.register(PayoutRun)
class PayoutRunAdmin(EventHistoryMixin, admin.ModelAdmin):
    """A run is created from a month (the add page) and then only moves through its buttons:
    Approve (maker-checker) and Mark paid. The run page itself is read-only."""

    list_display = ["period", "status", "created_by", "approved_by", "paid_at",
                    "payment_reference"]  # fmt: skip
    list_select_related = ["period", "created_by", "approved_by"]
    fields = ["period", "status", ("created_by", "created_at"), ("approved_by", "approved_at"),
              ("paid_by", "paid_at"), "payment_reference", "payable_totals"]  # fmt: skip
    readonly_fields = flatten_fieldsets([(None, {"fields": fields})])
    inlines = [StatementInline, StatusChangeInline]
    actions = ["approve"]
    add_form_template = "admin/payouts/payoutrun/add_form.html"
    change_form_template = "admin/payouts/payoutrun/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("period", "created_by", "approved_by", "paid_by")
        )

    def has_change_permission(self, request, obj=None):
        # A run changes only through the services (the buttons and the action), never by
        # saving its page: the page of one run is read-only for everybody.
        return obj is None and self.may_move(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def may_move(self, request, obj=None):
        """May approve or mark paid (the model's change permission); the services add the
        maker-checker rule."""
        return super().has_change_permission(request, obj)

    @admin.display(description="Payable")
    def payable_totals(self, obj):
        totals = (
            obj.statements.values("currency")
            .annotate(total=Sum("payable"), statements=Count("id"))
            .order_by("currency")
        )
        return (
            format_html_join(
                BR,
                "{} on {} statement(s)",
                ((money(row["total"], row["currency"]), row["statements"]) for row in totals),
            )
            or "No statements"
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="payouts_payoutrun_approve",
            ),
            path(
                "<int:pk>/mark-paid/",
                self.admin_site.admin_view(self.mark_paid_view),
                name="payouts_payoutrun_mark_paid",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Create the run for an ended month through the service, or open the existing one."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        as_of = timezone.localdate()
        form = PayoutRunCreateForm(request.POST if request.method == "POST" else None, as_of=as_of)
        if form.is_valid():
            try:
                run, created = payout_run_create(
                    month=form.cleaned_data["month"], as_of=as_of, created_by=request.user
                )
            except ValidationError as error:  # e.g. another run created a moment ago
                form.add_error("month", error.messages)
            else:
                return self._response_created(request, run, created)
        adminform = helpers.AdminForm(form, [(None, {"fields": ["month"]})], {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Create a payout run",
            "subtitle": None,
            "adminform": adminform,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + adminform.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    def _response_created(self, request, run, created):
        if created:
            self.log_addition(request, run, "Created.")
            count = run.statements.count()
            self.message_user(
                request,
                f"{run} created in draft with {count} statement(s). "
                "Another Finance user approves it.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, f"{run} exists already; nothing was created.", messages.WARNING
            )
        return redirect("admin:payouts_payoutrun_change", run.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.may_move(request, obj):
            if obj.status == PayoutRun.Status.DRAFT:
                context["run_action"] = "approve"
            elif obj.status == PayoutRun.Status.APPROVED:
                context["run_action"] = "mark_paid"
                context["payment_form"] = PaymentForm()
        return super().render_change_form(request, context, add, change, form_url, obj)

    @method_decorator(require_POST)
    def approve_view(self, request, pk):
        run = self._run_to_move(request, pk)
        try:
            run = payout_run_approve(run=run, by=request.user)
        except ValidationError as error:
            self.message_user(
                request, f"{run} was not approved: {' '.join(error.messages)}", messages.ERROR
            )
        else:
            self.log_change(request, run, "Approved.")
            self.message_user(request, f"{run} approved.", messages.SUCCESS)
        return redirect("admin:payouts_payoutrun_change", run.pk)

    @method_decorator(require_POST)
    def mark_paid_view(self, request, pk):
        run = self._run_to_move(request, pk)
        form = PaymentForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError(form.errors["payment_reference"])
            run = payout_run_mark_paid(
                run=run,
                by=request.user,
                reference=form.cleaned_data["payment_reference"],
                paid_on=timezone.localdate(),
            )
        except ValidationError as error:
            self.message_user(
                request, f"{run} was not marked paid: {' '.join(error.messages)}", messages.ERROR
            )
        else:
            payouts = LedgerEntry.objects.filter(paid_statement__run=run).count()
            self.log_change(request, run, f"Marked paid ({run.payment_reference}).")
            self.message_user(
                request,
                f"{run} marked paid ({run.payment_reference}): {payouts} payout(s) posted "
                "to the ledger.",
                messages.SUCCESS,
            )
        return redirect("admin:payouts_payoutrun_change", run.pk)

    def _run_to_move(self, request, pk):
        if not self.may_move(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=pk)

    @admin.action(description="Approve the selected runs (maker-checker)", permissions=["change"])
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
class StatementAdmin(EventHistoryMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["partner", "period", "opening_display", "payable_display",
                    "closing_display", "due_date", "pdf_link"]  # fmt: skip
    list_filter = ["currency", "run__status", "run__period"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "run__period"]
    fields = ["run", "partner", "currency", "tier", "opening_balance_display",
              "standard_earnings_display", "cascade_earnings_display", "clawbacks_display",
              "adjustments_display", "payable_display", "closing_balance_display", "issue_date",
              "due_date", "clawback_exposure", "pdf_link", "pdf_sha256", "created_at"]  # fmt: skip
    readonly_fields = fields
    opening_balance_display = money_display("opening_balance", description="opening balance")
    standard_earnings_display = money_display("standard_earnings")
    cascade_earnings_display = money_display("cascade_earnings")
    clawbacks_display = money_display("clawbacks")
    adjustments_display = money_display("adjustments")
    payable_display = money_display("payable")
    closing_balance_display = money_display("closing_balance", description="closing balance")
    opening_display = money_display("opening_balance", description="opening")
    closing_display = money_display("closing_balance", description="closing")

    @admin.display(description="period", ordering="run__period__month")
    def period(self, obj):
        return obj.run.period

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return statement_pdf_link(obj)

    def get_urls(self):
        return [
            path(
                "<int:pk>/pdf/",
                staff_file_view(self.admin_site, self.pdf_view),
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
    list_display = ["statement", "entry_kind", "entry_amount", "entry_date"]
    list_select_related = ["statement__partner", "statement__run__period", "entry"]
    fields = ["statement", "entry_link", "entry_amount", "entry_date"]
    readonly_fields = fields

    @admin.display(description="kind", ordering="entry__kind")
    def entry_kind(self, obj):
        return obj.entry.get_kind_display()

    @admin.display(description="entry")
    def entry_link(self, obj):
        url = reverse("admin:payouts_ledgerentry_change", args=[obj.entry_id])
        return format_html('<a href="{}">{}</a>', url, obj.entry.get_kind_display())

    @admin.display(description="amount", ordering="entry__amount")
    def entry_amount(self, obj):
        return money(obj.entry.amount, obj.entry.currency)

    @admin.display(description="effective date", ordering="entry__effective_date")
    def entry_date(self, obj):
        return obj.entry.effective_date
