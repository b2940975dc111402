"""The saga of a service order, declared: read this file to know the whole story.

Each step names its action (the command it sends), the replies it awaits and what each does, its
compensation, its timeout and what happens at it, and the OS status it leads to. Each command the
saga awaits a reply to names what no reply means, and what undoes it when the saga no longer
wants it. Compensation runs newest step first; its commands go out together (independent
resources) and the saga is COMPENSATED once every one of them is confirmed. Additional repairs —
found by the mechanic, or a revision made by staff — are declared with the last step.

  1 create_budget   billing.CreateBudget -> BudgetCreated        comp. billing.CancelBudget
                    OS -> AWAITING_APPROVAL
  2 await_approval  BudgetApproved; BudgetRejected / BudgetExpired / timeout compensate
  3 reserve_parts   os.ReserveParts -> PartsReserved              comp. os.ReleaseParts
                    PartsReservationFailed compensates; OS -> AWAITING_PAYMENT (with the payment page)
  4 request_payment billing.RequestPayment -> PaymentRequested     comp. CancelPayment / RefundPayment
  5 await_payment   PaymentApproved; PaymentFailed / timeout compensate
  6 enqueue_work    the work_queue job (local)                     comp. withdraw the job
                    OS -> IN_EXECUTION once paid
  7 complete_work   WorkCompleted -> os.ConsumeParts -> PartsConsumed: OS -> FINISHED, COMPLETED;
                    WorkFailed compensates; AdditionalRepairReported -> os.PriceItems ->
                    ItemsPriced -> billing.ReviseBudget
"""
from __future__ import annotations

from ..domain import EndReason, OsStatus
from . import replies as on
from . import steps
from .engine import LOCAL_ENQUEUE, AwaitedCommand, OnTimeout, SagaDefinition, SagaStep, WhenUnanswered

SAGA_STEPS: tuple[SagaStep, ...] = (
    SagaStep(1, "create_budget", steps.create_budget, steps.cancel_budget, "step_timeout", OnTimeout.RETRY,
             replies={"billing.BudgetCreated": on.on_budget_created},
             os_status_on_completion=OsStatus.AWAITING_APPROVAL),
    SagaStep(2, "await_approval", None, None, "approval_timeout", OnTimeout.EXPIRE,
             replies={"billing.BudgetApproved": on.on_budget_approved,
                      "billing.BudgetRejected": on.on_budget_rejected,
                      "billing.BudgetExpired": on.on_budget_expired},
             expired_cause="Budget expired: the customer did not decide in time",
             expired_reason=EndReason.BUDGET_EXPIRED),
    # AWAITING_PAYMENT once the parts are held, as the payment is asked for: the move carries the
    # payment page Billing named in BudgetApproved, which shows the Pix as soon as it exists, so the
    # order does not wait for Mercado Pago to move, and the Pix needs no move of its own.
    SagaStep(3, "reserve_parts", steps.reserve_parts, steps.release_parts, "step_timeout", OnTimeout.RETRY,
             replies={"os.PartsReserved": on.on_parts_reserved,
                      "os.PartsReservationFailed": on.on_parts_reservation_failed},
             os_status_on_completion=OsStatus.AWAITING_PAYMENT),
    SagaStep(4, "request_payment", steps.request_payment, steps.cancel_or_refund_payments, "step_timeout",
             OnTimeout.RETRY, replies={"billing.PaymentRequested": on.on_payment_requested}),
    SagaStep(5, "await_payment", steps.await_payment, None, "payment_timeout", OnTimeout.EXPIRE,
             replies={"billing.PaymentApproved": on.on_payment_approved,
                      "billing.PaymentFailed": on.on_payment_failed},
             expired_cause="Payment expired: it was not confirmed in time", expired_reason=EndReason.PAYMENT_EXPIRED,
             check=steps.ask_for_the_payment),
    SagaStep(6, "enqueue_work", steps.enqueue_work, steps.withdraw_work, "step_timeout", OnTimeout.RETRY,
             os_status_on_start=OsStatus.IN_EXECUTION),
    SagaStep(7, "complete_work", steps.watch_the_job, None, None, OnTimeout.WAIT, check=steps.look_at_the_job,
             replies={"execution.WorkCompleted": on.on_work_completed,
                      "execution.WorkFailed": on.on_work_failed,
                      "execution.AdditionalRepairReported": on.on_additional_repair,
                      "os.ItemsPriced": on.on_items_priced,
                      "os.ItemsPricingFailed": on.on_items_pricing_failed,
                      "os.PartsConsumed": on.on_parts_consumed},
             os_status_on_completion=OsStatus.FINISHED),
)

