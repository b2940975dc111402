"""The staff's side in a real browser (Debian's Chromium, a desktop window), against the running
system: the admin's login, the service orders, one order with its saga, and the dashboard, all in
Portuguese with Brazilian money and dates. Screenshots go to ARTIFACTS/screenshots for people to look at.
"""
from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest

from conftest import screenshot
from oficina_client import OficinaClient, mercosul_plate, valid_cpf

WAIT_MS = 45_000
DESKTOP = {"width": 1280, "height": 900}
# The test system runs gunicorn with the development settings, which serve no static files (the
# images' settings add WhiteNoise): the browser gets the admin's CSS from Django's own package.
ADMIN_STATIC = Path(django.__file__).parent / "contrib" / "admin" / "static"


@pytest.fixture
def desk(browser_app) -> Iterator[Any]:
    context = browser_app.new_context(viewport=DESKTOP, locale="pt-BR", timezone_id="America/Sao_Paulo")
    context.set_default_timeout(WAIT_MS)
    context.route(re.compile(r".*/static/admin/.*"), _admin_static)
    try:
        yield context.new_page()
    finally:
        context.close()


def _admin_static(route: Any) -> None:
    relative = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
    file = ADMIN_STATIC / relative
    if file.is_file():
        route.fulfill(path=str(file))
    else:
        route.continue_()


def awaiting_approval(staff: OficinaClient) -> dict:
    """An order diagnosed and quoted: the saga has news for the order's page."""
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer("Rita Nogueira", valid_cpf(seed), f"rita.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "Chevrolet", "Onix", 2021)
    order = staff.open_order(customer["id"], vehicle["id"], "Luz do óleo acesa")
    service = staff.create_service("Troca de óleo", "1320.00", 45)  # R$ 1.320,00: the thousands separator shows
    part = staff.create_part("Filtro de óleo", "45.50", stock=10)
    staff.start_diagnosis(order["id"])
    staff.submit_diagnosis(order["id"], [{"kind": "service", "catalog_id": service["id"], "quantity": 1},
                                         {"kind": "part", "catalog_id": part["id"], "quantity": 2}])
    staff.wait_for_status(order["id"], "AWAITING_APPROVAL", 40)
    return order


def test_the_staff_read_the_admin_in_portuguese(system, staff, desk) -> None:
    order = awaiting_approval(staff)
    admin = f"{system.url('os')}/admin/"

    desk.goto(admin)
    assert desk.locator("html").get_attribute("lang") == "pt-br"
    desk.fill("#id_username", "admin")
    desk.fill("#id_password", "admin")
    desk.get_by_role("button", name="Acessar").click()
    desk.wait_for_url(admin)
    assert "Administração da Oficina" in desk.locator("#site-name").inner_text()
    assert desk.get_by_test_id("dashboard-link").inner_text().strip() == "Painel"
    screenshot(desk, "staff-01-index.png")

    desk.goto(f"{admin}service_orders/serviceorder/")
    assert desk.locator("h1").inner_text().strip() == "Selecione ordem de serviço para modificar"
    actions = set(desk.locator("select[name=action] option").all_inner_texts())
    assert {"Iniciar diagnóstico", "Entregar (veículo devolvido ao cliente)", "Cancelar (pede o motivo)"} <= actions
    headers = [h.strip() for h in desk.locator("#result_list thead th").all_text_contents()]  # not upper-cased by CSS
    assert {"Número", "Status", "Prioridade", "Cliente", "Veículo", "Criado em"} <= set(headers)
    assert "Aguardando aprovação" in desk.locator("#result_list").inner_text()
    screenshot(desk, "staff-02-orders.png")

    desk.get_by_role("link", name=order["number"]).click()
    desk.locator("table.saga-progress").wait_for()
    assert desk.locator("h2", has_text="Andamento da saga").count() == 1
    progress = desk.locator("table.saga-progress").inner_text()
    assert "Orçamento" in progress and "R$ 1.411,00" in progress  # 1.320,00 + 2 × 45,50
    assert desk.locator("h2", has_text="Página do cliente").count() == 1
    assert desk.get_by_test_id("cancel-order").text_content().strip() == "Cancelar ordem…"
    screenshot(desk, "staff-03-order.png")

    desk.goto(f"{admin}dashboard/")
    dashboard = desk.get_by_test_id("dashboard").inner_text()
    assert "Ordens por status agora" in dashboard and "ordens em andamento" in dashboard
    assert "Estoque baixo" in dashboard
    screenshot(desk, "staff-04-dashboard.png")
