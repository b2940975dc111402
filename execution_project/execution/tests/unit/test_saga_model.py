"""Model checking of the saga's promises (Hypothesis stateful testing).

The pure saga runs against in-memory stand-ins of its participants — the OS's stock and status,
Billing's budgets and payments, Mercado Pago's charges and refunds, the work queue — which answer
commands the way the real receivers do: each effect once, a repeated command answered again with
the outcome recorded. Hypothesis interleaves at random: messages delivered in any order, twice,
or lost by the broker (commands, their replies and Billing's events: the saga's timeouts must
cover them); the customer deciding, paying, paying twice or never; staff revising or cancelling
at any status; the mechanic completing, failing or reporting more work; the clock running past
any timeout. After every step the money invariants hold; at the end, once everything in flight is
delivered and the clock has run past every timeout, every saga is over and left nothing behind.

Not modelled here: losing the events that people cause (a mechanic's completion, a staff cancel)
and the OS status changes, whose recovery the fault-run issue covers.

``--hypothesis-profile=long`` explores much further than the default profile run by the suite.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from execution import saga as saga_flow
from execution.domain import SagaInstance
from execution.repositories import _fields_of
from execution.saga import Decision, EnqueueWork, SagaConfig, WithdrawWork
from oficina_common.messages import Envelope

NS = uuid.UUID("5e3f1a58-0a61-4f8e-9a7e-3c1f2b8d9e10")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = SagaConfig(step_timeout=timedelta(seconds=60), max_attempts=3, approval_timeout=timedelta(hours=2),
                    approval_grace=timedelta(seconds=60), payment_timeout=timedelta(hours=2))
BUDGET_ID = "b-1"
SERVICE = {"kind": "service", "catalog_id": "1", "description": "Troca de óleo", "quantity": 1,
           "unit_price_cents": 12000}
FILTER = {"kind": "part", "catalog_id": "7", "description": "Filtro", "quantity": 2, "unit_price_cents": 3550}
PADS = {"kind": "part", "catalog_id": "9", "description": "Pastilha", "quantity": 1, "unit_price_cents": 8000}
BRAKES = {"kind": "service", "catalog_id": "3", "description": "Freios", "quantity": 1, "unit_price_cents": 5000}
# What the broker may lose here: the saga's commands, the replies to them, Billing's news.
LOSABLE_PREFIXES = ("billing.", "os.ReserveParts", "os.ReleaseParts", "os.ConsumeParts", "os.Parts", "os.PriceItems",
                    "os.Items")
CATALOG = {item["catalog_id"]: item for item in (SERVICE, FILTER, PADS, BRAKES)}  # the OS's, for pricing
PEOPLE_EVENTS = ("execution.", "os.OrderCancelled", "os.ChangeStatus")


def _event(text: str) -> None:
    """What kind of run this was, for ``--hypothesis-show-statistics`` (nothing outside a test)."""
    try:
        event(text)
    except InvalidArgument:
        pass


def _id(*parts: Any) -> str:
    return str(uuid.uuid5(NS, ":".join(str(p) for p in parts)))


def _total(items: list[dict[str, Any]]) -> int:
    return sum(i["quantity"] * i["unit_price_cents"] for i in items)


def _parts(lines: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        out[line["catalog_id"]] = out.get(line["catalog_id"], 0) + int(line["quantity"])
    return out


@dataclass
class Version:
    number: int
    items: list[dict[str, Any]]
    status: str = "PENDING_APPROVAL"
    additional: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PaymentRecord:
    payment_id: str
    version: int
    amount_cents: int
    status: str = "PENDING"  # PENDING, APPROVED, REJECTED, CANCELLED, REFUNDED
    charges: int = 0  # what Mercado Pago took from the customer for it
    refunds: int = 0  # what it gave back
    tombstone: bool = False  # cancelled before it was ever requested


class World:
    """The participants, as the saga sees them through messages."""

    def __init__(self, stock: dict[str, int]):
        self.stock = dict(stock)
        self.held: dict[str, int] = {}
        self.consumed: dict[str, int] = {}
        self.os_status = "IN_DIAGNOSIS"
        self.versions: list[Version] = []
        self.budget_tombstone = False
        self.payments: dict[str, PaymentRecord] = {}
        self.job: str | None = None  # QUEUED, COMPLETED, FAILED, WITHDRAWN
        self.answers: dict[str, list[Envelope]] = {}  # a command's replies, by its message id
        self.saga_id = ""
        self.order_id = ""

    # --- helpers ------------------------------------------------------------------------------
    def event(self, type: str, caused_by: str, **payload: Any) -> Envelope:
        return Envelope(type=type, saga_id=self.saga_id, service_order_id=self.order_id, payload=payload,
                        message_id=_id(caused_by, type))

    def latest(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    def created(self, version: Version, origin: str, cause: str) -> Envelope:
        payload: dict[str, Any] = {"budget_id": BUDGET_ID, "version": version.number,
                                   "total_cents": _total(version.items), "expires_at": None,
                                   "revision": version.number > 1}
        if version.number > 1:
            payload.update(origin=origin, items=version.additional, lines=version.items,
                           additional_total_cents=_total(version.additional))
        return self.event("billing.BudgetCreated", cause, **payload)

    def payment_event(self, type: str, payment: PaymentRecord, cause: str, **extra: Any) -> Envelope:
        return self.event(type, cause, payment_id=payment.payment_id, budget_id=BUDGET_ID,
                          mercadopago_payment_id=f"mp-{payment.payment_id}", status=payment.status,
                          amount_cents=payment.amount_cents, qr_code="PIX", init_point=None, **extra)

    # --- commands: each effect once, a repeat answered again ---------------------------------
    def receive(self, command: Envelope) -> list[Envelope]:
        if command.type == "os.ChangeStatus":
            self._change_status(command.payload["to"])
            return []
        if command.message_id not in self.answers:
            self.answers[command.message_id] = getattr(self, "_" + command.type.split(".")[1])(command)
        return list(self.answers[command.message_id])

    def _CreateBudget(self, c: Envelope) -> list[Envelope]:
        if self.budget_tombstone:
            return [self.event("billing.BudgetCancelled", c.message_id, budget_id=BUDGET_ID, version=0)]
        if not self.versions:
            self.versions.append(Version(1, list(c.payload["items"])))
        return [self.created(self.versions[0], "saga", c.message_id)]

    def _PriceItems(self, c: Envelope) -> list[Envelope]:
        priced = [{**CATALOG[i["catalog_id"]], "quantity": i["quantity"], "job": i["job"], "optional": False}
                  for i in c.payload["items"]]
        return [self.event("os.ItemsPriced", c.message_id, items=priced)]

    def _ReviseBudget(self, c: Envelope) -> list[Envelope]:
        return [self.revise(list(c.payload["items"]), "saga", c.message_id)]

    def revise(self, items: list[dict[str, Any]], origin: str, cause: str) -> Envelope:
        current = self.latest()
        assert current is not None
        if current.status == "PENDING_APPROVAL":
            current.status = "SUPERSEDED"
        version = Version(current.number + 1, current.items + items, additional=items)
        self.versions.append(version)
        return self.created(version, origin, cause)

    def _CancelBudget(self, c: Envelope) -> list[Envelope]:
        current = self.latest()
        if current is None:
            self.budget_tombstone = True
            return [self.event("billing.BudgetCancelled", c.message_id, budget_id=BUDGET_ID, version=0)]
        if current.status in ("PENDING_APPROVAL", "APPROVED"):
            current.status = "CANCELLED"
        return [self.event("billing.BudgetCancelled", c.message_id, budget_id=BUDGET_ID, version=current.number)]

    def _RequestPayment(self, c: Envelope) -> list[Envelope]:
        version = int(c.payload["version"])
        payment_id = f"p-{version}"
        payment = self.payments.get(payment_id)
        if payment is None:
            assert any(v.number == version and v.status in ("APPROVED", "SUPERSEDED", "CANCELLED")
                       for v in self.versions), "a payment asked for a version nobody approved"
            payment = self.payments[payment_id] = PaymentRecord(payment_id, version, int(c.payload["amount_cents"]))
        if payment.status in ("REJECTED", "CANCELLED") and payment.charges == 0:
            return [self.payment_event("billing.PaymentFailed", payment, c.message_id,
                                       reason="cancelled before it was requested")]
        if payment.status == "APPROVED":  # asked again while the saga waits: Billing says it was paid
            return [self.payment_event("billing.PaymentApproved", payment, c.message_id)]
        return [self.payment_event("billing.PaymentRequested", payment, c.message_id)]

    def _CancelPayment(self, c: Envelope) -> list[Envelope]:
        payment_id = c.payload.get("payment_id") or f"p-{c.payload['version']}"
        payment = self.payments.get(payment_id)
        if payment is None:  # cancelled blindly before it was requested: it never will be
            payment = self.payments[payment_id] = PaymentRecord(payment_id, int(c.payload["version"]), 0,
                                                                status="CANCELLED", tombstone=True)
        return self._undo(payment, c.message_id)

    def _RefundPayment(self, c: Envelope) -> list[Envelope]:
        return self._undo(self.payments[c.payload["payment_id"]], c.message_id)

    def _undo(self, payment: PaymentRecord, cause: str) -> list[Envelope]:
        if payment.status == "PENDING":
            payment.status = "CANCELLED"
        elif payment.status == "APPROVED":
            payment.status = "REFUNDED"
            payment.refunds += 1
        if payment.status == "REFUNDED":
            return [self.payment_event("billing.PaymentRefunded", payment, cause)]
        if payment.status == "REJECTED":
            return [self.payment_event("billing.PaymentFailed", payment, cause, reason="rejected")]
        return [self.event("billing.PaymentCancelled", cause, payment_id=payment.payment_id)]

    def _ReserveParts(self, c: Envelope) -> list[Envelope]:
        wanted = _parts(c.payload["parts"])
        missing = [k for k, q in wanted.items() if self.stock.get(k, 0) - self._held_all(k) < q]
        if missing:
            return [self.event("os.PartsReservationFailed", c.message_id, parts=c.payload["parts"],
                               missing=[{"catalog_id": k} for k in missing], reason="")]
        for k, q in wanted.items():
            self.held[k] = self.held.get(k, 0) + q
        return [self.event("os.PartsReserved", c.message_id, parts=c.payload["parts"])]

    def _held_all(self, catalog_id: str) -> int:
        return self.held.get(catalog_id, 0)

    def _ReleaseParts(self, c: Envelope) -> list[Envelope]:
        released = []
        for k, q in _parts(c.payload["parts"]).items():
            amount = min(q, self.held.get(k, 0))
            self.held[k] = self.held.get(k, 0) - amount
            if amount:
                released.append({"catalog_id": k, "quantity": amount})
        return [self.event("os.PartsReleased", c.message_id, parts=released)]

    def _ConsumeParts(self, c: Envelope) -> list[Envelope]:
        consumed = []
        for k, q in _parts(c.payload["parts"]).items():
            amount = min(q, self.held.get(k, 0))
            self.held[k] -= amount
            self.stock[k] -= amount
            self.consumed[k] = self.consumed.get(k, 0) + amount
            consumed.append({"catalog_id": k, "quantity": amount})
        return [self.event("os.PartsConsumed", c.message_id, parts=consumed)]

    _FLOW = ("IN_DIAGNOSIS", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "IN_EXECUTION", "FINISHED")

    def _change_status(self, to: str) -> None:
        """The OS's own rules: forward along the flow, CANCELLED from any status before FINISHED."""
        current = self.os_status
        if to == current or current in ("FINISHED", "CANCELLED"):
            return
        if to == "CANCELLED" or (to in self._FLOW and self._FLOW.index(to) > self._FLOW.index(current)):
            self.os_status = to


class SagaModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.saga: SagaInstance | None = None
        self.applied: set[str] = set()
        self.in_flight: list[Envelope] = []
        self.world = World({})
        self.lost = 0

    # --- the system -----------------------------------------------------------------------
    @initialize(filter_stock=st.integers(0, 6), pads_stock=st.integers(0, 2))
    def a_diagnosis_is_completed(self, filter_stock: int, pads_stock: int) -> None:
        self.world = World({"7": filter_stock, "9": pads_stock})
        event = Envelope(type="os.DiagnosisCompleted", saga_id=str(uuid.uuid4()), service_order_id=str(uuid.uuid4()),
                         payload={"order_number": "OS-1", "customer_id": "42", "customer_name": "Maria",
                                  "customer_email": "maria@example.com", "priority": 3, "items": [SERVICE, FILTER],
                                  "vehicle": {}, "notes": "", "tracking_url": ""})
        self.world.saga_id, self.world.order_id = event.saga_id, event.service_order_id
        self._apply(saga_flow.start(event, now=self.now, config=CONFIG), event.message_id)

    def _apply(self, decision: Decision, message_id: str | None = None) -> None:
        """What the Execution service does with a decision (services._apply, without I/O)."""
        if decision.deferred:
            raise AssertionError("a deferred decision is not applied")
        if decision.changed:
            decision.saga.version += 1
            self.saga = decision.saga
            if message_id:
                self.applied.add(message_id)
        self.in_flight.extend(decision.commands)
        for effect in decision.effects:
            if isinstance(effect, EnqueueWork):
                if self.world.job is None:
                    self.world.job = "QUEUED"
                assert self.saga is not None
                self._apply(saga_flow.work_enqueued(self.saga, effect.queue_id, now=self.now, config=CONFIG))
            elif isinstance(effect, WithdrawWork) and self.world.job == "QUEUED":
                self.world.job = "WITHDRAWN"

    def _to_saga(self, message: Envelope) -> bool:
        """Deliver to the saga; False when it must come again later (it overtook what it needs)."""
        assert self.saga is not None
        if message.message_id in self.applied:
            return True
        decision = saga_flow.handle(self.saga, message, now=self.now, config=CONFIG)
        if decision.deferred:
            assert not decision.changed and not decision.commands
            return False
        self._apply(decision, message.message_id)
        return True

    def _deliver(self, message: Envelope) -> bool:
        if message.queue == "execution":
            return self._to_saga(message)
        self.in_flight.extend(self.world.receive(message))
        return True

    def _tick(self, delta: timedelta) -> None:
        self.now += delta
        assert self.saga is not None
        self._apply(saga_flow.time_out(self.saga, now=self.now, config=CONFIG))

    # --- the broker -------------------------------------------------------------------------
    # Rules that derail a saga take a ``chance`` and act on one value of it: a random walk then
    # reaches the later steps (payment, the work, revisions) as often as it cancels early.
    @precondition(lambda self: self.in_flight)
    @rule()
    def the_oldest_message_is_delivered(self) -> None:
        message = self.in_flight.pop(0)
        if not self._deliver(message):
            self.in_flight.append(message)

    @precondition(lambda self: self.in_flight)
    @rule(pick=st.integers(0, 1000))
    def a_message_is_delivered(self, pick: int) -> None:
        message = self.in_flight.pop(pick % len(self.in_flight))
        if not self._deliver(message):
            self.in_flight.append(message)  # the consumer retries it later

    @precondition(lambda self: self.in_flight)
    @rule(pick=st.integers(0, 1000))
    def a_message_is_delivered_twice(self, pick: int) -> None:
        message = self.in_flight[pick % len(self.in_flight)]
        self._deliver(message)

    @precondition(lambda self: any(m.type.startswith(LOSABLE_PREFIXES) for m in self.in_flight))
    @rule(pick=st.integers(0, 1000), chance=st.integers(0, 3))
    def the_broker_loses_a_message(self, pick: int, chance: int) -> None:
        if chance:
            return
        losable = [m for m in self.in_flight if m.type.startswith(LOSABLE_PREFIXES)]
        self.in_flight.remove(losable[pick % len(losable)])
        self.lost += 1

    @rule(chance=st.integers(0, 299))
    def the_clock_runs(self, chance: int) -> None:
        # Mostly past a step's timeout; now and then past the customer's and the payment's.
        if chance >= 100:
            return
        seconds = 61 if chance < 75 else 200 if chance < 95 else 7300
        self._tick(timedelta(seconds=seconds))

    # --- people -----------------------------------------------------------------------------
    def _pending_version(self) -> Version | None:
        latest = self.world.latest()
        return latest if latest and latest.status == "PENDING_APPROVAL" else None

    @precondition(lambda self: self._pending_version() is not None)
    @rule(chance=st.integers(0, 9))
    def the_customer_decides(self, chance: int) -> None:
        version = self._pending_version()
        assert version is not None
        approve = chance > 1
        version.status = "APPROVED" if approve else "REJECTED"
        type = "billing.BudgetApproved" if approve else "billing.BudgetRejected"
        self.in_flight.append(self.world.event(type, f"v{version.number}", budget_id=BUDGET_ID,
                                               version=version.number, total_cents=_total(version.items),
                                               decided_by="customer", reason="caro demais"))

    @precondition(lambda self: self._pending_version() is not None)
    @rule(chance=st.integers(0, 9))
    def the_budget_expires_at_billing(self, chance: int) -> None:
        if chance:
            return
        version = self._pending_version()
        assert version is not None
        version.status = "EXPIRED"
        self.in_flight.append(self.world.event("billing.BudgetExpired", f"v{version.number}", budget_id=BUDGET_ID,
                                               version=version.number))

    @precondition(lambda self: len(self.world.versions) < 4
                  and any(v.status in ("PENDING_APPROVAL", "APPROVED") for v in self.world.versions[-1:]))
    @rule(items=st.sampled_from([[PADS], [BRAKES], [BRAKES, PADS]]), chance=st.integers(0, 5))
    def staff_revise_the_budget(self, items: list[dict[str, Any]], chance: int) -> None:
        if chance:
            return
        self.in_flight.append(self.world.revise(items, "staff", f"staff-{len(self.world.versions)}"))

    def _payments(self, *statuses: str) -> list[PaymentRecord]:
        return [p for p in self.world.payments.values() if p.status in statuses and not p.tombstone]

    @precondition(lambda self: self._payments("PENDING"))
    @rule(pick=st.integers(0, 10), chance=st.integers(0, 9))
    def mercado_pago_settles_a_payment(self, pick: int, chance: int) -> None:
        approved = chance > 0
        pending = self._payments("PENDING")
        payment = pending[pick % len(pending)]
        if approved:
            payment.status, payment.charges = "APPROVED", payment.charges + 1
            self.in_flight.append(self.world.payment_event("billing.PaymentApproved", payment, "approved"))
        else:
            payment.status = "REJECTED"
            self.in_flight.append(self.world.payment_event("billing.PaymentFailed", payment, "rejected",
                                                           reason="cc_rejected"))

    @precondition(lambda self: self._payments("APPROVED"))
    @rule(pick=st.integers(0, 10), chance=st.integers(0, 3))
    def the_customer_pays_the_checkout_twice(self, pick: int, chance: int) -> None:
        if chance:
            return
        approved = self._payments("APPROVED")
        payment = approved[pick % len(approved)]
        payment.charges += 1
        payment.refunds += 1  # Billing refunds the second charge at once, and says so
        mp_id = f"mp-{payment.payment_id}-{payment.charges}"
        self.in_flight.append(self.world.event("billing.PaymentRefunded", mp_id, payment_id=payment.payment_id,
                                               mercadopago_payment_id=mp_id, amount_cents=payment.amount_cents,
                                               status="REFUNDED", duplicate=True, reason="second payment"))

    @precondition(lambda self: self.world.os_status not in ("FINISHED", "CANCELLED"))
    @rule(chance=st.integers(0, 11))
    def staff_cancel_the_order(self, chance: int) -> None:
        if chance:
            return
        self.world.os_status = "CANCELLED"
        self.in_flight.append(self.world.event("os.OrderCancelled", "cancel", reason="Cliente desistiu. " * 60,
                                               cancelled_by="attendant"))

    def _job_event(self, type: str, **payload: Any) -> None:
        assert self.saga is not None
        self.in_flight.append(self.world.event(type, f"{type}-{len(self.in_flight)}-{self.now}",
                                               queue_id=self.saga.queue_id, **payload))

    @precondition(lambda self: self.world.job == "QUEUED")
    @rule(outcome=st.sampled_from(["complete", "complete", "fail", "report", "report"]))
    def the_mechanic_works(self, outcome: str) -> None:
        if outcome == "complete":
            self.world.job = "COMPLETED"
            self._job_event("execution.WorkCompleted", notes="ok")
        elif outcome == "fail":
            self.world.job = "FAILED"
            self._job_event("execution.WorkFailed", reason="x" * 2000)
        else:
            self._job_event("execution.AdditionalRepairReported", items=[PADS], notes="pastilhas gastas")

    # --- the promises -------------------------------------------------------------------------
    @invariant()
    def money_is_never_refunded_twice_nor_kept_twice(self) -> None:
        for payment in self.world.payments.values():
            assert payment.refunds <= payment.charges, payment
            assert payment.charges - payment.refunds <= 1, payment

    @invariant()
    def stock_is_never_over_reserved(self) -> None:
        for catalog_id, held in self.world.held.items():
            assert 0 <= held <= self.world.stock[catalog_id]

    @invariant()
    def the_stored_json_is_the_dict_of_the_saga(self) -> None:
        # The repository dumps the saga straight from its dataclasses (no asdict copy first).
        if self.saga is not None:
            assert json.loads(json.dumps(self.saga, default=_fields_of)) == json.loads(json.dumps(self.saga.to_dict()))

    def teardown(self) -> None:
        if self.saga is None:
            return
        reached = self.saga.current_step
        self._settle()
        s, w = self.saga, self.world
        _event(f"{s.status} from step {reached}, {len(w.versions)} version(s), {len(s.revisions)} revision(s), "
              f"{'with' if self.lost else 'no'} lost messages")
        assert s.status in ("COMPLETED", "COMPENSATED"), (s.status, s.cause, s.pending)
        assert not self.in_flight
        assert all(held == 0 for held in w.held.values()), f"stock left reserved: {w.held}"
        kept = {p.payment_id: p.charges - p.refunds for p in w.payments.values()}
        if s.status == "COMPENSATED":
            assert w.os_status == "CANCELLED"
            assert not [p for p in w.payments.values() if p.status == "PENDING"], "a payable Pix was left behind"
        else:
            assert w.os_status == ("CANCELLED" if s.cancelled_by_os else "FINISHED"), w.os_status
            budget_payment = next(p for p in s.payments if p.purpose == "budget")
            approved = next(v for v in w.versions if v.number == budget_payment.budget_version)
            assert budget_payment.amount_cents == _total(approved.items)
            assert w.consumed == _parts([i for i in approved.items if i["kind"] == "part"]) or s.revisions
            # Only the additional repairs the customer approved may still wait to be paid.
            assert all(p.version > budget_payment.budget_version for p in w.payments.values() if p.status == "PENDING")
        if w.os_status == "CANCELLED":
            assert not any(kept.values()), f"money kept for a cancelled order: {kept}"
            assert not [p for p in w.payments.values() if p.status == "PENDING"], "a cancelled order can be paid"
        else:
            assert kept[f"p-{budget_payment.budget_version}"] == 1
            # Money is kept only for what the customer approved and the saga charged for.
            charged = {budget_payment.budget_version} | {
                r.budget_version for r in s.revisions if r.status == "APPROVED"}
            assert all(w.payments[p].version in charged for p, k in kept.items() if k), (kept, s.revisions)

    def _settle(self) -> None:
        """Everything in flight arrives, people act or never do, the clock runs past every timeout."""
        for _ in range(60):
            assert self.saga is not None
            while self.in_flight:
                before = len(self.in_flight)
                for message in list(self.in_flight):
                    self.in_flight.remove(message)
                    if not self._deliver(message):
                        self.in_flight.append(message)
                if len(self.in_flight) == before and all(m.queue == "execution" for m in self.in_flight):
                    break  # only deferred messages are left: time must pass
            if self.world.job == "QUEUED":
                self.world.job = "COMPLETED"
                self._job_event("execution.WorkCompleted", notes="ok")
                continue
            if self.saga.status == "FAILED":
                # A person looks at it and retries once the participants answer again.
                self._apply(saga_flow.retry_failed(self.saga, now=self.now, config=CONFIG, by="admin"))
                continue
            if self.saga.is_terminal and not self.in_flight:
                return
            self._tick(timedelta(hours=3))
        raise AssertionError(f"the saga never settled: {self.saga.status} {self.saga.pending} {self.in_flight}")


TestSagaModel = SagaModel.TestCase
