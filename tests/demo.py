"""`./manage_all.sh demo`: one car from the front desk to delivery, over HTTP, against a running system.

Every step is what a person would do: the attendant opens the order, the mechanic diagnoses,
the customer approves the budget and pays by Pix (through the Mercado Pago sandbox), the
mechanic takes the job from the queue and finishes it, the attendant hands the car back.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oficina_client import OficinaClient, SystemError_, mercosul_plate, valid_cpf, wait_for  # noqa: E402


def step(text: str) -> None:
    print(f"\n\033[1m• {text}\033[0m", flush=True)


def show(label: str, value: object) -> None:
    print(f"    {label:<22} {value}", flush=True)


def run(client: OficinaClient, username: str, password: str, timeout: float) -> dict:
    started = time.monotonic()
    step(f"Staff login at {client.urls.os} as {username}")
    client.login(username, password)

    step("Front desk: customer, vehicle and the catalog")
    seed = int(time.time())
    customer = client.create_customer("Maria da Silva", valid_cpf(seed), f"maria.{seed}@example.com")
    vehicle = client.create_vehicle(customer["id"], mercosul_plate(seed), "Volkswagen", "Gol", 2018)
    oil = client.create_service("Troca de óleo", "120.00", 40)
    filter_part = client.create_part("Filtro de óleo", "35.50", stock=10)
    show("customer", f"{customer['name']} (id {customer['id']})")
    show("vehicle", f"{vehicle['plate']} {vehicle['brand']} {vehicle['model']}")
    show("part stock", f"{filter_part['name']}: {filter_part['quantity_in_stock']} in stock")

    step("Attendant opens the service order")
    order = client.open_order(customer["id"], vehicle["id"], "Barulho no motor e luz do óleo acesa", priority=4)
    order_id = order["id"]
    show("order", f"{order['number']} status {order['status']}")
    show("tracking", f"{client.urls.os}/track/{order['tracking_code']}/")

    def on_change(status: str) -> None:
        show("OS status", status)

    step("Mechanic diagnoses")
    client.start_diagnosis(order_id)
    client.submit_diagnosis(order_id, [
        {"kind": "service", "catalog_id": oil["id"], "quantity": 1},
        {"kind": "part", "catalog_id": filter_part["id"], "quantity": 1},
    ], notes="Óleo vencido, filtro saturado")
    client.wait_for_status(order_id, "AWAITING_APPROVAL", timeout, on_change)

    step("Customer approves the budget (with the customer token from document + tracking code)")
    customer_token = client.customer_token(customer["document"], order["tracking_code"])
    budget = wait_for(lambda: (client.budgets(order_id, token=customer_token) or [None])[0], timeout=timeout,
                      what="the budget")
    show("budget", f"{budget['budget_id']} v{budget['version']} {budget['status']} "
                   f"R$ {budget['total_cents'] / 100:.2f}")
    client.approve_budget(budget["budget_id"], budget["version"], token=customer_token)
    client.wait_for_status(order_id, "AWAITING_PAYMENT", timeout, on_change)

    step("Customer pays by Pix (the sandbox plays the bank)")
    payment = wait_for(lambda: next((p for p in client.payments(order_id) if p.get("mercadopago_payment_id")), None),
                       timeout=timeout, what="the payment request")
    show("payment", f"{payment['payment_id']} {payment['status']} R$ {payment['amount_cents'] / 100:.2f}")
    show("Pix copy-paste", (payment.get("qr_code") or "")[:60] + "…")
    client.sandbox_set_status(payment["mercadopago_payment_id"], "approve")
    client.wait_for_status(order_id, "IN_EXECUTION", timeout, on_change)

    step("Mechanic takes the job from the queue and finishes it")
    job = client.claim_job_of(order_id, timeout)
    show("job", f"{job['queue_id']} priority {job['priority']} {job['status']}")
    client.complete_job(job["queue_id"], "Óleo e filtro trocados")
    client.wait_for_status(order_id, "FINISHED", timeout, on_change)

    step("Attendant hands the car back")
    client.deliver(order_id)
    final = client.wait_for_status(order_id, "DELIVERED", timeout, on_change)

    step("Where everything ended")
    execution = client.executions(order_id)[0]
    show("saga", f"{execution['execution_id']} {execution['status']}")
    for saga_step in client.execution(execution["execution_id"]).get("steps", []):
        show(f"  step {saga_step['step_number']}", f"{saga_step['name']}: {saga_step['status']}")
    show("part stock", f"{client.part(filter_part['id'])['quantity_in_stock']} in stock (was 10)")
    show("history", " → ".join(h["to"] for h in final["status_history"]))
    show("took", f"{time.monotonic() - started:.1f} s")
    return final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
    parser.add_argument("--password", default=os.environ.get("ADMIN_PASSWORD", "admin"))
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each saga leg")
    args = parser.parse_args()
    try:
        final = run(OficinaClient(), args.username, args.password, args.timeout)
    except SystemError_ as exc:
        print(f"\n\033[1;31mThe demo stopped:\033[0m {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"\n\033[1;31mIs the system up?\033[0m ./manage_all.sh up ({exc})", file=sys.stderr)
        return 1
    print(f"\n\033[1;32mOrder {final['number']} delivered.\033[0m")
    return 0


if __name__ == "__main__":
    sys.exit(main())
