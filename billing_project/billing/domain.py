"""Budgets and payments: their states, the moves allowed between them and what each move says.

Plain frozen dataclasses; no Django, no boto3. A move returns a new object (or ``None`` when
nothing changes); the services hand it to a repository, which writes it conditionally on the
state it was read in.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from oficina_common import contracts
from oficina_common.auth import ADMIN, ATTENDANT
from oficina_common.errors import InvalidTransition, PermissionDenied, ValidationFailed
from oficina_common.limits import ensure_fits
from oficina_common.messages import clip

# One timestamp format (libs); the service's modules take these names from here.
from oficina_common.timestamps import iso as iso
from oficina_common.timestamps import parse_iso as parse_iso
from oficina_common.timestamps import utc as utc

CURRENCY = "BRL"
# Fixed forever: budget and payment ids are derived from it, so a redelivered command finds its record.
ID_NAMESPACE = uuid.UUID("0b7a1d52-6c1e-5f0e-9a3c-4f1d2b8e7c11")
MAX_LINES = 200
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_CENTS = 100_000_000
MAX_LINE_DESCRIPTION = 300
# Bounds in bytes as stored (oficina_common.limits): a version's lines travel whole in messages and
# are copied into the saga's item and the job's (with the outbox's copies), each at most 400 KB.
MAX_LINE_DESCRIPTION_BYTES = 600
MAX_LINES_BYTES = 40_000
MAX_REASON_BYTES = 1_000
# A budget's versions, each its own item: bounded so that a budget (and the saga that follows it)
# does not grow without end, one revision after another.
MAX_VERSIONS = 50


# The command id of a revision staff made over the API (no command): what tells the saga it came from staff.
STAFF_REVISION_PREFIX = "api:"


def budget_id_for_saga(saga_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"budget:{saga_id}"))


def payment_id_for(saga_id: str, budget_id: str, version: int) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"payment:{saga_id}:{budget_id}:{version}"))


def lines_key_for(command_id: str) -> str:
    """A short key naming the lines one command wrote, so a half-written try never mixes with another."""
    return hashlib.sha256(command_id.encode()).hexdigest()[:12]


# --- budgets ------------------------------------------------------------------------------------

class BudgetStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


BUDGET_MOVES: dict[BudgetStatus, frozenset[BudgetStatus]] = {
    BudgetStatus.PENDING_APPROVAL: frozenset({
        BudgetStatus.APPROVED, BudgetStatus.REJECTED, BudgetStatus.SUPERSEDED,
        BudgetStatus.EXPIRED, BudgetStatus.CANCELLED,
    }),
    BudgetStatus.APPROVED: frozenset({BudgetStatus.SUPERSEDED, BudgetStatus.CANCELLED}),
}
REVISABLE = frozenset({BudgetStatus.PENDING_APPROVAL, BudgetStatus.APPROVED})


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def status(self) -> BudgetStatus:
        return BudgetStatus.APPROVED if self is Decision.APPROVE else BudgetStatus.REJECTED

    @property
    def past_tense(self) -> str:
        return "approved" if self is Decision.APPROVE else "rejected"


class ItemKind(StrEnum):
    SERVICE = "service"
    PART = "part"


class LineStatus(StrEnum):
    """A line's decision: each line of an approved version is approved or declined on its own."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"


MAX_JOB = 100


