import uuid

from django.db import models
from django.db.models import Q

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
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, unique=True, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="service_orders")
    vehicle = models.ForeignKey("customers.Vehicle", on_delete=models.PROTECT, related_name="service_orders")
    complaint = models.TextField()
    priority = models.PositiveSmallIntegerField(default=PRIORITY_DEFAULT)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=Status.RECEIVED, db_index=True)
    diagnosis_notes = models.TextField(blank=True)
    tracking_code = models.CharField(max_length=64, unique=True, editable=False)
    saga_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    saga_summary = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ("created_at",)
        constraints = [
            models.CheckConstraint(condition=Q(priority__gte=PRIORITY_MIN, priority__lte=PRIORITY_MAX),
                                   name="service_order_priority_1_to_5"),
        ]

    def __str__(self) -> str:
        return self.number


class ServiceOrderItem(models.Model):
    """A line of the order. The catalogue's name and price are copied: later price changes never alter it."""

    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ItemKind])
    catalog_id = models.PositiveIntegerField()
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveIntegerField()
    # The budget's line id of this item: its 1-based position in the diagnosis (version 1 of the budget).
    line_id = models.PositiveSmallIntegerField(null=True, blank=True)
    job = models.PositiveSmallIntegerField(default=JOB_DEFAULT)
    optional = models.BooleanField(default=False, help_text="A part the customer may decline alone "
                                                            "(copied from the catalogue).")
    decision = models.CharField(max_length=10, blank=True, choices=[(d.value, d.value) for d in Decision],
                                help_text="What the customer decided of this line; blank while undecided.")

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=("kind", "catalog_id"))]

    def __str__(self) -> str:
        return f"{self.quantity}x {self.description}"

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class StatusHistory(models.Model):
    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="status_history")
    from_status = models.CharField(max_length=20, choices=STATUS_CHOICES, blank=True)
    to_status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    at = models.DateTimeField(db_index=True)
    by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ("at", "id")
        verbose_name_plural = "status history"
        indexes = [models.Index(fields=("service_order", "at"))]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class DeclinedWork(models.Model):
    """A budget line the customer declined: work the vehicle still needs, offered again later.

    Written from the saga's summaries, which can arrive twice and out of order: one row per
    (order, budget, line), never updated by a later summary.
    """

    vehicle = models.ForeignKey("customers.Vehicle", on_delete=models.PROTECT, related_name="declined_work")
    service_order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="declined_work")
    budget_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    line_id = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ItemKind])
    catalog_id = models.PositiveIntegerField()
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveIntegerField()
    job = models.PositiveSmallIntegerField(default=JOB_DEFAULT)
    optional = models.BooleanField(default=False)
    declined_at = models.DateTimeField(db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    came_back_in = models.ForeignKey(ServiceOrder, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="came_back_work")

    class Meta:
        ordering = ("declined_at", "service_order_id", "line_id")
        verbose_name_plural = "declined work"
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

    service_order = models.OneToOneField(ServiceOrder, on_delete=models.CASCADE, related_name="declined_work_offer")
    token_hash = models.CharField(max_length=64, unique=True)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    new_order = models.OneToOneField(ServiceOrder, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="opened_from_offer")

    def __str__(self) -> str:
        return f"offer for {self.service_order_id}"
