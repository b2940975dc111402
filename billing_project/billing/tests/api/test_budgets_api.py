import re
import uuid

import pytest
from django.core import mail
from rest_framework.test import APIClient

from billing import handlers
from billing.tests import factories

LINK = re.compile(r"/budgets/review/([A-Za-z0-9_-]+)/")


@pytest.fixture
def budget(real):
    return handlers.create_budget(factories.create_budget(customer_id="42"))


def url(budget_id: str, action: str = "") -> str:
    return f"/api/v1/budgets/{budget_id}/" + (f"{action}/" if action else "")


class TestReading:
    def test_anonymous_gets_401(self, client, budget):
        assert client.get(url(budget.budget_id)).status_code == 401
        assert client.get("/api/v1/budgets/", {"service_order_id": budget.service_order_id}).status_code == 401

    def test_the_customer_sees_their_budget_with_items_and_totals(self, customer, budget):
        response = customer.get(url(budget.budget_id))
        assert response.status_code == 200
        body = response.json()
        assert body["budget_id"] == budget.budget_id and body["version"] == 1
        assert body["status"] == "PENDING_APPROVAL" and body["currency"] == "BRL"
        assert body["total_cents"] == factories.ITEMS_TOTAL
        assert body["items"][0] == {**factories.ITEMS[0], "total_cents": 9000, "line_id": 1, "job": 1,
                                    "optional": False, "status": "PENDING"}
        assert (body["approved_total_cents"], body["declined_total_cents"]) == (0, 0)
        assert body["expires_at"].endswith("Z")

    def test_someone_elses_budget_does_not_exist(self, other_customer, budget):
        assert other_customer.get(url(budget.budget_id)).status_code == 404
        assert other_customer.get(url(budget.budget_id, "versions")).status_code == 404
        listed = other_customer.get("/api/v1/budgets/", {"service_order_id": budget.service_order_id})
        assert listed.status_code == 200 and listed.json()["results"] == []

    @pytest.mark.parametrize("budget_id", [str(uuid.uuid4()), "not-a-uuid", "x" * 3000])
    def test_unknown_or_malformed_ids_are_404(self, staff, real, budget_id):
        response = staff.get(url(budget_id))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    @pytest.mark.parametrize("budget_id", ["x" * 3000, "not-a-uuid"])
    def test_a_decision_on_a_malformed_id_is_404_not_500(self, staff, real, budget_id):
        response = staff.post(url(budget_id, "approve"), {"version": 1, "reason": "por telefone"}, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found"

    def test_a_version_no_budget_can_have_is_400_not_500(self, staff, real, budget):
        response = staff.post(url(budget.budget_id, "approve"), {"version": 1e40, "reason": "por telefone"},
                              format="json")
        assert response.status_code == 400 and "version" in response.json()["message"]

    def test_list_by_service_order(self, customer, staff, budget):
        for client in (customer, staff):
            response = client.get("/api/v1/budgets/", {"service_order_id": budget.service_order_id})
            assert response.status_code == 200
            assert [b["budget_id"] for b in response.json()["results"]] == [budget.budget_id]

    def test_a_filter_is_required(self, customer, staff, real):
        assert customer.get("/api/v1/budgets/").status_code == 400
        assert customer.get("/api/v1/budgets/", {"status": "PENDING_APPROVAL"}).status_code == 400
        assert staff.get("/api/v1/budgets/", {"status": "NOPE"}).status_code == 400
        assert staff.get("/api/v1/budgets/", {"limit": "many"}).status_code == 400

    def test_staff_list_by_status_with_page_tokens(self, staff, real):
        for _ in range(3):
            handlers.create_budget(factories.create_budget())
        first = staff.get("/api/v1/budgets/", {"status": "PENDING_APPROVAL", "limit": 2}).json()
        assert len(first["results"]) == 2 and first["next_page_token"]
        second = staff.get("/api/v1/budgets/", {"status": "PENDING_APPROVAL", "limit": 2,
                                                "page_token": first["next_page_token"]})
        assert second.status_code == 200 and second.json()["results"]
        garbage = staff.get("/api/v1/budgets/", {"status": "PENDING_APPROVAL", "page_token": "!!not-a-token"})
        assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_page_token"
        wrong_keys = staff.get("/api/v1/budgets/", {"status": "PENDING_APPROVAL", "page_token": "eyJmb28iOiAxfQ"})
        assert wrong_keys.status_code == 400

    def test_a_customer_token_without_customer_id_is_refused(self, client, real, budget):
        from rest_framework_simplejwt.tokens import AccessToken

        token = AccessToken()
        token["user_id"] = "customer:?"
        token["role"] = "customer"
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get(url(budget.budget_id)).status_code == 403


class TestDecisions:
    def test_customer_approves_and_repeating_is_a_no_op(self, customer, budget, real):
        first = customer.post(url(budget.budget_id, "approve"), {"version": 1}, format="json")
        assert first.status_code == 200 and first.json()["status"] == "APPROVED"
        again = customer.post(url(budget.budget_id, "approve"), {"version": 1}, format="json")
        assert again.status_code == 200 and again.json()["status"] == "APPROVED"
        assert len(real.published("billing.BudgetApproved")) == 1

    def test_the_contrary_decision_is_409_with_a_message(self, customer, budget, real):
        customer.post(url(budget.budget_id, "approve"), {"version": 1}, format="json")
        response = customer.post(url(budget.budget_id, "reject"), {"version": 1, "reason": "mudei de ideia"},
                                 format="json")
        assert response.status_code == 409
        assert response.json()["message"].endswith("is already APPROVED; it cannot be rejected.")
        assert real.published("billing.BudgetRejected") == []

    def test_reject_with_a_reason(self, customer, budget, real):
        response = customer.post(url(budget.budget_id, "reject"), {"version": 1, "reason": "caro"}, format="json")
        assert response.status_code == 200 and response.json()["decision_reason"] == "caro"
        (rejected,) = real.published("billing.BudgetRejected")
        assert rejected.payload["reason"] == "caro"

    def test_with_the_link_token_in_the_body_or_the_query(self, client, budget, real):
        token = LINK.search(mail.outbox[0].body).group(1)
        by_query = client.post(url(budget.budget_id, "approve") + f"?token={token}", {"version": 1}, format="json")
        assert by_query.status_code == 200
        by_body = client.post(url(budget.budget_id, "approve"), {"version": 1, "token": token}, format="json")
        assert by_body.status_code == 200
        contrary = client.post(url(budget.budget_id, "reject"), {"version": 1, "token": token}, format="json")
        assert contrary.status_code == 409
        forged = client.post(url(budget.budget_id, "approve"), {"version": 1, "token": "forged"}, format="json")
        assert forged.status_code == 404

    def test_nobody_without_a_login_or_a_link(self, client, budget):
        response = client.post(url(budget.budget_id, "approve"), {"version": 1}, format="json")
        assert response.status_code == 401

    def test_someone_elses_budget_cannot_be_decided(self, other_customer, budget, real):
        assert other_customer.post(url(budget.budget_id, "approve"), {"version": 1},
                                   format="json").status_code == 404
        assert real.published("billing.BudgetApproved") == []

    def test_a_stale_version_is_409(self, staff, customer, budget):
        assert staff.post(url(budget.budget_id, "revisions"), {"items": factories.EXTRA_ITEMS},
                          format="json").status_code == 201
        response = customer.post(url(budget.budget_id, "approve"), {"version": 1}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "stale_version"
        assert customer.post(url(budget.budget_id, "approve"), {"version": 2}, format="json").status_code == 200

    @pytest.mark.parametrize("body, content_type", [
        ("{}", "application/json"),
        ('{"version": "one"}', "application/json"),
        ('{"version": 0}', "application/json"),
        ('{"version": 1', "application/json"),
        ("[1, 2]", "application/json"),
    ])
    def test_malformed_input_is_400(self, customer, budget, body, content_type):
        response = customer.post(url(budget.budget_id, "approve"), body, content_type=content_type)
        assert response.status_code == 400
        assert set(response.json()) == {"message", "code", "extra"}


JOBS = factories.JOBS


class TestLineByLine:
    @pytest.fixture
    def jobs(self, real):
        return handlers.create_budget(factories.create_budget(customer_id="42", items=JOBS))

    def test_the_customer_approves_some_lines_and_the_rest_are_declined(self, customer, jobs, real):
        response = customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": [1, 2]}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "APPROVED"
        assert [(i["line_id"], i["job"], i["optional"], i["status"]) for i in body["items"]] == [
            (1, 1, False, "APPROVED"), (2, 1, False, "APPROVED"), (3, 1, True, "DECLINED"), (4, 2, False, "DECLINED"),
            (5, 3, True, "DECLINED")]
        assert (body["total_cents"], body["approved_total_cents"], body["declined_total_cents"]) == (30700, 12200,
                                                                                                     18500)
        assert customer.get(url(jobs.budget_id)).json() == body  # as stored
        (approved,) = real.published("billing.BudgetApproved")
        payload = dict(approved.payload)
        assert f"/budgets/{jobs.budget_id}/v1/payment/?t=" in payload.pop("payment_url")
        assert payload == {
            "budget_id": jobs.budget_id, "version": 1, "total_cents": 12200, "decided_by": "customer",
            "lines": [{**line, "status": status} for line, status in zip(
                factories.as_lines(JOBS), ["APPROVED", "APPROVED", "DECLINED", "DECLINED", "DECLINED"], strict=True)],
            "declined_total_cents": 18500}

    def test_the_same_lines_again_are_a_no_op_other_lines_409(self, customer, jobs, real):
        assert customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": [4]},
                             format="json").status_code == 200
        again = customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": [4]}, format="json")
        assert again.status_code == 200 and again.json()["approved_total_cents"] == 12000
        for other in ({"version": 1, "lines": [1, 2, 4]}, {"version": 1}):
            response = customer.post(url(jobs.budget_id, "approve"), other, format="json")
            assert response.status_code == 409 and response.json()["code"] == "approved_otherwise"
        assert len(real.published("billing.BudgetApproved")) == 1

    @pytest.mark.parametrize(("lines", "code", "words"), [
        ([], "no_line_approved", "to decline everything, reject"),
        ([1], "job_split", "job 1 is approved whole"),
        ([9], "unknown_line", "no line 9"),
        ([1, 2, 2], "invalid_lines", "listed twice"),
    ])
    def test_rule_breaking_choices_are_400_with_a_clear_message(self, customer, jobs, real, lines, code, words):
        response = customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": lines}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == code and words in response.json()["message"]
        assert real.deps.budgets.get(jobs.budget_id, 1).status.value == "PENDING_APPROVAL"

    @pytest.mark.parametrize("lines", [["1"], [True], [1.5], "1,2", {"1": 1}, [None]])
    def test_line_ids_that_are_not_whole_numbers_are_400(self, customer, jobs, lines):
        response = customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": lines}, format="json")
        assert response.status_code == 400 and set(response.json()) == {"message", "code", "extra"}
        assert response.json()["message"].startswith("lines")

    def test_too_many_ids_are_400(self, customer, jobs):
        response = customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": list(range(1, 300))},
                                 format="json")
        assert response.status_code == 400

    def test_staff_approve_line_by_line_for_the_customer(self, staff, jobs, real):
        response = staff.post(url(jobs.budget_id, "approve"),
                              {"version": 1, "lines": [1, 2, 3], "reason": "por telefone"}, format="json")
        assert response.status_code == 200 and response.json()["declined_total_cents"] == 17000

    def test_a_revision_decides_only_its_new_lines(self, staff, customer, jobs, real):
        customer.post(url(jobs.budget_id, "approve"), {"version": 1, "lines": [1, 2, 4]}, format="json")
        extra = [{**factories.EXTRA_ITEMS[0], "job": 1},
                 {"kind": "service", "catalog_id": "9", "description": "Balanceamento", "quantity": 1,
                  "unit_price_cents": 7000, "job": 2}]
        created = staff.post(url(jobs.budget_id, "revisions"), {"items": extra, "reason": "freio"}, format="json")
        assert created.status_code == 201
        pending = created.json()
        assert [(i["line_id"], i["job"], i["status"]) for i in pending["items"]] == [
            (1, 1, "APPROVED"), (2, 1, "APPROVED"), (3, 1, "DECLINED"), (4, 2, "APPROVED"), (5, 3, "DECLINED"),
            (6, 4, "PENDING"), (7, 5, "PENDING")]
        refused = customer.post(url(jobs.budget_id, "approve"), {"version": 2, "lines": [3, 6]}, format="json")
        assert refused.status_code == 400 and refused.json()["code"] == "line_already_declined"
        response = customer.post(url(jobs.budget_id, "approve"), {"version": 2, "lines": [1, 6]}, format="json")
        assert response.status_code == 200
        assert [i["status"] for i in response.json()["items"]][5:] == ["APPROVED", "DECLINED"]
        approved = real.published("billing.BudgetApproved")[-1].payload
        assert approved["version"] == 2 and approved["additional_total_cents"] == factories.EXTRA_TOTAL
        assert approved["total_cents"] == 9000 + 3200 + 12000 + factories.EXTRA_TOTAL
        assert approved["declined_total_cents"] == 1500 + 5000 + 7000
        versions = customer.get(url(jobs.budget_id, "versions")).json()
        assert [v["status"] for v in versions] == ["SUPERSEDED", "APPROVED"]
        assert [i["status"] for i in versions[0]["items"]] == ["APPROVED", "APPROVED", "DECLINED", "APPROVED",
                                                               "DECLINED"]

    @pytest.mark.parametrize(("job", "optional"), [(0, False), (101, False), (1, "sim")])
    def test_a_revision_with_a_bad_job_or_optional_flag_is_400(self, staff, jobs, job, optional):
        item = {**factories.EXTRA_ITEMS[0], "job": job, "optional": optional}
        response = staff.post(url(jobs.budget_id, "revisions"), {"items": [item]}, format="json")
        assert response.status_code == 400