@dataclass(frozen=True)
class BudgetLine:
    """One line of a budget. ``job`` groups a service with the parts that go with it (they are
    approved together); an ``optional`` part may be declined alone. ``line_id`` is the line's
    1-based position in its version, stable across versions (revisions append)."""

    kind: str
    catalog_id: str
    description: str
    quantity: int
    unit_price_cents: int
    job: int = 1
    optional: bool = False
    line_id: int = 0

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents

    @property
    def is_service(self) -> bool:
        return self.kind == ItemKind.SERVICE

    def to_item(self, status: LineStatus | None = None) -> contracts.ItemLine:
        """The line as messages carry it (the shape CreateBudget receives, plus its id once it has one
        and, in a decision, its ``status``)."""
        extra: dict[str, Any] = {"line_id": self.line_id} if self.line_id else {}
        if status is not None:
            extra["status"] = status.value
        return contracts.ItemLine(kind=self.kind, catalog_id=self.catalog_id, description=self.description,
                                  quantity=self.quantity, unit_price_cents=self.unit_price_cents, job=self.job,
                                  optional=self.optional, **extra)

    def to_message(self) -> dict[str, Any]:
        """The line as JSON: what messages carry and what the lines item stores."""
        return self.to_item().to_payload()

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_message(), "total_cents": self.total_cents}

    @classmethod
    def from_item(cls, item: contracts.ItemLine, *, where: str = "items") -> BudgetLine:
        """A line of a command, already read by its contract, held to Billing's stricter rules: a
        description, at most MAX_QUANTITY, a price within MAX_UNIT_PRICE_CENTS, a job up to MAX_JOB."""
        if not item.catalog_id.strip():
            raise ValidationFailed(f"{where}.catalog_id: required.")
        if not item.description.strip():
            raise ValidationFailed(f"{where}.description: required.")
        if "unit_price_cents" not in item.model_fields_set:
            raise ValidationFailed(f"{where}.unit_price_cents: a whole number from 0 to {MAX_UNIT_PRICE_CENTS}.")
        return cls._checked(kind=item.kind, catalog_id=item.catalog_id, description=item.description,
                            quantity=item.quantity, unit_price_cents=item.unit_price_cents, job=item.job,
                            optional=item.optional, where=where)

    @classmethod
    def _checked(cls, *, kind: str, catalog_id: Any, description: str, quantity: Any, unit_price_cents: Any,
                 job: Any, optional: bool, where: str) -> BudgetLine:
        quantity = _whole(quantity, f"{where}.quantity", 1, MAX_QUANTITY)
        unit_price = _whole(unit_price_cents, f"{where}.unit_price_cents", 0, MAX_UNIT_PRICE_CENTS)
        # Older messages know no jobs: everything is one job, approved or declined whole.
        job = 1 if job is None else _whole(job, f"{where}.job", 1, MAX_JOB)
        # Only a part may be left out of its job; a service marked optional is simply not (never refused).
        optional = optional and kind == ItemKind.PART
        # A name longer than Billing keeps is cut, never a reason to refuse the budget.
        return cls(kind=kind, catalog_id=str(catalog_id).strip(), description=clip(description, MAX_LINE_DESCRIPTION),
                   quantity=quantity, unit_price_cents=unit_price, job=job, optional=optional)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "items") -> BudgetLine:
        """A line as the API (staff's revision) gives it, under the same rules as :meth:`from_item`."""
        if not isinstance(data, Mapping):
            raise ValidationFailed(f"{where}: each item must be an object.")
        kind = data.get("kind")
        if kind not in {k.value for k in ItemKind}:
            raise ValidationFailed(f"{where}.kind: must be 'service' or 'part'.")
        catalog_id = data.get("catalog_id")
        if isinstance(catalog_id, bool) or not isinstance(catalog_id, str | int) or str(catalog_id).strip() == "":
            raise ValidationFailed(f"{where}.catalog_id: required.")
        description = data.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ValidationFailed(f"{where}.description: required.")
        optional = data.get("optional", False)
        if optional is None:
            optional = False
        if not isinstance(optional, bool):
            raise ValidationFailed(f"{where}.optional: must be true or false.")
        return cls._checked(kind=kind, catalog_id=catalog_id, description=description, quantity=data.get("quantity"),
                            unit_price_cents=data.get("unit_price_cents"), job=data.get("job"), optional=optional,
                            where=where)


@dataclass(frozen=True)
class Job:
    """The lines of one job: its services and the parts that go with them, approved together."""

    number: int
    lines: tuple[BudgetLine, ...]

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def required_lines(self) -> tuple[BudgetLine, ...]:
        """What the job cannot be done without: its services and its parts that are not optional."""
        return tuple(line for line in self.lines if not line.optional)

    @property
    def optional_lines(self) -> tuple[BudgetLine, ...]:
        return tuple(line for line in self.lines if line.optional)


def jobs_of(lines: Iterable[BudgetLine]) -> tuple[Job, ...]:
    """The lines grouped by job, jobs in the order their first line comes."""
    grouped: dict[int, list[BudgetLine]] = {}
    for line in lines:
        grouped.setdefault(line.job, []).append(line)
    return tuple(Job(number, tuple(job_lines)) for number, job_lines in grouped.items())


def numbered(lines: Iterable[BudgetLine], *, first_id: int = 1, job_offset: int = 0) -> tuple[BudgetLine, ...]:
    """Lines with their ids (their positions in the version) and their jobs moved past ``job_offset``."""
    return tuple(replace(line, line_id=first_id + n, job=line.job + job_offset) for n, line in enumerate(lines))


