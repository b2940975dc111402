"""Billing's use cases: the only place that writes.

Each state change is one conditional write through a repository, carrying the messages it
publishes. A lost race (ConcurrencyConflict) is answered by reading again and deciding again,
so concurrent deliveries of the same news change things once.
"""
from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from oficina_common import contracts
from oficina_common.concurrency import MAX_ATTEMPTS, retry_on_conflict
from oficina_common.correlation import bind_correlation_id
from oficina_common.dynamodb import Page
from oficina_common.errors import (
    AlreadyExists,
    ApplicationError,
    ConcurrencyConflict,
    InvalidTransition,
    NotFound,
    UpstreamUnavailable,
    ValidationFailed,
)
from oficina_common.messages import Envelope, clip

from . import links
from .dependencies import dependencies
from .domain import (
    BUDGET_EVENTS,
    ID_NAMESPACE,
    STAFF_REVISION_PREFIX,
    Actor,
    ApprovalToken,
    Budget,
    BudgetStatus,
    Decision,
    MercadoPagoPayment,
    Payment,
    PaymentMethod,
    PaymentStatus,
    budget_id_for_saga,
    hash_approval_token,
    parse_lines,
    payment_id_for,
)
from .emails import send_approval_email
from .mercadopago import MercadoPagoRefused

logger = logging.getLogger(__name__)

LINK_CLAIM_STALE_AFTER = timedelta(minutes=5)


# --- small helpers ------------------------------------------------------------------------------

def _now() -> datetime:
    return dependencies().clock()


def approval_ttl() -> timedelta:
    return timedelta(hours=settings.BUDGET_APPROVAL_TTL_HOURS)


def approval_url(token: str) -> str:
    return links.public_url(f"/budgets/review/{token}/")


def payment_page_url(budget_id: str, version: int) -> str:
    """The customer's payment page of a budget version, absolute and signed (it lives for
    PAYMENT_PAGE_TTL_HOURS): the approval sends her there, and the OS's pages link to it."""
    return links.public_url(links.payment_page_path(budget_id, version))


def notification_url() -> str:
    return f"{settings.MERCADOPAGO_NOTIFICATION_BASE_URL.rstrip('/')}/api/v1/webhooks/mercadopago/"


# The most Billing keeps of a command's cosmetic fields (longer text is cut, never refused).
ORDER_NUMBER_LIMIT = 64
URL_LIMIT = 1000
PAYMENT_DESCRIPTION_LIMIT = 250  # Mercado Pago's own limit


def _exact(value: str | None, name: str, *, required: bool = True, max_length: int = 500) -> str:
    """A field that must be exactly right (an id, an e-mail address): refused when it is not."""
    value = (value or "").strip()
    if not value and required:
        raise ValidationFailed(f"{name}: required.")
    if len(value) > max_length:
        raise ValidationFailed(f"{name}: at most {max_length} characters.")
    return value


def _link(value: str) -> str:
    """A link the customer follows: left out when too long, since a cut link leads nowhere."""
    value = value.strip()
    return value if len(value) <= URL_LIMIT else ""


def _whole(value: int | None, name: str, minimum: int = 1) -> int:
    if value is None or value < minimum:
        raise ValidationFailed(f"{name}: a whole number of at least {minimum}.")
    return value


def _event(event_type: str, source: Budget | Payment, payload: contracts.Contract,
           cause: Envelope | None = None, *, origin: str | None = None) -> Envelope:
    """A reply to the command that caused it, or an event of the source's saga.

    Its message id is derived from what caused it (the command, the budget version / payment that
    moved, or the ``origin`` named), so the same news published twice carries the same id and the
    consumer's inbox takes it once.
    """
    if cause is not None:
        origin = f"message:{cause.message_id}"
    elif origin is None and isinstance(source, Budget):
        origin = f"budget:{source.budget_id}:{source.version}"
    elif origin is None:
        origin = f"payment:{source.payment_id}"
    message_id = str(uuid.uuid5(ID_NAMESPACE, f"{origin}:{event_type}"))
    return Envelope(type=event_type, saga_id=cause.saga_id if cause else source.saga_id,
                    service_order_id=cause.service_order_id if cause else source.service_order_id,
                    payload=payload, message_id=message_id)


# --- budgets ------------------------------------------------------------------------------------

