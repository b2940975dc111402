"""The repositories against real DynamoDB endpoints (moto's server and dynalite, over HTTP)."""
from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command

from execution import saga as saga_flow
from execution.domain import Mechanic, iso
from execution.tables import EXECUTIONS, TABLES, WORK_QUEUE
from oficina_common.dynamodb import DynamoSettings, resource, to_dynamo
from oficina_common.errors import ConcurrencyConflict, InvalidTransition
from oficina_common.messages import Envelope

from ..contract.test_repositories import NOW, make_job, started
from ..factories import budget_created, new_id
from ..saga_support import CONFIG


def test_the_instance_is_one_json_string_and_an_older_map_is_still_read(deps):
    stored, decision = started(deps)
    raw = deps.executions.table.get_item(Key=stored.key, ConsistentRead=True)["Item"]
    assert json.loads(raw["saga"]) == decision.saga.to_dict()
    # As items were written before: the instance as a map of DynamoDB values.
    deps.executions.table.put_item(Item={**raw, "saga": to_dynamo(json.loads(raw["saga"]))})
    older = deps.executions.get(decision.saga.execution_id)
    assert older.saga == decision.saga and list(older.outbox) == list(stored.outbox)
    # Saved again, it is a string from then on.
    deps.executions.save(older, older.saga, [])
    assert isinstance(deps.executions.table.get_item(Key=stored.key, ConsistentRead=True)["Item"]["saga"], str)


def test_a_save_is_conditional_on_the_version_it_read_and_carries_its_messages(deps, publisher):
    stored, _ = started(deps)
    deps.executions.deliver(stored, publisher)
    first = deps.executions.get(stored.saga.execution_id)
    second = deps.executions.get(stored.saga.execution_id)
    reply = Envelope(type="billing.BudgetCreated", saga_id=first.saga.execution_id,
                     service_order_id=first.saga.service_order_id, payload=budget_created())
    decision = saga_flow.handle(first.saga, reply, now=NOW, config=CONFIG)
    saved = deps.executions.save(first, decision.saga, decision.commands)
    assert saved.saga.version == 2

    late = saga_flow.handle(second.saga, reply, now=NOW, config=CONFIG)
    with pytest.raises(ConcurrencyConflict):
        deps.executions.save(second, late.saga, late.commands)

    item = deps.executions.get(stored.saga.execution_id)
    assert item.saga.current_step == 2 and item.saga.version == 2
    assert list(item.outbox) == [decision.commands[0].message_id]
    assert deps.executions.deliver(saved, publisher) == 1
    assert publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]
    # Published with a receipt, and no write: the entry leaves with the item's next write.
    assert unsent(deps.executions, stored.saga.execution_id) == []
    assert deps.executions.deliver(deps.executions.get(stored.saga.execution_id), publisher) == 0
    again = deps.executions.get(stored.saga.execution_id)
    deps.executions.save(again, again.saga, [])
    assert deps.executions.get(stored.saga.execution_id).outbox == {}


def unsent(repository, execution_id: str) -> list[str]:
    """The entries of a saga item's outbox with no receipt: not known to have been published."""
    held = list(repository.get(execution_id).outbox)
    return [m for m in held if m not in repository.receipts.published(held)]


def test_a_message_whose_worker_died_before_publishing_is_published_by_the_next_write_not_dropped(deps, publisher):
    stored, _ = started(deps)  # written, never delivered: the worker died
    reply = Envelope(type="billing.BudgetCreated", saga_id=stored.saga.execution_id,
                     service_order_id=stored.saga.service_order_id, payload=budget_created())
    decision = saga_flow.handle(stored.saga, reply, now=NOW, config=CONFIG)
    saved = deps.executions.save(deps.executions.get(stored.saga.execution_id), decision.saga, decision.commands)
    assert sorted(saved.outbox) == sorted([*stored.outbox, decision.commands[0].message_id])  # kept: no receipt
    assert deps.executions.deliver(saved, publisher) == 2
    assert publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]
    assert unsent(deps.executions, stored.saga.execution_id) == []