def _whole(value: Any, where: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed(f"{where}: a whole number from {minimum} to {maximum}.")
    return value


def parse_line_ids(raw: Any, line_count: int) -> tuple[int, ...]:
    """The line ids an approval names: a non-empty list of distinct ids of the version's lines."""
    if not isinstance(raw, list | tuple):
        raise ValidationFailed("lines: a list of line ids.", code="invalid_lines", extra={"field": "lines"})
    if not raw:
        raise ValidationFailed("lines: approve at least one line; to decline everything, reject the budget.",
                               code="no_line_approved", extra={"field": "lines"})
    if len(raw) > line_count:
        raise ValidationFailed(f"lines: this version has {line_count} lines.", code="invalid_lines",
                               extra={"field": "lines"})
    seen: set[int] = set()
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(f"lines: {str(value)[:20]!r} is not a line id (a whole number).",
                                   code="invalid_lines", extra={"field": "lines"})
        if not 1 <= value <= line_count:
            raise ValidationFailed(f"lines: this version has no line {value} (its lines are 1 to {line_count}).",
                                   code="unknown_line", extra={"field": "lines", "line_id": value})
        if value in seen:
            raise ValidationFailed(f"lines: line {value} is listed twice.", code="invalid_lines",
                                   extra={"field": "lines", "line_id": value})
        seen.add(value)
    return tuple(raw)


def parse_lines(raw: Any) -> tuple[BudgetLine, ...]:
    """The lines of a command (its contract's item lines) or of the API (dicts)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("items: at least one item is required.")
    if len(raw) > MAX_LINES:
        raise ValidationFailed(f"items: at most {MAX_LINES} items.")
    return tuple(BudgetLine.from_item(item, where=f"items[{n}]") if isinstance(item, contracts.ItemLine)
                 else BudgetLine.from_dict(item, where=f"items[{n}]") for n, item in enumerate(raw))


# The staff roles that may decide a budget for the customer. Never a mechanic: he diagnoses the
# car and reports the additional repairs, so he would be approving his own charge.
DECIDING_STAFF_ROLES = frozenset({ADMIN, ATTENDANT})


@dataclass(frozen=True)
class Actor:
    """Who decides: staff (with their role), the order's customer (JWT), or whoever holds the e-mailed link."""

    role: str
    name: str = ""
    customer_id: str | None = None
    approval_token: str | None = None
    staff_role: str = ""

    STAFF = "staff"
    CUSTOMER = "customer"
    APPROVAL_LINK = "approval_link"

    @classmethod
    def staff(cls, name: str, staff_role: str) -> Actor:
        return cls(role=cls.STAFF, name=name or staff_role or "staff", staff_role=staff_role)

    @classmethod
    def customer(cls, customer_id: str) -> Actor:
        return cls(role=cls.CUSTOMER, customer_id=str(customer_id))

    @classmethod
    def approval_link(cls, token: str) -> Actor:
        return cls(role=cls.APPROVAL_LINK, approval_token=token)

    @property
    def decided_by(self) -> str:
        """``customer``, or who on the staff decided: ``attendant:ana.souza``."""
        return f"{self.staff_role or self.STAFF}:{self.name}" if self.role == self.STAFF else "customer"

    def may_see(self, customer_id: str) -> bool:
        if self.role == self.STAFF:
            return True
        if self.role == self.CUSTOMER:
            return self.customer_id is not None and self.customer_id == customer_id
        return self.role == self.APPROVAL_LINK  # the token itself is checked against its budget

    def check_may_decide(self, reason: str) -> None:
        """The customer decides freely; an attendant or an admin decides for them and says why."""
        if self.role != self.STAFF:
            return
        if self.staff_role not in DECIDING_STAFF_ROLES:
            raise PermissionDenied("Only the customer, an attendant or an admin decides a budget.",
                                   code="may_not_decide_budget")
        if not reason.strip():
            raise ValidationFailed("reason: staff deciding for the customer record why (e.g. \"approved by "
                                   "phone with Maria\").", code="reason_required", extra={"field": "reason"})


@dataclass(frozen=True)
class Budget:
    budget_id: str
    version: int
    saga_id: str
    service_order_id: str
    customer_id: str
    status: BudgetStatus
    lines: tuple[BudgetLine, ...]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    customer_name: str = ""
    customer_email: str = ""
    order_number: str = ""
    tracking_url: str = ""
    currency: str = CURRENCY
    additional_total_cents: int = 0
    additional_line_count: int = 0
    revision_reason: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    decision_reason: str = ""
    command_id: str = ""
    lines_key: str = ""
    link_sent_at: datetime | None = None
    # The lines the customer declined (line ids), this version's and the earlier versions'.
    declined_line_ids: frozenset[int] = frozenset()
    # How many leading lines were decided by an earlier version: they keep that decision here.
    carried_line_count: int = 0
    rev: int = 0
    # Persistence, not the budget: the ids of the messages its item held when read (a write
    # removes those already published).
    outbox_held: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def total_cents(self) -> int:
        """What was quoted: every line, declined or not."""
        return sum(line.total_cents for line in self.lines)

    @property
    def open_lines(self) -> tuple[BudgetLine, ...]:
        """The lines this version's decision decides (the others were decided by an earlier version)."""
        return self.lines[self.carried_line_count:]

    @property
    def carried_declined_line_ids(self) -> frozenset[int]:
        """The lines an earlier version's decision declined."""
        return frozenset(i for i in self.declined_line_ids if i <= self.carried_line_count)

    @property
    def open_jobs(self) -> tuple[Job, ...]:
        return jobs_of(self.open_lines)

    def line_status(self, line: BudgetLine) -> LineStatus:
        decided = line.line_id <= self.carried_line_count or self.was_approved
        if decided:
            return LineStatus.DECLINED if line.line_id in self.declined_line_ids else LineStatus.APPROVED
        if self.status == BudgetStatus.REJECTED:
            return LineStatus.DECLINED
        return LineStatus.PENDING

    def _total_of(self, status: LineStatus, lines: Iterable[BudgetLine] | None = None) -> int:
        return sum(line.total_cents for line in (self.lines if lines is None else lines)
                   if self.line_status(line) == status)

    def open_total_cents(self, status: LineStatus) -> int:
        """The total of this version's own decision's lines in ``status`` (what it added to the bill, or declined)."""
        return self._total_of(status, self.open_lines)

    @property
    def approved_total_cents(self) -> int:
        """What the customer agreed to pay for this version (earlier versions' approved lines included)."""
        return self._total_of(LineStatus.APPROVED)

    @property
    def declined_total_cents(self) -> int:
        return self._total_of(LineStatus.DECLINED)

    @property
    def approved_additional_total_cents(self) -> int:
        """The approved part of what this revision added."""
        return self._total_of(LineStatus.APPROVED, self.additional_lines)

    @property
    def is_revision(self) -> bool:
        return self.version > 1

    @property
    def additional_lines(self) -> tuple[BudgetLine, ...]:
        """The lines this version added to the previous one (a revision's last lines)."""
        return self.lines[len(self.lines) - self.additional_line_count:] if self.additional_line_count else ()

    @property
    def origin(self) -> str:
        """Who asked for this version: the saga (a command) or staff (the API)."""
        return "staff" if self.command_id.startswith(STAFF_REVISION_PREFIX) else "saga"

    @property
    def was_approved(self) -> bool:
        """Approved by the customer (a version superseded after its approval still was)."""
        return self.status == BudgetStatus.APPROVED or (
            self.status == BudgetStatus.SUPERSEDED and self.decided_at is not None)

    @classmethod
    def open(cls, *, budget_id: str, saga_id: str, service_order_id: str, customer_id: str,
             lines: Iterable[BudgetLine], now: datetime, approval_ttl: timedelta, command_id: str,
             customer_name: str = "", customer_email: str = "", order_number: str = "",
             tracking_url: str = "") -> Budget:
        lines = numbered(lines)
        if not lines:
            raise ValidationFailed("items: at least one item is required.")
        return cls(budget_id=budget_id, version=1, saga_id=saga_id, service_order_id=service_order_id,
                   customer_id=str(customer_id), status=BudgetStatus.PENDING_APPROVAL, lines=lines,
                   expires_at=now + approval_ttl, created_at=now, updated_at=now,
                   customer_name=customer_name, customer_email=customer_email, order_number=order_number,
                   tracking_url=tracking_url, command_id=command_id, lines_key=lines_key_for(command_id))

    @classmethod
    def cancelled_unopened(cls, *, budget_id: str, saga_id: str, service_order_id: str, reason: str,
                           now: datetime, command_id: str) -> Budget:
        """Version 1 recorded CANCELLED before CreateBudget came (the saga undid it blind): no lines,
        nothing to approve, and a CreateBudget arriving later finds it and opens nothing."""
        return cls(budget_id=budget_id, version=1, saga_id=saga_id, service_order_id=service_order_id,
                   customer_id="", status=BudgetStatus.CANCELLED, lines=(), expires_at=now, created_at=now,
                   updated_at=now, decision_reason=reason, command_id=command_id,
                   lines_key=lines_key_for(command_id))

    @property
    def never_opened(self) -> bool:
        """Cancelled before it was created (every budget that was opened has lines)."""
        return not self.lines

    def _move(self, to: BudgetStatus, now: datetime, **changes: Any) -> Budget:
        if to not in BUDGET_MOVES.get(self.status, frozenset()):
            raise InvalidTransition(
                f"Budget {self.budget_id} version {self.version} is {self.status}; it cannot become {to}.",
                extra={"from": self.status.value, "to": to.value},
            )
        return replace(self, status=to, updated_at=now, **changes)

    def is_past_expiry(self, now: datetime) -> bool:
        return now >= self.expires_at

    def decide(self, decision: Decision, *, by: str, reason: str, now: datetime,
               lines: Any = None) -> Budget | None:
        """The decided budget, or ``None`` when the same decision was already taken (a no-op).

        Approving with ``lines`` (line ids) approves those and declines the other open lines;
        without, every open line is approved.
        """
        target = decision.status
        declined = self.declined_line_ids
        if decision is Decision.APPROVE:
            declined = self.carried_declined_line_ids | self._declined_when_approving(lines)
        if self.status == target:
            if decision is Decision.APPROVE and declined != self.declined_line_ids:
                raise InvalidTransition(
                    f"Budget {self.budget_id} version {self.version} was already approved with other lines "
                    f"(declined: {sorted(self.declined_line_ids) or 'none'}).", code="approved_otherwise",
                    extra={"declined_line_ids": sorted(self.declined_line_ids)})
            return None
        if self.status == BudgetStatus.SUPERSEDED:
            raise InvalidTransition(
                f"Version {self.version} of budget {self.budget_id} is stale: a newer version replaced it.",
                code="stale_version", extra={"version": self.version},
            )
        if self.status == BudgetStatus.PENDING_APPROVAL and self.is_past_expiry(now):
            raise InvalidTransition(
                f"Budget {self.budget_id} version {self.version} expired at {iso(self.expires_at)}; "
                "it can no longer be decided.", code="budget_expired",
            )
        if self.status != BudgetStatus.PENDING_APPROVAL:
            raise InvalidTransition(
                f"Budget {self.budget_id} version {self.version} is already {self.status}; "
                f"it cannot be {decision.past_tense}.",
                extra={"from": self.status.value, "to": target.value},
            )
        return self._move(target, now, decided_by=by, decided_at=now, decision_reason=reason,
                          declined_line_ids=frozenset(declined))

    def _declined_when_approving(self, raw: Any) -> frozenset[int]:
        """The open lines an approval of ``raw`` (line ids, or None for all) declines; the rules:
        at least one open line accepted, and a job is taken whole but for its optional parts."""
        if raw is None:
            return frozenset()
        accepted = set(parse_line_ids(raw, len(self.lines)))
        if declined_before := sorted(accepted & self.carried_declined_line_ids):
            raise ValidationFailed(
                f"lines: line {declined_before[0]} was declined in an earlier version; it cannot be approved now "
                "(ask the workshop for a new budget).", code="line_already_declined",
                extra={"field": "lines", "line_id": declined_before[0]})
        open_ids = {line.line_id for line in self.open_lines}
        accepted &= open_ids  # an earlier version's approved line listed again changes nothing
        if not accepted:
            raise ValidationFailed(
                "lines: approve at least one line" + (" of what this revision adds" if self.carried_line_count else "")
                + "; to decline everything, reject the budget.", code="no_line_approved", extra={"field": "lines"})
        for job in self.open_jobs:
            taken = [line for line in job.lines if line.line_id in accepted]
            missing = [line for line in job.required_lines if line.line_id not in accepted]
            if taken and missing:
                line = missing[0]
                raise ValidationFailed(
                    f"lines: job {job.number} is approved whole or declined whole (only its optional parts may "
                    f"be left out): line {line.line_id} ({line.description}) is missing.", code="job_split",
                    extra={"field": "lines", "job": job.number, "line_id": line.line_id})
        return frozenset(open_ids - accepted)

    def expire(self, now: datetime) -> Budget:
        if not self.is_past_expiry(now):
            raise InvalidTransition(f"Budget {self.budget_id} version {self.version} has not expired yet.")
        return self._move(BudgetStatus.EXPIRED, now)

    def cancel(self, *, reason: str, now: datetime) -> Budget | None:
        """The cancelled budget, or ``None`` when nothing is left to cancel (already closed)."""
        if self.status not in BUDGET_MOVES or BudgetStatus.CANCELLED not in BUDGET_MOVES[self.status]:
            return None
        return self._move(BudgetStatus.CANCELLED, now, decision_reason=reason)

    def supersede(self, now: datetime) -> Budget:
        return self._move(BudgetStatus.SUPERSEDED, now)

    def revise(self, additional: Iterable[BudgetLine], *, reason: str, now: datetime,
               approval_ttl: timedelta, command_id: str) -> Budget:
        """Version N+1: this version's items plus the additional ones, waiting for approval."""
        additional = tuple(additional)
        if not additional:
            raise ValidationFailed("items: at least one additional item is required.")
        if self.status not in REVISABLE:
            raise InvalidTransition(
                f"Budget {self.budget_id} version {self.version} is {self.status}; it cannot be revised.",
                extra={"from": self.status.value},
            )
        if len(self.lines) + len(additional) > MAX_LINES:
            raise ValidationFailed(f"items: a budget holds at most {MAX_LINES} items.")
        if self.version >= MAX_VERSIONS:
            raise InvalidTransition(f"Budget {self.budget_id} has {self.version} versions, the most a budget takes; "
                                    "open a new service order for further work.", code="too_many_versions",
                                    extra={"max_versions": MAX_VERSIONS})
        ensure_fits("items", [line.to_message() for line in (*self.lines, *additional)], MAX_LINES_BYTES,
                    code="budget_too_large")
        # Appended: the earlier lines keep their ids, and the new jobs never merge with an earlier one.
        additional = numbered(additional, first_id=len(self.lines) + 1,
                              job_offset=max((line.job for line in self.lines), default=0))
        lines = self.lines + additional
        # What the customer approved stays decided; lines of a version nobody decided are decided now.
        carried = len(self.lines) if self.status == BudgetStatus.APPROVED else self.carried_line_count
        return replace(
            self, version=self.version + 1, status=BudgetStatus.PENDING_APPROVAL, lines=lines,
            carried_line_count=carried, declined_line_ids=self.declined_line_ids,
            expires_at=now + approval_ttl, created_at=now, updated_at=now,
            additional_total_cents=sum(line.total_cents for line in additional),
            additional_line_count=len(additional), revision_reason=reason,
            decided_by="", decided_at=None, decision_reason="", command_id=command_id,
            lines_key=lines_key_for(command_id), link_sent_at=None, rev=0,
        )

    # What each move tells the orchestrator (docs/messages.md).
    def created_payload(self) -> contracts.BudgetCreated:
        revision: dict[str, Any] = {}
        if self.is_revision:
            # A revision staff made reaches the saga with what it adds (items) and the whole version
            # (lines): versions may reach the saga out of order, and it awaits the newest one whole.
            revision = {"additional_total_cents": self.additional_total_cents,
                        "items": [line.to_item() for line in self.additional_lines],
                        "lines": [line.to_item() for line in self.lines], "origin": self.origin}
        return contracts.BudgetCreated(budget_id=self.budget_id, version=self.version, total_cents=self.total_cents,
                                       expires_at=iso(self.expires_at), revision=self.is_revision, **revision)

    def line_messages(self) -> list[contracts.ItemLine]:
        """Every line as messages carry it, with its decision."""
        return [line.to_item(self.line_status(line)) for line in self.lines]

    def decided_payload(self, *, payment_url: str = "") -> contracts.BudgetApproved | contracts.BudgetClosed:
        """The decision's event; an approval carries ``payment_url``, the page the customer pays on."""
        if self.status == BudgetStatus.APPROVED:
            # total_cents: what the customer agreed to pay in all (declined lines are not charged).
            revision = {"additional_total_cents": self.approved_additional_total_cents} if self.is_revision else {}
            return contracts.BudgetApproved(
                budget_id=self.budget_id, version=self.version, total_cents=self.approved_total_cents,
                decided_by=self.decided_by, lines=self.line_messages(),
                declined_total_cents=self.declined_total_cents, payment_url=payment_url, **revision)
        rejected = {"reason": self.decision_reason} if self.status == BudgetStatus.REJECTED else {}
        return contracts.BudgetClosed(budget_id=self.budget_id, version=self.version, total_cents=self.total_cents,
                                      decided_by=self.decided_by, **rejected)

    def closed_payload(self) -> contracts.BudgetClosed:
        return contracts.BudgetClosed(budget_id=self.budget_id, version=self.version)

    def cancelled_payload(self) -> contracts.BudgetCancelled:
        """BudgetCancelled: the version's status says whether it was cancelled or had closed otherwise."""
        return contracts.BudgetCancelled(budget_id=self.budget_id, version=self.version, status=self.status.value)


def hash_approval_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApprovalToken:
    """A link's token as stored: only its hash, the budget version it decides, and when it dies."""

    token_hash: str
    budget_id: str
    version: int
    expires_at: datetime
    created_at: datetime
    used_at: datetime | None = None
    used_decision: str = ""

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


BUDGET_EVENTS = {
    BudgetStatus.APPROVED: "billing.BudgetApproved",
    BudgetStatus.REJECTED: "billing.BudgetRejected",
    BudgetStatus.EXPIRED: "billing.BudgetExpired",
    BudgetStatus.CANCELLED: "billing.BudgetCancelled",
}


# --- payments -----------------------------------------------------------------------------------

class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


# An APPROVED payment never goes back to PENDING; final states stay final except APPROVED -> REFUNDED.
PAYMENT_MOVES: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.APPROVED, PaymentStatus.REJECTED,
                                      PaymentStatus.CANCELLED, PaymentStatus.REFUNDED}),
    PaymentStatus.APPROVED: frozenset({PaymentStatus.REFUNDED}),
}


