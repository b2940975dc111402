"""Who may call what: every URL of the three services × every kind of caller → the status it gets.

One table (:data:`MATRIX`), checked against the running system. The URLs come from the services'
own URL confs, so an endpoint added without a row here fails :func:`test_every_url_has_a_row`.
docs/security.md shows the same table (:func:`test_the_documented_matrix_is_this_one`; rewrite it
with ``python tests/test_authorization_matrix.py``).

How a row proves something without changing the system:
- Order-scoped reads use the real ids of one order (the customer's own, in execution, budget
  approved and paid): the own customer reads it, the other customer gets 403/404, never the data.
- Writes send a body that cannot be valid, or an id that does not exist: a caller the permission
  check lets through answers 400, 404 or 409 (DRF checks permissions before it reads the body or
  looks the object up), one it refuses answers 401 or 403. Nothing is created, changed or deleted,
  except the work-queue claim, which has no body: it claims whatever job is queued (the order's).
"""
from __future__ import annotations

import json
import re
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oficina_client import OficinaClient, mercosul_plate, valid_cpf, wait_for

ROLES = ("anonymous", "customer", "other customer", "mechanic", "attendant", "admin")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"
START, END = "<!-- authorization-matrix:start -->", "<!-- authorization-matrix:end -->"
MISSING_UUID = "00000000-0000-4000-8000-000000000000"
MISSING_INT = "999999999"
JUNK = {"reason": ["x"], "items": "x", "version": "x", "notes": ["x"], "name": ["x"], "quantity": "x",
        "customer_id": ["x"]}
Status = int | tuple[int, ...]


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    route: str  # as the URL conf writes it
    path: str  # with {placeholders} for the order's ids
    expected: tuple[Status, ...]  # one per role, in ROLES' order
    body: dict[str, Any] | None = None


def row(service: str, method: str, route: str, path: str, *expected: Status, body: dict | None = None) -> Row:
    assert len(expected) == len(ROLES), f"{service} {method} {route}: one status per role"
    return Row(service, method, route, path, expected, JUNK if body is None and method != "GET" else body)


DENY = (403, 404)  # someone else's order: either, never the data

