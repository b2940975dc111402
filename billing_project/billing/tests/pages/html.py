"""Read a rendered page the way a test cares about it: the elements named by ``data-testid``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.parts)).strip()


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Element] = []
        self.open: list[tuple[str, Element | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        element = Element(tag, values) if "data-testid" in values else None
        if element is not None:
            self.found.append(element)
        if tag not in VOID:
            self.open.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            name, _ = self.open.pop()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element in self.open:
            if element is not None:
                element.parts.append(data)


def by_testid(html: str | bytes, testid: str) -> list[Element]:
    collector = _Collector()
    collector.feed(html.decode() if isinstance(html, bytes) else html)
    return [e for e in collector.found if e.attrs.get("data-testid") == testid]


def one(html: str | bytes, testid: str) -> Element:
    found = by_testid(html, testid)
    assert len(found) == 1, f"expected one [data-testid={testid}], found {len(found)}"
    return found[0]


def visible_text(html: str | bytes) -> str:
    """The words on the page (no tags, no script or style)."""
    text = html.decode() if isinstance(html, bytes) else html
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"</?(span|strong|em|b|a)\b[^>]*>", "", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text)
