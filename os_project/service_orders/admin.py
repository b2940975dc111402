from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from core.actors import actor_name
from customers.admin import DocumentSearchMixin
from oficina_common.auth import ADMIN, ATTENDANT, role_of
from oficina_common.errors import ApplicationError
from oficina_common.formatting import format_brl_or, local_date, local_time

from . import services
from .domain import BUDGET_LABELS, CANCELLABLE, PAYMENT_LABELS, web_link
from .links import tracking_url
from .models import DeclinedWork, ServiceOrder, ServiceOrderItem, StatusHistory
from .serializers import decision_totals, summary_of

# Who may cancel an order, here as in the API (ServiceOrderCancelApi).
CANCELLERS = (ADMIN, ATTENDANT)
# What an action says it did, for one order or several.
MOVED_TO_DIAGNOSIS = ngettext_lazy("%(count)d order moved to diagnosis.", "%(count)d orders moved to diagnosis.",
                                   "count")
DELIVERED = ngettext_lazy("%(count)d order delivered.", "%(count)d orders delivered.", "count")
CANCELLED = ngettext_lazy("%(count)d order cancelled.", "%(count)d orders cancelled.", "count")


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             label=_("reason"),
                             help_text=_("Sent to the saga (it compensates what was done) and kept in the history."))


def _money(cents: Any) -> str:
    return format_brl_or(cents, "—")


def _link_or_dash(url: Any) -> str:
    """A link staff can open or send on (Billing's payment page); never one whose scheme is not http(s)."""
    link = web_link(url)
    return format_html('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>', link) if link else "—"


def saga_rows(order: ServiceOrder) -> list[tuple[str, str, str]]:
    """(section, what, value) lines of what the saga last told about the budget, payment and execution.

    ``section`` and ``what`` are also the rows' ``data-saga`` keys, so they stay untranslated here
    and are translated where they are shown.
    """
    budget, payment, execution = (summary_of(order, section) for section in ("budget", "payment", "execution"))
    rows: list[tuple[str, str, str]] = []
    if budget:
        status = str(budget.get("status") or "")
        rows += [("Budget", "status", f"{status} ({BUDGET_LABELS.get(status, '?')})" if status else "—"),
                 ("Budget", "total", _money(budget.get("total_cents"))),
                 ("Budget", "version · id", f"v{budget.get('version', '?')} · {budget.get('budget_id') or '—'}")]
    if payment:
        status = str(payment.get("status") or "")
        rows += [("Payment", "status", f"{status} ({PAYMENT_LABELS.get(status, '?')})" if status else "—"),
                 ("Payment", "amount", _money(payment.get("amount_cents"))),
                 ("Payment", "id", str(payment.get("payment_id") or "—")),
                 ("Payment", "Pix code", gettext("yes") if payment.get("qr_code") else gettext("no")),
                 ("Payment", "checkout link", str(payment.get("init_point") or "—")),
                 ("Payment", "payment page", _link_or_dash(payment.get("payment_url")))]
    if execution:
        rows += [("Execution", "saga status", str(execution.get("status") or "—")),
                 ("Execution", "current step", str(execution.get("current_step") or "—")),
                 ("Execution", "id", str(execution.get("execution_id") or "—"))]
        if execution.get("status") == "FAILED":
            rows.append(("Execution", "what to do", gettext(
                "A service never confirmed a step: once it is back, an admin retries the saga on the "
                "Execution service (POST /api/v1/executions/%(execution_id)s/retry/).")
                % {"execution_id": execution.get("execution_id")}))
    return rows


# What saga_rows' sections and lines are called on the page.
SAGA_ROW_NAMES = {
    "Budget": _("Budget"), "Payment": _("Payment"), "Execution": _("Execution"), "status": _("status"),
    "total": _("total"), "version · id": _("version · id"), "amount": _("amount"), "id": _("id"),
    "Pix code": _("Pix code"), "checkout link": _("checkout link"), "payment page": _("payment page"),
    "saga status": _("saga status"), "current step": _("current step"), "what to do": _("what to do"),
}


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ItemInline(ReadOnlyInline):
    model = ServiceOrderItem
    fields = readonly_fields = ("line_id", "job", "kind", "catalog_id", "description", "quantity",
                                "unit_price_cents", "optional", "decision")


