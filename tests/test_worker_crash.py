"""Workers killed with SIGKILL in the middle of a step: the saga still finishes, nothing happens twice."""
from __future__ import annotations

import signal
import uuid
import zlib

import redis

from oficina_client import OficinaClient, mercosul_plate, valid_cpf, wait_for

WAIT = 60.0


def test_workers_killed_mid_step_finish_the_saga_without_a_second_charge(system, staff: OficinaClient):
    seed = zlib.crc32(uuid.uuid4().bytes)
    customer = staff.create_customer("João Pereira", valid_cpf(seed), f"joao.{seed}@example.com")
    vehicle = staff.create_vehicle(customer["id"], mercosul_plate(seed))
    service = staff.create_service("Revisão", "200.00")
    part = staff.create_part("Vela de ignição", "25.00", stock=8)
    order = staff.open_order(customer["id"], vehicle["id"], "Motor falhando")
    order_id = order["id"]
    staff.start_diagnosis(order_id)
    staff.submit_diagnosis(order_id, [{"kind": "service", "catalog_id": service["id"], "quantity": 1},
                                      {"kind": "part", "catalog_id": part["id"], "quantity": 4}])
    staff.wait_for_status(order_id, "AWAITING_APPROVAL", WAIT)
    budget = staff.budgets(order_id)[0]

    # Mercado Pago answers the payment request slowly: the billing worker is caught mid-call.
    staff.json("POST", f"{staff.urls.sandbox}/sandbox/faults", token="",
               json={"delay_seconds": 4, "times": 1, "path_prefix": "/v1/payments", "method": "POST"})
    staff.approve_budget(budget["budget_id"], budget["version"], reason="Aprovado por telefone")
    wait_for(lambda: staff.payments(order_id), timeout=WAIT, what="the payment record (before Mercado Pago answers)")
    system.restart_worker("billing", signal.SIGKILL)
    system.restart_worker("os", signal.SIGKILL)

    payment = wait_for(lambda: next((p for p in staff.payments(order_id) if p.get("mercadopago_payment_id")), None),
                       timeout=WAIT, what="the payment request to finish after the restart")
    staff.wait_for_status(order_id, "AWAITING_PAYMENT", WAIT)

    # The customer pays; the execution worker dies as the notification comes in.
    staff.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    system.restart_worker("execution", signal.SIGKILL)
    staff.wait_for_status(order_id, "IN_EXECUTION", WAIT)

    job = staff.claim_job_of(order_id, WAIT)
    staff.complete_job(job["queue_id"], "Velas trocadas")
    staff.wait_for_status(order_id, "FINISHED", WAIT)

    # Everything the killed workers held is redelivered (after the visibility timeout) and handled.
    broker = redis.Redis.from_url(system.env["CELERY_BROKER_URL"])
    wait_for(lambda: broker.hlen("unacked") == 0, timeout=WAIT, what="the killed workers' messages to be redelivered")

    charges = [p for p in staff.json("GET", f"{staff.urls.sandbox}/sandbox/payments", token="")["results"]
               if p.get("external_reference") == payment["payment_id"]]
    assert len(charges) == 1, f"one charge at Mercado Pago, not {len(charges)}"
    assert len(staff.payments(order_id)) == 1
    stock = wait_for(lambda: (p := staff.part(part["id"]))["quantity_reserved"] == 0 and p, timeout=WAIT,
                     what="the parts to be consumed")
    assert stock["quantity_in_stock"] == 8 - 4, "the parts left the stock once"
    saga = staff.execution(staff.executions(order_id)[0]["execution_id"])
    assert saga["status"] == "COMPLETED"
