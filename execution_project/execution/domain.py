"""The Execution service's own model: the saga instance of a service order and the work-queue job.

Plain dataclasses and rules; no Django, no boto3. The saga's behaviour (how an instance answers a
reply) lives in :mod:`execution.saga`, a pure function over these types.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from oficina_common.errors import InvalidTransition, PermissionDenied

# One timestamp format (libs); the service's modules take these names from here.
from oficina_common.timestamps import iso as iso
from oficina_common.timestamps import parse_iso as parse_iso

# Deterministic ids (a redelivered message must lead to the same job, the same message ids).
NAMESPACE = uuid.UUID("7c1b7a52-5d0e-4d64-9a55-3f0c5b1f7e21")

# A sortable "never": the deadline of a saga that waits with no time limit.
FAR_FUTURE = "9999-12-31T23:59:59Z"


class EndReason(StrEnum):
    """Why a saga turned back, in one word: what the metrics count by (``cause`` says it to people)."""

    BUDGET_REJECTED = "budget_rejected"
    BUDGET_EXPIRED = "budget_expired"
    PARTS_UNAVAILABLE = "parts_unavailable"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_EXPIRED = "payment_expired"
    WORK_FAILED = "work_failed"
    CANCELLED_BY_STAFF = "cancelled_by_staff"
    TIMEOUT = "timeout"  # a command nobody answered


class SagaStatus(StrEnum):
    PENDING = "PENDING"  # started; its first command is out, nothing has answered yet
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # a compensation could not be confirmed: a person must look at it
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"


LIVE_STATUSES = (SagaStatus.PENDING, SagaStatus.IN_PROGRESS)
SWEPT_STATUSES = (SagaStatus.PENDING, SagaStatus.IN_PROGRESS, SagaStatus.COMPENSATING)
TERMINAL_STATUSES = (SagaStatus.COMPLETED, SagaStatus.FAILED, SagaStatus.COMPENSATED)


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATED = "COMPENSATED"


class OsStatus(StrEnum):
    """The OS service's order statuses the saga moves the order through."""

    IN_DIAGNOSIS = "IN_DIAGNOSIS"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    IN_EXECUTION = "IN_EXECUTION"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"


class BudgetStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class PaymentStatus(StrEnum):
    REQUESTED = "REQUESTED"  # asked of Billing; no payment id yet
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class RevisionStatus(StrEnum):
    REQUESTED = "REQUESTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"  # Billing never answered the request for the revised budget


@dataclass
class StepState:
    step_number: int
    name: str
    status: str = StepStatus.PENDING
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


@dataclass
class ServiceOrder:
    """What the saga knows of the order, from ``os.DiagnosisCompleted``."""

    order_number: str
    customer_id: str
    customer_name: str
    customer_email: str
    tracking_url: str
    vehicle: dict[str, Any]
    priority: int
    items: list[dict[str, Any]]
    notes: str = ""


@dataclass
class Budget:
    budget_id: str
    version: int
    status: str
    total_cents: int  # the approved total once decided (the quoted one before)
    expires_at: str | None = None
    line_count: int = 0  # the version's lines (Billing numbers them 1..n; revisions append)
    declined_total_cents: int = 0  # what the customer declined of it, line by line
    payment_url: str = ""  # the customer's payment page of this version, once approved (Billing's, signed)


@dataclass
class Payment:
    payment_id: str | None
    purpose: str  # "budget" (the approved budget) or "revision" (additional repairs)
    budget_version: int
    amount_cents: int
    status: str
    qr_code: str | None = None
    init_point: str | None = None
    mercadopago_payment_id: str | None = None


@dataclass
class Revision:
    """Additional repairs a mechanic reported during the work."""

    number: int
    status: str
    queue_id: str
    items: list[dict[str, Any]]
    notes: str = ""
    budget_version: int | None = None
    additional_total_cents: int | None = None
    parts_status: str | None = None  # RESERVED or UNAVAILABLE once OS answered
    error: str | None = None

    @property
    def is_open(self) -> bool:
        """Still on its way to the customer, or waiting for the customer's decision."""
        return self.status in (RevisionStatus.REQUESTED, RevisionStatus.PENDING_APPROVAL)


