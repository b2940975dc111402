"""Output shapes shared by the order views (staff, customers, and the public tracking page)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import cents_to_decimal

from .domain import LABELS, STATUS_CHOICES, Decision, ItemKind, Status, Totals


class NullIfBlankCharField(serializers.CharField):
    def to_representation(self, value: Any) -> str | None:
        return value or None


class ItemOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    catalog_id = serializers.IntegerField()
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()
    unit_price = serializers.SerializerMethodField()
    total_cents = serializers.IntegerField()
    total = serializers.SerializerMethodField()
    line_id = serializers.IntegerField(allow_null=True, help_text="The budget's line id (version 1).")
    job = serializers.IntegerField(help_text="Lines of one job share it (a service and its parts).")
    optional = serializers.BooleanField(help_text="A part the customer may decline alone.")
    decision = serializers.SerializerMethodField(help_text="ACCEPTED, DECLINED, or null while undecided.")

    def get_unit_price(self, item: Any) -> str:
        return cents_to_decimal(item.unit_price_cents)

    def get_total(self, item: Any) -> str:
        return cents_to_decimal(item.total_cents)

    @extend_schema_field(serializers.ChoiceField(choices=[d.value for d in Decision], allow_null=True))
    def get_decision(self, item: Any) -> str | None:
        return item.decision or None


class DeclinedWorkOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service_order_id = serializers.UUIDField()
    service_order_number = serializers.CharField(source="service_order.number")
    budget_id = serializers.CharField()
    version = serializers.IntegerField()
    line_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind])
    catalog_id = serializers.IntegerField()
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    job = serializers.IntegerField()
    optional = serializers.BooleanField()
    declined_at = serializers.DateTimeField()
    reminded_at = serializers.DateTimeField(allow_null=True)
    came_back_in = serializers.SerializerMethodField(help_text="The order opened when the customer asked for it.")

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_came_back_in(self, row: Any) -> dict[str, Any] | None:
        order = row.came_back_in
        return {"id": str(order.pk), "number": order.number} if order is not None else None


def decision_totals(order: Any) -> dict[str, int | None]:
    """What the customer approved of the order's items (null while undecided) and all they declined."""
    items = list(order.items.all())
    decided = [item for item in items if item.decision]
    return {
        "approved_total_cents": sum(item.total_cents for item in decided if item.decision == Decision.ACCEPTED)
        if decided else None,
        "declined_total_cents": sum(row.total_cents for row in order.declined_work.all()),
    }


class TotalsOutputSerializer(serializers.Serializer):
    services_cents = serializers.IntegerField()
    services = serializers.CharField(help_text="Decimal string, BRL.")
    parts_cents = serializers.IntegerField()
    parts = serializers.CharField()
    total_cents = serializers.IntegerField()
    total = serializers.CharField()
    currency = serializers.CharField()


def totals_data(order: Any) -> dict[str, Any]:
    # The order's own amounts, written with its items (no item is read for them).
    totals = Totals(services_cents=order.items_services_cents, parts_cents=order.items_parts_cents)
    return {
        "services_cents": totals.services_cents,
        "services": cents_to_decimal(totals.services_cents),
        "parts_cents": totals.parts_cents,
        "parts": cents_to_decimal(totals.parts_cents),
        "total_cents": totals.total_cents,
        "total": cents_to_decimal(totals.total_cents),
        "currency": "BRL",
    }


class StatusHistoryOutputSerializer(serializers.Serializer):
    to = serializers.ChoiceField(source="to_status", choices=STATUS_CHOICES)
    at = serializers.DateTimeField()
    by = serializers.CharField()
    reason = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be a class attribute.
        return {"from": NullIfBlankCharField(source="from_status", allow_null=True), **fields}


class PublicStatusHistoryOutputSerializer(serializers.Serializer):
    to = serializers.ChoiceField(source="to_status", choices=STATUS_CHOICES)
    label = serializers.SerializerMethodField()
    at = serializers.DateTimeField()

    def get_label(self, entry: Any) -> str:
        return LABELS[Status(entry.to_status)]


def summary_of(order: Any, section: str) -> dict[str, Any]:
    return dict((order.saga_summary or {}).get(section) or {})


@extend_schema_field(TotalsOutputSerializer)
class TotalsField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, order: Any) -> dict[str, Any]:
        return totals_data(order)


@extend_schema_field(serializers.DictField())
class SummarySectionField(serializers.Field):
    def __init__(self, section: str, **kwargs: Any) -> None:
        self.section = section
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, order: Any) -> dict[str, Any]:
        return summary_of(order, self.section)