CANCELLED_BEFORE_REQUEST = "cancelled before it was requested"


class PaymentMethod(StrEnum):
    PIX = "pix"
    CHECKOUT = "checkout"


MERCADOPAGO_STATUSES: dict[str, PaymentStatus] = {
    "approved": PaymentStatus.APPROVED,
    "authorized": PaymentStatus.APPROVED,
    "pending": PaymentStatus.PENDING,
    "in_process": PaymentStatus.PENDING,
    "in_mediation": PaymentStatus.PENDING,
    "rejected": PaymentStatus.REJECTED,
    "cancelled": PaymentStatus.CANCELLED,
    "canceled": PaymentStatus.CANCELLED,
    "refunded": PaymentStatus.REFUNDED,
    "charged_back": PaymentStatus.REFUNDED,
}


class PaymentMismatch(InvalidTransition):
    """Mercado Pago describes a payment that does not match ours (other reference or amount)."""

    code = "payment_mismatch"


def cents_of(amount: Any) -> int | None:
    if amount is None or isinstance(amount, bool):
        return None
    try:
        return int((Decimal(str(amount)) * 100).quantize(Decimal(1)))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class MercadoPagoPayment:
    """A payment as Mercado Pago's API reports it (never as a webhook body claims it)."""

    id: str
    status: str
    status_detail: str = ""
    external_reference: str = ""
    amount_cents: int | None = None
    qr_code: str = ""
    qr_code_base64: str = ""
    ticket_url: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MercadoPagoPayment:
        transaction = ((data.get("point_of_interaction") or {}).get("transaction_data") or {})
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status") or ""),
            status_detail=str(data.get("status_detail") or ""),
            external_reference=str(data.get("external_reference") or ""),
            amount_cents=cents_of(data.get("transaction_amount")),
            qr_code=str(transaction.get("qr_code") or ""),
            qr_code_base64=str(transaction.get("qr_code_base64") or ""),
            ticket_url=str(transaction.get("ticket_url") or ""),
        )

    @property
    def our_status(self) -> PaymentStatus | None:
        return MERCADOPAGO_STATUSES.get(self.status.lower())


