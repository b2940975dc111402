"""Given a saga, when a reply, expect commands: Eventuate's SagaUnitTestSupport in miniature."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from execution import saga
from execution.domain import SagaInstance, StepStatus
from execution.saga import Decision, SagaConfig
from oficina_common.messages import Envelope

from .factories import (
    BLIND_PAYLOAD_KEYS,
    DOCUMENTED_PAYLOAD_KEYS,
    budget_approved,
    budget_created,
    diagnosis_completed,
    payment_approved,
    payment_requested,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = SagaConfig(step_timeout=timedelta(seconds=60), max_attempts=3, approval_timeout=timedelta(hours=72),
                    approval_grace=timedelta(seconds=60), payment_timeout=timedelta(hours=24))


class SagaScenario:
    def __init__(self, config: SagaConfig = CONFIG, now: datetime = T0):
        self.config = config
        self.now = now
        self.saga: SagaInstance | None = None
        self.last: Decision | None = None
        self.sent: list[Envelope] = []

    # --- given / when ---------------------------------------------------------------------
    def start(self, event: Envelope | None = None, **kwargs: Any) -> SagaScenario:
        event = event or diagnosis_completed(**kwargs)
        return self._apply(saga.start(event, now=self.now, config=self.config))

    def receive(self, type: str, **payload: Any) -> SagaScenario:
        assert self.saga is not None
        envelope = Envelope(type=type, saga_id=self.saga.execution_id, service_order_id=self.saga.service_order_id,
                            payload=payload)
        return self._apply(saga.handle(self.saga, envelope, now=self.now, config=self.config))

    def reports(self, *items: dict[str, Any], notes: str = "") -> SagaScenario:
        """The mechanic reports catalog items, and the OS prices them as ``items`` say."""
        self.receive("execution.AdditionalRepairReported", queue_id=self.saga.queue_id,
                     items=[{k: item[k] for k in ("kind", "catalog_id", "quantity")} for item in items], notes=notes)
        return self.receive("os.ItemsPriced", items=list(items))

    def enqueued(self) -> SagaScenario:
        assert self.saga is not None and self.saga.queue_id
        return self._apply(saga.work_enqueued(self.saga, self.saga.queue_id, now=self.now, config=self.config))

    def later(self, **delta: float) -> SagaScenario:
        self.now += timedelta(**delta)
        return self

    def sweep(self) -> SagaScenario:
        assert self.saga is not None
        return self._apply(saga.time_out(self.saga, now=self.now, config=self.config))

    def retry(self, by: str = "admin") -> SagaScenario:
        assert self.saga is not None
        return self._apply(saga.retry_failed(self.saga, now=self.now, config=self.config, by=by))

    def _apply(self, decision: Decision) -> SagaScenario:
        for command in decision.commands:
            keys = set(command.payload)
            assert keys in (DOCUMENTED_PAYLOAD_KEYS[command.type], BLIND_PAYLOAD_KEYS.get(command.type)), command.type
            command.to_dict()  # the envelope schema holds
        self.last = decision
        if decision.changed:
            decision.saga.version += 1  # what the repository's conditional write does
        self.saga = decision.saga
        self.sent.extend(decision.commands)
        self.now += timedelta(seconds=1)
        return self

    # --- the happy path, up to a point ----------------------------------------------------
    def awaiting_approval(self, **kwargs: Any) -> SagaScenario:
        return self.start(**kwargs).receive("billing.BudgetCreated", **budget_created())

    def awaiting_payment(self) -> SagaScenario:
        return (self.awaiting_approval()
                .receive("billing.BudgetApproved", **budget_approved())
                .receive("os.PartsReserved", parts=[{"catalog_id": "7", "quantity": 2}])
                .receive("billing.PaymentRequested", **payment_requested()))

    def in_execution(self) -> SagaScenario:
        return self.awaiting_payment().receive("billing.PaymentApproved", **payment_approved()).enqueued()

    # --- expect ---------------------------------------------------------------------------
    @property
    def commands(self) -> list[Envelope]:
        assert self.last is not None
        return self.last.commands

    def expect(self, *types: str) -> SagaScenario:
        assert self.last is not None
        assert self.last.types() == list(types), self.last.types()
        return self

    def command(self, type: str) -> dict[str, Any]:
        matches = [c.payload for c in self.commands if c.type == type]
        assert len(matches) == 1, f"{type} in {[c.type for c in self.commands]}"
        return matches[0]

    def change_status(self) -> dict[str, Any]:
        return self.command("os.ChangeStatus")

    def expect_ignored(self) -> SagaScenario:
        assert self.last is not None
        assert not self.last.changed and not self.last.commands, self.last.types()
        return self

    def step_statuses(self) -> list[str]:
        assert self.saga is not None
        return [str(s.status) for s in self.saga.steps]

    def step(self, number: int) -> Any:
        assert self.saga is not None
        return self.saga.step(number)

    @property
    def status(self) -> str:
        assert self.saga is not None
        return str(self.saga.status)


COMPLETED = StepStatus.COMPLETED.value
COMPENSATED = StepStatus.COMPENSATED.value
FAILED = StepStatus.FAILED.value
PENDING = StepStatus.PENDING.value
RUNNING = StepStatus.RUNNING.value
