"""Bounds in bytes as stored: a DynamoDB item holds at most 400 KB, counted in UTF-8.

Text a person types ends up in items (a job's notes, a budget's reasons, a saga's copy of a
revision), JSON-encoded with ``ensure_ascii=False``: "ç" is 2 bytes there and an emoji 4, so a
limit in characters does not bound an item. Every such input is bounded in bytes, and past its
bound it is refused with a 400 that names the field.
"""
from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from oficina_common.errors import ValidationFailed


def stored_bytes(value: Any) -> int:
    """The size of ``value`` as stored: JSON, UTF-8, non-ASCII kept as is."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def ensure_fits(field: str, value: Any, max_bytes: int, *, code: str = "too_large") -> None:
    """Refuse ``value`` (a 400 naming ``field``) when it takes more than ``max_bytes`` as stored."""
    size = stored_bytes(value)
    if size > max_bytes:
        raise ValidationFailed(f"{field}: at most {max_bytes} bytes as stored (UTF-8); this has {size}.",
                               code=code, extra={"field": field, "max_bytes": max_bytes, "bytes": size})


class StoredTextField(serializers.CharField):
    """A CharField bounded in characters (``max_length``) and in bytes as stored (``max_bytes``)."""

    def __init__(self, *, max_bytes: int, **kwargs: Any):
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        size = stored_bytes(value)
        if size > self.max_bytes:
            raise serializers.ValidationError(
                f"At most {self.max_bytes} bytes as stored (UTF-8: \"ç\" takes 2, an emoji 4); this has {size}.",
                code="too_large")
        return value
