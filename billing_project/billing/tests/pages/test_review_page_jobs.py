"""The review page of a budget of several jobs: each job approved or declined on its own, optional
parts left out, a running total, and the same choices sent without the page's script."""
from __future__ import annotations

import pytest
from django.core import mail

from billing import handlers, services
from billing.domain import Actor, BudgetStatus
from billing.tests import factories
from billing.tests.pages.conftest import Pending, csrf_token_of, last_link_token
from oficina_common.errors import ValidationFailed
from oficina_common.html_testing import by_testid, one, visible_text


@pytest.fixture
def jobs(fake) -> Pending:
    """Job 1: oil change + filter + an optional additive; job 2: alignment; job 3: optional wipers alone."""
    command = factories.create_budget(items=factories.JOBS)
    budget = handlers.create_budget(command)
    return Pending(command=command, budget=budget, token=last_link_token())


def choose(visitor, pending: Pending, choice: str = "selected", **fields: str):
    """Open the page and send the choices form as a browser without the script would."""
    page = visitor.get(pending.review_url)
    data = {"csrfmiddlewaretoken": csrf_token_of(page.content.decode()), "decision": "approve", "choice": choice}
    return visitor.post(pending.review_url, {**data, **fields})


# What the page posts when nothing is changed: every job approved, every optional part ticked.
DEFAULTS = {"job-1": "approve", "job-2": "approve", "job-3": "approve", "line-3": "1", "line-5": "1"}


class TestTheJobs:
    def test_each_job_is_a_card_with_its_lines_total_and_choice(self, visitor, jobs):
        response = visitor.get(jobs.review_url)
        assert response.status_code == 200
        html = response.content
        assert [e.text for e in by_testid(html, "job-title")] == ["Troca de óleo", "Alinhamento", "Palheta"]
        assert [e.text for e in by_testid(html, "job-total")] == ["R$ 137,00", "R$ 120,00", "R$ 50,00"]
        cards = by_testid(html, "job")
        assert len(cards) == 3
        assert "Serviço 1 de 3" in cards[0].text and "Filtro de óleo" in cards[0].text
        approve = by_testid(html, "job-approve")
        assert [(e["name"], "checked" in e.attrs) for e in approve] == [("job-1", True), ("job-2", True),
                                                                        ("job-3", True)]
        assert not any("checked" in e.attrs for e in by_testid(html, "job-decline"))
        optional = by_testid(html, "optional-line")
        assert [(e["name"], e["type"], "checked" in e.attrs) for e in optional] == [
            ("line-3", "checkbox", True), ("line-5", "checkbox", True)]
        assert "opcional" in visible_text(html)
        assert one(html, "approved-total").text == "R$ 307,00"
        assert one(html, "confirm-button").text == "Confirmar escolhas"
        assert one(html, "approve-button").text == "Aprovar tudo"
        assert one(html, "reject-button").text == "Recusar orçamento"
        assert html.decode().count('name="csrfmiddlewaretoken"') == 2

    def test_the_running_total_is_kept_by_a_script_of_the_page(self, visitor, jobs):
        html = visitor.get(jobs.review_url).content.decode()
        script = html[html.index("<script"):html.index("</script>")]
        assert "approved-total" in script and 'addEventListener("change"' in script
        assert 'data-cents="900000"' not in html and 'data-cents="9000"' in html

    def test_a_single_job_looks_as_it_always_did(self, visitor, pending):
        html = visitor.get(pending.review_url).content
        assert by_testid(html, "job") == [] and by_testid(html, "confirm-button") == []
        assert one(html, "approve-button").text == "Aprovar orçamento"

    def test_a_single_job_with_an_optional_part_offers_only_the_checkbox(self, visitor, fake):
        items = [{**factories.JOBS[0]}, {**factories.JOBS[2]}]
        budget = handlers.create_budget(factories.create_budget(items=items))
        html = visitor.get(f"/budgets/review/{last_link_token()}/").content
        assert len(by_testid(html, "job")) == 1 and by_testid(html, "job-approve") == []
        assert [e["name"] for e in by_testid(html, "optional-line")] == ["line-2"]
        assert one(html, "approved-total").text == "R$ 105,00"
        assert budget.status == BudgetStatus.PENDING_APPROVAL


