import pytest

from customers.domain import (
    DocumentType,
    document_type,
    first_name,
    format_document,
    normalize_document,
    normalize_plate,
)
from oficina_common.errors import ValidationFailed

WRONG_SHAPE = "CPF (11 digits) or a CNPJ (14 characters: 12 letters or digits, then 2 check digits)"


@pytest.mark.parametrize("raw", ["529.982.247-25", "52998224725", " 529 982 247 25 ", "529982247-25"])
def test_a_cpf_with_or_without_punctuation_is_stored_as_its_digits(raw):
    assert normalize_document(raw) == "52998224725"


@pytest.mark.parametrize("raw", ["11.222.333/0001-81", "11222333000181"])
def test_a_cnpj_with_or_without_punctuation_is_stored_as_its_digits(raw):
    assert normalize_document(raw) == "11222333000181"


@pytest.mark.parametrize("raw, message", [
    ("529.982.247-26", "This CPF is not valid"),
    ("111.111.111-11", "This CPF is not valid"),
    ("11.222.333/0001-82", "This CNPJ is not valid"),
    ("1234567890", WRONG_SHAPE),
    ("5299822472A", WRONG_SHAPE),
    ("", WRONG_SHAPE),
    (None, WRONG_SHAPE),
])
def test_a_wrong_document_is_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValidationFailed) as caught:
        normalize_document(raw)
    assert message in caught.value.message
    assert caught.value.extra == {"field": "document"}


def test_documents_are_shown_with_their_usual_punctuation():
    assert format_document("52998224725") == "529.982.247-25"
    assert format_document("11222333000181") == "11.222.333/0001-81"
    assert document_type("52998224725") is DocumentType.CPF
    assert document_type("11222333000181") is DocumentType.CNPJ


@pytest.mark.parametrize("raw, plate", [
    ("ABC1234", "ABC1234"),
    ("abc-1234", "ABC1234"),
    ("abc 1d23", "ABC1D23"),
    ("BRA2E19", "BRA2E19"),
])
def test_plates_old_and_mercosul_are_upper_cased_without_separators(raw, plate):
    assert normalize_plate(raw) == plate


@pytest.mark.parametrize("raw", ["AB1234", "ABCD123", "ABC12345", "1BC1234", "ABC1DD3", "", "ABC_1234"])
def test_anything_else_is_not_a_plate(raw):
    with pytest.raises(ValidationFailed, match="ABC1234 or, Mercosul, ABC1D23"):
        normalize_plate(raw)


def test_first_name_is_all_that_a_public_page_shows():
    assert first_name("Maria da Silva") == "Maria"
    assert first_name("   ") == ""


@pytest.mark.parametrize("plate, masked", [("ABC1D23", "ABC••23"), ("ABC1234", "ABC••34"), ("", ""), ("AB1", "•••")])
def test_a_plate_shown_to_the_public_is_partly_masked(plate, masked):
    from customers.domain import mask_plate

    assert mask_plate(plate) == masked