# (anonymous, own customer, other customer, mechanic, attendant, admin)
MATRIX: tuple[Row, ...] = (
    # --- OS --------------------------------------------------------------------------------------
    row("os", "GET", "api/v1/", "/api/v1/", 200, 200, 200, 200, 200, 200),
    row("os", "POST", "api/v1/auth/token/", "/api/v1/auth/token/", 400, 400, 400, 400, 400, 400),
    row("os", "POST", "api/v1/auth/token/refresh/", "/api/v1/auth/token/refresh/", 400, 400, 400, 400, 400, 400),
    row("os", "POST", "api/v1/auth/customer-token/", "/api/v1/auth/customer-token/",
        400, 400, 400, 400, 400, 400),
    row("os", "GET", "api/v1/service-orders/", "/api/v1/service-orders/", 401, 200, 200, 200, 200, 200),
    row("os", "POST", "api/v1/service-orders/", "/api/v1/service-orders/", 401, 403, 403, 403, 400, 400),
    row("os", "GET", "api/v1/service-orders/<str:service_order_id>/", "/api/v1/service-orders/{order}/",
        401, 200, DENY, 200, 200, 200),
    row("os", "POST", "api/v1/service-orders/<str:service_order_id>/start-diagnosis/",
        "/api/v1/service-orders/{order}/start-diagnosis/", 401, 403, 403, 409, 409, 409),
    row("os", "POST", "api/v1/service-orders/<str:service_order_id>/diagnosis/",
        "/api/v1/service-orders/{order}/diagnosis/", 401, 403, 403, 400, 400, 400),
    row("os", "POST", "api/v1/service-orders/<str:service_order_id>/deliver/",
        "/api/v1/service-orders/{order}/deliver/", 401, 403, 403, 403, 409, 409),
    row("os", "POST", "api/v1/service-orders/<str:service_order_id>/cancel/",
        "/api/v1/service-orders/{order}/cancel/", 401, 403, 403, 403, 400, 400),
    row("os", "GET", "api/v1/tracking/<str:tracking_code>/", "/api/v1/tracking/{tracking}/",
        200, 200, 200, 200, 200, 200),
    row("os", "GET", "api/v1/vehicles/<int:vehicle_id>/declined-work/", "/api/v1/vehicles/{vehicle}/declined-work/",
        401, 403, 403, 200, 200, 200),
    row("os", "GET", "api/v1/reports/execution-time/", "/api/v1/reports/execution-time/",
        401, 403, 403, 200, 200, 200),
    *(r for resource, key in (("customers", "customer"), ("vehicles", "vehicle"))
      for r in (
        # Mechanics see the vehicles they work on, not the customers' personal data.
        row("os", "GET", f"api/v1/^{resource}/$", f"/api/v1/{resource}/",
            401, 403, 403, 200 if resource == "vehicles" else 403, 200, 200),
        row("os", "POST", f"api/v1/^{resource}/$", f"/api/v1/{resource}/", 401, 403, 403, 403, 400, 400),
        row("os", "GET", f"api/v1/^{resource}/(?P<pk>[^/.]+)/$", f"/api/v1/{resource}/{{{key}}}/",
            401, 403, 403, 200 if resource == "vehicles" else 403, 200, 200),
        *(row("os", method, f"api/v1/^{resource}/(?P<pk>[^/.]+)/$", f"/api/v1/{resource}/{MISSING_INT}/",
              401, 403, 403, 403, 404, 404) for method in ("PUT", "PATCH", "DELETE")),
    )),
    *(r for resource, key in (("services", "service"), ("parts", "part"))
      for r in (
        row("os", "GET", f"api/v1/^{resource}/$", f"/api/v1/{resource}/", 401, 403, 403, 200, 200, 200),
        row("os", "POST", f"api/v1/^{resource}/$", f"/api/v1/{resource}/", 401, 403, 403, 403, 400, 400),
        row("os", "GET", f"api/v1/^{resource}/(?P<pk>[^/.]+)/$", f"/api/v1/{resource}/{{{key}}}/",
            401, 403, 403, 200, 200, 200),
        *(row("os", method, f"api/v1/^{resource}/(?P<pk>[^/.]+)/$", f"/api/v1/{resource}/{MISSING_INT}/",
              401, 403, 403, 403, 404, 404) for method in ("PUT", "PATCH", "DELETE")),
    )),
    row("os", "GET", "api/v1/^parts/(?P<pk>[^/.]+)/stock-entries/$", "/api/v1/parts/{part}/stock-entries/",
        401, 403, 403, 200, 200, 200),
    row("os", "POST", "api/v1/^parts/(?P<pk>[^/.]+)/stock-entries/$", f"/api/v1/parts/{MISSING_INT}/stock-entries/",
        401, 403, 403, 403, 404, 404),
    row("os", "GET", "track/<str:tracking_code>/", "/track/{tracking}/", 200, 200, 200, 200, 200, 200),
    row("os", "GET", "^track/(?:.*/)?$", "/track/cut-link/", 404, 404, 404, 404, 404, 404),
    row("os", "GET", "declined/<str:token>/", "/declined/not-a-real-link/", 404, 404, 404, 404, 404, 404),
    row("os", "POST", "declined/<str:token>/", "/declined/not-a-real-link/", 403, 403, 403, 403, 403, 403),
    # The admin and the browsable API's login work with a session, never with a JWT.
    row("os", "GET", "admin/", "/admin/", 302, 302, 302, 302, 302, 302),
    row("os", "GET", "api-auth/", "/api-auth/login/", 200, 200, 200, 200, 200, 200),
    # --- Billing ---------------------------------------------------------------------------------
    # A list answers 200 with the caller's own rows only: the other customer's is empty (checked below).
    row("billing", "GET", "api/v1/budgets/", "/api/v1/budgets/?service_order_id={order}",
        401, 200, 200, 200, 200, 200),
    row("billing", "GET", "api/v1/budgets/<str:budget_id>/", "/api/v1/budgets/{budget}/",
        401, 200, DENY, 200, 200, 200),
    row("billing", "GET", "api/v1/budgets/<str:budget_id>/versions/", "/api/v1/budgets/{budget}/versions/",
        401, 200, DENY, 200, 200, 200),
    # The version the customer approved: approving it again is a 200 no-op, rejecting it a 409, for
    # whoever may decide (staff with a reason); nothing changes either way.
    row("billing", "POST", "api/v1/budgets/<str:budget_id>/approve/", "/api/v1/budgets/{budget}/approve/",
        401, 200, DENY, 403, 200, 200, body={"version": "{version}", "reason": "verificação de permissões"}),
    row("billing", "POST", "api/v1/budgets/<str:budget_id>/reject/", "/api/v1/budgets/{budget}/reject/",
        401, 409, DENY, 403, 409, 409, body={"version": "{version}", "reason": "verificação de permissões"}),
    row("billing", "POST", "api/v1/budgets/<str:budget_id>/revisions/", "/api/v1/budgets/{budget}/revisions/",
        401, 403, 403, 403, 400, 400),
    row("billing", "GET", "api/v1/payments/", "/api/v1/payments/?service_order_id={order}",
        401, 200, 200, 200, 200, 200),
    row("billing", "GET", "api/v1/payments/<str:payment_id>/", "/api/v1/payments/{payment}/",
        401, 200, DENY, 200, 200, 200),
    # Public: Mercado Pago's notifications, refused without a valid x-signature.
    row("billing", "POST", "api/v1/webhooks/mercadopago/", "/api/v1/webhooks/mercadopago/",
        401, 401, 401, 401, 401, 401, body={"type": "payment", "action": "payment.updated", "data": {"id": "1"}}),
    # The customer's pages: the link (a token, the budget's id) is the credential.
    row("billing", "GET", "budgets/review/<str:token>/", "/budgets/review/not-a-real-link/",
        404, 404, 404, 404, 404, 404),
    row("billing", "POST", "budgets/review/<str:token>/", "/budgets/review/not-a-real-link/",
        403, 403, 403, 403, 403, 403),
    # Without the approval link's token (?t=…) the payment pages do not exist, whoever asks.
    row("billing", "GET", "budgets/<str:budget_id>/v<int:version>/payment/", "/budgets/{budget}/v{version}/payment/",
        404, 404, 404, 404, 404, 404),
    row("billing", "GET", "budgets/<str:budget_id>/v<int:version>/payment/status/",
        "/budgets/{budget}/v{version}/payment/status/", 404, 404, 404, 404, 404, 404),
    row("billing", "GET", "budgets/<str:budget_id>/v<int:version>/rejected/", "/budgets/{budget}/v{version}/rejected/",
        404, 404, 404, 404, 404, 404),
    # --- Execution -------------------------------------------------------------------------------
    row("execution", "GET", "api/v1/executions/", "/api/v1/executions/?service_order_id={order}",
        401, 200, 200, 200, 200, 200),
    row("execution", "GET", "api/v1/executions/<str:execution_id>/", "/api/v1/executions/{execution}/",
        401, 200, DENY, 200, 200, 200),
    row("execution", "POST", "api/v1/executions/<str:execution_id>/retry/",
        f"/api/v1/executions/{MISSING_UUID}/retry/", 401, 403, 403, 403, 403, 404),
    # The work queue is the mechanics' (and the admin's).
    row("execution", "GET", "api/v1/work-queue/", "/api/v1/work-queue/", 401, 403, 403, 200, 403, 200),
    row("execution", "GET", "api/v1/work-queue/<str:queue_id>/", "/api/v1/work-queue/{job}/",
        401, 403, 403, 200, 403, 200),
    row("execution", "POST", "api/v1/work-queue/claim/", "/api/v1/work-queue/claim/",
        401, 403, 403, (200, 204), 403, (200, 204), body={}),
    *(row("execution", "POST", f"api/v1/work-queue/<str:queue_id>/{action}/",
          f"/api/v1/work-queue/{MISSING_UUID}/{action}/", 401, 403, 403,
          404 if action == "start" else 400, 403, 404 if action == "start" else 400)
      for action in ("start", "complete", "fail", "additional-repairs")),
    # --- every service -----------------------------------------------------------------------------
    *(r for service in ("os", "billing", "execution") for r in (
        row(service, "GET", "healthz", "/healthz", 200, 200, 200, 200, 200, 200),
        row(service, "GET", "readyz", "/readyz", 200, 200, 200, 200, 200, 200),
        row(service, "GET", "api/schema/", "/api/schema/", 200, 200, 200, 200, 200, 200),
        row(service, "GET", "api/docs/", "/api/docs/", 200, 200, 200, 200, 200, 200),
        # An API path no route takes: a JSON 404 for everyone, before any authentication.
        row(service, "GET", "^api/(?:.*/)?$", "/api/v1/no-such-thing/", 404, 404, 404, 404, 404, 404),
    )),
)