class StatusHistoryInline(ReadOnlyInline):
    model = StatusHistory
    fields = readonly_fields = ("at", "from_status", "to_status", "by", "reason")
    ordering = ("at", "id")


def _run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, done_message: Any,
         use_case: Any) -> None:
    """Runs ``use_case`` on each order; ``done_message`` (an ``ngettext_lazy`` on ``count``) says how many moved."""
    done = 0
    for order in queryset:
        try:
            use_case(order)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{order.number}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, done_message % {"count": done}, messages.SUCCESS)


@admin.register(ServiceOrder)
class ServiceOrderAdmin(DocumentSearchMixin, admin.ModelAdmin):
    document_lookup = "customer__document"
    list_display = ("number", "status", "priority", "customer", "vehicle", "created_at")
    list_filter = ("status", "priority", "created_at")
    search_fields = ("number", "tracking_code", "customer__name", "customer__document", "vehicle__plate")
    list_select_related = ("customer", "vehicle")
    autocomplete_fields = ("customer", "vehicle")
    inlines = (ItemInline, StatusHistoryInline)
    readonly_fields = ("id", "number", "status", "tracking_code", "tracking_link", "saga_id", "saga_progress",
                       "budget_decision", "declined_work_table",
                       "saga_summary", "diagnosis_notes", "created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("number", "status", "customer", "vehicle", "complaint", "priority", "diagnosis_notes")}),
        (_("Saga progress"), {"fields": ("saga_progress", "budget_decision", "declined_work_table", "saga_id")}),
        (_("Customer page"), {"fields": ("tracking_code", "tracking_link")}),
        (_("Record"), {"fields": ("id", "created_by", "created_at", "updated_at")}),
        (_("Raw saga summary"), {"classes": ("collapse",), "fields": ("saga_summary",)}),
    )
    add_fieldsets = ((None, {"fields": ("customer", "vehicle", "complaint", "priority")}),)
    actions = ("start_diagnosis", "deliver", "cancel")
    date_hierarchy = "created_at"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fieldsets if obj is not None else self.add_fieldsets

    @admin.display(description=_("Budget, payment and execution"))
    def saga_progress(self, obj: ServiceOrder) -> str:
        rows = saga_rows(obj)
        if not rows:
            return gettext("No news from the saga yet (it starts when the diagnosis is submitted).")
        return format_html('<table class="saga-progress"><tbody>{}</tbody></table>', format_html_join(
            "", '<tr><th scope="row">{}</th><td>{}</td><td data-saga="{}">{}</td></tr>',
            ((SAGA_ROW_NAMES.get(section, section), SAGA_ROW_NAMES.get(what, what), slugify(f"{section} {what}"),
              value) for section, what, value in rows)))

    @admin.display(description=_("Customer's decision"))
    def budget_decision(self, obj: ServiceOrder) -> str:
        totals = decision_totals(obj)
        if totals["approved_total_cents"] is None and not totals["declined_total_cents"]:
            return gettext("Not decided yet.")
        return format_html('<span data-decision="approved">{}: {}</span> · '
                           '<span data-decision="declined">{}: {}</span>',
                           gettext("Approved"), _money(totals["approved_total_cents"]),
                           gettext("Declined"), _money(totals["declined_total_cents"]))

    @admin.display(description=_("Declined work"))
    def declined_work_table(self, obj: ServiceOrder) -> str:
        """A table, not an inline: the rows come from the budget decisions and are never edited here."""
        rows = list(obj.declined_work.select_related("came_back_in").order_by("version", "line_id"))
        if not rows:
            return gettext("Nothing declined.")
        return format_html(
            '<table class="declined-work"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            gettext("v · line"), gettext("job"), gettext("item"), gettext("value"), gettext("declined"),
            gettext("reminded"), gettext("came back in"),
            format_html_join("", '<tr data-declined-line="{}"><td>v{} · {}</td><td>{}</td><td>{}× {}</td><td>{}</td>'
                                 "<td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((row.line_id, row.version, row.line_id, row.job, row.quantity, row.description,
                               _money(row.total_cents), local_time(row.declined_at),
                               local_date(row.reminded_at) or "—",
                               row.came_back_in.number if row.came_back_in else "—") for row in rows)))

    @admin.display(description=_("Tracking page"))
    def tracking_link(self, obj: ServiceOrder) -> str:
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', tracking_url(obj.tracking_code))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None:  # the customer and the vehicle of an existing order do not change
            return (*self.readonly_fields, "customer", "vehicle")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ServiceOrder, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["complaint", "priority", "updated_at"])
            return
        created = services.service_order_create(customer_id=obj.customer_id, vehicle_id=obj.vehicle_id,
                                                complaint=obj.complaint, priority=obj.priority,
                                                by=actor_name(request.user))
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False

    @admin.action(description=_("Start diagnosis"))
    def start_diagnosis(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run(self, request, queryset, MOVED_TO_DIAGNOSIS, lambda order: services.service_order_start_diagnosis(
            service_order_id=order.pk, by=actor_name(request.user)))

    @admin.action(description=_("Deliver (vehicle handed to the customer)"))
    def deliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run(self, request, queryset, DELIVERED, lambda order: services.service_order_deliver(
            service_order_id=order.pk, by=actor_name(request.user)))

    # --- cancelling, always with a reason ----------------------------------------------------
    def get_urls(self) -> list[Any]:
        opts = self.opts
        return [
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view),
                 name=f"{opts.app_label}_{opts.model_name}_cancel"),
            *super().get_urls(),
        ]

    def may_cancel(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_of(request.user) in CANCELLERS and self.has_change_permission(request, obj)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        order = self.get_object(request, object_id)
        extra = {"can_cancel": order is not None and order.status in CANCELLABLE and self.may_cancel(request, order)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A change-page button: ask for the reason, then cancel through the services layer."""
        order = self.get_object(request, object_id)
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.may_cancel(request, order):
            raise PermissionDenied
        change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[order.pk])
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.service_order_cancel(service_order_id=order.pk, reason=form.cleaned_data["reason"],
                                              by=actor_name(request.user))
            except ApplicationError as exc:
                self.message_user(request, f"{order.number}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, gettext("%(number)s cancelled.") % {"number": order.number},
                                  messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return self._cancel_page(request, [order], form, change_url=change_url)

    @admin.action(description=_("Cancel (asks for the reason)"))
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if role_of(request.user) not in CANCELLERS:
            self.message_user(request, gettext("Only admins and attendants may cancel orders."), messages.ERROR)
            return None
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason, by = form.cleaned_data["reason"], actor_name(request.user)
            _run(self, request, queryset, CANCELLED, lambda order: services.service_order_cancel(
                service_order_id=order.pk, reason=reason, by=by))
            return None
        return self._cancel_page(request, list(queryset.select_related("vehicle")), form)

    def _cancel_page(self, request: HttpRequest, orders: list[ServiceOrder], form: CancelForm, *,
                     change_url: str = "") -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": (gettext("Cancel service orders") if len(orders) > 1
                      else gettext("Cancel %(number)s") % {"number": orders[0].number}),
            "opts": self.opts,
            "orders": orders,
            "form": form,
            "change_url": change_url,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/service_orders/serviceorder/cancel.html", context)


class RecordAdmin(admin.ModelAdmin):
    """What the services record (history, declined work): read, never written, in the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StatusHistory)
class StatusHistoryAdmin(RecordAdmin):
    list_display = ("service_order", "from_status", "to_status", "at", "by")
    list_filter = ("to_status", "by")
    search_fields = ("service_order__number", "reason")
    list_select_related = ("service_order",)


@admin.register(DeclinedWork)
class DeclinedWorkAdmin(RecordAdmin):
    """Work customers declined, per vehicle: read-only (it comes from the budget decisions)."""

    list_display = ("vehicle", "service_order", "description", "quantity", "unit_price_cents", "declined_at",
                    "reminded_at", "came_back_in")
    list_filter = ("kind", "declined_at", ("reminded_at", admin.EmptyFieldListFilter),
                   ("came_back_in", admin.EmptyFieldListFilter))
    search_fields = ("vehicle__plate", "service_order__number", "description")
    list_select_related = ("vehicle", "service_order", "came_back_in")
    date_hierarchy = "declined_at"