@dataclass(frozen=True)
class Payment:
    payment_id: str
    timestamp: str
    saga_id: str
    service_order_id: str
    budget_id: str
    budget_version: int
    customer_id: str
    amount_cents: int
    method: PaymentMethod
    payer_email: str
    description: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    currency: str = CURRENCY
    mercadopago_payment_id: str | None = None
    mercadopago_status: str = ""
    mercadopago_status_detail: str = ""
    qr_code: str = ""
    qr_code_base64: str = ""
    ticket_url: str = ""
    preference_id: str = ""
    init_point: str = ""
    requested_at: datetime | None = None
    failure_reason: str = ""
    cancel_requested_at: datetime | None = None
    cancel_reason: str = ""
    refund_id: str = ""
    # Mercado Pago payments refunded because the order was already paid by another one.
    refunded_extras: tuple[str, ...] = ()
    rev: int = 0
    outbox_held: tuple[str, ...] = field(default=(), compare=False, repr=False)  # as on Budget

    @classmethod
    def open(cls, *, payment_id: str, budget: Budget, saga_id: str, service_order_id: str, amount_cents: int,
             method: PaymentMethod, payer_email: str, description: str, now: datetime) -> Payment:
        """A PENDING payment of a budget version, not yet known to Mercado Pago."""
        return cls(payment_id=payment_id,
                   # Deterministic sort key: the conditional put then guards against a second payment record.
                   timestamp=iso(budget.created_at),
                   saga_id=saga_id, service_order_id=service_order_id, budget_id=budget.budget_id,
                   budget_version=budget.version, customer_id=budget.customer_id, amount_cents=amount_cents,
                   method=method, payer_email=payer_email, description=description,
                   status=PaymentStatus.PENDING, created_at=now, updated_at=now)

    @property
    def is_final(self) -> bool:
        return self.status not in PAYMENT_MOVES

    @property
    def never_requested(self) -> bool:
        """Closed before Mercado Pago ever heard of it: nobody could have paid it."""
        return (self.status != PaymentStatus.PENDING and self.requested_at is None
                and not self.mercadopago_payment_id and not self.preference_id)

    @property
    def idempotency_key(self) -> str:
        return f"payment-{self.payment_id}"

    @property
    def refund_idempotency_key(self) -> str:
        return f"refund-{self.payment_id}"

    @property
    def cancel_idempotency_key(self) -> str:
        return f"cancel-{self.payment_id}"

    def is_stray(self, mp: MercadoPagoPayment) -> bool:
        """Money approved for a payment we had already given up on (paid after cancelling)."""
        return self.status in (PaymentStatus.CANCELLED, PaymentStatus.REJECTED) and \
            mp.our_status == PaymentStatus.APPROVED

    def is_duplicate(self, mp: MercadoPagoPayment) -> bool:
        """A second payment for an order another Mercado Pago payment already paid (Checkout Pro lets
        the customer pay twice), not yet given back and told of."""
        return (self.status in (PaymentStatus.APPROVED, PaymentStatus.REFUNDED)
                and self.mercadopago_payment_id not in (None, mp.id) and mp.id not in self.refunded_extras
                and mp.our_status in (PaymentStatus.APPROVED, PaymentStatus.REFUNDED))

    def with_extra_refunded(self, mercadopago_payment_id: str, now: datetime) -> Payment:
        return replace(self, refunded_extras=(*self.refunded_extras, mercadopago_payment_id), updated_at=now)

    def _check_move(self, to: PaymentStatus) -> None:
        if to not in PAYMENT_MOVES.get(self.status, frozenset()):
            raise InvalidTransition(f"Payment {self.payment_id} is {self.status}; it cannot become {to}.",
                                    extra={"from": self.status.value, "to": to.value})

    def requested_pix(self, mp: MercadoPagoPayment, now: datetime) -> Payment:
        return replace(self, mercadopago_payment_id=self.mercadopago_payment_id or mp.id,
                       mercadopago_status=self.mercadopago_status or mp.status,
                       mercadopago_status_detail=self.mercadopago_status_detail or mp.status_detail,
                       qr_code=mp.qr_code, qr_code_base64=mp.qr_code_base64, ticket_url=mp.ticket_url,
                       requested_at=now, updated_at=now)

    def requested_checkout(self, *, preference_id: str, init_point: str, now: datetime) -> Payment:
        return replace(self, preference_id=preference_id, init_point=init_point, requested_at=now, updated_at=now)

    def refused(self, reason: str, now: datetime) -> Payment:
        """Mercado Pago refused to create the payment (a 4xx): it fails for good."""
        self._check_move(PaymentStatus.REJECTED)
        return replace(self, status=PaymentStatus.REJECTED, failure_reason=reason, requested_at=now, updated_at=now)

    def with_cancel_requested(self, reason: str, now: datetime) -> Payment:
        return replace(self, cancel_requested_at=now, cancel_reason=reason, updated_at=now)

    def cancelled(self, now: datetime) -> Payment:
        self._check_move(PaymentStatus.CANCELLED)
        cancelled = replace(self, status=PaymentStatus.CANCELLED, updated_at=now)
        if cancelled.never_requested:
            # What a RequestPayment coming after it is answered (PaymentFailed): nothing was charged.
            cancelled = replace(cancelled, failure_reason=CANCELLED_BEFORE_REQUEST)
        return cancelled

    def refunded(self, refund_id: str, now: datetime) -> Payment:
        self._check_move(PaymentStatus.REFUNDED)
        return replace(self, status=PaymentStatus.REFUNDED, refund_id=refund_id, updated_at=now)

    def observe(self, mp: MercadoPagoPayment, now: datetime) -> tuple[Payment, str | None] | None:
        """Apply what Mercado Pago reports: the changed payment and the event to publish, or ``None``.

        Out-of-order or repeated reports change nothing: a move not in PAYMENT_MOVES is ignored.
        """
        if mp.external_reference and mp.external_reference != self.payment_id:
            raise PaymentMismatch(f"Mercado Pago payment {mp.id} refers to {mp.external_reference}, "
                                  f"not to payment {self.payment_id}.")
        target = mp.our_status
        if target is None:
            raise PaymentMismatch(f"Mercado Pago payment {mp.id} has an unknown status {mp.status!r}.")
        if self.status != PaymentStatus.PENDING and self.mercadopago_payment_id not in (None, mp.id):
            # Settled on another Mercado Pago payment: news of this one (a second checkout payment,
            # refunded as an extra) never moves ours.
            return None
        if (self.method == PaymentMethod.CHECKOUT and self.cancel_requested_at is None
                and target in (PaymentStatus.REJECTED, PaymentStatus.CANCELLED)):
            # One failed try on the checkout page; the customer may still pay with another card.
            target = self.status
        changes: dict[str, Any] = {"mercadopago_payment_id": mp.id, "mercadopago_status": mp.status,
                                   "mercadopago_status_detail": mp.status_detail}
        event: str | None = None
        if target == self.status:
            if self.mercadopago_payment_id not in (None, mp.id):
                return None  # news of another try (checkout) than the one we follow
        else:
            if target not in PAYMENT_MOVES.get(self.status, frozenset()):
                return None
            if target == PaymentStatus.APPROVED and mp.amount_cents != self.amount_cents:
                raise PaymentMismatch(
                    f"Mercado Pago payment {mp.id} is for {mp.amount_cents} cents; payment {self.payment_id} "
                    f"expects {self.amount_cents}.")
            changes["status"] = target
            event, reason = _payment_event(target, mp, cancel_requested=self.cancel_requested_at is not None)
            if reason:
                changes["failure_reason"] = reason
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not changed:
            return None
        return replace(self, updated_at=now, **changed), event

    def news(self, event_type: str, *, extra: MercadoPagoPayment | None = None) -> contracts.PaymentNews:
        """What ``event_type`` tells of this payment (the fields of NEWS_FIELDS); ``extra``: the
        PaymentRefunded of a duplicate, whose extra payment went back while this one stays as it is."""
        if event_type not in NEWS_FIELDS:
            raise ValueError(f"not a payment event: {event_type}")
        if extra is not None:
            return contracts.PaymentNews(payment_id=self.payment_id, mercadopago_payment_id=extra.id,
                                         amount_cents=extra.amount_cents, status=PaymentStatus.REFUNDED.value,
                                         duplicate=True, reason="second payment for the same order")
        known = {"payment_id": self.payment_id, "budget_id": self.budget_id,
                 "mercadopago_payment_id": self.mercadopago_payment_id, "status": self.status.value,
                 "amount_cents": self.amount_cents, "qr_code": self.qr_code or None,
                 "init_point": self.init_point or None, "reason": self.failure_reason}
        return contracts.PaymentNews(**{name: known[name] for name in NEWS_FIELDS[event_type]})