# --- the URL confs ---------------------------------------------------------------------------------
# Run inside each service (manage.py shell): its URL patterns and the methods each view answers.
# The admin and DRF's login pages are one row each (their own URLs are Django's and DRF's).
ROUTES_OF_THE_SERVICE = r'''
import inspect, json
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

def methods_of(callback):
    if getattr(callback, "actions", None):
        return sorted(m.upper() for m in callback.actions)
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        return [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]
    function = callback
    while function is not None:  # require_http_methods keeps its list in a closure
        allowed = inspect.getclosurevars(function).nonlocals.get("request_method_list")
        if allowed:
            return sorted(m for m in allowed if m in ("GET", "POST", "PUT", "PATCH", "DELETE"))
        function = getattr(function, "__wrapped__", None)
    return ["GET"]

def walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.namespace in ("admin", "rest_framework") or pattern.app_name in ("admin", "rest_framework"):
                yield route, ["GET"]
            else:
                yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, methods_of(pattern.callback)

print("ROUTES=" + json.dumps(sorted(walk(get_resolver().url_patterns))))
'''


def routes_of(system: Any, service: str) -> set[tuple[str, str, str]]:
    output = system.manage(service, "shell", "-c", ROUTES_OF_THE_SERVICE)
    routes = json.loads(next(line for line in output.splitlines() if line.startswith("ROUTES="))[len("ROUTES="):])
    return {(service, method, route) for route, methods in routes for method in methods}


