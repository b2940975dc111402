"""Request and response examples of Billing's endpoints, as Swagger UI shows them (one realistic order)."""
from __future__ import annotations

from oficina_common.schema import (
    error_example,
    field_error_example,
    request_example,
    response_example,
    throttled_example,
)

BUDGET_ID = "3e2227b6-c372-5686-bf2a-f779eb28d1b2"
SERVICE_ORDER_ID = "7bede83e-7816-4213-bb33-5d9b5bd3eeb7"
PAYMENT_ID = "8218154a-f27a-535c-81bc-d3d666ac9883"
MERCADOPAGO_ID = "1319754712"
APPROVAL_TOKEN = "hL4bYbxL099HknWxAHSzzzlu_Br9hC_AISc2DDQg8Dw"

# Job 1: the oil change and its filter; job 2: the wiper blades, which the customer may decline.
_ITEMS = [
    {"kind": "service", "catalog_id": "7", "description": "Troca de óleo", "quantity": 1,
     "unit_price_cents": 12000, "job": 1, "optional": False, "line_id": 1, "total_cents": 12000,
     "status": "PENDING"},
    {"kind": "part", "catalog_id": "12", "description": "Filtro de óleo", "quantity": 1,
     "unit_price_cents": 3850, "job": 1, "optional": False, "line_id": 2, "total_cents": 3850,
     "status": "PENDING"},
    {"kind": "part", "catalog_id": "40", "description": "Palheta do limpador", "quantity": 2,
     "unit_price_cents": 4500, "job": 2, "optional": True, "line_id": 3, "total_cents": 9000,
     "status": "PENDING"},
]
_EXTRA = {"kind": "part", "catalog_id": "31", "description": "Pastilha de freio", "quantity": 2,
          "unit_price_cents": 9000, "job": 3, "optional": False, "line_id": 4, "total_cents": 18000,
          "status": "PENDING"}


def _decided(items: list[dict], declined: tuple[int, ...] = ()) -> list[dict]:
    return [{**i, "status": "DECLINED" if i["line_id"] in declined else "APPROVED"} for i in items]


BUDGET = {
    "budget_id": BUDGET_ID, "version": 1, "service_order_id": SERVICE_ORDER_ID, "order_number": "OS-000042",
    "customer_id": "17", "status": "PENDING_APPROVAL", "items": _ITEMS, "total_cents": 24850,
    "approved_total_cents": 0, "declined_total_cents": 0, "additional_total_cents": 0, "currency": "BRL",
    "expires_at": "2025-03-13T13:10:00Z",
    "created_at": "2025-03-10T13:10:00Z", "updated_at": "2025-03-10T13:10:00Z", "decided_by": "",
    "decided_at": None, "decision_reason": "", "revision_reason": "",
}
BUDGET_APPROVED = {**BUDGET, "status": "APPROVED", "updated_at": "2025-03-10T13:25:41Z", "decided_by": "customer",
                   "decided_at": "2025-03-10T13:25:41Z", "items": _decided(_ITEMS), "approved_total_cents": 24850}
BUDGET_PARTLY_APPROVED = {**BUDGET_APPROVED, "items": _decided(_ITEMS, declined=(3,)), "approved_total_cents": 15850,
                          "declined_total_cents": 9000}
BUDGET_REJECTED = {**BUDGET, "status": "REJECTED", "updated_at": "2025-03-10T13:25:41Z", "decided_by": "customer",
                   "decided_at": "2025-03-10T13:25:41Z", "decision_reason": "Ficou acima do que eu esperava"}
BUDGET_SUPERSEDED = {**BUDGET_PARTLY_APPROVED, "status": "SUPERSEDED", "updated_at": "2025-03-11T09:40:12Z"}
BUDGET_REVISED = {
    **BUDGET, "version": 2, "items": [*_decided(_ITEMS, declined=(3,)), _EXTRA], "total_cents": 42850,
    "approved_total_cents": 15850, "declined_total_cents": 9000, "additional_total_cents": 18000,
    "expires_at": "2025-03-14T09:40:12Z", "created_at": "2025-03-11T09:40:12Z", "updated_at": "2025-03-11T09:40:12Z",
    "revision_reason": "Pastilhas de freio gastas",
}