_BUDGET = ("billing.BudgetCreated",)
_RESERVATION = ("os.PartsReserved", "os.PartsReservationFailed")
_PAYMENT = ("billing.PaymentRequested", "billing.PaymentApproved", "billing.PaymentFailed")
_GIVE_UP = WhenUnanswered.GIVE_UP
_ASK = WhenUnanswered.ASK_A_PERSON

AWAITED_COMMANDS: tuple[AwaitedCommand, ...] = (
    # The steps' own commands: re-sent (the same message) until answered, then the saga turns back;
    # a reply that comes after that is undone, and without one the command is undone blindly.
    AwaitedCommand("create_budget", "billing.CreateBudget", _BUDGET, "create_budget", undo_late_reply=True,
                   blind_undo=steps.cancel_budget_blindly, is_step_action=True),
    AwaitedCommand("reserve_parts", "os.ReserveParts", _RESERVATION, "reserve_parts", undo_late_reply=True,
                   blind_undo=steps.release_blindly, is_step_action=True),
    AwaitedCommand("request_payment", "billing.RequestPayment", _PAYMENT, "request_payment", undo_late_reply=True,
                   blind_undo=steps.cancel_payment_blindly, is_step_action=True),
    AwaitedCommand("enqueue_work", LOCAL_ENQUEUE, (), "enqueue_work", is_step_action=True),
    # The job is done: rolling back would undo real work, so a person looks instead.
    AwaitedCommand("consume_parts", "os.ConsumeParts", ("os.PartsConsumed",), "complete_work",
                   when_unanswered=WhenUnanswered.ASK_A_PERSON, is_step_action=True),
    # Additional repairs: without an answer the work goes on with what was approved. The OS
    # prices what the mechanic reported (a read: nothing to undo), then Billing revises the budget.
    AwaitedCommand("price_extra_items", "os.PriceItems", ("os.ItemsPriced", "os.ItemsPricingFailed"),
                   "complete_work", when_unanswered=_GIVE_UP, given_up=steps.revision_given_up),
    AwaitedCommand("revise_budget", "billing.ReviseBudget", _BUDGET, "complete_work", when_unanswered=_GIVE_UP,
                   undo_late_reply=True, given_up=steps.revision_given_up),
    AwaitedCommand("reserve_extra_parts", "os.ReserveParts", _RESERVATION, "complete_work",
                   when_unanswered=_GIVE_UP, undo_late_reply=True, blind_undo=steps.release_blindly,
                   given_up=steps.revision_given_up),
    AwaitedCommand("request_extra_payment", "billing.RequestPayment", _PAYMENT, "complete_work",
                   when_unanswered=_GIVE_UP, undo_late_reply=True, blind_undo=steps.cancel_payment_blindly,
                   given_up=steps.revision_given_up),
    # Compensations (and the undoing of late replies): re-sent until confirmed, then the saga is
    # FAILED for a person to retry.
    AwaitedCommand("cancel_budget", "billing.CancelBudget",
                   ("billing.BudgetCancelled", "billing.BudgetRejected", "billing.BudgetExpired"), "create_budget",
                   when_unanswered=_ASK, undoes=True),
    AwaitedCommand("release_parts", "os.ReleaseParts", ("os.PartsReleased",), "reserve_parts", when_unanswered=_ASK,
                   undoes=True),
    AwaitedCommand("cancel_payment", "billing.CancelPayment",
                   ("billing.PaymentCancelled", "billing.PaymentRefunded", "billing.PaymentFailed",
                    "billing.PaymentApproved"), "request_payment", when_unanswered=_ASK, undoes=True),
    AwaitedCommand("refund_payment", "billing.RefundPayment", ("billing.PaymentRefunded", "billing.PaymentCancelled"),
                   "request_payment", when_unanswered=_ASK, undoes=True),
)

SAGA = SagaDefinition(
    steps=SAGA_STEPS, commands=AWAITED_COMMANDS,
    replies={
        # The answers to compensations (and to the undoing of late replies).
        "billing.BudgetCancelled": on.on_budget_cancelled,
        "os.PartsReleased": on.on_parts_released,
        "billing.PaymentCancelled": on.on_payment_cancelled,
        "billing.PaymentRefunded": on.on_payment_refunded,
        # Staff cancelled the order: compensate what was done, whatever the step.
        "os.OrderCancelled": on.on_order_cancelled,
    },
)
STEP_NAMES = {s.number: s.name for s in SAGA_STEPS}
REPLY_TYPES: tuple[str, ...] = tuple(SAGA.handlers)
