"""The customer's pages: review a budget from the e-mailed link, pay it, see a rejection confirmed.

Server-rendered, in Portuguese, for a phone; never JSON or a traceback for the customer (the
payment page's own status endpoint is the only JSON, read by its script). Billing keeps no
session: the decision forms are protected by Django's cookie-based CSRF token.
"""
from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods

from oficina_common.errors import ApplicationError, NotFound, ValidationFailed
from oficina_common.throttling import PageThrottle

from . import links, selectors, services
from .domain import (
    Actor,
    Budget,
    BudgetLine,
    BudgetStatus,
    Decision,
    LineStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from .formatting import brl, first_name
from .selectors import ApprovalLinkView, LinkState

logger = logging.getLogger(__name__)

MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class Message:
    """A page that only tells the customer something (a used link, an expired one…)."""

    state: str
    title: str
    text: str
    status: int
    action_url: str = ""
    action_label: str = ""
    tone: str = "warning"


def _message(request: HttpRequest, message: Message, budget: Budget | None = None) -> HttpResponse:
    return render(request, "billing/pages/message.html",
                  {"message": message, "budget": budget, "order": _order(budget) if budget else ""},
                  status=message.status)


def _order(budget: Budget) -> str:
    return budget.order_number or budget.service_order_id


class _PageGone(Exception):
    def __init__(self, message: Message):
        self.message = message


def customer_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Whatever goes wrong, the customer gets a page in Portuguese, not a traceback."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _PageGone as gone:
            return _message(request, gone.message)
        except NotFound:
            return _message(request, NOT_FOUND)
        except Exception:
            logger.exception("customer page %s failed", request.path)
            return _message(request, UNAVAILABLE)

    return wrapper


NOT_FOUND = Message(
    "not-found", "Link não encontrado",
    "Não encontramos nada neste endereço. Confira se o link do e-mail foi aberto inteiro "
    "ou fale com a oficina.", 404)
UNAVAILABLE = Message(
    "unavailable", "Sistema indisponível no momento",
    "Não conseguimos carregar esta página agora. Tente de novo em alguns instantes.", 503, tone="error")
PAGE_LINK_EXPIRED = Message(
    "page-link-expired", "Este link expirou",
    "Por segurança, este endereço vale por alguns dias. Acompanhe sua ordem de serviço pelo link "
    "de acompanhamento ou fale com a oficina.", 410)


# --- the review page ----------------------------------------------------------------------------

def _link_message(view: ApprovalLinkView) -> Message:
    budget = view.budget
    if view.state == LinkState.USED and budget is not None:
        if view.used_decision == Decision.APPROVE.value:
            return Message("link-used", "Este link já foi usado",
                           "Você já aprovou este orçamento por este link, que vale uma única vez. "
                           "Se ainda não pagou, o pagamento continua disponível.", 410,
                           action_url=links.payment_page_path(budget.budget_id, budget.version),
                           action_label="Ver o pagamento", tone="info")
        return Message("link-used", "Este link já foi usado",
                       "Você já recusou este orçamento por este link, que vale uma única vez. "
                       "Se mudou de ideia, fale com a oficina.", 410, tone="info")
    if view.state == LinkState.SUPERSEDED:
        return Message("link-superseded", "Este orçamento foi atualizado",
                       "A oficina enviou uma versão mais nova deste orçamento. Use o link do e-mail "
                       "mais recente para ver e decidir.", 410)
    if view.state == LinkState.DECIDED and budget is not None:
        approved = budget.status == BudgetStatus.APPROVED
        return Message("budget-decided", f"Este orçamento já foi {'aprovado' if approved else 'recusado'}",
                       "A decisão já foi registrada, então este link não vale mais.", 410,
                       action_url=links.payment_page_path(budget.budget_id, budget.version) if approved else "",
                       action_label="Ver o pagamento" if approved else "", tone="info")
    if view.state == LinkState.CANCELLED:
        return Message("budget-cancelled", "Este orçamento foi cancelado",
                       "A oficina cancelou este orçamento. Se tiver dúvidas, fale com a gente.", 410)
    if view.state == LinkState.EXPIRED:
        return Message("link-expired", "Este link expirou",
                       "O prazo para decidir este orçamento terminou. Fale com a oficina para "
                       "receber um novo orçamento.", 410)
    return Message("link-unknown", "Link não encontrado",
                   "Este link de orçamento não é válido. Confira se o endereço do e-mail foi aberto "
                   "inteiro ou fale com a oficina.", 404)


@dataclass(frozen=True)
class Choices:
    """What the customer chose on the page: the jobs declined and the optional parts left out.
    Nothing chosen yet: everything approved (the page's defaults)."""

    declined_jobs: frozenset[int] = frozenset()
    left_out: frozenset[int] = frozenset()

    @classmethod
    def posted(cls, budget: Budget, form: Any) -> Choices:
        """Read from the form, so the page works without its script: a job's radio says Recusar, an
        optional part's checkbox is unticked (an unticked checkbox is not posted at all)."""
        return cls(
            declined_jobs=frozenset(job.number for job in budget.open_jobs
                                    if form.get(f"job-{job.number}") == "decline"),
            left_out=frozenset(line.line_id for job in budget.open_jobs for line in job.optional_lines
                               if not form.get(f"line-{line.line_id}")))

    def accepts(self, line: BudgetLine) -> bool:
        return line.job not in self.declined_jobs and line.line_id not in self.left_out

    def accepted_lines(self, budget: Budget) -> list[int]:
        return [line.line_id for line in budget.open_lines if self.accepts(line)]


def _job_cards(budget: Budget, choices: Choices) -> list[dict[str, Any]]:
    jobs = budget.open_jobs
    return [{
        "field": f"job-{job.number}", "position": n, "count": len(jobs),
        # What the job costs as chosen (an optional part left out is not in it); declined, what it would.
        "total_cents": sum(line.total_cents for line in job.lines if choices.accepts(line))
        if job.number not in choices.declined_jobs else job.total_cents,
        # Named by its services; a job of parts alone, by its parts.
        "title": " + ".join(line.description for line in job.lines if line.is_service)
        or " + ".join(line.description for line in job.lines),
        "approved": job.number not in choices.declined_jobs,
        "lines": [{"line": line, "field": f"line-{line.line_id}", "chosen": choices.accepts(line)}
                  for line in job.lines],
    } for n, job in enumerate(jobs, start=1)]


def _review(request: HttpRequest, token: str, view: ApprovalLinkView, *, error: str = "", reason: str = "",
            choice_error: str = "", choices: Choices | None = None, status: int = 200) -> HttpResponse:
    budget = view.budget
    assert budget is not None
    choices = choices or Choices()
    added = {line.line_id for line in view.added_lines}
    open_lines = budget.open_lines
    # A revision's earlier lines, shown as decided: "approved" or "declined".
    rows = [{"line": line, "added": line.line_id in added,
             "earlier": budget.line_status(line).value.lower() if line.line_id <= budget.carried_line_count else ""}
            for line in budget.lines]
    context = {
        "token": token, "budget": budget, "order": _order(budget),
        "customer_name": first_name(budget.customer_name),
        "lines": rows, "earlier_lines": [row for row in rows if row["earlier"]],
        "added_lines": view.added_lines, "error": error, "reason": reason,
        "max_reason_length": MAX_REASON_LENGTH,
        # One job and nothing optional (the common case): approve or reject, as it always was.
        "choose": len(budget.open_jobs) > 1 or any(line.optional for line in open_lines),
        "per_job": len(budget.open_jobs) > 1,
        "jobs": _job_cards(budget, choices), "choice_error": choice_error,
        "approved_now_cents": sum(line.total_cents for line in open_lines if choices.accepts(line)),
    }
    return render(request, "billing/pages/review.html", context, status=status)


def _after_decision(budget: Budget, decision: Decision) -> HttpResponse:
    if decision is Decision.APPROVE:
        path = links.payment_page_path(budget.budget_id, budget.version)
    else:
        path = links.rejection_page_path(budget.budget_id, budget.version)
    response = HttpResponseRedirect(path)
    response.status_code = 303  # the browser GETs the next page; a refresh never re-posts
    return response


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
@customer_page
def budget_review(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        throttle = PageThrottle("budget_review")  # per address: settings.THROTTLE_RATES
        if not throttle.allow_request(request, None):
            return _throttled(request, math.ceil(throttle.wait() or 60))
    view = selectors.approval_link_view(token)
    if request.method == "GET":
        if view.state != LinkState.READY:
            return _message(request, _link_message(view), view.budget)
        return _review(request, token, view)

    try:
        decision = Decision(request.POST.get("decision", ""))
    except ValueError:
        decision = None
    if view.state == LinkState.USED and decision is not None and view.used_decision == decision.value:
        return _after_decision(view.budget, decision)  # a double submit: show what the first one did
    if view.state != LinkState.READY:
        return _message(request, _link_message(view), view.budget)
    if decision is None:
        return _review(request, token, view, error="Escolha aprovar ou recusar o orçamento.", status=400)
    reason = request.POST.get("reason", "").strip()
    if decision is Decision.REJECT and not reason:
        return _review(request, token, view, status=400,
                       error="Conte para a gente o motivo da recusa (é obrigatório).")
    if len(reason) > MAX_REASON_LENGTH:
        return _review(request, token, view, reason=reason, status=400,
                       error=f"O motivo pode ter no máximo {MAX_REASON_LENGTH} caracteres.")
    budget = view.budget
    lines = None
    if decision is Decision.APPROVE and request.POST.get("choice") == "selected":
        choices = Choices.posted(budget, request.POST)
        lines = choices.accepted_lines(budget)
        if not lines:
            return _review(request, token, view, choices=choices, status=400, choice_error=(
                "Você recusou todos os serviços. Aprove pelo menos um, ou, se não quer fazer nada agora, "
                "recuse o orçamento logo abaixo."))
    try:
        outcome = services.budget_decide(budget_id=budget.budget_id, version=budget.version, decision=decision,
                                         actor=Actor.approval_link(token), reason=reason, lines=lines)
    except ValidationFailed as exc:
        logger.info("choices on budget %s version %d refused: %s", budget.budget_id, budget.version, exc.message)
        return _review(request, token, view, status=400, choice_error=(
            "Não conseguimos registrar essas escolhas. Confira os serviços marcados e tente de novo."))
    except ApplicationError as exc:
        logger.info("decision by approval link on budget %s version %d refused: %s", budget.budget_id,
                    budget.version, exc.message)
        view = selectors.approval_link_view(token)
        if view.state == LinkState.READY:
            return _message(request, Message(
                "decision-failed", "Não foi possível registrar sua decisão",
                "Algo mudou neste orçamento enquanto você decidia. Abra o link de novo para ver como ele está.",
                409))
        return _message(request, _link_message(view), view.budget)
    return _after_decision(outcome.budget, decision)


def _throttled(request: HttpRequest, wait: int) -> HttpResponse:
    response = _message(request, Message(
        "throttled", "Muitas tentativas seguidas",
        f"Por segurança, espere {wait} segundo{'s' if wait != 1 else ''} e tente de novo. "
        "Se o problema continuar, fale com a oficina.", 429))
    response["Retry-After"] = str(wait)
    return response


# --- after the decision: payment and rejection pages (signed view token) ---------------------------

def _page_budget(request: HttpRequest, budget_id: str, version: int) -> Budget:
    try:
        links.check_view_token(budget_id, version, str(request.GET.get("t", "")))
    except links.BadViewToken as bad:
        raise _PageGone(PAGE_LINK_EXPIRED if bad.expired else NOT_FOUND) from bad
    return selectors.budget_version_for_page(budget_id=budget_id, version=version)


# What the payment page shows; the script stops asking once the state is final.
WAITING, PIX, CHECKOUT = "waiting", "pix", "checkout"
FINAL_STATES = {
    "approved": "Pagamento confirmado",
    "rejected": "Pagamento não aprovado",
    "cancelled": "Pagamento cancelado",
    "refunded": "Pagamento devolvido",
    "budget_cancelled": "Orçamento cancelado",
    "not_approved": "Orçamento não aprovado",
}
STATE_LABELS = {WAITING: "Aguardando a criação do pagamento…", PIX: "Aguardando o pagamento",
                CHECKOUT: "Aguardando o pagamento", **FINAL_STATES}


def payment_state(budget: Budget, payment: Payment | None) -> str:
    if payment is None or (payment.status == PaymentStatus.PENDING and payment.requested_at is None):
        if budget.status == BudgetStatus.CANCELLED:
            return "budget_cancelled"
        if not budget.was_approved:
            return "not_approved"
        return WAITING
    if payment.status == PaymentStatus.PENDING:
        if payment.method == PaymentMethod.PIX and (payment.qr_code or payment.qr_code_base64):
            return PIX
        if payment.init_point:
            return CHECKOUT
        return WAITING
    return payment.status.value.lower()


def _payment_context(budget: Budget, token: str) -> dict[str, Any]:
    payment = selectors.payment_of_budget_version(budget)
    state = payment_state(budget, payment)
    declined = budget.open_total_cents(LineStatus.DECLINED)
    return {
        "budget": budget, "order": _order(budget), "payment": payment, "state": state,
        "state_label": STATE_LABELS[state], "final": state in FINAL_STATES,
        "amount": brl(payment.amount_cents) if payment else "",
        # After a partial approval: what the customer approved (the declined lines are not charged).
        "approved": brl(budget.open_total_cents(LineStatus.APPROVED)),
        "declined": brl(declined) if declined else "",
        "status_url": links.payment_status_path(budget.budget_id, budget.version, token),
        "poll_seconds": settings.PAYMENT_PAGE_POLL_SECONDS,
        "poll_ms": int(settings.PAYMENT_PAGE_POLL_SECONDS * 1000),
    }


@never_cache
@require_GET
@customer_page
def budget_payment(request: HttpRequest, budget_id: str, version: int) -> HttpResponse:
    budget = _page_budget(request, budget_id, version)
    if budget.status == BudgetStatus.REJECTED:
        return HttpResponseRedirect(links.rejection_page_path(budget.budget_id, budget.version))
    return render(request, "billing/pages/payment.html",
                  _payment_context(budget, str(request.GET["t"])))


@never_cache
@require_GET
def budget_payment_status(request: HttpRequest, budget_id: str, version: int) -> JsonResponse:
    """The payment page's script asks this every few seconds; it swaps in the fresh ``html``."""
    try:
        budget = _page_budget(request, budget_id, version)
        context = _payment_context(budget, str(request.GET["t"]))
    except _PageGone as gone:
        return JsonResponse({"state": gone.message.state, "final": True}, status=gone.message.status)
    except NotFound:
        return JsonResponse({"state": NOT_FOUND.state, "final": True}, status=404)
    except Exception:
        logger.exception("payment status of budget %s version %s failed", budget_id, version)
        return JsonResponse({"state": UNAVAILABLE.state, "final": False}, status=503)
    payment = context["payment"]
    return JsonResponse({
        "state": context["state"], "final": context["final"],
        "status": payment.status.value if payment else None,
        "html": render_to_string("billing/pages/_payment_state.html", context, request),
    })


@never_cache
@require_GET
@customer_page
def budget_rejected(request: HttpRequest, budget_id: str, version: int) -> HttpResponse:
    budget = _page_budget(request, budget_id, version)
    if budget.status != BudgetStatus.REJECTED:
        if budget.was_approved:
            return HttpResponseRedirect(links.payment_page_path(budget.budget_id, budget.version))
        raise NotFound(f"Budget {budget_id} version {version} was not rejected.")
    return render(request, "billing/pages/rejected.html", {"budget": budget, "order": _order(budget)})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a decision posted without (or with a stale) CSRF token."""
    logger.warning("CSRF check failed on %s: %s", request.path, reason)
    return _message(request, Message(
        "csrf-failed", "Não foi possível confirmar sua escolha",
        "Por segurança, abra de novo o link do e-mail e escolha outra vez. Se continuar acontecendo, "
        "verifique se o navegador aceita cookies.", 403, tone="error"))
