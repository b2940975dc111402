"""Reads for the API: who may see which saga and which job."""
from __future__ import annotations

from typing import Any

from oficina_common.auth import ADMIN, CUSTOMER, customer_id_of, role_of
from oficina_common.dynamodb import Page
from oficina_common.errors import NotFound, ValidationFailed

from .domain import Job, JobStatus, Mechanic, SagaInstance
from .wiring import Dependencies


def mechanic_of(user: Any) -> Mechanic:
    token = getattr(user, "token", {}) or {}
    return Mechanic(user_id=str(getattr(user, "id", "") or ""), name=str(token.get("username") or ""),
                    is_admin=role_of(user) == ADMIN)


def _visible_to(saga: SagaInstance, user: Any) -> bool:
    if role_of(user) != CUSTOMER:
        return True
    return customer_id_of(user) is not None and customer_id_of(user) == saga.order.customer_id


def execution_get(*, execution_id: str, user: Any, deps: Dependencies) -> SagaInstance:
    stored = deps.executions.get(execution_id)
    # Someone else's saga is "not found" for a customer: never the data, nor that it exists.
    if stored is None or not _visible_to(stored.saga, user):
        raise NotFound(f"Execution {execution_id} not found.", code="execution_not_found")
    return stored.saga


def execution_list(*, user: Any, service_order_id: str | None, status: str | None, limit: int,
                   page_token: str | None, deps: Dependencies) -> Page[SagaInstance]:
    if service_order_id:
        page = deps.executions.list_by_service_order(service_order_id, limit=limit, page_token=page_token)
    elif status and role_of(user) != CUSTOMER:
        page = deps.executions.list_by_status(status, limit=limit, page_token=page_token)
    else:
        raise ValidationFailed("Filter by service_order_id (or, for staff, by status).", code="filter_required")
    page.items = [saga for saga in page.items if _visible_to(saga, user)]
    return page


def _job_visible_to(job: Job, mechanic: Mechanic) -> bool:
    return mechanic.is_admin or job.status == JobStatus.QUEUED or job.assigned_to == mechanic.user_id


def job_get(*, queue_id: str, mechanic: Mechanic, deps: Dependencies) -> Job:
    stored = deps.jobs.get(queue_id)
    if stored is None or not _job_visible_to(stored.job, mechanic):
        raise NotFound(f"Job {queue_id} not found.", code="job_not_found")
    return stored.job


def work_queue_list(*, mechanic: Mechanic, status: str, service_order_id: str | None, limit: int,
                    page_token: str | None, deps: Dependencies) -> Page[Job]:
    """A status's jobs, most urgent and oldest first. A mechanic sees the queue and their own jobs."""
    if service_order_id:
        page = deps.jobs.list_by_service_order(service_order_id, limit=limit, page_token=page_token)
        page.items = [job for job in page.items if _job_visible_to(job, mechanic)]
        return page
    only_mine = None if mechanic.is_admin or status == JobStatus.QUEUED else mechanic.user_id
    return deps.jobs.list_by_status(status, limit=limit, page_token=page_token, assigned_to=only_mine)
