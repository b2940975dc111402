"""The saga through the services on real DynamoDB endpoints: inbox, optimistic locking, outbox, sweeper."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from execution import saga as saga_flow
from execution import services
from execution.domain import Mechanic, queue_id_for
from oficina_common.messages import Envelope

from ..factories import budget_created, diagnosis_completed, message, payment_approved, replies_until_paid

JOAO = Mechanic("7", "joao")


def feed(deps, event: Envelope, type: str, **payload) -> str:
    return services.message_handle(message(event.saga_id, event.service_order_id, type, **payload).to_dict(),
                                   deps=deps)


def to_payment(deps, event: Envelope) -> None:
    assert services.message_handle(event.to_dict(), deps=deps) == "handled"
    for answer in replies_until_paid(event)[:-1]:  # all but the approval
        services.message_handle(answer.to_dict(), deps=deps)


def test_an_order_goes_from_diagnosis_to_finished(empty_queue, publisher):
    deps = empty_queue
    event = diagnosis_completed()
    to_payment(deps, event)
    feed(deps, event, "billing.PaymentApproved", **payment_approved())
    queue_id = queue_id_for(event.saga_id)
    assert deps.jobs.get(queue_id).job.status == "QUEUED"
    assert deps.steps.list_for(event.saga_id) == []  # the step history is written when the saga ends

    assert services.work_queue_claim(mechanic=JOAO, deps=deps).queue_id == queue_id
    services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Óleo trocado", deps=deps)
    # The web process that closed the job told the saga (no WorkCompleted through the broker).
    assert publisher.published[-1].type == "os.ConsumeParts"
    assert deps.jobs.receipts.published(list(deps.jobs.get(queue_id).outbox)) == set(deps.jobs.get(queue_id).outbox)
    feed(deps, event, "os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}])

    ours = [e for e in publisher.published if e.saga_id == event.saga_id]
    assert [(e.type, e.payload.get("to")) for e in ours] == [
        ("billing.CreateBudget", None), ("os.ChangeStatus", "AWAITING_APPROVAL"), ("os.ReserveParts", None),
        ("billing.RequestPayment", None), ("os.ChangeStatus", "AWAITING_PAYMENT"), ("os.ChangeStatus", "IN_EXECUTION"),
        ("os.ConsumeParts", None), ("os.ChangeStatus", "FINISHED")]
    stored = deps.executions.get(event.saga_id)
    assert stored.saga.status == "COMPLETED"
    # What the last write published stays in the item, with its receipts (no write after publishing).
    assert deps.executions.receipts.published(list(stored.outbox)) == set(stored.outbox)
    records = deps.steps.list_for(event.saga_id)
    assert [r["status"] for r in sorted(records, key=lambda r: r["stepNumber"])] == ["COMPLETED"] * 7


def test_a_message_delivered_twice_is_handled_once(deps, publisher):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    data = message(event.saga_id, event.service_order_id, "billing.BudgetCreated", **budget_created()).to_dict()
    assert services.message_handle(data, deps=deps) == "handled"
    assert services.message_handle(data, deps=deps) == "duplicate"
    assert [e.type for e in publisher.published if e.saga_id == event.saga_id] == [
        "billing.CreateBudget", "os.ChangeStatus"]


# dynalite only: moto's server does not serialize concurrent conditional writes to one item.
@pytest.mark.parametrize("dynamo", ["dynalite"], indirect=True)
def test_replies_racing_on_one_saga_are_all_applied(deps, publisher):
    event = diagnosis_completed()
    to_payment(deps, event)
    feed(deps, event, "billing.PaymentFailed", payment_id="p-1", budget_id="b-1", mercadopago_payment_id="9001",
         status="rejected", reason="cc_rejected")
    assert deps.executions.get(event.saga_id).saga.status == "COMPENSATING"
    replies = [message(event.saga_id, event.service_order_id, "os.PartsReleased",
                       parts=[{"catalog_id": "7", "quantity": 2}]),
               message(event.saga_id, event.service_order_id, "billing.BudgetCancelled", budget_id="b-1", version=1)]
    barrier = threading.Barrier(len(replies))
    errors: list[BaseException] = []

    def deliver(reply: Envelope) -> None:
        from execution.wiring import get_dependencies

        barrier.wait()
        try:
            services.message_handle(reply.to_dict(), deps=get_dependencies())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in replies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    saga = deps.executions.get(event.saga_id).saga
    assert saga.status == "COMPENSATED"
    assert [s.status for s in saga.steps] == ["COMPENSATED", "COMPENSATED", "COMPENSATED", "COMPENSATED", "FAILED",
                                              "PENDING", "PENDING"]


# dynalite only: moto's server does not serialize concurrent conditional writes to one item.
@pytest.mark.parametrize("dynamo", ["dynalite"], indirect=True)
def test_two_copies_of_one_message_at_the_same_moment_are_applied_once(deps, publisher):
    """The saga item is the inbox: the copy that loses the conditional write re-reads and finds its id."""
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    data = message(event.saga_id, event.service_order_id, "billing.BudgetCreated", **budget_created()).to_dict()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def deliver() -> None:
        from execution.wiring import get_dependencies

        barrier.wait()
        outcomes.append(services.message_handle(data, deps=get_dependencies()))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "handled"]
    stored = deps.executions.get(event.saga_id)
    assert stored.saga.version == 2 and stored.handled == [event.message_id, data["message_id"]]
    assert [e.type for e in publisher.published if e.saga_id == event.saga_id].count("os.ChangeStatus") == 1


def test_the_sweeper_retries_overdue_sagas_and_delivers_stranded_messages(deps, publisher):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)

    # A worker that died between the write and the publish: the message stays in the item's outbox.
    stored = deps.executions.get(event.saga_id)
    reply = Envelope(type="billing.BudgetCreated", saga_id=event.saga_id, service_order_id=event.service_order_id,
                     payload=budget_created())
    decision = saga_flow.handle(stored.saga, reply, now=datetime.now(UTC), config=deps.config)
    deps.executions.save(stored, decision.saga, decision.commands)
    assert deps.executions.get(event.saga_id).outbox

    sweep_now = replace(deps, outbox_sweep_age=timedelta(0))
    report = services.saga_sweep(deps=sweep_now)
    assert report.outbox_delivered >= 1
    assert [e.type for e in publisher.published if e.saga_id == event.saga_id] == [
        "billing.CreateBudget", "os.ChangeStatus"]
    # Swept again: published already (its receipt), so nothing is published or written.
    before = deps.executions.table.get_item(Key=stored.key, ConsistentRead=True)["Item"]
    services.saga_sweep(deps=sweep_now)
    assert deps.executions.table.get_item(Key=stored.key, ConsistentRead=True)["Item"] == before
    assert [e.type for e in publisher.published if e.saga_id == event.saga_id] == [
        "billing.CreateBudget", "os.ChangeStatus"]

    # Eight days later the customer still has not decided: the approval expired.
    later = replace(deps, clock=lambda: datetime.now(UTC) + timedelta(days=8))
    assert services.saga_sweep(deps=later).timed_out >= 1
    assert any(e.type == "billing.CancelBudget" and e.saga_id == event.saga_id for e in publisher.published)
    assert deps.executions.get(event.saga_id).saga.status == "COMPENSATING"
