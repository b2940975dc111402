"""Pix "copia e cola" codes (EMV BR Code layout) and their QR code as a PNG.

The QR code is real (``segno``): a banking app scans it and reads the same copy-and-paste code.
"""

from __future__ import annotations

import base64
import binascii
import io
from decimal import Decimal

import segno

PIX_GUI = "br.gov.bcb.pix"
QR_MASK = 2


def _field(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), as the BR Code's field 63 asks."""
    return binascii.crc_hqx(data, 0xFFFF)


def pix_copy_paste(key: str, amount: Decimal, txid: str, merchant: str, city: str) -> str:
    account = _field("00", PIX_GUI) + _field("01", key)
    body = "".join(
        [
            _field("00", "01"),
            _field("26", account),
            _field("52", "0000"),
            _field("53", "986"),
            _field("54", f"{amount:.2f}"),
            _field("58", "BR"),
            _field("59", merchant[:25]),
            _field("60", city[:15]),
            _field("62", _field("05", txid[:25])),
            "6304",
        ]
    )
    return body + f"{crc16_ccitt(body.encode()):04X}"


def qr_png_base64(text: str) -> str:
    """The QR code of ``text`` (error correction M, as Pix apps expect) as a base64 PNG.

    One fixed mask pattern: any of the eight is a valid code that every reader decodes; choosing
    the best one scores all eight, 3/4 of the sandbox's CPU per Pix in pure Python (11 of 14.5 ms)."""
    image = io.BytesIO()
    segno.make(text, error="m", micro=False, mask=QR_MASK).save(image, kind="png", scale=6, border=4)
    return base64.b64encode(image.getvalue()).decode("ascii")
