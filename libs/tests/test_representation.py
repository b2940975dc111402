"""oficina_common.representation: DRF's output, with one serializer per class."""
from datetime import UTC, datetime

from django.utils import timezone
from rest_framework import serializers

from oficina_common.representation import _BUILT, represent, represent_all


class LineSerializer(serializers.Serializer):
    name = serializers.CharField()
    cents = serializers.IntegerField()


class OrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()
    lines = LineSerializer(many=True)
    label = serializers.SerializerMethodField()

    def get_label(self, order):
        return f"Order {order['number']}"


ORDER = {"number": "OS-1", "at": datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "note": None,
         "lines": [{"name": "Óleo", "cents": 100}, {"name": "Filtro", "cents": 5}], "ignored": "x"}


def test_it_gives_what_data_gives_and_builds_the_serializer_once():
    assert represent(OrderSerializer, ORDER) == OrderSerializer(ORDER).data
    assert represent_all(OrderSerializer, [ORDER, {**ORDER, "number": "OS-2"}]) == OrderSerializer(
        [ORDER, {**ORDER, "number": "OS-2"}], many=True).data
    built = _BUILT[OrderSerializer]
    represent(OrderSerializer, ORDER)
    assert _BUILT[OrderSerializer] is built


def test_times_follow_the_time_zone_of_each_request(settings):
    settings.USE_TZ = True
    with timezone.override("America/Sao_Paulo"):
        expected = "2026-12-06T09:00:00-03:00"
        assert represent(OrderSerializer, ORDER)["at"] == OrderSerializer(ORDER).data["at"] == expected
    with timezone.override("UTC"):
        assert represent(OrderSerializer, ORDER)["at"] == "2026-12-06T12:00:00Z"