def budget_create(*, order: contracts.CreateBudget, command: Envelope) -> Budget:
    """``billing.CreateBudget``: one budget per saga, however often (or concurrently) the command comes.

    The create is conditional, so it is tried first and a repeat is told apart by its AlreadyExists
    (no read before it). The version is created claimed for its approval link by this worker,
    which e-mails the link next with the budget in hand.
    """
    deps = dependencies()
    lines = parse_lines(order.items)
    budget_id = budget_id_for_saga(command.saga_id)
    now = _now()
    budget = Budget.open(
        budget_id=budget_id, saga_id=command.saga_id, service_order_id=command.service_order_id,
        customer_id=_exact(order.customer_id, "customer_id"), lines=lines, now=now, approval_ttl=approval_ttl(),
        command_id=command.message_id, customer_name=clip(order.customer_name),
        customer_email=_exact(order.customer_email, "customer_email", required=False, max_length=254),
        order_number=clip(order.order_number, ORDER_NUMBER_LIMIT), tracking_url=_link(order.tracking_url),
    )
    try:
        deps.budgets.add(budget, [_event("billing.BudgetCreated", budget, budget.created_payload(), command)],
                         link_claimed_at=now if budget.customer_email else None)
    except AlreadyExists:
        # A redelivery, or another CreateBudget of the same saga (a retry of the step, a concurrent
        # delivery, or the saga's CancelBudget that came first): answered from what is there.
        return _answer_create_again(budget_id, command)
    logger.info("budget %s version 1 created: %d cents", budget_id, budget.total_cents)
    _email_approval_link_now(budget, claimed_at=now)
    return budget


def _answer_create_again(budget_id: str, command: Envelope) -> Budget:
    """The answer is version 1, whatever came after it; a redelivery's answer carries the id its first one had."""
    deps = dependencies()
    existing = deps.budgets.latest(budget_id)
    logger.info("budget %s already exists for saga %s; answering again", budget_id, command.saga_id)
    first = existing if existing.version == 1 else deps.budgets.get(budget_id, 1) or existing
    if first.never_opened:
        # The saga cancelled it before this command came: nothing is opened for approval.
        reply = _event("billing.BudgetCancelled", first, first.cancelled_payload(), command)
    else:
        reply = _event("billing.BudgetCreated", first, first.created_payload(), command)
    deps.budgets.republish(first, [reply])
    _resume_approval_email(existing)
    return existing


def _resume_approval_email(budget: Budget) -> None:
    if budget.status == BudgetStatus.PENDING_APPROVAL and budget.link_sent_at is None:
        dependencies().schedule_approval_email(budget.budget_id, budget.version)


def budget_revise(*, budget_id: str, items: Any, reason: str = "", command: Envelope | None = None) -> Budget:
    """Version N+1 = version N's items plus the additional ones; N becomes SUPERSEDED.

    ``items``: the command's item lines (``contracts.ItemLine``), or, from ``POST
    budgets/{id}/revisions/`` (staff, without a command), the API's dicts.
    """
    deps = dependencies()
    additional = parse_lines(items)
    reason = clip(reason)
    command_id = command.message_id if command else f"{STAFF_REVISION_PREFIX}{uuid.uuid4()}"

    def revise(current: Budget | None) -> Budget:
        if current is None or (command is not None and current.saga_id != command.saga_id):
            raise NotFound(f"Budget {budget_id} does not exist.")
        made = current if current.command_id == command_id else _revision_made_by(current, command)
        if made is not None:
            # This very command made a version before (a redelivery): finish what it started, answer again.
            _supersede(deps.budgets.get(budget_id, made.version - 1))
            _resume_approval_email(made)
            deps.budgets.republish(made, [_event("billing.BudgetCreated", made, made.created_payload(), command)])
            return made
        revised = current.revise(additional, reason=reason, now=_now(), approval_ttl=approval_ttl(),
                                 command_id=command_id)
        created = _event("billing.BudgetCreated", revised, revised.created_payload(), command)
        deps.budgets.add(revised, [created])  # AlreadyExists: someone made version N+1 first, revise that
        _supersede(current)
        logger.info("budget %s version %d created (+%d cents)", budget_id, revised.version,
                    revised.additional_total_cents)
        deps.schedule_approval_email(revised.budget_id, revised.version)
        return revised

    return retry_on_conflict(revise, read=lambda: deps.budgets.latest(budget_id), conflicts=(AlreadyExists,),
                             gave_up=f"Budget {budget_id} kept changing while it was being revised; try again.")


def _revision_made_by(latest: Budget, command: Envelope | None) -> Budget | None:
    """The version a ReviseBudget made, when a newer one (staff's) came after it."""
    if command is None or latest.version <= 2:
        return None  # the latest is the only revision there is (already compared)
    return next((b for b in dependencies().budgets.versions(latest.budget_id)
                 if b.command_id == command.message_id), None)


def _supersede(previous: Budget | None) -> None:
    if previous is None:
        return
    deps = dependencies()

    def supersede(budget: Budget | None) -> None:
        if budget is None or budget.status == BudgetStatus.SUPERSEDED:
            return
        try:
            deps.budgets.save(budget.supersede(_now()), expected=budget)
        except InvalidTransition:
            logger.info("budget %s version %d is %s; left as it is", budget.budget_id, budget.version, budget.status)

    retry_on_conflict(supersede, first=previous, read=lambda: deps.budgets.get(previous.budget_id, previous.version),
                      gave_up=f"Budget {previous.budget_id} kept changing while it was being superseded.")