def test_every_url_has_a_row(system) -> None:
    served = set().union(*(routes_of(system, service) for service in ("os", "billing", "execution")))
    table = {(r.service, r.method, r.route) for r in MATRIX}
    assert len(table) == len(MATRIX), "a (service, method, route) appears twice in MATRIX"
    missing = sorted(served - table)
    assert not missing, f"endpoints without a row in MATRIX (who may call them?): {missing}"
    stale = sorted(table - served)
    assert not stale, f"rows for endpoints the services no longer serve: {stale}"


# --- the people and one order ------------------------------------------------------------------------
def create_staff_user(system: Any, username: str, role: str, password: str) -> None:
    system.manage("os", "shell", "-c", (
        "from accounts.models import User\n"
        f"user, _ = User.objects.get_or_create(username={username!r})\n"
        f"user.role = {role!r}; user.is_active = True; user.set_password({password!r}); user.save()\n"))


@pytest.fixture(scope="module")
def world(system) -> dict[str, Any]:
    """Two customers with an order each; the first's is paid and in execution, its job queued."""
    staff = OficinaClient(system.urls, timeout=15)
    staff.login("admin", "admin")
    tokens: dict[str, str | None] = {"anonymous": None, "admin": staff.token}
    for role in ("mechanic", "attendant"):
        password = f"{role}-{uuid.uuid4().hex}"
        create_staff_user(system, f"matrix.{role}", role, password)
        tokens[role] = OficinaClient(system.urls).login(f"matrix.{role}", password)

    service = staff.create_service("Alinhamento", "120.00", 30)
    part = staff.create_part("Parafuso de roda", "4.50", stock=100)
    orders = []
    for name in ("Ana Lima", "Bruno Reis"):
        seed = zlib.crc32(uuid.uuid4().bytes)
        customer = staff.create_customer(name, valid_cpf(seed), f"matrix.{seed}@example.com")
        vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed), "VW", "Gol", 2019)
        order = staff.open_order(customer["id"], vehicle["id"], "Carro puxando para a direita")
        orders.append((customer, vehicle, order))
    (customer, vehicle, order), (_other_customer, _other_vehicle, other_order) = orders
    tokens["customer"] = staff.customer_token(customer["document"], order["tracking_code"])
    tokens["other customer"] = staff.customer_token(orders[1][0]["document"], other_order["tracking_code"])

    staff.start_diagnosis(order["id"])
    staff.submit_diagnosis(order["id"], [{"kind": "service", "catalog_id": service["id"], "quantity": 1},
                                         {"kind": "part", "catalog_id": part["id"], "quantity": 4}])
    budget = wait_for(lambda: next((b for b in staff.budgets(order["id"]) if b["status"] == "PENDING_APPROVAL"), None),
                      timeout=60, what="the budget")
    staff.approve_budget(budget["budget_id"], budget["version"], token=tokens["customer"])
    payment = wait_for(lambda: next((p for p in staff.payments(order["id"]) if p.get("mercadopago_payment_id")), None),
                       timeout=60, what="the payment")
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    staff.wait_for_status(order["id"], "IN_EXECUTION", 60)
    job = wait_for(lambda: next((j for j in staff.work_queue() if j["service_order_id"] == order["id"]), None),
                   timeout=30, what="the queued job")
    execution = staff.executions(order["id"])[0]
    ids = {"order": order["id"], "other_order": other_order["id"], "customer": customer["id"],
           "vehicle": vehicle["id"], "service": service["id"], "part": part["id"],
           "tracking": order["tracking_code"], "budget": budget["budget_id"], "version": budget["version"],
           "payment": payment["payment_id"], "execution": execution["execution_id"], "job": job["queue_id"]}
    return {"tokens": tokens, "ids": ids, "client": OficinaClient(system.urls, timeout=15)}


