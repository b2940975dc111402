"""The e-mails Billing and the OS wrote with Django's file-based backend (tests/system.py points it at
the system's workdir)."""
from __future__ import annotations

import email
import re
import time
from email.message import Message
from email.policy import default
from pathlib import Path

REVIEW_LINK = re.compile(r"https?://[^\s\"'<>]+/budgets/review/[A-Za-z0-9_-]+/")
PAYMENT_LINK = re.compile(r"https?://[^\s\"'<>]+/budgets/[0-9a-f-]+/v\d+/payment/\?t=[^\s\"'<>]+")
SEPARATOR = re.compile(rb"^-{79}\r?\n", re.M)  # between the messages of one connection


def messages(mail_dir: Path) -> list[Message]:
    found = []
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
        for chunk in SEPARATOR.split(path.read_bytes()):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk, policy=default))
    return found


def text_of(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def links_in(mail_dir: Path, to: str, pattern: re.Pattern[str]) -> list[str]:
    links = []
    for message in messages(mail_dir):
        if to in str(message["To"]):
            links.extend(pattern.findall(text_of(message)))
    return links


def wait_for_link(mail_dir: Path, to: str, pattern: re.Pattern[str], what: str, *, count: int = 1,
                  timeout: float = 30.0) -> str:
    """The ``count``-th link like ``pattern`` e-mailed to ``to``."""
    deadline = time.monotonic() + timeout
    while True:
        links = links_in(mail_dir, to, pattern)
        if len(links) >= count:
            return links[count - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} e-mail #{count} for {to} in {mail_dir} after {timeout:.0f}s")
        time.sleep(0.1)


def wait_for_approval_link(mail_dir: Path, to: str, *, count: int = 1, timeout: float = 30.0) -> str:
    """The ``count``-th approval link e-mailed to ``to`` (Billing's budget e-mail)."""
    return wait_for_link(mail_dir, to, REVIEW_LINK, "approval", count=count, timeout=timeout)


def wait_for_payment_link(mail_dir: Path, to: str, *, timeout: float = 30.0) -> str:
    """The payment page's link e-mailed to ``to`` (the OS's AWAITING_PAYMENT e-mail)."""
    return wait_for_link(mail_dir, to, PAYMENT_LINK, "payment page", timeout=timeout)
