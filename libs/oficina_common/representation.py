"""DRF's output representation, with each output serializer built once per process.

Making a DRF serializer deep-copies its declared fields, and a ModelSerializer builds its fields
from the model again, on every instance: for the hot answers (an order list a workshop screen polls,
a budget, a job) that was a sixth of the web process's CPU (py-spy, the saga benchmark). An output
serializer only reads: its fields keep no state between calls (SerializerMethodFields call their
parent's methods; DateTimeField asks for the current time zone at each call), so one instance per
class serves every request and thread. Not for serializers that read ``self.context`` (a request).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

_BUILT: dict[type[serializers.BaseSerializer], serializers.BaseSerializer] = {}


def _serializer(serializer_class: type[serializers.BaseSerializer]) -> serializers.BaseSerializer:
    found = _BUILT.get(serializer_class)
    if found is None:
        found = _BUILT.setdefault(serializer_class, serializer_class())
    return found


def represent(serializer_class: type[serializers.BaseSerializer], value: Any) -> dict[str, Any]:
    """What ``serializer_class(value).data`` gives."""
    return _serializer(serializer_class).to_representation(value)


def represent_all(serializer_class: type[serializers.BaseSerializer], values: Iterable[Any]) -> list[dict[str, Any]]:
    """What ``serializer_class(values, many=True).data`` gives."""
    serializer = _serializer(serializer_class)
    return [serializer.to_representation(value) for value in values]