def budget_cancel(*, cancellation: contracts.CancelBudget, command: Envelope) -> Budget:
    """``billing.CancelBudget`` (a compensation): CANCELLED, and BudgetCancelled in reply, even if already closed.

    Without ``budget_id`` it is the saga's budget (the saga gave up waiting for CreateBudget's
    reply). When that budget does not exist yet, version 1 is recorded CANCELLED without lines, in
    the same conditional create CreateBudget makes: whichever comes first, the other finds it, so
    a CreateBudget arriving later opens nothing for approval.
    """
    deps = dependencies()
    saga_budget_id = budget_id_for_saga(command.saga_id)
    budget_id = _exact(cancellation.budget_id, "budget_id", required=False) or saga_budget_id
    reason = clip(cancellation.reason)

    def cancel(current: Budget | None) -> Budget:
        if current is None and budget_id == saga_budget_id:
            unopened = Budget.cancelled_unopened(budget_id=budget_id, saga_id=command.saga_id,
                                                 service_order_id=command.service_order_id, reason=reason,
                                                 now=_now(), command_id=command.message_id)
            reply = _event("billing.BudgetCancelled", unopened, unopened.cancelled_payload(), command)
            deps.budgets.add(unopened, [reply])  # AlreadyExists: CreateBudget made it meanwhile, cancel that
            logger.info("budget %s cancelled before it was created", budget_id)
            return unopened
        if current is None or current.saga_id != command.saga_id:
            raise NotFound(f"Budget {budget_id} does not exist.")
        cancelled = current.cancel(reason=reason, now=_now())
        reply = _event("billing.BudgetCancelled", current, (cancelled or current).cancelled_payload(), command)
        if cancelled is None:
            logger.info("budget %s is already %s; nothing to cancel", budget_id, current.status)
            deps.budgets.republish(current, [reply])
            return current
        return deps.budgets.save(cancelled, expected=current, messages=[reply])

    return retry_on_conflict(cancel, read=lambda: deps.budgets.latest(budget_id),
                             conflicts=(AlreadyExists, ConcurrencyConflict),
                             gave_up=f"Budget {budget_id} kept changing while it was being cancelled.")


@dataclass(frozen=True)
class DecisionOutcome:
    budget: Budget
    changed: bool


def budget_decide(*, budget_id: str, version: int, decision: Decision | str, actor: Actor,
                  reason: str = "", lines: list[int] | None = None) -> DecisionOutcome:
    """Approve or reject one budget version, by the order's customer (JWT or the e-mailed link),
    or by an attendant or an admin for them, who must give the reason (a mechanic may not).

    An approval with ``lines`` (line ids) approves those lines and declines the others
    (Budget.decide holds the rules); without, it approves them all.

    The same decision again (the same lines) is a no-op; a stale version, the contrary decision
    or other lines is an InvalidTransition (409). Concurrent decisions: the write is conditional on the status the
    version was read in, so exactly one wins and publishes its event.
    """
    deps = dependencies()
    try:
        decision = Decision(decision)
    except ValueError as exc:
        raise ValidationFailed("decision: must be 'approve' or 'reject'.") from exc
    actor.check_may_decide(reason)
    if decision is Decision.REJECT and not reason.strip():
        reason = "rejected by the customer"
    now = _now()
    token = _approval_token(actor, budget_id, version, decision, now) if actor.approval_token else None

    def decide(found: tuple[Budget | None, int]) -> DecisionOutcome:
        budget, latest_version = found
        if budget is None or not actor.may_see(budget.customer_id):
            raise NotFound(f"Budget {budget_id} version {version} does not exist.")
        if latest_version > version and budget.status != decision.status:
            raise InvalidTransition(
                f"Version {version} of budget {budget_id} is stale: the budget is at version {latest_version}.",
                code="stale_version", extra={"version": version, "latest_version": latest_version},
            )
        decided = budget.decide(decision, by=actor.decided_by, reason=reason, now=now,
                                lines=lines if decision is Decision.APPROVE else None)
        if decided is None:
            return DecisionOutcome(budget, changed=False)
        event_type = BUDGET_EVENTS[decided.status]
        # ConcurrencyConflict: someone decided meanwhile; read again, and it is a no-op or a 409.
        saved = deps.budgets.save(decided, expected=budget,
                                  messages=[_event(event_type, decided, decided.decided_payload(
                                      payment_url=payment_page_url(budget_id, version)))])
        logger.info("budget %s version %d %s by %s (%d lines declined)", budget_id, version, decision.past_tense,
                    actor.decided_by, len(saved.declined_line_ids))
        return DecisionOutcome(saved, changed=True)

    outcome = retry_on_conflict(decide, read=lambda: deps.budgets.get_with_latest_version(budget_id, version),
                                gave_up=f"Budget {budget_id} kept changing; try again.")
    if token is not None:
        try:
            deps.approval_tokens.mark_used(token.token_hash, decision.value, now)
        except ConcurrencyConflict:
            logger.info("approval link of budget %s was used meanwhile", budget_id)
    return outcome