def test_the_step_history_of_a_finished_saga_is_written_in_one_batch_and_again_the_same(deps):
    stored, decision = started(deps)
    saga = decision.saga
    saga.status = "COMPENSATED"
    deps.steps.project_finished(saga)
    deps.steps.project_finished(saga)  # a redelivered last message: the same records
    records = {r["stepNumber"]: r for r in deps.steps.list_for(saga.execution_id)}
    assert sorted(records) == [1] and records[1]["status"] == "RUNNING"
    running = deps.steps.list_by_status("RUNNING", limit=200)
    assert [r["stepNumber"] for r in running.items if r["executionId"] == saga.execution_id] == [1]


def test_a_job_with_every_report_it_takes_at_their_largest_stays_writable(empty_queue):
    """DynamoDB refuses an item over 400 KB: the caps on reports keep the job well under it."""
    from execution import services

    deps = empty_queue
    job = make_job(3, iso(NOW))
    job.items = [{"kind": "part", "catalog_id": str(n), "description": "Peça ç" * 80, "quantity": 1,
                  "unit_price_cents": 100} for n in range(200)]  # the largest budget Billing makes
    deps.jobs.add(job)
    joao = Mechanic("7", "joao")
    deps.jobs.claim(joao, NOW)
    wordy = {"kind": "part", "catalog_id": "7", "description": "Correção " * 55, "quantity": 1,
             "unit_price_cents": 100}
    with pytest.raises(InvalidTransition, match="no more reports"):
        for _ in range(services.MAX_REPORTS_PER_JOB + 1):
            services.job_report_additional_repairs(queue_id=job.queue_id, mechanic=joao, items=[wordy] * 20,
                                                   notes="ç" * 900, deps=deps)
    stored = deps.jobs.get(job.queue_id)
    assert len(stored.job.additional_repairs) >= 5
    deps.jobs.transition(stored, {"status": "COMPLETED", "result_notes": "ok"}, expected_status="ASSIGNED")


def test_expired_jobs_are_invisible(empty_queue):
    """DynamoDB deletes expired items late (and the emulators never): they are gone on read all the same."""
    deps = empty_queue
    expired = make_job(4, iso(NOW))
    deps.jobs.add(expired)
    deps.jobs.table.update_item(Key={"queueId": expired.queue_id, "priority": 4},
                                UpdateExpression="SET expires_at = :t",
                                ExpressionAttributeValues={":t": int(time.time()) - 10})
    assert deps.jobs.get(expired.queue_id) is None
    assert deps.jobs.list_by_status("QUEUED").items == []
    assert deps.jobs.claim(Mechanic("7", "joao"), NOW) is None


def test_create_tables_is_idempotent(dynamo, settings):
    settings.DYNAMODB_ENDPOINT_URL = dynamo.endpoint_url
    settings.DYNAMODB_TABLE_PREFIX = f"c{new_id()[:6]}_"
    call_command("create_tables")
    call_command("create_tables")
    fresh = DynamoSettings(dynamo.endpoint_url, dynamo.region, settings.DYNAMODB_TABLE_PREFIX)
    client = resource(fresh).meta.client
    executions = client.describe_table(TableName=EXECUTIONS.physical_name(fresh.table_prefix))["Table"]
    assert {i["IndexName"] for i in executions["GlobalSecondaryIndexes"]} == {
        "ServiceOrderIndex", "StatusIndex", "OutboxIndex"}
    queue = client.describe_table(TableName=WORK_QUEUE.physical_name(fresh.table_prefix))["Table"]
    assert {i["IndexName"] for i in queue["GlobalSecondaryIndexes"]} == {
        "ServiceOrderIndex", "StatusPriorityIndex", "OutboxIndex"}
    for spec in TABLES:
        client.delete_table(TableName=spec.physical_name(fresh.table_prefix))


def test_a_command_sent_again_with_its_first_id_is_published_again(deps, publisher):
    """The saga re-sends an unanswered command with the same message id (a receiver that did act
    answers again): a receipt from the first send must not keep the second in the item."""
    stored, decision = started(deps)
    deps.executions.deliver(stored, publisher)
    again = deps.executions.get(stored.saga.execution_id)
    saved = deps.executions.save(again, again.saga, decision.commands)  # the same envelope, re-sent
    assert deps.executions.deliver(saved, publisher) == 1
    assert publisher.types() == ["billing.CreateBudget", "billing.CreateBudget"]
    assert unsent(deps.executions, stored.saga.execution_id) == []
