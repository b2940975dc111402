"""Bounds in bytes as stored (issue 18): UTF-8 JSON, where "ç" takes 2 bytes and an emoji 4."""
import pytest
from rest_framework import serializers

from oficina_common.errors import ValidationFailed
from oficina_common.limits import StoredTextField, ensure_fits, stored_bytes


class NotesInput(serializers.Serializer):
    notes = StoredTextField(max_length=100, max_bytes=42)


def test_stored_bytes_count_utf8_not_characters():
    assert stored_bytes("ç") == len('"ç"'.encode()) == 4
    assert stored_bytes("🔧") == 6
    assert stored_bytes({"notes": "ç"}) == len('{"notes":"ç"}'.encode())


@pytest.mark.parametrize(("text", "fits"), [("a" * 40, True), ("ç" * 20, True), ("ç" * 21, False),
                                            ("🔧" * 10, True), ("🔧" * 11, False)])
def test_a_text_field_is_bounded_in_bytes_as_stored(text, fits):
    form = NotesInput(data={"notes": text})
    assert form.is_valid() is fits
    if not fits:
        assert "bytes" in str(form.errors["notes"][0])


def test_past_its_bound_a_value_is_a_400_naming_the_field():
    ensure_fits("items", ["ç" * 10], 100)
    with pytest.raises(ValidationFailed) as refused:
        ensure_fits("items", ["🔧" * 30], 100, code="budget_too_large")
    assert refused.value.status_code == 400 and refused.value.code == "budget_too_large"
    assert refused.value.message.startswith("items:")
    assert refused.value.extra == {"field": "items", "max_bytes": 100, "bytes": stored_bytes(["🔧" * 30])}