def _approval_token(actor: Actor, budget_id: str, version: int, decision: Decision, now: datetime) -> ApprovalToken:
    token = dependencies().approval_tokens.get(hash_approval_token(actor.approval_token or ""), now=now)
    if token is None or token.budget_id != budget_id or token.is_expired(now):
        raise NotFound("This approval link is invalid or has expired.", code="invalid_approval_link")
    if token.version != version:
        raise InvalidTransition(
            f"This approval link is for version {token.version}, not {version}.", code="stale_version",
            extra={"version": version, "link_version": token.version},
        )
    if token.used_decision and token.used_decision != decision.value:
        raise InvalidTransition(
            f"This approval link was already used to {token.used_decision} the budget.", code="approval_link_used",
        )
    return token


def _email_approval_link_now(budget: Budget, *, claimed_at: datetime) -> None:
    """The link of a budget just created (claimed for this worker in its creating write), e-mailed by
    the worker that created it, with the budget in hand (no task, no second read, no claim write); a
    mail server that fails releases the claim and hands it to the retrying task."""
    try:
        _email_approval_link(budget, claimed_at=claimed_at)
    except Exception:  # noqa: BLE001 - the budget is created; the task retries the e-mail
        logger.warning("approval link of budget %s not e-mailed now; a task retries it", budget.budget_id,
                       exc_info=True)
        dependencies().schedule_approval_email(budget.budget_id, budget.version)


def budget_send_approval_link(*, budget_id: str, version: int) -> bool:
    """E-mail the customer a fresh single-use link for a version waiting for approval.

    The token exists only in the e-mail; Billing keeps its SHA-256 hash, bound to the version.
    When another sender holds the claim (the worker that created the version, still sending or
    crashed), ConcurrencyConflict: the task tries again later, and finds the link sent, or the
    claim stale and takes it.
    """
    budget = dependencies().budgets.get(budget_id, version)
    if budget is None:
        logger.warning("no budget %s version %s to e-mail", budget_id, version)
        return False
    return _email_approval_link(budget)


def _email_approval_link(budget: Budget, *, claimed_at: datetime | None = None) -> bool:
    deps = dependencies()
    budget_id, version = budget.budget_id, budget.version
    if budget.status != BudgetStatus.PENDING_APPROVAL or budget.link_sent_at is not None:
        return False
    if not budget.customer_email:
        logger.warning("budget %s has no customer e-mail; no approval link sent", budget_id)
        return False
    now = claimed_at or _now()
    if claimed_at is None and not deps.budgets.claim_link_sending(budget, now, stale_after=LINK_CLAIM_STALE_AFTER):
        logger.info("approval link of budget %s version %d is being sent by someone else", budget_id, version)
        raise ConcurrencyConflict(f"The approval link of budget {budget_id} version {version} is being sent "
                                  "by another worker; trying again later.")
    token = secrets.token_urlsafe(32)
    try:
        deps.approval_tokens.add(ApprovalToken(token_hash=hash_approval_token(token), budget_id=budget_id,
                                               version=version, expires_at=budget.expires_at, created_at=now))
        send_approval_email(budget, approval_url(token))
    except Exception:
        deps.budgets.release_link_claim(budget)  # let the retry send it
        raise
    deps.budgets.mark_link_sent(budget, now)
    logger.info("approval link of budget %s version %d e-mailed", budget_id, version)
    return True


def budgets_expire(*, limit: int = 100) -> int:
    """Versions still PENDING_APPROVAL past their expiry become EXPIRED (BudgetExpired)."""
    deps = dependencies()
    now = _now()
    expired = 0
    for budget_id, version in deps.budgets.due_for_expiry(now, limit=limit):
        budget = deps.budgets.get(budget_id, version)  # the index lags behind the table
        if budget is None or budget.status != BudgetStatus.PENDING_APPROVAL or not budget.is_past_expiry(now):
            continue
        with bind_correlation_id(budget.saga_id):
            try:
                deps.budgets.save(budget.expire(now), expected=budget,
                                  messages=[_event("billing.BudgetExpired", budget, budget.closed_payload())])
            except ConcurrencyConflict:
                logger.info("budget %s version %d was decided just before expiring", budget_id, version)
                continue
            logger.info("budget %s version %d expired", budget_id, version)
        expired += 1
    return expired


# --- payments -------------------------------------------------------------------------------------

def payment_request(*, request: contracts.RequestPayment, command: Envelope) -> Payment:
    """``billing.RequestPayment``: one payment per saga and budget version, created at Mercado Pago once."""
    deps = dependencies()
    budget_id = _exact(request.budget_id, "budget_id")
    amount_cents = _whole(request.amount_cents, "amount_cents")
    payment_id = payment_id_for(command.saga_id, budget_id, request.version)
    try:
        payment = _open_payment(payment_id, command, request, budget_id=budget_id, amount_cents=amount_cents)
    except (NotFound, InvalidTransition, ValidationFailed):
        # A repeat is answered from the payment, whatever became of the budget since.
        payment = deps.payments.get(payment_id)
        if payment is None:
            raise
    return _request_at_mercadopago(payment, cause=command)


