"""Test helper: read a rendered page as a browser test would, by ``data-testid`` (standard library only).

Shared by the services' page tests (the OS tracking page and admin, Billing's review and payment pages)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.parts)).strip()

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[Element]] = {}
        self.open: list[tuple[str, Element | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        element = Element(tag, values) if "data-testid" in values else None
        if element is not None:
            self.found.setdefault(values["data-testid"], []).append(element)
        if tag not in _VOID:
            self.open.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        for _, element in self.open:
            if element is not None:
                element.parts.append(data)


def by_testid(html: str | bytes, testid: str | None = None) -> Any:
    """Every element with a ``data-testid``, by id; or, given one id, that id's elements."""
    collector = _Collector()
    collector.feed(html.decode() if isinstance(html, bytes) else html)
    return collector.found if testid is None else collector.found.get(testid, [])


def one(html: str | bytes, testid: str) -> Element:
    found = by_testid(html, testid)
    assert len(found) == 1, f"expected one element data-testid={testid!r}, found {len(found)}"
    return found[0]


def visible_text(html: str | bytes) -> str:
    """The words on the page (no tags, no script or style)."""
    text = html.decode() if isinstance(html, bytes) else html
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"</?(span|strong|em|b|a)\b[^>]*>", "", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text)
