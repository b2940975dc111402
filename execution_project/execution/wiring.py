"""What the services work with, built from settings on first use (``oficina_common.wiring``, as in
Billing) and handed to them explicitly by the entry points (views, tasks). One set per process,
shared by its threads: boto3's low-level client underneath is thread-safe.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches

from oficina_common import dynamodb
from oficina_common.dynamodb import DynamoSettings
from oficina_common.messaging import CeleryPublisher, Publisher
from oficina_common.outbox import CacheReceipts
from oficina_common.wiring import Wiring

from .ports import Executions, ExecutionSteps, WorkQueue
from .repositories import (
    ExecutionRepository,
    ExecutionStepRepository,
    RecentJobs,
    RecentSagas,
    SagaHandovers,
    WorkQueueRepository,
)
from .saga import SagaConfig
from .tables import EXECUTION_STEPS, EXECUTIONS, WORK_QUEUE


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dependencies:
    executions: Executions
    steps: ExecutionSteps
    jobs: WorkQueue
    publisher: Publisher
    config: SagaConfig = field(default_factory=SagaConfig)
    clock: Callable[[], datetime] = _utc_now
    outbox_sweep_age: timedelta = timedelta(seconds=30)
    # Where each status's walk of due sagas goes on at the next sweep (kept by the worker thread;
    # a restart walks from the start). Sagas that stay due never hold back the ones behind them.
    sweep_cursors: dict[str, str | None] = field(default_factory=dict)
    # The sagas this process wrote last: a reply to one of them is decided without reading it.
    recent_sagas: RecentSagas = field(default_factory=RecentSagas)
    # The jobs this process claimed or moved last: the mechanic's next move on one reads nothing.
    recent_jobs: RecentJobs = field(default_factory=RecentJobs)
    # The web process that closes a job (or takes a report) tells the saga itself, right after the
    # job's write, instead of leaving the news to the execution worker (the broker carries it only
    # when that fails).
    job_news_in_process: bool = False
    # Where a saga's copy goes when its next message is for another process (the worker queueing
    # the job, the web process applying the mechanic's news): that message reads nothing.
    saga_handovers: SagaHandovers | None = None


def dynamo_settings() -> DynamoSettings:
    return DynamoSettings(endpoint_url=settings.DYNAMODB_ENDPOINT_URL or None, region=settings.AWS_REGION,
                          table_prefix=settings.DYNAMODB_TABLE_PREFIX)


def saga_config() -> SagaConfig:
    return SagaConfig(
        step_timeout=timedelta(seconds=settings.SAGA_STEP_TIMEOUT_SECONDS),
        max_attempts=settings.SAGA_MAX_ATTEMPTS,
        approval_timeout=timedelta(seconds=settings.SAGA_APPROVAL_TIMEOUT_SECONDS),
        approval_grace=timedelta(seconds=settings.SAGA_APPROVAL_GRACE_SECONDS),
        payment_timeout=timedelta(seconds=settings.SAGA_PAYMENT_TIMEOUT_SECONDS),
        payment_method=settings.PAYMENT_METHOD,
        job_check_interval=timedelta(seconds=settings.SAGA_JOB_CHECK_SECONDS),
        payment_check_interval=timedelta(seconds=settings.SAGA_PAYMENT_CHECK_SECONDS),
    )


def _build() -> Dependencies:
    from config.celery import app

    dynamo = dynamo_settings()

    def table(spec: Any) -> Any:
        return dynamodb.table(dynamo, spec)

    receipts = CacheReceipts(caches["default"]) if settings.OUTBOX_RECEIPTS else None
    return Dependencies(
        executions=ExecutionRepository(table(EXECUTIONS), receipts=receipts,
                                       retention=timedelta(days=settings.EXECUTION_RETENTION_DAYS)),
        steps=ExecutionStepRepository(table(EXECUTION_STEPS)),
        # With receipts a job's published messages leave the item at its next write (a closed job
        # keeps its last one until it expires); a report is bounded with what the outbox holds.
        jobs=WorkQueueRepository(table(WORK_QUEUE), receipts=receipts,
                                 retention=timedelta(days=settings.WORK_QUEUE_RETENTION_DAYS)),
        publisher=CeleryPublisher(app),
        config=saga_config(),
        outbox_sweep_age=timedelta(seconds=settings.OUTBOX_SWEEP_AGE_SECONDS),
        # Worth it while a saga's replies mostly come back to the process that wrote it (one worker);
        # with several, most copies are stale and the copies turn themselves off (RecentSagas).
        recent_sagas=RecentSagas(size=settings.EXECUTION_SAGA_COPIES),
        job_news_in_process=settings.EXECUTION_JOB_NEWS_IN_PROCESS,
        saga_handovers=SagaHandovers(caches["default"]) if settings.EXECUTION_SAGA_HANDOVERS else None,
    )


_wiring: Wiring[Dependencies] = Wiring(_build).rebuild_when_settings_change()
get_dependencies = _wiring.get
# Tests: replace parts (e.g. ``override(publisher=RecordingPublisher())``) until ``reset``.
override = _wiring.use
reset = _wiring.reset