def _open_payment(payment_id: str, command: Envelope, request: contracts.RequestPayment, *, budget_id: str,
                  amount_cents: int) -> Payment:
    """The payment's record, written once by a conditional create (no read before it): of two
    deliveries at once, or a repeat, the first write is kept and read on AlreadyExists."""
    deps = dependencies()
    version = request.version
    budget = deps.budgets.get(budget_id, version)
    if budget is None or budget.saga_id != command.saga_id:
        raise NotFound(f"Budget {budget_id} version {version} does not exist.")
    if not budget.was_approved:
        raise InvalidTransition(f"Budget {budget_id} version {version} is {budget.status}: "
                                "no payment is asked for a budget the customer has not approved.")
    payer_email = _exact(request.payer_email, "payer_email", required=False, max_length=254) or budget.customer_email
    if not payer_email:
        raise ValidationFailed("payer_email: required (the budget has no customer e-mail either).")
    payment = Payment.open(
        payment_id=payment_id, budget=budget, saga_id=command.saga_id, service_order_id=command.service_order_id,
        amount_cents=amount_cents, method=PaymentMethod(request.method), payer_email=payer_email,
        description=clip(request.description, PAYMENT_DESCRIPTION_LIMIT)
        or f"Oficina - OS {budget.order_number or budget.service_order_id}", now=_now())
    try:
        return deps.payments.add(payment)
    except AlreadyExists:
        return deps.payments.get(payment_id)


def _request_at_mercadopago(payment: Payment, *, cause: Envelope | None) -> Payment:
    """Create the Pix payment or checkout preference at Mercado Pago, then record it (PaymentRequested).

    MercadoPagoUnavailable propagates untouched: nothing was written, and the caller retries
    with the same idempotency key, so Mercado Pago answers with the payment it already made.
    """
    deps = dependencies()
    if payment.status != PaymentStatus.PENDING or payment.requested_at is not None:
        return _answer_request(payment, cause)
    now = _now()
    event_type = "billing.PaymentRequested"
    try:
        if payment.method == PaymentMethod.PIX:
            created = deps.mercadopago.create_pix_payment(
                idempotency_key=payment.idempotency_key, amount_cents=payment.amount_cents,
                description=payment.description, payer_email=payment.payer_email,
                external_reference=payment.payment_id, notification_url=notification_url())
            _mark_created_by_us(payment, created, now)

            def record(p: Payment) -> Payment:
                return p.requested_pix(created, now)
        else:
            preference = deps.mercadopago.create_checkout_preference(
                idempotency_key=payment.idempotency_key, amount_cents=payment.amount_cents,
                description=payment.description, payer_email=payment.payer_email,
                external_reference=payment.payment_id, notification_url=notification_url())

            def record(p: Payment) -> Payment:
                return p.requested_checkout(preference_id=preference.id, init_point=preference.init_point, now=now)
    except MercadoPagoRefused as exc:
        logger.warning("Mercado Pago refused payment %s: %s", payment.payment_id, exc.message)
        event_type = "billing.PaymentFailed"
        refusal = f"Mercado Pago refused the payment: {exc.message}"

        def record(p: Payment) -> Payment:
            return p.refused(refusal, now)
    def save(current: Payment) -> Payment:
        if current.status != PaymentStatus.PENDING or current.requested_at is not None:
            return _answer_request(current, cause)  # another delivery recorded it first
        updated = record(current)
        saved = deps.payments.save(updated, expected=current,
                                   messages=[_event(event_type, updated, updated.news(event_type), cause)])
        deps.recent_payments.keep(saved)  # for Mercado Pago's news of it, which this worker takes
        logger.info("payment %s requested at Mercado Pago (%s)", current.payment_id, current.method)
        return saved

    return retry_on_conflict(save, first=payment, read=lambda: deps.payments.get(payment.payment_id),
                             gave_up=f"Payment {payment.payment_id} kept changing while it was being requested.")


def _mark_created_by_us(payment: Payment, created: MercadoPagoPayment, now: datetime) -> None:
    """Tell the webhook that this payment's ``payment.created`` notification has nothing new, when
    the answer Billing is about to record says all it would (a Pix created pending).

    Marked before the write, since Mercado Pago notifies as soon as it answers: if the write never
    happens, the payment stays PENDING without its request recorded, and this command's retry or
    the reconciliation asks Mercado Pago again with the same idempotency key and records the same
    answer the notification's task would have read. Any later change comes as ``payment.updated``.
    """
    requested = payment.requested_pix(created, now)
    if requested.observe(created, now) is None:
        dependencies().created_payments.remember(created.id)