@dataclass
class PendingCommand:
    """A command sent whose reply the saga waits for; re-sent by the sweeper when overdue."""

    key: str
    type: str
    payload: dict[str, Any]
    awaits: list[str]
    step_number: int
    attempts: int
    due_at: str
    # True once the saga compensates: the reply is still awaited, to undo what it reports.
    undo: bool = False
    # A re-sent command keeps its first message id: a receiver that did handle the first copy does
    # not act twice (reserving parts twice, say); it answers again with the outcome it recorded.
    message_id: str = ""


@dataclass
class SagaInstance:
    execution_id: str
    service_order_id: str
    started_at: str  # the item's ``timestamp`` sort key: when the diagnosis was completed
    order: ServiceOrder
    steps: list[StepState]
    status: str = SagaStatus.PENDING
    current_step: int = 1
    os_status: str = OsStatus.IN_DIAGNOSIS
    budget: Budget | None = None
    payments: list[Payment] = field(default_factory=list)
    reserved_parts: list[dict[str, Any]] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    queue_id: str | None = None
    work_notes: str | None = None
    work_done: bool = False
    pending: list[PendingCommand] = field(default_factory=list)
    wait_due_at: str | None = None
    check_due_at: str | None = None  # when the step looks again at what it waits for (see SagaStep.check)
    deadline: str = FAR_FUTURE
    cause: str | None = None
    end_reason: str | None = None  # an EndReason, set with the cause when the saga turns back
    # A FAILED saga keeps the commands nobody confirmed, and what it was doing, for a person's retry.
    stuck: list[PendingCommand] = field(default_factory=list)
    failed_while: str | None = None
    cancelled_by_os: bool = False
    # Budget versions the workshop made when no decision could be awaited: cancelled, never awaited.
    foreign_versions: list[int] = field(default_factory=list)
    # The lines the customer declined (of the budget or of a revision): kept out of the work, the
    # parts and the payment; the OS keeps them for the customer to come back for.
    declined_lines: list[dict[str, Any]] = field(default_factory=list)
    compensation_attempts: int = 0
    created_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    version: int = 0

    # --- reading --------------------------------------------------------------------------
    def step(self, ref: int | str) -> StepState:
        """A step by its number or its name."""
        if isinstance(ref, str):
            return next(step for step in self.steps if step.name == ref)
        return self.steps[ref - 1]

    def started_steps(self) -> list[StepState]:
        """The steps that have begun (what execution_steps projects of a saga)."""
        return [step for step in self.steps if step.status != StepStatus.PENDING]

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def payment(self, payment_id: str) -> Payment | None:
        return next((p for p in self.payments if p.payment_id == payment_id), None)

    def pending_command(self, *keys: str) -> PendingCommand | None:
        """The first pending command with one of these keys (a key ending in ':' is a prefix)."""
        return next((p for p in self.pending if key_matches(p.key, keys)), None)

    @property
    def active_revision(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SagaInstance:
        data = dict(data)
        data["order"] = ServiceOrder(**data["order"])
        data["steps"] = [StepState(**s) for s in data["steps"]]
        data["budget"] = Budget(**data["budget"]) if data.get("budget") else None
        data["payments"] = [Payment(**p) for p in data.get("payments") or []]
        data["revisions"] = [Revision(**r) for r in data.get("revisions") or []]
        data["pending"] = [PendingCommand(**p) for p in data.get("pending") or []]
        data["stuck"] = [PendingCommand(**p) for p in data.get("stuck") or []]
        data["reserved_parts"] = list(data.get("reserved_parts") or [])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def key_matches(key: str, keys: tuple[str, ...]) -> bool:
    return key in keys or any(k.endswith(":") and key.startswith(k) for k in keys)


def part_lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``{catalog_id, quantity}`` lines of an order's parts, one per catalog id."""
    totals: dict[str, int] = {}
    for item in items:
        if item.get("kind") == "part":
            catalog_id = str(item["catalog_id"])
            totals[catalog_id] = totals.get(catalog_id, 0) + int(item["quantity"])
    return [{"catalog_id": catalog_id, "quantity": quantity} for catalog_id, quantity in totals.items()]


def merge_part_lines(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return part_lines([{"kind": "part", **line} for group in groups for line in group])


def subtract_part_lines(held: list[dict[str, Any]], gone: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is still held of ``held`` once ``gone`` left (never below nothing)."""
    left = {line["catalog_id"]: line["quantity"] for line in merge_part_lines(held)}
    for line in merge_part_lines(gone):
        left[line["catalog_id"]] = left.get(line["catalog_id"], 0) - line["quantity"]
    return [{"catalog_id": catalog_id, "quantity": quantity} for catalog_id, quantity in left.items() if quantity > 0]


def queue_id_for(execution_id: str) -> str:
    """One job per saga, with an id the saga can compute before the job exists."""
    return str(uuid.uuid5(NAMESPACE, f"work:{execution_id}"))


# --- the work queue --------------------------------------------------------------------------
class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


ACTIVE_JOB_STATUSES = (JobStatus.ASSIGNED, JobStatus.IN_PROGRESS)
# A job still in the queue or in a mechanic's hands: what a cancelled order withdraws.
OPEN_JOB_STATUSES = (JobStatus.QUEUED, *ACTIVE_JOB_STATUSES)
# The moves a mechanic makes, and the statuses each may start from (claiming is the queue's own:
# QUEUED -> ASSIGNED, conditional in the repository; withdrawing is the saga's: OPEN -> FAILED).
JOB_MOVES: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.IN_PROGRESS: (JobStatus.ASSIGNED,),
    JobStatus.COMPLETED: ACTIVE_JOB_STATUSES,
    JobStatus.FAILED: ACTIVE_JOB_STATUSES,
}


@dataclass(frozen=True)
class Mechanic:
    """Who acts on a job: the token's user id and name, and whether an admin."""

    user_id: str
    name: str
    is_admin: bool = False


@dataclass
class Job:
    queue_id: str
    priority: int
    execution_id: str
    service_order_id: str
    order_number: str
    vehicle: dict[str, Any]
    items: list[dict[str, Any]]
    notes: str
    created_at: str
    status: str = JobStatus.QUEUED
    assigned_to: str | None = None
    assigned_to_name: str | None = None
    assigned_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result_notes: str | None = None
    failure_reason: str | None = None
    additional_repairs: list[dict[str, Any]] = field(default_factory=list)
    updated_at: str = ""
    version: int = 1

    @property
    def queue_rank(self) -> str:
        """Sorts a status's jobs by priority (5 first) then age: the StatusPriorityIndex range key."""
        return queue_rank(self.priority, self.created_at, self.queue_id)

    def ensure_actor(self, mechanic: Mechanic) -> None:
        """Only the mechanic who holds the job, or an admin, may move it on."""
        if mechanic.is_admin:
            return
        if self.assigned_to != mechanic.user_id:
            raise PermissionDenied("This job is not assigned to you.", code="not_your_job")

    def may_move(self, mechanic: Mechanic, to: JobStatus) -> bool:
        """Whether ``mechanic`` may move the job to ``to`` now (what the two checks below raise for)."""
        return ((mechanic.is_admin or self.assigned_to == mechanic.user_id)
                and self.status in JOB_MOVES.get(to, ()))

    def ensure_can_move(self, to: JobStatus) -> None:
        if self.status not in JOB_MOVES.get(to, ()):
            raise InvalidTransition(f"A job cannot go from {self.status} to {to}.",
                                    extra={"from": self.status, "to": str(to)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def queue_rank(priority: int, created_at: str, queue_id: str) -> str:
    return f"{9 - int(priority)}#{created_at}#{queue_id}"


def withdrawn_reason(reason: str) -> str:
    """Why a job left the queue when its order was cancelled, as the job shows it."""
    return f"Withdrawn: {reason}"
