"""Brazilian documents and plates: what a valid one looks like and how it is stored."""
from __future__ import annotations

import re
from enum import StrEnum

from validate_docbr import CPF

from oficina_common.errors import ValidationFailed

CPF_LENGTH = 11
CNPJ_LENGTH = 14
_DOCUMENT_PUNCTUATION = re.compile(r"[.\-/\s]")
# Since July 2026 the Receita Federal issues alphanumeric CNPJs: 12 letters or digits, then two
# numeric check digits. The numeric CNPJ is the same thing with digits only.
_CNPJ = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_CNPJ_FIRST_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_SECOND_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_PLATE_SEPARATORS = re.compile(r"[\-\s]")
# Old Brazilian plates (ABC1234) and Mercosul plates (ABC1D23).
_PLATE = re.compile(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$")
_WRONG_SHAPE = ("The document must be a CPF (11 digits) or a CNPJ (14 characters: 12 letters or digits, "
                "then 2 check digits).")


class DocumentType(StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"


def clean_document(raw: str | None) -> str:
    """A document as it is stored, without checking it: no punctuation or spaces, upper case."""
    return _DOCUMENT_PUNCTUATION.sub("", str(raw or "")).upper()


def normalize_document(raw: str | None) -> str:
    """A CPF or CNPJ (numeric or alphanumeric), with or without punctuation, in any case, as it is
    stored (``12.abc.345/01de-35`` -> ``12ABC34501DE35``); check digits validated."""
    document = clean_document(raw)
    if len(document) == CPF_LENGTH and document.isdigit():
        valid = CPF().validate(document)
    elif len(document) == CNPJ_LENGTH and _CNPJ.match(document):
        valid = cnpj_is_valid(document)
    else:
        raise ValidationFailed(_WRONG_SHAPE, code="invalid_document", extra={"field": "document"})
    if not valid:
        kind = document_type(document).value.upper()
        raise ValidationFailed(f"This {kind} is not valid (check digits do not match).",
                               code="invalid_document", extra={"field": "document"})
    return document


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a CNPJ's first 12 characters, numeric or alphanumeric.

    Each character counts as its ASCII code minus 48 ('0'..'9' are 0..9, 'A' is 17, 'Z' is 42),
    so a numeric CNPJ keeps the check digits it always had.
    """
    values = [ord(char) - 48 for char in base.upper()]
    first = _cnpj_digit(values, _CNPJ_FIRST_WEIGHTS)
    second = _cnpj_digit([*values, first], _CNPJ_SECOND_WEIGHTS)
    return f"{first}{second}"


def _cnpj_digit(values: list[int], weights: tuple[int, ...]) -> int:
    remainder = sum(value * weight for value, weight in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cnpj_is_valid(document: str) -> bool:
    """A normalized 14-character CNPJ whose check digits match; one repeated character is refused."""
    if not _CNPJ.match(document) or len(set(document)) == 1:
        return False
    return cnpj_check_digits(document[:12]) == document[12:]


def document_type(document: str) -> DocumentType:
    return DocumentType.CPF if len(document) == CPF_LENGTH else DocumentType.CNPJ


def format_document(document: str) -> str:
    """``52998224725`` -> ``529.982.247-25``; ``12ABC34501DE35`` -> ``12.ABC.345/01DE-35``."""
    if len(document) == CPF_LENGTH:
        return f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"
    if len(document) == CNPJ_LENGTH:
        return f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"
    return document


def normalize_plate(raw: str) -> str:
    """``abc-1234`` -> ``ABC1234``; Mercosul ``ABC1D23`` as well. Anything else is refused."""
    plate = _PLATE_SEPARATORS.sub("", str(raw or "")).upper()
    if not _PLATE.match(plate):
        raise ValidationFailed(
            "The plate must look like ABC1234 or, Mercosul, ABC1D23.",
            code="invalid_plate", extra={"field": "plate"},
        )
    return plate


def mask_plate(plate: str) -> str:
    """``ABC1D23`` -> ``ABC••23``: enough for the owner to recognise the car, not to identify it."""
    plate = str(plate or "")
    if len(plate) <= 5:
        return "•" * len(plate)
    return plate[:3] + "•" * (len(plate) - 5) + plate[-2:]


def first_name(full_name: str) -> str:
    parts = (full_name or "").split()
    return parts[0] if parts else ""