def _answer_request(payment: Payment, command: Envelope | None) -> Payment:
    """Answer a RequestPayment that finds its payment already settled: a repeat gets the reply the
    first delivery got (same message id); a payment cancelled before it reached Mercado Pago fails;
    an approved one says so (the saga asks again while it waits: its PaymentApproved may have been
    lost on the way)."""
    if command is None:
        return payment
    if payment.status == PaymentStatus.REJECTED or payment.never_requested:
        event_type = "billing.PaymentFailed"
    elif payment.status == PaymentStatus.APPROVED:
        event_type = "billing.PaymentApproved"
    else:
        event_type = "billing.PaymentRequested"
    logger.info("payment %s is %s already; answering %s again", payment.payment_id, payment.status, event_type)
    reply = _event(event_type, payment, payment.news(event_type), command)
    dependencies().payments.republish(payment, [reply])
    return payment


def _save_news(current: Payment, mp: MercadoPagoPayment, cause: Envelope | None) -> Payment | None:
    """Mercado Pago's view of ``current`` written, conditional on its status and revision; None
    when it changes nothing."""
    deps = dependencies()
    change = current.observe(mp, _now())
    if change is None:
        return None
    updated, event_type = change
    messages = [_event(event_type, updated, updated.news(event_type), cause)] if event_type else []
    saved = deps.payments.save(updated, expected=current, messages=messages)
    deps.recent_payments.keep(saved)
    if saved.status != current.status:
        logger.info("payment %s %s -> %s (Mercado Pago %s)", current.payment_id, current.status,
                    saved.status, mp.status)
    return saved


def _apply_mercadopago(payment: Payment, mp: MercadoPagoPayment, *, cause: Envelope | None = None) -> Payment:
    """Apply Mercado Pago's view of a payment once: a conditional write, then re-read on a lost race."""
    deps = dependencies()
    return retry_on_conflict(lambda current: _save_news(current, mp, cause) or current, first=payment,
                             read=lambda: deps.payments.get(payment.payment_id),
                             gave_up=f"Payment {payment.payment_id} kept changing; it will be tried again.")


def _applied_on_the_copy(payment_id: str, mp: MercadoPagoPayment) -> Payment | None:
    """Mercado Pago's news applied on the copy of the payment this process wrote last, when it
    changes it: the write is conditional on what the copy says, so a stale copy fails it. None: no
    copy, nothing to change on it, or money to give back (decided on the payment as read, never on
    a copy), or a stale copy; the payment is read."""
    deps = dependencies()
    copy = deps.recent_payments.get(payment_id)
    if copy is None:
        return None
    try:
        if copy.is_stray(mp) or copy.is_duplicate(mp):
            return None
        with bind_correlation_id(copy.saga_id or None):
            return _save_news(copy, mp, None)
    except ApplicationError:  # stale (ConcurrencyConflict) or refused: decided again on the payment as read
        deps.recent_payments.forget(payment_id)
        return None


def payment_sync_from_mercadopago(*, mercadopago_payment_id: str, request_id: str = "") -> Payment | None:
    """What a webhook (or the reconciliation) triggers: read the payment from Mercado Pago and apply it."""
    deps = dependencies()
    mp = deps.mercadopago.get_payment(mercadopago_payment_id)
    if _is_uuid(mp.external_reference) and (applied := _applied_on_the_copy(mp.external_reference, mp)):
        return applied
    # Our own id travels as external_reference: a consistent read by key; the index is the fallback.
    payment = deps.payments.get(mp.external_reference) if _is_uuid(mp.external_reference) else None
    if payment is None:
        payment = deps.payments.find_by_mercadopago_id(mp.id)
    if payment is None:
        logger.warning("Mercado Pago payment %s (reference %r, request %s) is none of ours; ignored",
                       mp.id, mp.external_reference, request_id or "-")
        return None
    with bind_correlation_id(payment.saga_id or None):
        return _take_news(payment, mp)


def _take_news(payment: Payment, mp: MercadoPagoPayment) -> Payment:
    """What Mercado Pago says of one of its payments for ours; money it must not keep goes back."""
    if payment.is_stray(mp):
        logger.warning("Mercado Pago payment %s was approved but payment %s is %s; refunding it",
                       mp.id, payment.payment_id, payment.status)
        _give_back(mp)
        return payment
    if payment.is_duplicate(mp):
        return _refund_duplicate(payment, mp)
    return _apply_mercadopago(payment, mp)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError):
        return False
    return True


def _give_back(mp: MercadoPagoPayment) -> None:
    """Refund a Mercado Pago payment we keep no money of; its own key makes a repeat refund nothing."""
    dependencies().mercadopago.refund_payment(mp.id, idempotency_key=f"refund-stray-{mp.id}")


