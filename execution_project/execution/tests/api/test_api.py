"""The HTTP API, end to end on a real DynamoDB endpoint: who sees what, and what each call changes."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from execution import services
from execution.domain import queue_id_for

from ..factories import (
    access_token,
    budget_created,
    diagnosis_completed,
    message,
    new_id,
    replies_until_paid,
)

ITEM = {"kind": "part", "catalog_id": "7", "quantity": 1, "job": 1}  # the OS catalogue names and prices it


def client_as(role: str | None, **claims) -> APIClient:
    client = APIClient()
    if role:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(role, **claims)}")
    return client


@pytest.fixture
def admin() -> APIClient:
    return client_as("admin", user_id="1", username="admin")


@pytest.fixture
def joao() -> APIClient:
    return client_as("mechanic", user_id="7", username="joao")


@pytest.fixture
def ana() -> APIClient:
    return client_as("mechanic", user_id="8", username="ana")


def start_saga(deps, *, customer_id: str = "42", priority: int = 3):
    event = diagnosis_completed(customer_id=customer_id, priority=priority)
    services.message_handle(event.to_dict(), deps=deps)
    return event


def paid_saga(deps, **kwargs):
    event = start_saga(deps, **kwargs)
    for answer in replies_until_paid(event):
        services.message_handle(answer.to_dict(), deps=deps)
    return event


# --- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "path", "expected"), [
    (None, "/api/v1/executions/?service_order_id=x", 401),
    (None, "/api/v1/work-queue/", 401),
    ("customer", "/api/v1/work-queue/", 403),
    ("attendant", "/api/v1/work-queue/", 403),
    ("attendant", "/api/v1/executions/?service_order_id=x", 200),
])
def test_who_may_call_what(moto_deps, role, path, expected):
    response = client_as(role, customer_id="42").get(path)
    assert response.status_code == expected
    if expected >= 400:
        assert set(response.json()) == {"message", "code", "extra"}


def test_a_forged_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert client.get("/api/v1/work-queue/").status_code == 401


# --- executions ------------------------------------------------------------------------------
def test_staff_read_an_orders_saga_with_its_steps(deps, admin):
    event = start_saga(deps)
    listed = admin.get("/api/v1/executions/", {"service_order_id": event.service_order_id})
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["execution_id"], row["status"], row["current_step"]) == (event.saga_id, "PENDING", "create_budget")

    detail = admin.get(f"/api/v1/executions/{event.saga_id}/").json()
    assert [s["name"] for s in detail["steps"]] == ["create_budget", "await_approval", "reserve_parts",
                                                    "request_payment", "await_payment", "enqueue_work",
                                                    "complete_work"]
    assert detail["steps"][0] == {"step_number": 1, "name": "create_budget", "status": "RUNNING", "attempts": 1,
                                  "started_at": detail["steps"][0]["started_at"], "finished_at": None, "error": None}
    assert detail["awaiting"][0]["type"] == "billing.CreateBudget"


def test_a_customer_sees_only_their_own_orders_saga(deps):
    event = start_saga(deps, customer_id="42")
    mine = client_as("customer", customer_id="42")
    other = client_as("customer", customer_id="99")
    assert mine.get(f"/api/v1/executions/{event.saga_id}/").status_code == 200
    assert len(mine.get("/api/v1/executions/", {"service_order_id": event.service_order_id}).json()["results"]) == 1
    assert other.get(f"/api/v1/executions/{event.saga_id}/").status_code == 404
    assert other.get("/api/v1/executions/", {"service_order_id": event.service_order_id}).json()["results"] == []
    assert mine.get("/api/v1/executions/", {"status": "PENDING"}).status_code == 400


@pytest.mark.parametrize(("path", "expected", "code"), [
    ("/api/v1/executions/", 400, "filter_required"),
    ("/api/v1/executions/?service_order_id=x&page_token=@@@", 400, "invalid_page_token"),
    ("/api/v1/executions/?status=SLEEPING", 400, "invalid"),
    ("/api/v1/executions/?service_order_id=x&page_size=0", 400, "invalid"),
    (f"/api/v1/executions/{new_id()}/", 404, "execution_not_found"),
    (f"/api/v1/executions/{'x' * 3000}/", 404, "execution_not_found"),
    ("/api/v1/executions/?service_order_id=x&page_token=eyJhIjogMX0", 400, "invalid_page_token"),
    # Issue 18: a token whose start key holds 1.5 (a number, where the key is text) was a 500.
    ("/api/v1/executions/?service_order_id=x&page_token=eyJleGVjdXRpb25JZCI6ICJlIiwgInNlcnZpY2VPcmRlcklkIjogIngi"
     "LCAidGltZXN0YW1wIjogMS41fQ", 400, "invalid_page_token"),
    ("/api/v1/executions/?service_order_id=x&page_token=" + "A" * 3000, 400, "invalid_page_token"),
    ("/api/v1/work-queue/?status=", 400, "invalid"),
    ("/api/v1/work-queue/?status=QUEUED&page_token=eyJhIjogMX0", 400, "invalid_page_token"),
    ("/api/v1/work-queue/?status=LOST", 400, "invalid"),
    (f"/api/v1/work-queue/{new_id()}/", 404, "job_not_found"),
])
def test_bad_requests_get_a_message_never_a_500(deps, admin, path, expected, code):
    response = admin.get(path)
    assert response.status_code == expected
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_executions_by_status_are_paginated(moto_deps, admin):
    for _ in range(3):
        start_saga(moto_deps)
    first = admin.get("/api/v1/executions/", {"status": "PENDING", "page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next_page_token"]
    assert "page_token=" in first["next"]
    second = admin.get(first["next"]).json()
    assert {r["execution_id"] for r in second["results"]}.isdisjoint({r["execution_id"] for r in first["results"]})


# --- the work queue ---------------------------------------------------------------------------
def test_a_mechanic_takes_works_on_and_finishes_a_job(empty_queue, joao, ana, publisher):
    deps = empty_queue
    event = paid_saga(deps, priority=4)
    queue_id = queue_id_for(event.saga_id)

    queued = joao.get("/api/v1/work-queue/", {"status": "QUEUED"}).json()["results"]
    assert [(j["queue_id"], j["priority"], j["status"], j["service_order_id"]) for j in queued] == [
        (queue_id, 4, "QUEUED", event.service_order_id)]

    claimed = joao.post("/api/v1/work-queue/claim/")
    assert claimed.status_code == 200
    assert (claimed.json()["queue_id"], claimed.json()["status"], claimed.json()["assigned_to_name"]) == (
        queue_id, "ASSIGNED", "joao")
    assert ana.post("/api/v1/work-queue/claim/").status_code == 204
    assert ana.get(f"/api/v1/work-queue/{queue_id}/").status_code == 404  # not hers
    assert ana.post(f"/api/v1/work-queue/{queue_id}/complete/", {"notes": "x"}, format="json").status_code == 403
    assert joao.get("/api/v1/work-queue/", {"status": "ASSIGNED"}).json()["results"][0]["queue_id"] == queue_id
    assert ana.get("/api/v1/work-queue/", {"status": "ASSIGNED"}).json()["results"] == []

    started = joao.post(f"/api/v1/work-queue/{queue_id}/start/")
    assert started.status_code == 200 and started.json()["status"] == "IN_PROGRESS"

    priced = joao.post(f"/api/v1/work-queue/{queue_id}/additional-repairs/",
                       {"items": [{**ITEM, "unit_price_cents": 1}], "notes": "Filtro extra"}, format="json")
    assert priced.status_code == 400 and "catalog" in str(priced.json()["extra"])  # he never prices his own charge
    reported = joao.post(f"/api/v1/work-queue/{queue_id}/additional-repairs/",
                         {"items": [ITEM], "notes": "Filtro extra"}, format="json")
    assert reported.status_code == 202
    assert reported.json()["additional_repairs"][0]["items"] == [ITEM]
    # The report reached the saga in the request's own process: it asks the OS to price the items.
    assert publisher.published[-1].type == "os.PriceItems"
    revision = deps.executions.get(event.saga_id).saga.revisions[-1]
    assert (revision.queue_id, len(revision.items), revision.notes) == (queue_id, 1, "Filtro extra")

    done = joao.post(f"/api/v1/work-queue/{queue_id}/complete/", {"notes": "Óleo trocado"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    told = deps.executions.get(event.saga_id).saga
    assert told.work_done and told.work_notes == "Óleo trocado"
    again = joao.post(f"/api/v1/work-queue/{queue_id}/complete/", {"notes": "Óleo trocado"}, format="json")
    assert again.status_code == 200
    assert deps.executions.get(event.saga_id).saga.version == told.version  # told once

    refused = joao.post(f"/api/v1/work-queue/{queue_id}/fail/", {"reason": "x"}, format="json")
    assert refused.status_code == 409
    assert "COMPLETED" in refused.json()["message"] and "FAILED" in refused.json()["message"]


def test_a_job_fails_by_its_mechanic_or_an_admin(empty_queue, joao, admin, publisher):
    event = paid_saga(empty_queue)
    queue_id = queue_id_for(event.saga_id)
    assert joao.post(f"/api/v1/work-queue/{queue_id}/fail/", {"reason": "x"}, format="json").status_code == 403
    queued = admin.post(f"/api/v1/work-queue/{queue_id}/fail/", {"reason": "x"}, format="json")
    assert queued.status_code == 409 and "QUEUED" in queued.json()["message"]
    joao.post("/api/v1/work-queue/claim/")
    assert joao.post(f"/api/v1/work-queue/{queue_id}/fail/", {}, format="json").status_code == 400
    failed = admin.post(f"/api/v1/work-queue/{queue_id}/fail/", {"reason": "motor fundido"}, format="json")
    assert failed.status_code == 200 and failed.json()["failure_reason"] == "motor fundido"
    assert empty_queue.executions.get(event.saga_id).saga.step("complete_work").status == "FAILED"  # it heard
    assert admin.get("/api/v1/work-queue/", {"service_order_id": event.service_order_id}).json()["results"][0][
        "status"] == "FAILED"


def failed_saga(deps):
    """A saga whose compensation Billing never confirmed: cancelled by staff, then swept past its attempts."""
    from datetime import timedelta

    from execution import saga as saga_flow
    from execution.domain import parse_iso

    event = start_saga(deps)
    created = message(event.saga_id, event.service_order_id, "billing.BudgetCreated", **budget_created())
    services.message_handle(created.to_dict(), deps=deps)
    cancelled = message(event.saga_id, event.service_order_id, "os.OrderCancelled", reason="desistiu",
                        cancelled_by="ana")
    services.message_handle(cancelled.to_dict(), deps=deps)
    stored = deps.executions.get(event.saga_id)
    while stored.saga.status == "COMPENSATING":
        now = parse_iso(stored.saga.deadline) + timedelta(seconds=1)
        decision = saga_flow.time_out(stored.saga, now=now, config=deps.config)
        stored = deps.executions.save(stored, decision.saga, decision.commands)
    return event


def test_an_admin_retries_a_failed_saga(moto_deps, admin, joao, publisher):
    event = failed_saga(moto_deps)
    url = f"/api/v1/executions/{event.saga_id}/retry/"
    detail = admin.get(f"/api/v1/executions/{event.saga_id}/").json()
    assert detail["status"] == "FAILED" and [c["type"] for c in detail["unconfirmed"]] == ["billing.CancelBudget"]
    assert joao.post(url).status_code == 403
    assert client_as("attendant").post(url).status_code == 403

    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("oficina_saga_retried_total", {"service": "execution"}) or 0
    retried = admin.post(url)
    assert retried.status_code == 200
    assert REGISTRY.get_sample_value("oficina_saga_retried_total", {"service": "execution"}) == before + 1
    body = retried.json()
    assert body["status"] == "COMPENSATING" and body["unconfirmed"] == []
    assert [c["type"] for c in body["awaiting"]] == ["billing.CancelBudget"]
    sent = {e.type: e for e in publisher.published[-2:]}
    assert set(sent) == {"billing.CancelBudget", "os.ChangeStatus"}
    assert sent["os.ChangeStatus"].payload["reason"] == "Retried by admin"

    again = admin.post(url)
    assert again.status_code == 409 and "COMPENSATING" in again.json()["message"]
    assert REGISTRY.get_sample_value("oficina_saga_retried_total", {"service": "execution"}) == before + 1
    assert admin.post(f"/api/v1/executions/{new_id()}/retry/").status_code == 404


@pytest.mark.parametrize("body", ['{"items": [', '[]', '{"items": []}', '{"items": [{"kind": "tire"}]}',
                                  '{"items": [{"kind": "part", "catalog_id": "7", "quantity": "two", '
                                  '"unit_price_cents": 1}]}'])
def test_malformed_reports_are_refused_with_a_message(moto_deps, joao, body):
    response = joao.post(f"/api/v1/work-queue/{new_id()}/additional-repairs/", body,
                         content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_starting_someone_elses_or_an_unknown_job(empty_queue, joao, ana):
    event = paid_saga(empty_queue)
    queue_id = queue_id_for(event.saga_id)
    assert joao.post(f"/api/v1/work-queue/{queue_id}/start/").status_code == 403  # nobody's yet
    joao.post("/api/v1/work-queue/claim/")
    assert ana.post(f"/api/v1/work-queue/{queue_id}/start/").status_code == 403
    assert joao.post(f"/api/v1/work-queue/{new_id()}/start/").status_code == 404
    assert joao.post("/api/v1/work-queue/claim/").status_code == 204


# --- operations ------------------------------------------------------------------------------
def test_health_readiness_and_the_schema(moto_deps, settings):
    client = APIClient()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"dynamodb": "ok", "broker": "ok"}
    assert client.get("/api/schema/").status_code == 200

    settings.DYNAMODB_TABLE_PREFIX = "missing_"
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["dynamodb"].startswith("unavailable")


@pytest.mark.parametrize(("action", "field"), [("complete", "notes"), ("fail", "reason"),
                                               ("additional-repairs", "notes")])
def test_a_mechanics_text_past_its_bytes_is_refused_naming_it_and_the_job_goes_on(empty_queue, joao, action,
                                                                                  field):
    # Issue 18: 1,500 emoji fit the 2,000 characters but not the bytes a job, its saga and the
    # message between them keep (4 bytes each in UTF-8).
    queue_id = queue_id_for(paid_saga(empty_queue).saga_id)
    joao.post("/api/v1/work-queue/claim/")
    body = {"items": [ITEM]} if action == "additional-repairs" else {}
    refused = joao.post(f"/api/v1/work-queue/{queue_id}/{action}/", {**body, field: "🔧" * 1500}, format="json")
    assert refused.status_code == 400
    assert refused.json()["message"].startswith(f"{field}:") and "bytes" in refused.json()["message"]
    assert joao.get(f"/api/v1/work-queue/{queue_id}/").json()["status"] == "ASSIGNED"
    accepted = joao.post(f"/api/v1/work-queue/{queue_id}/{action}/", {**body, field: "Junta do cárter ç 🔧" * 50},
                         format="json")
    assert accepted.status_code in (200, 202), accepted.content
