import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .domain import (
    JOB_DEFAULT,
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    STATUS_CHOICES,
    Decision,
    ItemKind,
    Status,
)


class ServiceOrder(models.Model):
    id = models.UUIDField(_("id"), primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="service_orders",
                                 verbose_name=_("customer"))
    vehicle = models.ForeignKey("customers.Vehicle", on_delete=models.PROTECT, related_name="service_orders",
                                verbose_name=_("vehicle"))
    complaint = models.TextField(_("complaint"))
    priority = models.PositiveSmallIntegerField(_("priority"), default=PRIORITY_DEFAULT)
    status = models.CharField(_("status"), max_length=20, choices=STATUS_CHOICES, default=Status.RECEIVED,
                              db_index=True)
    diagnosis_notes = models.TextField(_("diagnosis notes"), blank=True)
    tracking_code = models.CharField(_("tracking code"), max_length=64, unique=True, editable=False)
    saga_id = models.UUIDField(_("saga id"), null=True, blank=True, unique=True, editable=False)
    saga_summary = models.JSONField(_("saga summary"), default=dict, blank=True)
    # What the items come to, by kind (quantity × unit price, summed), written with the items
    # (services._replace_items): a list of orders shows the totals without reading or summing items.
    items_services_cents = models.BigIntegerField(_("services amount (cents)"), default=0, editable=False)
    items_parts_cents = models.BigIntegerField(_("parts amount (cents)"), default=0, editable=False)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("service order")
        verbose_name_plural = _("service orders")
        ordering = ("created_at",)
        constraints = [
            models.CheckConstraint(condition=Q(priority__gte=PRIORITY_MIN, priority__lte=PRIORITY_MAX),
                                   name="service_order_priority_1_to_5"),
        ]

    def __str__(self) -> str:
        return self.number


class ServiceOrderItem(models.Model):
    """A line of the order. The catalogue's name and price are copied: later price changes never alter it."""

    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="items",
                                      verbose_name=_("service order"))
    kind = models.CharField(_("kind"), max_length=10, choices=[(k.value, k.value) for k in ItemKind])
    catalog_id = models.PositiveIntegerField(_("catalog id"))
    description = models.CharField(_("description"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price_cents = models.PositiveIntegerField(_("unit price cents"))
    # The budget's line id of this item: its 1-based position in the diagnosis (version 1 of the budget).
    line_id = models.PositiveSmallIntegerField(_("line id"), null=True, blank=True)
    job = models.PositiveSmallIntegerField(_("job"), default=JOB_DEFAULT)
    optional = models.BooleanField(_("optional"), default=False, help_text=_("A part the customer may decline alone "
                                                                             "(copied from the catalogue)."))
    decision = models.CharField(_("decision"), max_length=10, blank=True,
                                choices=[(d.value, d.value) for d in Decision],
                                help_text=_("What the customer decided of this line; blank while undecided."))

    class Meta:
        verbose_name = _("service order item")
        verbose_name_plural = _("service order items")
        ordering = ("id",)
        indexes = [models.Index(fields=("kind", "catalog_id"))]

    def __str__(self) -> str:
        return f"{self.quantity}x {self.description}"

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class StatusHistory(models.Model):
    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="status_history",
                                      verbose_name=_("service order"))
    from_status = models.CharField(_("from status"), max_length=20, choices=STATUS_CHOICES, blank=True)
    to_status = models.CharField(_("to status"), max_length=20, choices=STATUS_CHOICES)
    at = models.DateTimeField(_("at"), db_index=True)
    by = models.CharField(_("by"), max_length=150)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("status history")
        ordering = ("at", "id")
        verbose_name_plural = _("status history")
        indexes = [models.Index(fields=("service_order", "at"))]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class DeclinedWork(models.Model):
    """A budget line the customer declined: work the vehicle still needs, offered again later.

    Written from the saga's summaries, which can arrive twice and out of order: one row per
    (order, budget, line), never updated by a later summary.
    """

    vehicle = models.ForeignKey("customers.Vehicle", on_delete=models.PROTECT, related_name="declined_work",
                                verbose_name=_("vehicle"))
    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="declined_work",
                                      verbose_name=_("service order"))
    budget_id = models.CharField(_("budget id"), max_length=64)
    version = models.PositiveIntegerField(_("version"))
    line_id = models.PositiveIntegerField(_("line id"))
    kind = models.CharField(_("kind"), max_length=10, choices=[(k.value, k.value) for k in ItemKind])
    catalog_id = models.PositiveIntegerField(_("catalog id"))
    description = models.CharField(_("description"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price_cents = models.PositiveIntegerField(_("unit price cents"))
    job = models.PositiveSmallIntegerField(_("job"), default=JOB_DEFAULT)
    optional = models.BooleanField(_("optional"), default=False)
    declined_at = models.DateTimeField(_("declined at"), db_index=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    came_back_in = models.ForeignKey(ServiceOrder, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="came_back_work", verbose_name=_("came back in"))

    class Meta:
        verbose_name = _("declined work")
        ordering = ("declined_at", "service_order_id", "line_id")
        verbose_name_plural = _("declined work")
        constraints = [
            models.UniqueConstraint(fields=("service_order", "budget_id", "line_id"),
                                    name="declined_work_once_per_budget_line"),
        ]
        indexes = [
            models.Index(fields=("vehicle", "declined_at")),
            # What the reminder job looks for: not reminded yet, by order.
            models.Index(fields=("service_order", "declined_at"), condition=Q(reminded_at__isnull=True),
                         name="declined_work_to_remind"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity}x {self.description} ({self.service_order_id})"

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class DeclinedWorkOffer(models.Model):
    """The link the reminder e-mail carries: one per order, its token kept only as a hash."""

    service_order = models.OneToOneField(ServiceOrder, on_delete=models.CASCADE, related_name="declined_work_offer",
                                         verbose_name=_("service order"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True)
    sent_at = models.DateTimeField(_("sent at"))
    expires_at = models.DateTimeField(_("expires at"))
    new_order = models.OneToOneField(ServiceOrder, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="opened_from_offer", verbose_name=_("new order"))

    def __str__(self) -> str:
        return f"offer for {self.service_order_id}"
