"""Request and response examples of the Execution endpoints, as Swagger UI shows them (one realistic order)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

from oficina_common.schema import error_example, field_error_example, request_example, response_example

EXECUTION_ID = "73005ce5-066a-41db-a858-14fcb9c76d89"
SERVICE_ORDER_ID = "61e1310d-90e2-40d0-91c8-faa16357497b"
QUEUE_ID = "47095316-37a2-5bc6-85b2-cb303626778b"

_STEP_NAMES = ["create_budget", "await_approval", "reserve_parts", "request_payment", "await_payment",
               "enqueue_work", "complete_work"]
_STEP_TIMES = ["2025-03-10T13:10:00Z", "2025-03-10T13:10:02Z", "2025-03-10T13:25:41Z", "2025-03-10T13:25:43Z",
               "2025-03-10T13:25:45Z", "2025-03-10T13:31:03Z", "2025-03-10T13:31:04Z"]


def _steps(running: int) -> list[dict[str, Any]]:
    steps = []
    for number, (name, started) in enumerate(zip(_STEP_NAMES, _STEP_TIMES, strict=True), start=1):
        done = number < running
        steps.append({"step_number": number, "name": name,
                      "status": "COMPLETED" if done else "RUNNING" if number == running else "PENDING",
                      "attempts": 1 if number <= running else 0, "started_at": started if number <= running else None,
                      "finished_at": _STEP_TIMES[number] if done else None, "error": None})
    return steps


EXECUTION = {
    "execution_id": EXECUTION_ID, "service_order_id": SERVICE_ORDER_ID, "order_number": "OS-000042",
    "status": "IN_PROGRESS", "current_step": "complete_work", "current_step_number": 7, "os_status": "IN_EXECUTION",
    "error": None, "deadline": "9999-12-31T23:59:59Z", "started_at": "2025-03-10T13:10:00Z",
    "created_at": "2025-03-10T13:10:00Z", "updated_at": "2025-03-10T13:31:04Z", "finished_at": None,
}
EXECUTION_DETAIL = {
    **EXECUTION,
    "steps": _steps(7),
    "budget": {"budget_id": "3e2227b6-c372-5686-bf2a-f779eb28d1b2", "version": 1, "status": "APPROVED",
               "total_cents": 19100, "expires_at": "2025-03-13T13:10:00Z"},
    "payments": [{"payment_id": "8218154a-f27a-535c-81bc-d3d666ac9883", "purpose": "budget", "budget_version": 1,
                  "amount_cents": 19100, "status": "APPROVED", "qr_code": "00020126580014br.gov.bcb.pix…6304E2CA",
                  "init_point": None, "mercadopago_payment_id": "1319754712"}],
    "reserved_parts": [{"catalog_id": "7", "quantity": 2}],
    "revisions": [],
    "queue_id": QUEUE_ID,
    "awaiting": [], "unconfirmed": [],
}
EXECUTION_WAITING = {
    **EXECUTION, "current_step": "await_approval", "current_step_number": 2, "os_status": "AWAITING_APPROVAL",
    "deadline": "2025-03-13T13:10:00Z", "updated_at": "2025-03-10T13:10:02Z",
}
EXECUTION_COMPENSATED = {
    **EXECUTION, "status": "COMPENSATED", "current_step": "await_approval", "current_step_number": 2,
    "os_status": "CANCELLED", "error": "budget rejected: Ficou acima do que eu esperava",
    "deadline": "2025-03-10T13:26:10Z", "updated_at": "2025-03-10T13:26:10Z", "finished_at": "2025-03-10T13:26:10Z",
}

_ITEMS = [
    {"kind": "service", "catalog_id": "1", "description": "Troca de óleo", "quantity": 1, "unit_price_cents": 12000},
    {"kind": "part", "catalog_id": "7", "description": "Filtro de óleo", "quantity": 2, "unit_price_cents": 3550},
]
_EXTRA = {"kind": "part", "catalog_id": "31", "quantity": 2, "job": 2}  # priced by the OS catalogue

JOB = {
    "queue_id": QUEUE_ID, "execution_id": EXECUTION_ID, "service_order_id": SERVICE_ORDER_ID,
    "order_number": "OS-000042", "vehicle": {"plate": "ABC1D23", "model": "Fiat Argo"}, "priority": 4,
    "status": "QUEUED", "items": _ITEMS, "notes": "Óleo vencido", "assigned_to": None, "assigned_to_name": None,
    "assigned_at": None, "started_at": None, "finished_at": None, "result_notes": None, "failure_reason": None,
    "additional_repairs": [], "created_at": "2025-03-10T13:31:04Z", "updated_at": "2025-03-10T13:31:04Z",
}
JOB_ASSIGNED = {**JOB, "status": "ASSIGNED", "assigned_to": "7", "assigned_to_name": "joao",
                "assigned_at": "2025-03-10T14:02:11Z", "updated_at": "2025-03-10T14:02:11Z"}
JOB_IN_PROGRESS = {**JOB_ASSIGNED, "status": "IN_PROGRESS", "started_at": "2025-03-10T14:05:00Z",
                   "updated_at": "2025-03-10T14:05:00Z"}
JOB_WITH_REPAIR = {**JOB_IN_PROGRESS, "updated_at": "2025-03-10T14:20:37Z", "additional_repairs": [
    {"items": [_EXTRA], "notes": "Pastilhas de freio gastas", "reported_at": "2025-03-10T14:20:37Z",
     "reported_by": "joao"}]}
JOB_COMPLETED = {**JOB_IN_PROGRESS, "status": "COMPLETED", "finished_at": "2025-03-10T15:12:40Z",
                 "result_notes": "Óleo e filtro trocados", "updated_at": "2025-03-10T15:12:40Z"}
JOB_FAILED = {**JOB_IN_PROGRESS, "status": "FAILED", "finished_at": "2025-03-10T14:40:02Z",
              "failure_reason": "Bloco do motor trincado: o serviço não pode ser feito",
              "updated_at": "2025-03-10T14:40:02Z"}


NOT_AUTHENTICATED = error_example(401, "not_authenticated", "Authentication credentials were not provided.")
WRONG_ROLE = error_example(403, "permission_denied", "Your role may not do this.")
JOB_NOT_FOUND = error_example(404, "job_not_found", f"Job {QUEUE_ID} not found.")
NOT_YOUR_JOB = error_example(403, "not_your_job", "This job is not assigned to you.")


def _refused(current: str, target: str) -> OpenApiExample:
    return error_example(409, "invalid_transition", f"A job cannot go from {current} to {target}.",
                         extra={"from": current, "to": target}, name=f"409 {current} -> {target}")


EXECUTION_LIST = [
    response_example("The saga of a service order", {"results": [EXECUTION], "next_page_token": None, "next": None},
                     description="`GET /api/v1/executions/?service_order_id=…`"),
    field_error_example("status", '"BAD" is not a valid choice.'),
    NOT_AUTHENTICATED,
]
EXECUTION_DETAIL_EXAMPLES = [
    response_example("Paid, the mechanic at work", EXECUTION_DETAIL),
    response_example("Waiting for the customer", {**EXECUTION_WAITING, "steps": _steps(2),
                                           "budget": {**EXECUTION_DETAIL["budget"], "status": "PENDING_APPROVAL"},
                                           "payments": [], "reserved_parts": [], "revisions": [],
                                           "queue_id": None, "awaiting": [], "unconfirmed": []}),
    response_example("Rejected by the customer, compensated", {
        **EXECUTION_COMPENSATED,
        "steps": [{**s, "status": "COMPENSATED"} if s["step_number"] == 1 else
                  {**s, "status": "FAILED", "error": "budget rejected"} if s["step_number"] == 2 else s
                  for s in _steps(2)],
        "budget": {**EXECUTION_DETAIL["budget"], "status": "REJECTED"}, "payments": [], "reserved_parts": [],
        "revisions": [], "queue_id": None, "awaiting": [], "unconfirmed": []}),
    NOT_AUTHENTICATED,
    error_example(404, "execution_not_found", f"Execution {EXECUTION_ID} not found."),
]
WORK_QUEUE_LIST = [
    response_example("Waiting jobs, most urgent first", {"results": [JOB], "next_page_token": None, "next": None},
                     description="`GET /api/v1/work-queue/?status=QUEUED`"),
    field_error_example("status", '"DONE" is not a valid choice.'),
    NOT_AUTHENTICATED, WRONG_ROLE,
]
WORK_QUEUE_DETAIL = [response_example("A claimed job", JOB_ASSIGNED), NOT_AUTHENTICATED, JOB_NOT_FOUND]
WORK_QUEUE_CLAIM = [
    response_example("The next job, now yours", JOB_ASSIGNED),
    NOT_AUTHENTICATED, WRONG_ROLE,
]
WORK_QUEUE_START = [response_example("Started", JOB_IN_PROGRESS), NOT_AUTHENTICATED, NOT_YOUR_JOB, JOB_NOT_FOUND,
                    _refused("COMPLETED", "IN_PROGRESS")]
WORK_QUEUE_COMPLETE = [
    request_example("Done", {"notes": "Óleo e filtro trocados"}),
    response_example("Completed", JOB_COMPLETED),
    field_error_example("notes", "Ensure this field has no more than 2000 characters."),
    NOT_AUTHENTICATED, NOT_YOUR_JOB, JOB_NOT_FOUND, _refused("QUEUED", "COMPLETED"),
]
WORK_QUEUE_FAIL = [
    request_example("Cannot be done", {"reason": "Bloco do motor trincado: o serviço não pode ser feito"}),
    response_example("Failed (the saga refunds and cancels the order)", JOB_FAILED),
    field_error_example("reason", "This field is required."),
    NOT_AUTHENTICATED, NOT_YOUR_JOB, JOB_NOT_FOUND, _refused("COMPLETED", "FAILED"),
]
WORK_QUEUE_ADDITIONAL_REPAIRS = [
    request_example("Brake pads found worn", {"items": [_EXTRA], "notes": "Pastilhas de freio gastas"},
                    description="Billing e-mails the customer a revised budget for the difference; the work goes on."),
    response_example("Reported", JOB_WITH_REPAIR, status=202),
    error_example(400, "invalid", "items: This list may not be empty.",
                  extra={"fields": {"items": {"non_field_errors": ["This list may not be empty."]}}}),
    NOT_AUTHENTICATED, NOT_YOUR_JOB, JOB_NOT_FOUND,
    error_example(409, "invalid_transition",
                  "Additional repairs can only be reported on an ASSIGNED or IN_PROGRESS job; this one is COMPLETED.",
                  extra={"from": "COMPLETED"}, name="409 job already finished"),
]
