"""The approval e-mail: Portuguese, friendly, with the absolute link to the review page."""
from __future__ import annotations

import email
import email.policy

from django.core import mail

from billing import handlers, services
from billing.formatting import brl, local_time
from billing.tests import factories


def test_the_email_links_the_review_page_absolutely_and_speaks_portuguese(fake, settings):
    settings.PUBLIC_BASE_URL = "https://oficina.example/"
    budget = handlers.create_budget(factories.create_budget())
    (message,) = mail.outbox
    assert message.subject == "Seu orçamento da OS OS-2024-0042 está pronto"
    body = message.body
    assert body.startswith("Olá, Maria!")
    token = body.split("https://oficina.example/budgets/review/")[1].split("/")[0]
    assert f"https://oficina.example/budgets/review/{token}/\n" in body
    assert "- Troca de óleo: 2 x R$ 45,00 = R$ 90,00" in body and "Total: R$ 122,00" in body
    assert f"até {local_time(budget.expires_at)} (horário de Brasília)" in body
    assert "UTC" not in body and "12200" not in body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="https://oficina.example/budgets/review/{token}/"' in html
    assert "Ver o orçamento e decidir" in html


def test_an_additional_repair_says_what_it_adds(fake):
    command = factories.create_budget()
    budget = handlers.create_budget(command)
    services.budget_revise(budget_id=budget.budget_id, items=factories.EXTRA_ITEMS, reason="pastilhas gastas")
    message = mail.outbox[-1]
    assert message.subject == "Reparo adicional na OS OS-2024-0042: precisamos da sua aprovação"
    assert "reparo adicional (pastilhas gastas)" in message.body
    assert "são R$ 180,00 a mais" in message.body and "Total: R$ 302,00" in message.body


def test_a_budget_of_several_jobs_says_each_may_be_decided(fake):
    handlers.create_budget(factories.create_budget(items=factories.JOBS))
    (message,) = mail.outbox
    assert "Você pode aprovar serviço por serviço" in message.body
    assert "Você pode aprovar serviço por serviço" in message.alternatives[0][0]


def test_a_budget_of_one_job_says_nothing_of_jobs(fake):
    handlers.create_budget(factories.create_budget())
    assert "serviço por serviço" not in mail.outbox[0].body


def test_money_and_time_as_customers_read_them(settings):
    from datetime import UTC, datetime

    assert brl(123456) == "R$ 1.234,56" and brl(5) == "R$ 0,05" and brl(-100) == "-R$ 1,00"
    settings.CUSTOMER_TIME_ZONE = "America/Sao_Paulo"
    assert local_time(datetime(2025, 5, 12, 17, 30, tzinfo=UTC)) == "12/05/2025 às 14:30"
    assert local_time(None) == ""


def test_customers_links_and_mercado_pagos_notifications_may_use_different_addresses(settings):
    # compose: a browser on the machine opens localhost:8002; the sandbox reaches Billing by name.
    settings.PUBLIC_BASE_URL = "http://localhost:8002"
    settings.MERCADOPAGO_NOTIFICATION_BASE_URL = "http://billing:8000/"
    assert services.approval_url("t0k3n") == "http://localhost:8002/budgets/review/t0k3n/"
    assert services.notification_url() == "http://billing:8000/api/v1/webhooks/mercadopago/"


def test_a_reply_to_the_budget_email_reaches_the_workshop_not_the_no_reply_sender(fake, settings):
    # The e-mail says "é só responder a este e-mail": the reply must land somewhere read.
    settings.DEFAULT_FROM_EMAIL = "Oficina <nao-responda@oficina.example>"
    settings.WORKSHOP_REPLY_TO_EMAIL = "Oficina do Zé <atendimento@oficinadoze.com.br>"
    handlers.create_budget(factories.create_budget())
    (message,) = mail.outbox
    assert "responder a este e-mail" in message.body
    assert message.from_email == "Oficina <nao-responda@oficina.example>"
    # As the customer's mail app reads the header it was sent with (the name is RFC 2047 encoded).
    received = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    assert received["Reply-To"] == "Oficina do Zé <atendimento@oficinadoze.com.br>"
    assert message.alternatives[0][1] == "text/html"


def test_the_budget_email_has_a_reply_to_even_unconfigured(fake, monkeypatch):
    from oficina_common.mail import DEFAULT_WORKSHOP_REPLY_TO

    monkeypatch.delenv("WORKSHOP_REPLY_TO_EMAIL", raising=False)
    handlers.create_budget(factories.create_budget())
    assert mail.outbox[0].reply_to == [DEFAULT_WORKSHOP_REPLY_TO]
