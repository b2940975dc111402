"""The use cases with fake repositories: what is written, published and queued (no I/O)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from execution import services, tasks
from execution.domain import Mechanic, queue_id_for
from oficina_common.errors import ConcurrencyConflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed

from ..factories import budget_created, diagnosis_completed, message, replies_until_paid
from ..fakes import T0

JOAO = Mechanic(user_id="7", name="joao")
ANA = Mechanic(user_id="8", name="ana")
ADMIN = Mechanic(user_id="1", name="admin", is_admin=True)


def reply(event, type: str, **payload):
    return message(event.saga_id, event.service_order_id, type, **payload).to_dict()


def run_to_execution(deps, event) -> None:
    services.message_handle(event.to_dict(), deps=deps)
    for answer in replies_until_paid(event):
        assert services.message_handle(answer.to_dict(), deps=deps) == "handled"


def test_a_diagnosis_creates_one_saga_and_publishes_the_budget_request(deps):
    event = diagnosis_completed()
    assert services.message_handle(event.to_dict(), deps=deps) == "handled"
    assert deps.publisher.types() == ["billing.CreateBudget"]
    assert deps.executions.outboxes[event.saga_id] == {}  # delivered, then removed from the outbox
    assert deps.steps.records == {}  # the step history is written once the saga has ended

    assert services.message_handle(event.to_dict(), deps=deps) == "duplicate"
    again = diagnosis_completed(saga_id=event.saga_id, service_order_id=event.service_order_id)
    assert services.message_handle(again.to_dict(), deps=deps) == "handled"
    assert deps.publisher.types() == ["billing.CreateBudget"]
    assert len(deps.executions.sagas) == 1


def test_the_os_asking_again_about_a_diagnosis_is_told_where_the_order_is(deps, clock):
    """The broker lost the saga's os.ChangeStatus AWAITING_APPROVAL: the OS, still showing the
    order IN_DIAGNOSIS, publishes the diagnosis again; the saga tells it the status again."""
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    clock.now += timedelta(seconds=30)
    assert services.message_handle(event.to_dict(), deps=deps) == "duplicate"
    assert deps.publisher.types() == ["billing.CreateBudget"]  # the order is where the OS shows it
    services.message_handle(reply(event, "billing.BudgetCreated", **budget_created()), deps=deps)
    assert services.message_handle(event.to_dict(), deps=deps) == "duplicate"
    assert deps.publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]  # its word is on its way
    clock.now += timedelta(seconds=30)
    assert services.message_handle(event.to_dict(), deps=deps) == "duplicate"
    assert deps.publisher.types() == ["billing.CreateBudget", "os.ChangeStatus", "os.ChangeStatus"]
    assert deps.publisher.published[-1].payload["to"] == "AWAITING_APPROVAL"
    assert deps.publisher.published[-1].payload["summary"]["budget"]["status"] == "PENDING_APPROVAL"


def test_a_paid_order_gets_its_job_queued_and_the_saga_waits_for_the_mechanic(deps):
    event = diagnosis_completed(priority=5)
    run_to_execution(deps, event)
    queue_id = queue_id_for(event.saga_id)
    job = deps.jobs.jobs[queue_id]
    assert (job.status, job.priority, job.service_order_id) == ("QUEUED", 5, event.service_order_id)
    saga = deps.executions.sagas[event.saga_id]
    assert (saga.current_step, saga.step(6).status, saga.step(7).status) == (7, "COMPLETED", "RUNNING")
    assert deps.publisher.types()[-1] == "os.ChangeStatus"
    assert deps.publisher.published[-1].payload["to"] == "IN_EXECUTION"
    assert (event.saga_id, 7) not in deps.steps.records  # written once the saga has ended


def test_a_reply_racing_another_is_re_read_and_applied_not_lost(deps):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    deps.executions.conflicts_to_raise = 3
    services.message_handle(reply(event, "billing.BudgetCreated", **budget_created()), deps=deps)
    assert deps.executions.sagas[event.saga_id].current_step == 2
    assert deps.publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]


def test_a_saga_that_keeps_changing_gives_the_reply_back_for_a_later_retry(deps):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    deps.executions.conflicts_to_raise = 100
    data = reply(event, "billing.BudgetCreated", **budget_created())
    with pytest.raises(ConcurrencyConflict):
        services.message_handle(data, deps=deps)
    assert data["message_id"] not in deps.executions.handled[event.saga_id]  # the redelivery will apply it
    deps.executions.conflicts_to_raise = 0
    assert services.message_handle(data, deps=deps) == "handled"
    assert deps.executions.sagas[event.saga_id].current_step == 2


def test_a_redelivered_reply_changes_nothing_and_finishes_what_a_crash_left(deps, clock):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    data = reply(event, "billing.BudgetCreated", **budget_created())
    deliver = deps.executions.deliver
    deps.executions.deliver = lambda *_, **__: (_ for _ in ()).throw(ConnectionError("the worker died here"))
    with pytest.raises(ConnectionError):
        services.message_handle(data, deps=deps)
    deps.executions.deliver = deliver
    saga = deps.executions.sagas[event.saga_id]
    assert saga.current_step == 2 and data["message_id"] in deps.executions.handled[event.saga_id]
    assert deps.publisher.types() == ["billing.CreateBudget"]  # applied and written, never published

    # At once, a copy leaves the publishing to the delivery it may be racing (not dead, maybe).
    assert services.message_handle(data, deps=deps) == "duplicate"
    assert deps.publisher.types() == ["billing.CreateBudget"]
    clock.now += services.FIRST_DELIVERY_GRACE
    assert services.message_handle(data, deps=deps) == "duplicate"
    assert deps.executions.sagas[event.saga_id].version == saga.version  # nothing changed twice
    assert deps.publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]  # what the crash left
    assert services.message_handle(data, deps=deps) == "duplicate"
    assert deps.publisher.types() == ["billing.CreateBudget", "os.ChangeStatus"]


def test_replies_no_retry_can_fix_are_dropped(deps):
    unknown = message("no-such-saga", "o", "billing.BudgetCreated", **budget_created())
    assert services.message_handle(unknown.to_dict(), deps=deps) == "handled"
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    broken = reply(event, "billing.BudgetCreated", budget_id="b-1")
    assert services.message_handle(broken, deps=deps) == "handled"
    assert deps.executions.sagas[event.saga_id].current_step == 1
    assert services.message_handle({"type": "nonsense"}, deps=deps) == "malformed"


def test_the_sweeper_re_sends_overdue_commands(deps, clock):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    clock.now = T0 + timedelta(minutes=2)
    report = services.saga_sweep(deps=deps)
    assert report.timed_out == 1
    assert deps.publisher.types() == ["billing.CreateBudget", "billing.CreateBudget"]
    assert deps.executions.sagas[event.saga_id].step(1).attempts == 2
    assert services.saga_sweep(deps=deps).timed_out == 0


def test_work_on_a_job_is_for_its_mechanic_and_moves_the_saga(deps):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    queue_id = queue_id_for(event.saga_id)
    with pytest.raises(InvalidTransition):
        services.job_complete(queue_id=queue_id, mechanic=ADMIN, notes="", deps=deps)  # nobody claimed it
    assert services.work_queue_claim(mechanic=JOAO, deps=deps).queue_id == queue_id
    assert services.work_queue_claim(mechanic=ANA, deps=deps) is None
    with pytest.raises(PermissionDenied):
        services.job_complete(queue_id=queue_id, mechanic=ANA, notes="", deps=deps)
    assert services.job_start(queue_id=queue_id, mechanic=JOAO, deps=deps).status == "IN_PROGRESS"
    assert services.job_start(queue_id=queue_id, mechanic=JOAO, deps=deps).status == "IN_PROGRESS"

    done = services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    assert (done.status, done.result_notes) == ("COMPLETED", "Trocado")
    completed = deps.publisher.published[-1]
    assert (completed.type, completed.saga_id, completed.payload) == (
        "execution.WorkCompleted", event.saga_id, {"queue_id": queue_id, "notes": "Trocado"})
    services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Trocado", deps=deps)
    assert deps.publisher.types().count("execution.WorkCompleted") == 1  # repeating changes nothing
    with pytest.raises(InvalidTransition):
        services.job_fail(queue_id=queue_id, mechanic=JOAO, reason="x", deps=deps)


def test_a_failed_job_and_additional_repairs_publish_their_events(deps):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    queue_id = queue_id_for(event.saga_id)
    services.work_queue_claim(mechanic=JOAO, deps=deps)
    item = {"kind": "part", "catalog_id": "7", "description": "Filtro", "quantity": 1, "unit_price_cents": 3550}
    with pytest.raises(ValidationFailed):
        services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[], notes="", deps=deps)
    job = services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[item], notes="extra",
                                                 deps=deps)
    assert job.additional_repairs[0]["items"] == [item]
    assert deps.publisher.published[-1].payload == {"queue_id": queue_id, "items": [item], "notes": "extra"}

    failed = services.job_fail(queue_id=queue_id, mechanic=ADMIN, reason="motor fundido", deps=deps)
    assert failed.failure_reason == "motor fundido"
    assert deps.publisher.published[-1].type == "execution.WorkFailed"
    assert services.job_fail(queue_id=queue_id, mechanic=ADMIN, reason="again", deps=deps).failure_reason == \
        "motor fundido"
    with pytest.raises(InvalidTransition):
        services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[item], notes="", deps=deps)
    with pytest.raises(NotFound):
        services.job_start(queue_id="nope", mechanic=JOAO, deps=deps)


def test_a_cancelled_order_takes_its_job_off_the_queue(deps):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    services.message_handle(reply(event, "os.OrderCancelled", reason="desistiu", cancelled_by="a"), deps=deps)
    job = deps.jobs.jobs[queue_id_for(event.saga_id)]
    assert job.status == "FAILED"
    assert "desistiu" in job.failure_reason
    assert deps.publisher.types()[-2:] == ["billing.RefundPayment", "os.ReleaseParts"]


def test_the_queue_lists_the_most_urgent_job_first_and_a_mechanic_sees_only_their_own_assigned(deps, clock):
    from execution import selectors

    urgent, routine = diagnosis_completed(priority=5), diagnosis_completed(priority=1)
    run_to_execution(deps, routine)
    run_to_execution(deps, urgent)
    ana, bia = Mechanic("7", "Ana"), Mechanic("8", "Bia")

    queued = selectors.work_queue_list(mechanic=ana, status="QUEUED", service_order_id=None, limit=1,
                                       page_token=None, deps=deps)
    assert [job.service_order_id for job in queued.items] == [urgent.service_order_id]
    following = selectors.work_queue_list(mechanic=ana, status="QUEUED", service_order_id=None, limit=1,
                                          page_token=queued.next_token, deps=deps)
    assert [job.service_order_id for job in following.items] == [routine.service_order_id]
    assert following.next_token is None

    services.work_queue_claim(mechanic=ana, deps=deps)
    assigned_to_bia = selectors.work_queue_list(mechanic=bia, status="ASSIGNED", service_order_id=None, limit=10,
                                                page_token=None, deps=deps)
    assert assigned_to_bia.items == []


def test_sagas_that_keep_failing_at_the_front_never_starve_the_ones_behind_them(deps, clock, monkeypatch):
    events = [diagnosis_completed() for _ in range(5)]
    for event in events:
        services.message_handle(event.to_dict(), deps=deps)
        clock.now += timedelta(seconds=1)
    broken = {e.saga_id for e in events[:4]}  # the oldest deadlines: first in the StatusIndex
    real_time_out = services.saga_flow.time_out

    def time_out(saga, **kwargs):
        if saga.execution_id in broken:
            raise RuntimeError("a saga item no code can read")
        return real_time_out(saga, **kwargs)

    monkeypatch.setattr(services.saga_flow, "time_out", time_out)
    clock.now = T0 + timedelta(minutes=5)
    reports = [services.saga_sweep(deps=deps, limit=2) for _ in range(3)]
    assert [r.failed for r in reports] == [2, 2, 0]
    assert reports[2].timed_out == 1  # the newest saga is reached on the third run
    assert deps.executions.sagas[events[4].saga_id].step(1).attempts == 2
    assert services.saga_sweep(deps=deps, limit=2).failed == 2  # and the walk starts over


def test_an_approval_that_overtakes_its_budget_is_retried_by_the_consumer_then_applied(deps):
    event = diagnosis_completed()
    services.message_handle(event.to_dict(), deps=deps)
    approval = reply(event, "billing.BudgetApproved", budget_id="b-1", version=1, total_cents=19100, decided_by="c")
    version = deps.executions.sagas[event.saga_id].version
    with pytest.raises(services.ReplyTooEarly):
        services.message_handle(approval, deps=deps)
    assert deps.executions.sagas[event.saga_id].version == version  # nothing written, nothing dropped
    assert tasks.is_transient(services.ReplyTooEarly("x"))  # the Celery task tries it again later
    services.message_handle(reply(event, "billing.BudgetCreated", **budget_created()), deps=deps)
    assert services.message_handle(approval, deps=deps) == "handled"
    assert deps.executions.sagas[event.saga_id].current_step == 3


def test_additional_repair_reports_are_bounded_in_bytes_and_in_number(deps):
    """A DynamoDB item holds 400 KB: the job (and the saga) must stay writable whatever is reported."""
    event = diagnosis_completed()
    run_to_execution(deps, event)
    queue_id = queue_id_for(event.saga_id)
    services.work_queue_claim(mechanic=JOAO, deps=deps)
    wordy = {"kind": "part", "catalog_id": "7", "description": "Correção " * 55, "quantity": 1,
             "unit_price_cents": 100}
    with pytest.raises(ValidationFailed, match="items: a report holds at most"):
        services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[wordy] * 50, notes="",
                                               deps=deps)
    for _ in range(services.MAX_REPORTS_PER_JOB):
        services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[wordy] * 20, notes="ç" * 900,
                                               deps=deps)
    with pytest.raises(InvalidTransition, match="no more reports"):
        services.job_report_additional_repairs(queue_id=queue_id, mechanic=JOAO, items=[wordy], notes="", deps=deps)


def test_a_job_closed_whose_news_the_broker_lost_is_told_to_its_saga_when_it_looks(deps, clock):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    queue_id = queue_id_for(event.saga_id)
    services.work_queue_claim(mechanic=JOAO, deps=deps)
    services.job_complete(queue_id=queue_id, mechanic=JOAO, notes="Óleo trocado", deps=deps)  # never delivered
    assert not deps.executions.sagas[event.saga_id].work_done

    clock.now = T0 + deps.config.job_check_interval + timedelta(minutes=1)
    services.saga_sweep(deps=deps)
    saga = deps.executions.sagas[event.saga_id]
    assert saga.work_done and saga.work_notes == "Óleo trocado"
    assert deps.publisher.types()[-1] == "os.ConsumeParts"
    services.message_handle(reply(event, "os.PartsConsumed", parts=[{"catalog_id": "7", "quantity": 2}]), deps=deps)
    assert deps.executions.sagas[event.saga_id].status == "COMPLETED"
    # The lost news turns up after all, and the sweeper comes by again: nothing happens twice.
    lost = next(e for e in deps.publisher.published if e.type == "execution.WorkCompleted")
    assert services.message_handle(lost.to_dict(), deps=deps) == "handled"
    clock.now += deps.config.job_check_interval * 2
    services.saga_sweep(deps=deps)
    assert deps.publisher.types().count("os.ConsumeParts") == 1
    assert deps.executions.sagas[event.saga_id].status == "COMPLETED"


def test_a_job_still_open_is_left_alone_when_the_saga_looks(deps, clock):
    event = diagnosis_completed()
    run_to_execution(deps, event)
    clock.now = T0 + deps.config.job_check_interval + timedelta(minutes=1)
    services.saga_sweep(deps=deps)
    saga = deps.executions.sagas[event.saga_id]
    assert not saga.work_done and saga.check_due_at > saga.updated_at  # it looks again later
