"""The customer's pages as a visitor sees them: cookies, CSRF tokens in forms, redirects."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import Client

from billing import handlers
from billing.domain import Budget
from billing.tests import factories
from oficina_common.messages import Envelope

LINK = re.compile(r"/budgets/review/([A-Za-z0-9_-]+)/")
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Pending:
    """A budget waiting for the customer, and the token of the link e-mailed for it."""

    command: Envelope
    budget: Budget
    token: str

    @property
    def review_url(self) -> str:
        return f"/budgets/review/{self.token}/"


def last_link_token() -> str:
    return LINK.search(mail.outbox[-1].body).group(1)


@pytest.fixture
def visitor() -> Client:
    """A visitor: Django's test client with the CSRF check on, as the real middleware runs it."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def pending(fake) -> Pending:
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    return Pending(command=command, budget=budget, token=last_link_token())


def csrf_token_of(html: str) -> str:
    return CSRF_FIELD.search(html).group(1)


def decide(visitor: Client, pending: Pending, decision: str, reason: str = ""):
    """Open the page, then press a button: the form posts its CSRF token and the cookie goes along."""
    page = visitor.get(pending.review_url)
    data = {"csrfmiddlewaretoken": csrf_token_of(page.content.decode()), "decision": decision}
    if reason or decision == "reject":
        data["reason"] = reason
    return visitor.post(pending.review_url, data)
