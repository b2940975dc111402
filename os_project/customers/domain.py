"""Brazilian documents and plates: what a valid one looks like and how it is stored."""
from __future__ import annotations

import re
from enum import StrEnum

from validate_docbr import CNPJ, CPF

from oficina_common.errors import ValidationFailed

CPF_LENGTH = 11
CNPJ_LENGTH = 14
_DOCUMENT_PUNCTUATION = re.compile(r"[.\-/\s]")
_PLATE_SEPARATORS = re.compile(r"[\-\s]")
# Old Brazilian plates (ABC1234) and Mercosul plates (ABC1D23).
_PLATE = re.compile(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$")


class DocumentType(StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"


def normalize_document(raw: str) -> str:
    """A CPF or CNPJ, with or without punctuation, as its digits; check digits validated."""
    digits = _DOCUMENT_PUNCTUATION.sub("", str(raw or ""))
    if not digits.isdigit() or len(digits) not in (CPF_LENGTH, CNPJ_LENGTH):
        raise ValidationFailed(
            "The document must be a CPF (11 digits) or a CNPJ (14 digits).",
            code="invalid_document", extra={"field": "document"},
        )
    valid = CPF().validate(digits) if len(digits) == CPF_LENGTH else CNPJ().validate(digits)
    if not valid:
        kind = document_type(digits).value.upper()
        raise ValidationFailed(f"This {kind} is not valid (check digits do not match).",
                               code="invalid_document", extra={"field": "document"})
    return digits


def document_type(digits: str) -> DocumentType:
    return DocumentType.CPF if len(digits) == CPF_LENGTH else DocumentType.CNPJ


def format_document(digits: str) -> str:
    if len(digits) == CPF_LENGTH:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"


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