def _refund_duplicate(payment: Payment, extra: MercadoPagoPayment) -> Payment:
    """The order was paid twice (a second Checkout Pro payment): refund the extra one and tell the saga.

    Recorded on the payment with the message, in one conditional write: a repeat of the webhook
    finds it recorded and does nothing; a refund made before a crash is not made twice (the key).
    """
    deps = dependencies()
    logger.warning("Mercado Pago payment %s pays payment %s a second time (it was paid by %s); refunding it",
                   extra.id, payment.payment_id, payment.mercadopago_payment_id)
    if extra.our_status == PaymentStatus.APPROVED:
        _give_back(extra)
    refunded = _event("billing.PaymentRefunded", payment, payment.news("billing.PaymentRefunded", extra=extra),
                      origin=f"mercadopago:{extra.id}")
    def record(current: Payment) -> Payment:
        if extra.id in current.refunded_extras:
            return current
        return deps.payments.save(current.with_extra_refunded(extra.id, _now()), expected=current,
                                  messages=[refunded])

    return retry_on_conflict(record, first=payment, read=lambda: deps.payments.get(payment.payment_id),
                             gave_up=f"Payment {payment.payment_id} kept changing; it will be tried again.")


def payment_cancel(*, undo: contracts.UndoPayment, command: Envelope) -> Payment:
    """``billing.CancelPayment``: a PENDING payment is cancelled; an APPROVED one is refunded instead."""
    return _compensate(undo, command)


def payment_refund(*, undo: contracts.UndoPayment, command: Envelope) -> Payment:
    """``billing.RefundPayment``: an APPROVED payment is refunded; a PENDING one is cancelled instead."""
    return _compensate(undo, command)


def _compensate(undo: contracts.UndoPayment, command: Envelope) -> Payment:
    deps = dependencies()
    reason = clip(undo.reason)
    if undo.payment_id is None:
        return _compensate_blind(undo, command, reason)
    payment_id = _exact(undo.payment_id, "payment_id")
    payment = deps.payments.get(payment_id)
    if payment is None or payment.saga_id != command.saga_id:
        raise NotFound(f"Payment {payment_id} does not exist.")
    return _undo(payment, reason, command)


def _compensate_blind(undo: contracts.UndoPayment, command: Envelope, reason: str) -> Payment:
    """The saga gave up waiting for RequestPayment's reply and names the budget version instead.

    A payment that does not exist yet is recorded CANCELLED, under the key RequestPayment would
    create (the same conditional create): a RequestPayment arriving later charges nobody.
    """
    deps = dependencies()
    budget_id = _exact(undo.budget_id, "budget_id")
    version = _whole(undo.version, "version")
    payment_id = payment_id_for(command.saga_id, budget_id, version)
    payment = deps.payments.get(payment_id)
    if payment is None:
        budget = deps.budgets.get(budget_id, version)
        if budget is None or budget.saga_id != command.saga_id:
            raise NotFound(f"Budget {budget_id} version {version} does not exist.")
        now = _now()
        unrequested = Payment.open(
            payment_id=payment_id, budget=budget, saga_id=command.saga_id, service_order_id=command.service_order_id,
            amount_cents=0, method=PaymentMethod.PIX, payer_email=budget.customer_email, description="", now=now,
        ).with_cancel_requested(reason, now).cancelled(now)
        reply = _event("billing.PaymentCancelled", unrequested,
                       unrequested.news("billing.PaymentCancelled"), command)
        try:
            deps.payments.add(unrequested, [reply])
        except AlreadyExists:
            payment = deps.payments.get(payment_id)  # RequestPayment recorded it meanwhile: undo that one
        else:
            logger.info("payment %s cancelled before it was requested", payment_id)
            return unrequested
    return _undo(payment, reason, command)


def _undo(payment: Payment, reason: str, command: Envelope) -> Payment:
    """Cancel a PENDING payment, refund an APPROVED one; a closed one is answered for again."""
    deps = dependencies()
    acted = False
    for _ in range(MAX_ATTEMPTS):
        if payment.status == PaymentStatus.PENDING:
            payment = _cancel_pending(payment, reason, command)
        elif payment.status == PaymentStatus.APPROVED:
            payment = _refund_approved(payment, command)
        else:
            if not acted:
                # Already undone before this command came: answer again so the saga can go on.
                event_type = ("billing.PaymentRefunded" if payment.status == PaymentStatus.REFUNDED
                              else "billing.PaymentCancelled")
                reply = _event(event_type, payment, payment.news(event_type), command)
                deps.payments.republish(payment, [reply])
            return payment
        acted = True
    raise ConcurrencyConflict(f"Payment {payment.payment_id} kept changing while it was being undone.")


