"""Pix "copia e cola" codes (EMV BR Code layout) and a QR-looking PNG for them.

The image is a deterministic placeholder drawn from the code's hash, with the
three finder squares of a QR code so it reads as one on a page; it is not meant
to be scanned (nothing in the sandbox moves real money).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from decimal import Decimal

PIX_GUI = "br.gov.bcb.pix"
MATRIX_SIZE = 33
FINDER_SIZE = 7


def _field(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


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


def _finder_cell(row: int, col: int) -> bool | None:
    """Colour of a module inside one of the three finder squares, else None."""
    last = MATRIX_SIZE - FINDER_SIZE
    for top, left in ((0, 0), (0, last), (last, 0)):
        r, c = row - top, col - left
        if -1 <= r <= FINDER_SIZE and -1 <= c <= FINDER_SIZE:
            if not (0 <= r < FINDER_SIZE and 0 <= c < FINDER_SIZE):
                return False
            ring = min(r, c, FINDER_SIZE - 1 - r, FINDER_SIZE - 1 - c)
            return ring != 1
    return None


def qr_like_matrix(text: str) -> list[list[bool]]:
    stream = b""
    counter = 0
    while len(stream) * 8 < MATRIX_SIZE * MATRIX_SIZE:
        stream += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    bits = [(byte >> shift) & 1 for byte in stream for shift in range(8)]
    matrix = []
    for row in range(MATRIX_SIZE):
        line = []
        for col in range(MATRIX_SIZE):
            finder = _finder_cell(row, col)
            if finder is not None:
                line.append(finder)
            elif row == 6 or col == 6:
                line.append((row + col) % 2 == 0)
            else:
                line.append(bool(bits[row * MATRIX_SIZE + col]))
        matrix.append(line)
    return matrix


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def matrix_png(matrix: list[list[bool]], scale: int = 6, border: int = 4) -> bytes:
    size = (len(matrix) + 2 * border) * scale
    light = [[False] * len(matrix) for _ in range(border)]
    padded = light + matrix + light
    rows = b""
    for line in padded:
        cells = [False] * border + line + [False] * border
        pixels = b"".join(b"\x00" * scale if dark else b"\xff" * scale for dark in cells)
        rows += (b"\x00" + pixels) * scale
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows, 9)),
            _png_chunk(b"IEND", b""),
        ]
    )


def qr_png_base64(text: str) -> str:
    return base64.b64encode(matrix_png(qr_like_matrix(text))).decode("ascii")
