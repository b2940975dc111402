"""The e-mails Billing wrote with Django's file-based backend (tests/system.py points it at the system's workdir)."""
from __future__ import annotations

import email
import re
import time
from email.message import Message
from email.policy import default
from pathlib import Path

REVIEW_LINK = re.compile(r"https?://[^\s\"'<>]+/budgets/review/[A-Za-z0-9_-]+/")
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


def approval_links(mail_dir: Path, to: str) -> list[str]:
    links = []
    for message in messages(mail_dir):
        if to in str(message["To"]):
            links.extend(REVIEW_LINK.findall(text_of(message)))
    return links


def wait_for_approval_link(mail_dir: Path, to: str, *, count: int = 1, timeout: float = 30.0) -> str:
    """The ``count``-th approval link e-mailed to ``to``."""
    deadline = time.monotonic() + timeout
    while True:
        links = approval_links(mail_dir, to)
        if len(links) >= count:
            return links[count - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no approval e-mail #{count} for {to} in {mail_dir} after {timeout:.0f}s")
        time.sleep(0.1)
