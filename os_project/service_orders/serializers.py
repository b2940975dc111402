"""Output shapes shared by the order views (staff, customers, and the public tracking page)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import cents_to_decimal

from .domain import LABELS, STATUS_CHOICES, ItemKind, Status, totals_of


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

    def get_unit_price(self, item: Any) -> str:
        return cents_to_decimal(item.unit_price_cents)

    def get_total(self, item: Any) -> str:
        return cents_to_decimal(item.total_cents)


class TotalsOutputSerializer(serializers.Serializer):
    services_cents = serializers.IntegerField()
    services = serializers.CharField(help_text="Decimal string, BRL.")
    parts_cents = serializers.IntegerField()
    parts = serializers.CharField()
    total_cents = serializers.IntegerField()
    total = serializers.CharField()
    currency = serializers.CharField()


def totals_data(order: Any) -> dict[str, Any]:
    totals = totals_of(order.items.all())
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