# What each payment event carries (docs/messages.md).
NEWS_FIELDS: dict[str, tuple[str, ...]] = {
    "billing.PaymentRequested": ("payment_id", "budget_id", "mercadopago_payment_id", "status", "amount_cents",
                                 "qr_code", "init_point"),
    "billing.PaymentApproved": ("payment_id", "budget_id", "mercadopago_payment_id", "status", "amount_cents"),
    "billing.PaymentFailed": ("payment_id", "budget_id", "mercadopago_payment_id", "status", "reason"),
    "billing.PaymentRefunded": ("payment_id", "mercadopago_payment_id", "amount_cents"),
    "billing.PaymentCancelled": ("payment_id",),
}


def _payment_event(target: PaymentStatus, mp: MercadoPagoPayment, *,
                   cancel_requested: bool) -> tuple[str | None, str]:
    detail = f" ({mp.status_detail})" if mp.status_detail else ""
    if target == PaymentStatus.APPROVED:
        return "billing.PaymentApproved", ""
    if target == PaymentStatus.REJECTED:
        return "billing.PaymentFailed", f"rejected by Mercado Pago{detail}"
    if target == PaymentStatus.CANCELLED:
        if cancel_requested:
            return "billing.PaymentCancelled", ""
        return "billing.PaymentFailed", f"cancelled by Mercado Pago{detail}"
    if target == PaymentStatus.REFUNDED:
        if mp.status.lower() == "charged_back":
            return "billing.PaymentFailed", f"charged back{detail}"
        return "billing.PaymentRefunded", ""
    return None, ""