PAYMENT_PIX = {
    "payment_id": PAYMENT_ID, "budget_id": BUDGET_ID, "budget_version": 1, "service_order_id": SERVICE_ORDER_ID,
    "amount_cents": 15850, "currency": "BRL", "method": "pix", "status": "PENDING",  # the approved lines
    "mercadopago_payment_id": MERCADOPAGO_ID,
    "qr_code": "00020126580014br.gov.bcb.pix0136a629532e-7693-4846-852d-1bbff817b5a8520400005303986"
               "5406158.505802BR5913OFICINA LTDA6009SAO PAULO62070503***6304E2CA",
    "qr_code_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
                      "RU5ErkJggg==",
    "ticket_url": f"https://www.mercadopago.com.br/payments/{MERCADOPAGO_ID}/ticket",
    "init_point": "", "failure_reason": "", "created_at": "2025-03-10T13:25:44Z",
    "updated_at": "2025-03-10T13:25:45Z",
}
PAYMENT_APPROVED = {**PAYMENT_PIX, "status": "APPROVED", "updated_at": "2025-03-10T13:31:02Z"}
PAYMENT_CHECKOUT = {
    **PAYMENT_PIX, "method": "checkout", "mercadopago_payment_id": None, "qr_code": "", "qr_code_base64": "",
    "ticket_url": "", "init_point": "https://www.mercadopago.com.br/checkout/v1/redirect?pref_id=123456789-abcd",
}


NOT_AUTHENTICATED = error_example(401, "not_authenticated", "As credenciais de autenticação não foram fornecidas.")
BUDGET_NOT_FOUND = error_example(404, "not_found", f"Budget {BUDGET_ID} does not exist.")
# DRF's own words, in Billing's language (pt-br), typo included.
THROTTLED = throttled_example(message="Pedido foi suprimido. Espera-se que esteja diponível em {wait} segundos.")

BUDGET_LIST = [
    response_example("The budgets of a service order", {"results": [BUDGET], "next_page_token": None}),
    response_example("Staff: waiting for approval, one page", {
        "results": [BUDGET], "next_page_token": "eyJidWRnZXRJZCI6ICIzZTIyMjdiNi1jMzcyIiwgInZlcnNpb24iOiAxfQ"},
        description="`GET /api/v1/budgets/?status=PENDING_APPROVAL&limit=1`; pass `next_page_token` back as "
                    "`page_token` for the next page."),
    error_example(400, "invalid", "service_order_id: required (staff may filter by status instead)."),
    NOT_AUTHENTICATED,
]
BUDGET_DETAIL = [
    response_example("Waiting for the customer", BUDGET),
    response_example("An additional repair (version 2)", BUDGET_REVISED),
    NOT_AUTHENTICATED, BUDGET_NOT_FOUND,
]
BUDGET_VERSIONS = [
    response_example("Version 1 approved, then revised", [BUDGET_SUPERSEDED, BUDGET_REVISED]),
    NOT_AUTHENTICATED, BUDGET_NOT_FOUND,
]
# Staff deciding for the customer (an attendant or an admin) say why; a mechanic may not decide.
MAY_NOT_DECIDE = error_example(403, "may_not_decide_budget",
                               "Only the customer, an attendant or an admin decides a budget.")
REASON_REQUIRED = error_example(
    400, "reason_required", 'reason: staff deciding for the customer record why (e.g. "approved by phone with '
    'Maria").', extra={"field": "reason"}, name="400 reason_required")
BUDGET_APPROVED_BY_STAFF = {**BUDGET_APPROVED, "decided_by": "attendant:ana.souza",
                            "decision_reason": "Aprovado por telefone com a Maria"}

