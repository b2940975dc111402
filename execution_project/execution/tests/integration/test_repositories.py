"""The repositories against real DynamoDB endpoints (moto's server and dynalite, over HTTP)."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from execution import saga as saga_flow
from execution.domain import Job, Mechanic, iso
from execution.repositories import HANDLED_KEPT
from execution.tables import EXECUTIONS, TABLES, WORK_QUEUE
from oficina_common.dynamodb import DynamoSettings, resource, to_dynamo
from oficina_common.errors import AlreadyExists, ConcurrencyConflict, InvalidTransition
from oficina_common.messages import Envelope

from ..factories import budget_created, diagnosis_completed, new_id
from ..saga_support import CONFIG

NOW = datetime.now(UTC)


def started(deps, **kwargs):
    decision = saga_flow.start(diagnosis_completed(**kwargs), now=NOW, config=CONFIG)
    return deps.executions.add(decision.saga, decision.commands), decision


def test_a_saga_is_created_once_and_read_back_whole(deps):
    stored, decision = started(deps)
    saga_id = decision.saga.execution_id
    again = deps.executions.get(saga_id)
    assert again.saga == decision.saga
    assert again.saga.version == 1
    assert list(again.outbox) == [decision.commands[0].message_id]
    assert deps.executions.get(new_id()) is None
    # A redelivered DiagnosisCompleted carries the same occurred_at: the same key, refused.
    redelivered = saga_flow.start(diagnosis_completed(saga_id=saga_id), now=NOW, config=CONFIG).saga
    redelivered.started_at = decision.saga.started_at
    with pytest.raises(AlreadyExists):
        deps.executions.add(redelivered, [])


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


def test_a_saga_remembers_the_last_messages_it_applied(deps):
    stored, _ = started(deps)
    assert stored.handled == []
    for n in range(HANDLED_KEPT + 2):
        stored = deps.executions.save(stored, stored.saga, [], message_id=f"m-{n}")
    stored = deps.executions.save(stored, stored.saga, [])  # a change no message caused (the sweeper)
    item = deps.executions.get(stored.saga.execution_id)
    assert item.handled == [f"m-{n}" for n in range(2, HANDLED_KEPT + 2)]
    assert item.has_applied(f"m-{HANDLED_KEPT + 1}") and not item.has_applied("m-0") and not item.has_applied(None)


def test_sagas_are_found_by_order_by_status_and_when_due(deps):
    stored, decision = started(deps)
    saga = decision.saga
    page = deps.executions.list_by_service_order(saga.service_order_id)
    assert [s.execution_id for s in page.items] == [saga.execution_id]
    assert saga.execution_id in [s.execution_id for s in deps.executions.list_by_status("PENDING", limit=200).items]
    assert saga.execution_id not in deps.executions.due("PENDING", iso(NOW)).items
    assert saga.execution_id in deps.executions.due("PENDING", iso(NOW + timedelta(minutes=2)), limit=1000).items


def test_the_due_sagas_are_walked_a_page_at_a_time_going_on_where_the_last_page_stopped(deps):
    status = f"WALK-{new_id()}"  # a status of this test's own, so other tests' sagas stay out
    ids = []
    for minutes in (1, 2, 3):
        stored, decision = started(deps)
        decision.saga.status = status
        decision.saga.deadline = iso(NOW + timedelta(minutes=minutes))
        deps.executions.save(stored, decision.saga, [])
        ids.append(decision.saga.execution_id)
    later = iso(NOW + timedelta(minutes=10))
    first = deps.executions.due(status, later, limit=2)
    assert first.items == ids[:2] and first.next_token
    second = deps.executions.due(status, later, limit=2, page_token=first.next_token)
    assert second.items == ids[2:] and second.next_token is None


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


def make_job(priority: int, created_at: str, **extra) -> Job:
    return Job(queue_id=new_id(), priority=priority, execution_id=new_id(), service_order_id=new_id(),
               order_number="OS-1", vehicle={"plate": "ABC1D23"}, items=[], notes="", created_at=created_at,
               updated_at=created_at, **extra)


def test_jobs_are_listed_and_claimed_by_priority_then_age(empty_queue):
    deps = empty_queue
    old_normal = make_job(3, "2026-03-01T08:00:00Z")
    urgent = make_job(5, "2026-03-01T10:00:00Z")
    new_normal = make_job(3, "2026-03-01T09:00:00Z")
    low = make_job(1, "2026-03-01T07:00:00Z")
    for job in (old_normal, urgent, new_normal, low):
        assert deps.jobs.add(job)
    assert not deps.jobs.add(urgent)

    listed = deps.jobs.list_by_status("QUEUED", limit=3)
    assert [j.queue_id for j in listed.items] == [urgent.queue_id, old_normal.queue_id, new_normal.queue_id]
    rest = deps.jobs.list_by_status("QUEUED", limit=3, page_token=listed.next_token)
    assert [j.queue_id for j in rest.items] == [low.queue_id]

    joao = Mechanic("7", "joao")
    claimed = [deps.jobs.claim(joao, NOW) for _ in range(5)]
    assert [j.queue_id if j else None for j in claimed] == [urgent.queue_id, old_normal.queue_id,
                                                            new_normal.queue_id, low.queue_id, None]
    assert claimed[0].status == "ASSIGNED" and claimed[0].assigned_to == "7"
    mine = deps.jobs.list_by_status("ASSIGNED", limit=10, assigned_to="7")
    assert len(mine.items) == 4
    assert deps.jobs.list_by_status("ASSIGNED", limit=10, assigned_to="8").items == []
    assert [j.queue_id for j in deps.jobs.list_by_service_order(urgent.service_order_id).items] == [urgent.queue_id]


def test_a_job_moves_only_from_the_status_it_was_read_in(empty_queue, publisher):
    deps = empty_queue
    job = make_job(3, iso(NOW))
    deps.jobs.add(job)
    deps.jobs.claim(Mechanic("7", "joao"), NOW)
    stored = deps.jobs.get(job.queue_id)
    event = Envelope(type="execution.WorkCompleted", saga_id=job.execution_id, service_order_id=job.service_order_id,
                     payload={"queue_id": job.queue_id, "notes": "ok"})
    done = deps.jobs.transition(stored, {"status": "COMPLETED", "result_notes": "ok"}, expected_status="ASSIGNED",
                                messages=[event])
    assert done.job.status == "COMPLETED" and done.job.version == 3
    with pytest.raises(ConcurrencyConflict):
        deps.jobs.transition(stored, {"status": "FAILED"}, expected_status="ASSIGNED")
    assert deps.jobs.deliver(done, publisher) == 1
    assert publisher.published[0].payload == {"queue_id": job.queue_id, "notes": "ok"}
    assert deps.jobs.get(job.queue_id).outbox == {}
    assert not deps.jobs.withdraw(job.queue_id, 3, "late", NOW)


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


def test_a_withdrawn_job_leaves_the_queue_and_expired_jobs_are_invisible(empty_queue):
    deps = empty_queue
    job = make_job(2, iso(NOW))
    deps.jobs.add(job)
    assert deps.jobs.withdraw(job.queue_id, 2, "order cancelled", NOW)
    withdrawn = deps.jobs.get(job.queue_id).job
    assert withdrawn.status == "FAILED" and "order cancelled" in withdrawn.failure_reason
    assert deps.jobs.claim(Mechanic("7", "joao"), NOW) is None
    assert not deps.jobs.withdraw(new_id(), 2, "never queued", NOW)

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
