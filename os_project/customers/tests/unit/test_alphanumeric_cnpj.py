"""The alphanumeric CNPJ (Receita Federal, from July 2026): 12 letters or digits, then 2 numeric
check digits, each character counting as its ASCII code minus 48."""
import string

import pytest

from customers.domain import (
    DocumentType,
    cnpj_check_digits,
    document_type,
    format_document,
    normalize_document,
)
from oficina_common.errors import ValidationFailed

RECEITA_EXAMPLE = "12.ABC.345/01DE-35"  # the Receita Federal's published example


def reference_check_digits(base: str) -> str:
    """Written apart from the code under test, the way the Receita describes it: weights 2 to 9 from
    the right, starting again at 2 after 9; remainder of 11; 0 or 1 gives 0, else 11 minus it."""
    digits = ""
    for _ in range(2):
        chars = base + digits
        total = 0
        for position, char in enumerate(reversed(chars)):
            total += (ord(char) - ord("0")) * (2 + position % 8)
        remainder = total % 11
        digits += "0" if remainder in (0, 1) else str(11 - remainder)
    return digits


def test_the_receita_example_worked_out_by_hand():
    # 1 2 A B C 3 4 5 0 1 D E  ->  1 2 17 18 19 3 4 5 0 1 20 21
    first = 1*5 + 2*4 + 17*3 + 18*2 + 19*9 + 3*8 + 4*7 + 5*6 + 0*5 + 1*4 + 20*3 + 21*2
    assert first == 459 and first % 11 == 8  # 11 - 8 = 3
    second = 1*6 + 2*5 + 17*4 + 18*3 + 19*2 + 3*9 + 4*8 + 5*7 + 0*6 + 1*5 + 20*4 + 21*3 + 3*2
    assert second == 424 and second % 11 == 6  # 11 - 6 = 5
    assert cnpj_check_digits("12ABC34501DE") == "35"
    assert normalize_document(RECEITA_EXAMPLE) == "12ABC34501DE35"


def test_a_remainder_below_two_gives_a_zero_worked_out_by_hand():
    # O F I C I N A 0 0 0 0 9  ->  31 22 25 19 25 30 17 0 0 0 0 9
    first = 31*5 + 22*4 + 25*3 + 19*2 + 25*9 + 30*8 + 17*7 + 0*6 + 0*5 + 0*4 + 0*3 + 9*2
    assert first == 958 and first % 11 == 1
    second = 31*6 + 22*5 + 25*4 + 19*3 + 25*2 + 30*9 + 17*8 + 0*7 + 0*6 + 0*5 + 0*4 + 9*3 + 0*2
    assert second == 936 and second % 11 == 1
    assert cnpj_check_digits("OFICINA00009") == "00"
    assert normalize_document("OF.ICI.NA0/0009-00") == "OFICINA0000900"


@pytest.mark.parametrize("base", ["12ABC34501DE", "00000000E08G", "93ZB0VRYV6KA", "OFICINA00009", "ZZZZZZZZ0001",
                                  "A1B2C3D40001", "112223330001", "529982470001"])
def test_check_digits_agree_with_the_reference_written_apart(base):
    assert cnpj_check_digits(base) == reference_check_digits(base)
    assert normalize_document(base + reference_check_digits(base)) == base + reference_check_digits(base)


@pytest.mark.parametrize("raw, stored", [
    (RECEITA_EXAMPLE, "12ABC34501DE35"),
    ("12ABC34501DE35", "12ABC34501DE35"),
    ("12.abc.345/01de-35", "12ABC34501DE35"),
    (" 12 AbC 345 01dE 35 ", "12ABC34501DE35"),
    ("00.000.000/E08G-12", "00000000E08G12"),  # among the first issued
    ("93.ZB0.VRY/V6KA-67", "93ZB0VRYV6KA67"),
    ("11.222.333/0001-81", "11222333000181"),  # numeric CNPJs keep their check digits
])
def test_an_alphanumeric_cnpj_in_any_case_and_punctuation_is_stored_upper_case_without_it(raw, stored):
    assert normalize_document(raw) == stored
    assert document_type(stored) is DocumentType.CNPJ


@pytest.mark.parametrize("raw, message", [
    ("12.ABC.345/01DE-36", "This CNPJ is not valid"),
    ("12.ABC.345/01DE-53", "This CNPJ is not valid"),
    ("93.ZB0.VRY/V6KA-66", "This CNPJ is not valid"),
    ("AAAAAAAAAAAAAA", "CPF (11 digits) or a CNPJ (14 characters"),  # check digits are numeric
    ("12.ABC.345/01DE-3E", "CPF (11 digits) or a CNPJ (14 characters"),
    ("12.ABC.345/01DÉ-35", "CPF (11 digits) or a CNPJ (14 characters"),
    ("12.ABC.345/01D_-35", "CPF (11 digits) or a CNPJ (14 characters"),
    ("12.ABC.345/01DE-350", "CPF (11 digits) or a CNPJ (14 characters"),
    ("529.982.247-2A", "CPF (11 digits) or a CNPJ (14 characters"),  # a CPF has no letters
    ("00.000.000/0000-00", "This CNPJ is not valid"),  # its check digits match, but no one has it
])
def test_a_wrong_alphanumeric_cnpj_is_refused(raw, message):
    with pytest.raises(ValidationFailed) as caught:
        normalize_document(raw)
    assert message in caught.value.message
    assert caught.value.code == "invalid_document"


def _single_changes(document: str):
    for position, char in enumerate(document):
        alphabet = string.digits + string.ascii_uppercase if position < 12 else string.digits
        for other in alphabet.replace(char, ""):
            yield position, char, other, document[:position] + other + document[position + 1:]


def test_changing_any_character_of_the_receita_example_breaks_it_unless_mod_11_cannot_see_it():
    """Every change is refused except swapping a character for one whose value is 11, 22 or 33
    away (A=17 for 6, L=28 for A…): a remainder of 11 cannot see those, in any implementation."""
    document = "12ABC34501DE35"
    unseen = []
    for position, char, other, changed in _single_changes(document):
        if (ord(other) - ord(char)) % 11 == 0:
            unseen.append((position, changed))
            continue
        with pytest.raises(ValidationFailed, match="This CNPJ is not valid"):
            normalize_document(changed)
    assert (2, "126BC34501DE35") in unseen  # A (17) for 6
    assert len(unseen) == 27 and all(position < 12 for position, _ in unseen)
    assert all(normalize_document(changed) == changed for _, changed in unseen)


def test_changing_a_check_digit_always_breaks_it():
    for position in (12, 13):
        for other in string.digits.replace("12ABC34501DE35"[position], ""):
            changed = "12ABC34501DE35"[:position] + other + "12ABC34501DE35"[position + 1:]
            with pytest.raises(ValidationFailed, match="This CNPJ is not valid"):
                normalize_document(changed)


@pytest.mark.parametrize("stored, shown", [
    ("12ABC34501DE35", "12.ABC.345/01DE-35"),
    ("00000000E08G12", "00.000.000/E08G-12"),
    ("11222333000181", "11.222.333/0001-81"),
    ("52998224725", "529.982.247-25"),
    ("12345", "12345"),  # not a document: shown as it is rather than cut up
])
def test_a_document_is_shown_with_its_punctuation(stored, shown):
    assert format_document(stored) == shown