BUDGET_APPROVE = [
    request_example("The customer (JWT)", {"version": 1}),
    request_example("The customer, line by line", {"version": 1, "lines": [1, 2]},
                    description="Lines 1 and 2 (the oil change and its filter) approved; line 3 DECLINED."),
    request_example("An attendant or admin, for the customer", {"version": 1,
                    "reason": "Aprovado por telefone com a Maria"}),
    request_example("With the e-mailed link token", {"version": 1, "token": APPROVAL_TOKEN},
                    description="What the review page does; nobody needs to be logged in."),
    response_example("Approved", BUDGET_APPROVED),
    response_example("Approved line by line", BUDGET_PARTLY_APPROVED),
    response_example("Approved by staff", BUDGET_APPROVED_BY_STAFF),
    field_error_example("version", "Um número inteiro válido é exigido."),
    error_example(400, "no_line_approved", "lines: approve at least one line; to decline everything, reject the "
                  "budget.", extra={"field": "lines"}, name="400 no line approved"),
    error_example(400, "job_split", "lines: job 1 is approved whole or declined whole (only its optional parts may "
                  "be left out): line 1 (Troca de óleo) is missing.", extra={"field": "lines", "job": 1, "line_id": 1},
                  name="400 job split"),
    error_example(400, "unknown_line", "lines: this version has no line 9 (its lines are 1 to 3).",
                  extra={"field": "lines", "line_id": 9}, name="400 unknown line"),
    REASON_REQUIRED,
    error_example(401, "not_authenticated", "Log in, or use the approval link sent by e-mail."),
    MAY_NOT_DECIDE,
    error_example(404, "invalid_approval_link", "This approval link is invalid or has expired."),
    error_example(409, "invalid_transition",
                  f"Budget {BUDGET_ID} version 1 is already REJECTED; it cannot be approved.",
                  extra={"from": "REJECTED", "to": "APPROVED"}, name="409 already rejected"),
    error_example(409, "stale_version", f"Version 1 of budget {BUDGET_ID} is stale: the budget is at version 2.",
                  extra={"version": 1, "latest_version": 2}, name="409 stale version"),
    error_example(409, "approved_otherwise", f"Budget {BUDGET_ID} version 1 was already approved with other lines "
                  "(declined: [3]).", extra={"declined_line_ids": [3]}, name="409 approved with other lines"),
    THROTTLED,
]
BUDGET_REJECT = [
    request_example("With a reason", {"version": 1, "reason": "Ficou acima do que eu esperava"}),
    request_example("With the e-mailed link token", {"version": 1, "reason": "Vou pensar", "token": APPROVAL_TOKEN}),
    response_example("Rejected", BUDGET_REJECTED),
    field_error_example("reason", "Certifique-se de que este campo não tenha mais de 500 caracteres."),
    REASON_REQUIRED,
    error_example(401, "not_authenticated", "Log in, or use the approval link sent by e-mail."),
    MAY_NOT_DECIDE,
    BUDGET_NOT_FOUND,
    error_example(409, "invalid_transition",
                  f"Budget {BUDGET_ID} version 1 is already APPROVED; it cannot be rejected.",
                  extra={"from": "APPROVED", "to": "REJECTED"}, name="409 already approved"),
    THROTTLED,
]
BUDGET_REVISION = [
    request_example("An additional repair", {
        "items": [{**{k: v for k, v in _EXTRA.items() if k not in ("total_cents", "line_id", "status")}, "job": 1}],
        "reason": "Pastilhas de freio gastas"},
        description="`job` numbers the revision's own jobs: Billing moves them past the budget's (job 1 becomes 3)."),
    response_example("Version 2 waits for the customer", BUDGET_REVISED, status=201),
    error_example(400, "invalid", "items: Esta lista pode não estar vazia.",
                  extra={"fields": {"items": {"non_field_errors": ["Esta lista pode não estar vazia."]}}}),
    NOT_AUTHENTICATED,
    error_example(403, "permission_denied", "Your role may not do this."),
    BUDGET_NOT_FOUND,
    error_example(409, "invalid_transition", f"Budget {BUDGET_ID} version 1 is REJECTED; it cannot be revised.",
                  extra={"from": "REJECTED"}, name="409 closed budget"),
]

PAYMENT_LIST = [
    response_example("The payments of a service order", {"results": [PAYMENT_PIX], "next_page_token": None}),
    field_error_example("service_order_id", "Este campo é obrigatório."),
    NOT_AUTHENTICATED,
]
PAYMENT_DETAIL = [
    response_example("Pix, waiting for the customer", PAYMENT_PIX),
    response_example("Pix, paid", PAYMENT_APPROVED),
    response_example("Mercado Pago checkout", PAYMENT_CHECKOUT,
                     description="`mercadopago_payment_id` stays null until the customer pays on the checkout page."),
    NOT_AUTHENTICATED,
    error_example(404, "not_found", f"Payment {PAYMENT_ID} does not exist."),
]
WEBHOOK = [
    request_example("A payment notification (Mercado Pago format)", {
        "action": "payment.updated", "api_version": "v1", "data": {"id": MERCADOPAGO_ID},
        "date_created": "2025-03-10T13:31:01Z", "id": 12345678901, "live_mode": False, "type": "payment",
        "user_id": "44444"},
        description="Sent to `…/webhooks/mercadopago/?data.id=1319754712&type=payment` with the headers "
                    "`x-signature: ts=1741613461,v1=<hex HMAC-SHA256>` and `x-request-id`."),
    response_example("Queued", {"status": "accepted"}),
    response_example("Another topic (ignored)", {"status": "ignored"}),
    error_example(400, "invalid", "data.id: a Mercado Pago payment id is required."),
    error_example(401, "invalid_signature", "Invalid Mercado Pago signature."),
    THROTTLED,
    error_example(503, "upstream_unavailable", "The notification could not be queued; try again."),
]
