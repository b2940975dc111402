"""Debian's Chromium (/usr/bin/chromium) under Playwright: never a downloaded browser, nothing from the internet."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


class ChromiumMissing(RuntimeError):
    pass


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium; raises ChromiumMissing (with the fix) when the system has none."""
    if not CHROMIUM.exists():
        raise ChromiumMissing(f"{CHROMIUM} is missing: apt-get install chromium "
                              "(./manage_all.sh installs it); the browser tests never download one.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def phone(browser: Any, *, timeout_ms: float = 20_000) -> Iterator[Any]:
    """A page in a phone-sized window (390x844), in Portuguese and on Brasília's clock."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="pt-BR",
                                  timezone_id="America/Sao_Paulo")
    context.set_default_timeout(timeout_ms)
    context.grant_permissions(["clipboard-read", "clipboard-write"])  # the "Copiar" button
    try:
        yield context.new_page()
    finally:
        context.close()
