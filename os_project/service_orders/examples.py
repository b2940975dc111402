"""Request and response examples of the order endpoints, as Swagger UI shows them (one realistic order)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from core.openapi import NOT_AUTHENTICATED, WRONG_ROLE, error_example, invalid
from oficina_common.schema import request_example, response_example

ORDER_ID = "5d3c3e9c-47ce-47c9-98e6-750d1efc508f"
TRACKING_CODE = "TbUiKuzBpG75TiE-9ae-tyQM"

_HISTORY = [
    {"from": None, "to": "RECEIVED", "at": "2025-03-10T12:00:00Z", "by": "ana", "reason": "Order opened"},
    {"from": "RECEIVED", "to": "IN_DIAGNOSIS", "at": "2025-03-10T12:30:00Z", "by": "mario",
     "reason": "Diagnosis started"},
    {"from": "IN_DIAGNOSIS", "to": "AWAITING_APPROVAL", "at": "2025-03-10T13:10:00Z", "by": "saga",
     "reason": "Budget v1 of R$ 158,50 waits for the customer"},
]
_ITEMS = [
    {"kind": "service", "catalog_id": 1, "description": "Troca de óleo", "quantity": 1, "unit_price_cents": 12000,
     "unit_price": "120.00", "total_cents": 12000, "total": "120.00", "line_id": 1, "job": 1, "optional": False,
     "decision": None},
    {"kind": "part", "catalog_id": 3, "description": "Filtro de óleo", "quantity": 1, "unit_price_cents": 3850,
     "unit_price": "38.50", "total_cents": 3850, "total": "38.50", "line_id": 2, "job": 1, "optional": False,
     "decision": None},
]
DECLINED_WORK = {
    "id": 12, "service_order_id": ORDER_ID, "service_order_number": "OS-000042", "budget_id": "b3f1c2d4",
    "version": 1, "line_id": 3, "kind": "service", "catalog_id": 4, "description": "Alinhamento e balanceamento",
    "quantity": 1, "unit_price_cents": 9000, "total_cents": 9000, "job": 2, "optional": False,
    "declined_at": "2025-03-10T14:00:00Z", "reminded_at": None, "came_back_in": None,
}
_TOTALS = {"services_cents": 12000, "services": "120.00", "parts_cents": 3850, "parts": "38.50",
           "total_cents": 15850, "total": "158.50", "currency": "BRL"}
_EMPTY_TOTALS = {"services_cents": 0, "services": "0.00", "parts_cents": 0, "parts": "0.00", "total_cents": 0,
                 "total": "0.00", "currency": "BRL"}

ORDER = {
    "id": ORDER_ID, "number": "OS-000042", "status": "AWAITING_APPROVAL", "status_label": "Aguardando aprovação",
    "priority": 3, "customer": {"id": 1, "name": "Maria da Silva"},
    "vehicle": {"id": 1, "plate": "ABC1D23", "brand": "Chevrolet", "model": "Onix", "year": 2020},
    "complaint": "Barulho no motor ao frear", "tracking_code": TRACKING_CODE, "totals": _TOTALS,
    "created_at": "2025-03-10T12:00:00Z", "updated_at": "2025-03-10T13:10:00Z",
}
ORDER_DETAIL = {
    **ORDER,
    "diagnosis_notes": "Óleo vencido; filtro saturado.",
    "items": _ITEMS,
    "saga_id": "97946a16-4bc5-49ac-b0bb-bfbc61ccdc46",
    "budget": {"budget_id": "b3f1c2d4", "version": 1, "status": "PENDING_APPROVAL", "total_cents": 15850},
    "approved_total_cents": None,
    "declined_total_cents": 0,
    "declined_work": [],
    "payment": {},
    "execution": {"execution_id": "e7a9d0c1", "status": "IN_PROGRESS", "current_step": "await_approval"},
    "status_history": _HISTORY,
    "tracking_url": f"https://oficina.example.com/track/{TRACKING_CODE}/",
}
ORDER_RECEIVED = {
    **ORDER_DETAIL, "status": "RECEIVED", "status_label": "Recebida", "priority": 4, "totals": _EMPTY_TOTALS,
    "updated_at": "2025-03-10T12:00:00Z", "diagnosis_notes": "", "items": [], "saga_id": None, "budget": {},
    "execution": {}, "status_history": _HISTORY[:1],
}
ORDER_DIAGNOSED = {
    **ORDER_DETAIL, "status": "IN_DIAGNOSIS", "status_label": "Em diagnóstico", "updated_at": "2025-03-10T13:05:00Z",
    "budget": {}, "execution": {}, "status_history": _HISTORY[:2],
}
ORDER_CANCELLED = {
    **ORDER_DETAIL, "status": "CANCELLED", "status_label": "Cancelada", "updated_at": "2025-03-10T14:00:00Z",
    "status_history": [*_HISTORY, {"from": "AWAITING_APPROVAL", "to": "CANCELLED", "at": "2025-03-10T14:00:00Z",
                                   "by": "ana", "reason": "Cliente desistiu do serviço"}],
}

NOT_FOUND = error_example(404, "not_found", "Service order not found.")


def transition_refused(current: str, target: str, name: str = "") -> OpenApiExample:
    return error_example(409, "invalid_transition", f"A service order cannot go from {current} to {target}.",
                         extra={"from": current, "to": target}, name=name or f"409 {current} -> {target}")


LIST = [response_example("Active orders", ORDER, description="Most urgent status first, then the oldest."),
        NOT_AUTHENTICATED, WRONG_ROLE]
DETAIL = [response_example("Waiting for approval", ORDER_DETAIL, description="The budget saga has created the budget."),
          NOT_AUTHENTICATED, NOT_FOUND]
CREATE = [
    request_example("Complaint only", {"customer_id": 1, "vehicle_id": 1, "complaint": "Barulho no motor ao frear",
                                          "priority": 4}),
    request_example("With items", {
        "customer_id": 1, "vehicle_id": 1, "complaint": "Revisão dos 40.000 km", "priority": 3,
        "items": [{"kind": "service", "catalog_id": 1, "quantity": 1}]},
        description="The services or parts the customer asks for; the diagnosis may replace them."),
    response_example("Order opened", ORDER_RECEIVED, 201),
    error_example(400, "vehicle_not_of_customer", "Vehicle ABC1D23 does not belong to customer Maria da Silva.",
                  extra={"field": "vehicle_id"}),
    invalid("priority", "Ensure this value is less than or equal to 5."),
    NOT_AUTHENTICATED, WRONG_ROLE,
]
START_DIAGNOSIS = [response_example("Diagnosis started", {**ORDER_DIAGNOSED, "items": [], "totals": _EMPTY_TOTALS,
                                                   "saga_id": None, "diagnosis_notes": ""}),
                   transition_refused("AWAITING_APPROVAL", "IN_DIAGNOSIS"), NOT_AUTHENTICATED, WRONG_ROLE, NOT_FOUND]
DIAGNOSIS = [
    request_example("Diagnosed items", {
        "items": [{"kind": "service", "catalog_id": 1, "quantity": 1, "job": 1},
                  {"kind": "part", "catalog_id": 3, "quantity": 1, "job": 1}],
        "notes": "Óleo vencido; filtro saturado."},
        description="Lines of one job share its number (default 1): the customer approves or declines a job "
                    "as a whole, or a part alone when the catalogue lets that part be declined."),
    request_example("Keep the asked items", {"notes": "Confirmado o pedido do cliente."},
             description="Without items, the items the customer asked for go into the budget."),
    response_example("Diagnosis submitted", ORDER_DIAGNOSED,
              description="The budget saga starts; the status moves when Billing has the budget."),
    error_example(400, "unknown_catalog_item", "items[1]: there is no active part with id 99.",
                  extra={"field": "items[1].catalog_id"}),
    error_example(400, "empty_diagnosis", "A diagnosis needs at least one service or part to put in the budget.",
                  extra={"field": "items"}),
    error_example(409, "invalid_transition",
                  "A diagnosis can only be submitted while the order is IN_DIAGNOSIS; OS-000042 is RECEIVED.",
                  extra={"from": "RECEIVED", "to": "AWAITING_APPROVAL"}, name="409 not in diagnosis"),
    error_example(409, "diagnosis_already_submitted",
                  "The diagnosis of OS-000042 was already submitted; its budget is on the way."),
    NOT_AUTHENTICATED, WRONG_ROLE, NOT_FOUND,
]
DELIVER = [response_example("Vehicle handed over", {**ORDER_DETAIL, "status": "DELIVERED", "status_label": "Entregue"}),
           transition_refused("IN_EXECUTION", "DELIVERED"), NOT_AUTHENTICATED, WRONG_ROLE, NOT_FOUND]
CANCEL = [
    request_example("Reason", {"reason": "Cliente desistiu do serviço"}),
    response_example("Cancelled", ORDER_CANCELLED, description="os.OrderCancelled tells the saga to compensate."),
    invalid("reason", "This field is required."),
    transition_refused("FINISHED", "CANCELLED"),
    NOT_AUTHENTICATED, WRONG_ROLE, NOT_FOUND,
]

_TRACKED_HISTORY = [
    {"to": "RECEIVED", "label": "Recebida", "at": "2025-03-10T12:00:00Z"},
    {"to": "IN_DIAGNOSIS", "label": "Em diagnóstico", "at": "2025-03-10T12:30:00Z"},
    {"to": "AWAITING_APPROVAL", "label": "Aguardando aprovação", "at": "2025-03-10T13:10:00Z"},
    {"to": "AWAITING_PAYMENT", "label": "Aguardando pagamento", "at": "2025-03-10T15:20:00Z"},
]
PAYMENT_URL = "https://billing.oficina.example.com/budgets/b3f1c2d4/v1/payment/?t=eyJidWRnZXQiOiJiM2YxYzJkNCJ9.sig"
TRACKED_WAITING_FOR_PAYMENT = {
    "number": "OS-000042", "status": "AWAITING_PAYMENT", "status_label": "Aguardando pagamento",
    "customer_first_name": "Maria",
    "vehicle": {"brand": "Chevrolet", "model": "Onix", "year": 2020, "plate": "ABC••23"},
    "status_history": _TRACKED_HISTORY,
    "budget": {"budget_id": "b3f1c2d4", "version": 1, "status": "APPROVED", "total_cents": 15850},
    "payment": {"status": "REQUESTED", "amount_cents": 15850, "payment_url": PAYMENT_URL},
    "execution": {"execution_id": "e7a9d0c1", "status": "IN_PROGRESS", "current_step": "request_payment"},
    "next_action": {"code": "pay_link",
                    "text": "Pague pelo botão “Pagar agora”, abaixo."},
    "declined_work": [{"kind": "service", "description": "Alinhamento e balanceamento", "quantity": 1,
                       "total_cents": 9000}],
    "created_at": "2025-03-10T12:00:00Z", "updated_at": "2025-03-10T15:20:00Z",
}
TRACKED_ADDITIONAL_REPAIRS_PIX = {
    **TRACKED_WAITING_FOR_PAYMENT, "status": "IN_EXECUTION", "status_label": "Em execução",
    "status_history": [*_TRACKED_HISTORY, {"to": "IN_EXECUTION", "label": "Em execução",
                                           "at": "2025-03-10T15:32:00Z"}],
    "budget": {"budget_id": "b3f1c2d4", "version": 2, "status": "APPROVED", "total_cents": 4500},
    "payment": {"payment_id": "p81c0e2a", "status": "PENDING", "amount_cents": 4500,
                "qr_code": "00020126580014br.gov.bcb.pix0136a1b2c3d4-pix-key520400005303986540545.005802BR",
                "init_point": None,
                "payment_url": PAYMENT_URL.replace("/v1/", "/v2/")},
    "execution": {"execution_id": "e7a9d0c1", "status": "IN_PROGRESS", "current_step": "complete_work"},
    "next_action": {"code": "pay_pix", "text": "Pague o Pix: copie o código abaixo e cole no app do seu banco."},
    "updated_at": "2025-03-10T16:05:00Z",
}

TRACKING = [
    response_example("Waiting for the payment", TRACKED_WAITING_FOR_PAYMENT,
                     description="The saga asked Billing for the payment as it reserved the parts: payment_url is "
                                 "Billing's payment page (signed), which shows the Pix as soon as it exists."),
    response_example("Additional repairs' Pix", TRACKED_ADDITIONAL_REPAIRS_PIX,
                     description="During the work: the revised budget's payment arrives with its Pix code."),
    error_example(404, "not_found", "No service order has this tracking code."),
]

VEHICLE_DECLINED_WORK = [
    response_example("Declined work", DECLINED_WORK,
                     description="Newest first; came_back_in is the order opened when the customer asked for it."),
    NOT_AUTHENTICATED, WRONG_ROLE, error_example(404, "not_found", "There is no vehicle 99."),
]