def _cancel_pending(payment: Payment, reason: str, cause: Envelope) -> Payment:
    deps = dependencies()
    if payment.cancel_requested_at is None:
        try:
            payment = deps.payments.save(payment.with_cancel_requested(reason, _now()), expected=payment)
        except ConcurrencyConflict:
            return deps.payments.get(payment.payment_id)
    if payment.method == PaymentMethod.PIX and payment.mercadopago_payment_id:
        try:
            mp = deps.mercadopago.cancel_payment(payment.mercadopago_payment_id,
                                                 idempotency_key=payment.cancel_idempotency_key)
        except MercadoPagoRefused:
            # Mercado Pago will not cancel it (paid meanwhile?): see what it is now.
            mp = deps.mercadopago.get_payment(payment.mercadopago_payment_id)
        payment = _apply_mercadopago(payment, mp, cause=cause)
        if payment.status != PaymentStatus.PENDING:
            return payment
    elif payment.method == PaymentMethod.CHECKOUT and payment.requested_at is not None:
        paid = [mp for mp in deps.mercadopago.find_payments(payment.payment_id)
                if mp.our_status == PaymentStatus.APPROVED]
        if paid:
            return _apply_mercadopago(payment, paid[0], cause=cause)
    try:
        cancelled = payment.cancelled(_now())
        return deps.payments.save(cancelled, expected=payment,
                                  messages=[_event("billing.PaymentCancelled", cancelled,
                                                   cancelled.news("billing.PaymentCancelled"), cause)])
    except ConcurrencyConflict:
        return deps.payments.get(payment.payment_id)


def _refund_approved(payment: Payment, cause: Envelope) -> Payment:
    deps = dependencies()
    if not payment.mercadopago_payment_id:
        raise InvalidTransition(f"Payment {payment.payment_id} is approved but has no Mercado Pago id to refund.")
    try:
        refund_id = deps.mercadopago.refund_payment(payment.mercadopago_payment_id,
                                                    idempotency_key=payment.refund_idempotency_key)
    except MercadoPagoRefused:
        current = _apply_mercadopago(payment, deps.mercadopago.get_payment(payment.mercadopago_payment_id),
                                     cause=cause)
        if current.status == PaymentStatus.APPROVED:
            raise
        return current
    try:
        refunded = payment.refunded(refund_id, _now())
        return deps.payments.save(refunded, expected=payment,
                                  messages=[_event("billing.PaymentRefunded", refunded,
                                                   refunded.news("billing.PaymentRefunded"), cause)])
    except ConcurrencyConflict:
        # The webhook may have recorded the refund first: then it published PaymentRefunded.
        return deps.payments.get(payment.payment_id)


def payments_reconcile(*, limit: int = 100) -> int:
    """PENDING payments older than PAYMENT_RECONCILE_AFTER_SECONDS: ask Mercado Pago what became of them.

    One page of at most ``limit`` a run, going on where the previous run stopped and starting
    again once the walk is done: payments that stay pending (Mercado Pago still waiting, or down)
    never starve the others, and each of N is looked at within ceil(N / limit) runs.
    """
    deps = dependencies()
    cutoff = _now() - timedelta(seconds=settings.PAYMENT_RECONCILE_AFTER_SECONDS)
    candidates = _next_pending_page(cutoff, limit)
    checked = 0
    for candidate in candidates:
        with bind_correlation_id(candidate.saga_id or None):
            try:
                payment = deps.payments.get(candidate.payment_id)
                if payment is None or payment.status != PaymentStatus.PENDING:
                    continue
                if payment.requested_at is None:
                    _request_at_mercadopago(payment, cause=None)
                elif payment.method == PaymentMethod.PIX and payment.mercadopago_payment_id:
                    _apply_mercadopago(payment, deps.mercadopago.get_payment(payment.mercadopago_payment_id))
                else:
                    # Every try on the checkout page, a paid one first: a second paid one is given back.
                    tries = deps.mercadopago.find_payments(payment.payment_id)
                    tries.sort(key=lambda mp: mp.our_status != PaymentStatus.APPROVED)
                    for mp in tries:
                        payment = _take_news(payment, mp)
                checked += 1
            except UpstreamUnavailable as exc:
                logger.warning("reconciliation of payment %s postponed: %s", candidate.payment_id, exc)
            except ApplicationError as exc:
                logger.error("reconciliation of payment %s failed: %s", candidate.payment_id, exc)
    return checked


def _next_pending_page(cutoff: datetime, limit: int) -> list[Payment]:
    """The page after the one the previous run looked at; the cursor moves on before the page is
    worked on, so a payment that breaks a run is not the first of the next one."""
    deps = dependencies()
    cursor = deps.payments.reconcile_cursor()
    try:
        page = deps.payments.pending_created_before(cutoff, limit=limit, page_token=cursor)
    except ValidationFailed:
        logger.warning("the reconciliation's cursor is no longer valid; starting from the oldest payment")
        page = Page([])
    if not page.items and cursor:
        # The previous run ended on the walk's last payment: start again from the oldest.
        page = deps.payments.pending_created_before(cutoff, limit=limit)
    deps.payments.save_reconcile_cursor(page.next_token)
    return page.items


def outbox_sweep() -> int:
    """Publish messages a crash left in the outboxes."""
    deps = dependencies()
    return deps.budgets.sweep_outbox() + deps.payments.sweep_outbox()