def staff_client(role: str, username: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.staff_token(role, username)}")
    return client


class TestWhoDecides:
    """The customer decides; an attendant or an admin may decide for them and says why; a mechanic never."""

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_a_mechanic_gets_403_and_nothing_changes(self, budget, real, decision):
        response = staff_client("mechanic", "mario").post(url(budget.budget_id, decision),
                                                          {"version": 1, "reason": "eu mesmo aprovo"}, format="json")
        assert response.status_code == 403
        assert response.json() == {"message": "Only the customer, an attendant or an admin decides a budget.",
                                   "code": "may_not_decide_budget", "extra": {}}
        assert real.deps.budgets.get(budget.budget_id, 1).status.value == "PENDING_APPROVAL"
        assert real.published("billing.BudgetApproved") == real.published("billing.BudgetRejected") == []

    @pytest.mark.parametrize("role, decision, status", [
        ("attendant", "approve", "APPROVED"), ("admin", "approve", "APPROVED"),
        ("attendant", "reject", "REJECTED"), ("admin", "reject", "REJECTED"),
    ])
    def test_staff_decide_for_the_customer_and_the_budget_shows_who_and_why(self, budget, real, role, decision,
                                                                          status):
        client = staff_client(role, "ana.souza")
        response = client.post(url(budget.budget_id, decision), {"version": 1, "reason": "Maria ligou"},
                               format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == status
        assert body["decided_by"] == f"{role}:ana.souza" and body["decision_reason"] == "Maria ligou"
        shown = client.get(url(budget.budget_id)).json()
        assert (shown["decided_by"], shown["decision_reason"]) == (f"{role}:ana.souza", "Maria ligou")
        (event,) = real.published(f"billing.Budget{status.title()}")
        assert event.payload["decided_by"] == f"{role}:ana.souza"

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_staff_without_a_reason_get_400(self, staff, budget, real, decision, reason):
        body = {"version": 1} if reason is None else {"version": 1, "reason": reason}
        response = staff.post(url(budget.budget_id, decision), body, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "reason_required" and response.json()["extra"] == {"field": "reason"}
        assert real.deps.budgets.get(budget.budget_id, 1).status.value == "PENDING_APPROVAL"

    def test_the_customer_approves_without_a_reason(self, customer, budget):
        body = customer.post(url(budget.budget_id, "approve"), {"version": 1}, format="json").json()
        assert (body["status"], body["decided_by"], body["decision_reason"]) == ("APPROVED", "customer", "")


class TestRevisions:
    def test_staff_revision_creates_version_2(self, staff, budget, real):
        response = staff.post(url(budget.budget_id, "revisions"),
                              {"items": factories.EXTRA_ITEMS, "reason": "freio"}, format="json")
        assert response.status_code == 201
        body = response.json()
        assert body["version"] == 2 and body["additional_total_cents"] == factories.EXTRA_TOTAL
        assert body["total_cents"] == factories.ITEMS_TOTAL + factories.EXTRA_TOTAL
        versions = staff.get(url(budget.budget_id, "versions")).json()
        assert [v["status"] for v in versions] == ["SUPERSEDED", "PENDING_APPROVAL"]
        revision = real.published("billing.BudgetCreated")[-1].payload
        assert revision["revision"] is True
        # The saga hears what staff added, and that staff added it.
        extra = factories.as_lines(factories.EXTRA_ITEMS, first_id=3, job_offset=1)
        assert revision["items"] == extra and revision["origin"] == "staff"
        assert revision["lines"] == [*factories.as_lines(factories.ITEMS), *extra]  # the whole version
        assert len(mail.outbox) == 2

    def test_customers_may_not_revise(self, customer, budget):
        assert customer.post(url(budget.budget_id, "revisions"), {"items": factories.EXTRA_ITEMS},
                             format="json").status_code == 403

    def test_a_mechanic_may_not_revise_an_admin_may(self, budget, real):
        refused = staff_client("mechanic", "mario").post(url(budget.budget_id, "revisions"),
                                                         {"items": factories.EXTRA_ITEMS}, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
        assert real.deps.budgets.latest(budget.budget_id).version == 1
        created = staff_client("admin", "boss").post(url(budget.budget_id, "revisions"),
                                                     {"items": factories.EXTRA_ITEMS, "reason": "freio"}, format="json")
        assert created.status_code == 201 and created.json()["version"] == 2

    def test_bad_items_and_closed_budgets(self, staff, budget):
        bad = staff.post(url(budget.budget_id, "revisions"), {"items": [{"kind": "gift"}]}, format="json")
        assert bad.status_code == 400 and bad.json()["message"].startswith("items")
        assert staff.post(url(budget.budget_id, "revisions"), {"items": []}, format="json").status_code == 400
        staff.post(url(budget.budget_id, "reject"), {"version": 1, "reason": "x"}, format="json")
        closed = staff.post(url(budget.budget_id, "revisions"), {"items": factories.EXTRA_ITEMS}, format="json")
        assert closed.status_code == 409 and "cannot be revised" in closed.json()["message"]
        missing = staff.post(url(str(uuid.uuid4()), "revisions"), {"items": factories.EXTRA_ITEMS}, format="json")
        assert missing.status_code == 404


class TestBoundsInBytes:
    """Reasons and descriptions are bounded in bytes as stored (UTF-8), not only in characters (issue 18)."""

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_a_reason_past_its_bytes_is_refused_naming_it_and_the_budget_is_still_decided(self, staff, budget,
                                                                                          decision):
        refused = staff.post(url(budget.budget_id, decision), {"version": 1, "reason": "🔧" * 400}, format="json")
        assert refused.status_code == 400
        assert refused.json()["message"].startswith("reason:") and "bytes" in refused.json()["message"]
        decided = staff.post(url(budget.budget_id, decision), {"version": 1, "reason": "Aprovação por telefone ç"},
                             format="json")
        assert decided.status_code == 200 and decided.json()["decision_reason"] == "Aprovação por telefone ç"

    def test_a_description_past_its_bytes_is_refused_and_a_revision_within_them_is_made(self, staff, budget):
        line = {**factories.EXTRA_ITEMS[0], "description": "ç" * 300}
        refused = staff.post(url(budget.budget_id, "revisions"), {"items": [line]}, format="json")
        assert refused.status_code == 400 and "description" in refused.json()["message"]
        made = staff.post(url(budget.budget_id, "revisions"), {"items": [{**line, "description": "ç" * 290}]},
                          format="json")
        assert made.status_code == 201 and made.json()["version"] == 2

    def test_a_version_past_its_bytes_is_refused_naming_items(self, staff, budget):
        lines = [{**factories.EXTRA_ITEMS[0], "description": "🔧" * 140} for _ in range(100)]
        refused = staff.post(url(budget.budget_id, "revisions"), {"items": lines}, format="json")
        assert refused.status_code == 400
        assert (refused.json()["code"], refused.json()["extra"]["field"]) == ("budget_too_large", "items")
        assert staff.post(url(budget.budget_id, "revisions"), {"items": factories.EXTRA_ITEMS},
                          format="json").status_code == 201