def answer_of(world: dict[str, Any], r: Row, role: str) -> Any:
    client: OficinaClient = world["client"]
    base = getattr(client.urls, r.service)
    kwargs: dict[str, Any] = {}
    if r.body is not None:  # "{version}": the order's value, as JSON would carry it
        kwargs["json"] = {key: world["ids"][value[1:-1]] if isinstance(value, str) and value[:1] == "{" else value
                          for key, value in r.body.items()}
    response = client.call(r.method, base + r.path.format(**world["ids"]), expect=(), token=world["tokens"][role] or "",
                           allow_redirects=False, **kwargs)
    return response


def matches(status: int, expected: Status) -> bool:
    return status in expected if isinstance(expected, tuple) else status == expected


@pytest.mark.parametrize("r", MATRIX, ids=lambda r: f"{r.service} {r.method} {r.path}")
def test_each_caller_gets_the_status_in_the_table(world, r: Row) -> None:
    answers = {role: answer_of(world, r, role) for role in ROLES}
    got = {role: answer.status_code for role, answer in answers.items()}
    wrong = {role: (got[role], expected) for role, expected in zip(ROLES, r.expected, strict=True)
             if not matches(got[role], expected)}
    assert not wrong, f"{r.method} {r.path}: (got, expected) {wrong}"
    if "{order}" in r.path and got["other customer"] == 200:  # a list filtered to the caller's own rows
        assert world["ids"]["order"] not in answers["other customer"].text, "another customer's order leaked"


# --- the table in docs/security.md -----------------------------------------------------------------------
def shown(expected: Status) -> str:
    return "/".join(map(str, expected)) if isinstance(expected, tuple) else str(expected)


def markdown_table() -> str:
    lines = ["| service | method | path | " + " | ".join(ROLES) + " |",
             "|---|---|---|" + "---|" * len(ROLES)]
    for r in MATRIX:
        path = re.sub(r"\?.*$", "", r.path).replace(MISSING_INT, "{missing}").replace(MISSING_UUID, "{missing}")
        lines.append(f"| {r.service} | {r.method} | `{path}` | " + " | ".join(shown(e) for e in r.expected) + " |")
    return "\n".join(lines)


def documented_table() -> str:
    text = DOCS.read_text()
    return text[text.index(START) + len(START):text.index(END)].strip()


def test_the_documented_matrix_is_this_one() -> None:
    assert documented_table() == markdown_table(), \
        "docs/security.md is stale: run python tests/test_authorization_matrix.py"


if __name__ == "__main__":  # rewrite the table in docs/security.md
    text = DOCS.read_text()
    DOCS.write_text(text[:text.index(START) + len(START)] + "\n" + markdown_table() + "\n" + text[text.index(END):])
    print(f"wrote the authorization matrix ({len(MATRIX)} rows) into {DOCS}")