class TestChoosing:
    def test_the_chosen_jobs_are_approved_and_the_rest_declined(self, visitor, jobs, fake):
        fields = {**DEFAULTS, "job-2": "decline"}
        del fields["line-3"]  # the additive left out
        response = choose(visitor, jobs, **fields)
        assert response.status_code == 303
        assert response["Location"].startswith(f"/budgets/{jobs.budget.budget_id}/v1/payment/?t=")
        budget = fake.deps.budgets.get(jobs.budget.budget_id, 1)
        assert budget.status == BudgetStatus.APPROVED and budget.declined_line_ids == {3, 4}
        (approved,) = fake.published("billing.BudgetApproved")
        assert approved.payload["total_cents"] == 9000 + 3200 + 5000
        assert approved.payload["declined_total_cents"] == 1500 + 12000

    def test_the_payment_page_shows_what_was_approved(self, visitor, jobs, fake):
        response = choose(visitor, jobs, **{**DEFAULTS, "job-2": "decline"})
        page = visitor.get(response["Location"])
        assert one(page.content, "approved-amount").text == "R$ 187,00"
        assert "(R$ 120,00) não serão feitos nem cobrados" in one(page.content, "approved-summary").text
        handlers.request_payment(factories.request_payment(jobs.command, jobs.budget.budget_id,
                                                                   amount_cents=18700))
        page = visitor.get(response["Location"])
        assert one(page.content, "payment-amount").text == "R$ 187,00"

    def test_approve_everything_with_one_tap(self, visitor, jobs, fake):
        response = choose(visitor, jobs, choice="all", **{"job-2": "decline"})  # "Aprovar tudo" wins
        assert response.status_code == 303
        budget = fake.deps.budgets.get(jobs.budget.budget_id, 1)
        assert budget.declined_line_ids == frozenset() and budget.approved_total_cents == 30700
        page = visitor.get(response["Location"])
        assert by_testid(page.content, "approved-summary") == []

    def test_declining_every_job_asks_to_approve_one_or_reject(self, visitor, jobs, fake):
        response = choose(visitor, jobs, **{"job-1": "decline", "job-2": "decline", "job-3": "approve"})
        assert response.status_code == 400
        html = response.content
        assert "Aprove pelo menos um, ou, se não quer fazer nada agora, recuse o orçamento" in one(
            html, "choice-error").text
        # The page comes back with the choices made, and the total the server added up from them.
        assert [("checked" in e.attrs) for e in by_testid(html, "job-decline")] == [True, True, False]
        assert [("checked" in e.attrs) for e in by_testid(html, "optional-line")] == [False, False]
        assert one(html, "approved-total").text == "R$ 0,00"
        assert fake.deps.budgets.get(jobs.budget.budget_id, 1).status == BudgetStatus.PENDING_APPROVAL
        assert fake.published("billing.BudgetApproved") == []

    def test_a_choice_the_rules_refuse_is_sent_back_not_a_500(self, visitor, jobs, fake, monkeypatch):
        def refuse(**_):
            raise ValidationFailed("lines: job 1 is approved whole", code="job_split")

        monkeypatch.setattr(services, "budget_decide", refuse)
        response = choose(visitor, jobs, **DEFAULTS)
        assert response.status_code == 400
        assert "Confira os serviços marcados" in one(response.content, "choice-error").text

    def test_rejecting_still_works_from_the_same_page(self, visitor, jobs, fake):
        page = visitor.get(jobs.review_url)
        response = visitor.post(jobs.review_url, {"csrfmiddlewaretoken": csrf_token_of(page.content.decode()),
                                                  "decision": "reject", "reason": "Agora não"})
        assert response.status_code == 303
        assert fake.deps.budgets.get(jobs.budget.budget_id, 1).status == BudgetStatus.REJECTED

    def test_the_link_still_works_once(self, visitor, jobs, fake):
        choose(visitor, jobs, **{**DEFAULTS, "job-2": "decline"})
        page = visitor.get(jobs.review_url)
        assert page.status_code == 410 and by_testid(page.content, "job") == []


class TestARevisionLineByLine:
    @pytest.fixture
    def revision(self, jobs, fake) -> Pending:
        services.budget_decide(budget_id=jobs.budget.budget_id, version=1, decision="approve",
                               actor=Actor.approval_link(jobs.token), lines=[1, 2, 4])
        extra = [{**factories.EXTRA_ITEMS[0], "job": 1},
                 {"kind": "service", "catalog_id": "9", "description": "Balanceamento", "quantity": 1,
                  "unit_price_cents": 7000, "job": 2}]
        revised = services.budget_revise(budget_id=jobs.budget.budget_id, items=extra, reason="Freio gasto")
        return Pending(command=jobs.command, budget=revised, token=last_link_token())

    def test_earlier_lines_are_shown_decided_and_the_new_jobs_offered(self, visitor, revision):
        assert len(mail.outbox) == 2
        html = visitor.get(revision.review_url).content
        earlier = one(html, "earlier-lines")
        assert "Já decidido antes" in earlier.text
        assert [e.text for e in by_testid(html, "item-decided")] == ["já aprovado", "já aprovado", "recusado antes",
                                                                     "já aprovado", "recusado antes"]
        assert [e.text for e in by_testid(html, "job-title")] == ["Pastilha de freio", "Balanceamento"]
        assert [e["name"] for e in by_testid(html, "job-approve")] == ["job-4", "job-5"]
        assert one(html, "approved-total").text == "R$ 250,00"  # only what this revision adds

    def test_approving_one_new_job_declines_the_other(self, visitor, revision, fake):
        response = choose(visitor, revision, **{"job-4": "approve", "job-5": "decline"})
        assert response.status_code == 303
        budget = fake.deps.budgets.get(revision.budget.budget_id, 2)
        assert budget.declined_line_ids == {3, 5, 7}
        approved = fake.published("billing.BudgetApproved")[-1].payload
        assert approved["additional_total_cents"] == factories.EXTRA_TOTAL
        page = visitor.get(response["Location"])
        assert one(page.content, "approved-amount").text == "R$ 180,00"
        assert "de reparo adicional" in one(page.content, "approved-summary").text

    def test_a_revision_of_one_new_job_keeps_the_old_page_and_shows_what_was_decided(self, visitor, jobs, fake):
        services.budget_decide(budget_id=jobs.budget.budget_id, version=1, decision="approve",
                               actor=Actor.approval_link(jobs.token), lines=[1, 2, 3, 4])
        services.budget_revise(budget_id=jobs.budget.budget_id, items=factories.EXTRA_ITEMS, reason="freio")
        html = visitor.get(f"/budgets/review/{last_link_token()}/").content
        assert by_testid(html, "job") == []
        assert one(html, "approve-button").text == "Aprovar o reparo adicional"
        rows = by_testid(html, "budget-item")
        assert [r.attrs.get("data-status") for r in rows] == ["approved"] * 4 + ["declined", None]
        assert "(R$ 50,00) não são feitos nem cobrados" in one(html, "declined-before").text
