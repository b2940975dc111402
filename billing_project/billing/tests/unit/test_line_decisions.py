"""Customers approve line by line: jobs, optional parts, declined lines and what each decision says."""
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain import Budget, BudgetLine, BudgetStatus, Decision, LineStatus, jobs_of, parse_lines
from billing.tests import factories
from oficina_common.errors import InvalidTransition, ValidationFailed

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=72)

ITEMS = factories.JOBS
TOTAL = 9000 + 3200 + 1500 + 12000 + 5000
EXTRA = [
    {"kind": "service", "catalog_id": "9", "description": "Troca de pastilhas", "quantity": 1,
     "unit_price_cents": 8000, "job": 1},
    {"kind": "part", "catalog_id": "31", "description": "Pastilha de freio", "quantity": 2,
     "unit_price_cents": 9000, "job": 1},
    {"kind": "service", "catalog_id": "10", "description": "Higienização do ar", "quantity": 1,
     "unit_price_cents": 6000, "job": 2},
]


def a_budget() -> Budget:
    return Budget.open(budget_id="b-1", saga_id="saga-1", service_order_id="os-1", customer_id="42",
                       lines=parse_lines(ITEMS), now=NOW, approval_ttl=TTL, command_id="m-1")


def approve(budget: Budget, lines=None) -> Budget:
    return budget.decide(Decision.APPROVE, by="customer", reason="", now=NOW, lines=lines)


def statuses(budget: Budget) -> dict[int, str]:
    return {line.line_id: budget.line_status(line).value for line in budget.lines}


class TestLinesFromMessages:
    def test_old_messages_are_one_job_with_nothing_optional(self):
        (line,) = parse_lines([{"kind": "part", "catalog_id": "1", "description": "x", "quantity": 1,
                                "unit_price_cents": 1}])
        assert (line.job, line.optional) == (1, False)

    def test_a_service_marked_optional_is_taken_as_required_never_refused(self):
        (line,) = parse_lines([{**ITEMS[0], "optional": True}])
        assert line.optional is False

    @pytest.mark.parametrize("job", [0, 101, "2", True, 1.5, -1])
    def test_a_job_is_a_whole_number_from_1_to_100(self, job):
        with pytest.raises(ValidationFailed, match=r"items\[0\]\.job"):
            parse_lines([{**ITEMS[0], "job": job}])

    @pytest.mark.parametrize("optional", ["yes", 1, "true"])
    def test_optional_is_true_or_false(self, optional):
        with pytest.raises(ValidationFailed, match=r"items\[0\]\.optional"):
            parse_lines([{**ITEMS[1], "optional": optional}])

    def test_lines_are_numbered_by_position_and_grouped_by_job(self):
        budget = a_budget()
        assert [line.line_id for line in budget.lines] == [1, 2, 3, 4, 5]
        jobs = jobs_of(budget.lines)
        assert [(job.number, [line.line_id for line in job.lines]) for job in jobs] == [(1, [1, 2, 3]), (2, [4]),
                                                                                        (3, [5])]
        assert [line.line_id for line in jobs[0].required_lines] == [1, 2]
        assert [line.line_id for line in jobs[0].optional_lines] == [3]
        assert jobs[0].total_cents == 13700

    def test_a_pending_version_has_every_line_pending_and_nothing_approved_yet(self):
        budget = a_budget()
        assert set(statuses(budget).values()) == {"PENDING"}
        assert (budget.total_cents, budget.approved_total_cents, budget.declined_total_cents) == (TOTAL, 0, 0)


class TestApprovingLineByLine:
    def test_without_lines_everything_is_approved_as_before(self):
        approved = approve(a_budget())
        assert set(statuses(approved).values()) == {"APPROVED"}
        assert approved.declined_line_ids == frozenset()
        assert (approved.approved_total_cents, approved.declined_total_cents) == (TOTAL, 0)

    def test_the_listed_lines_are_approved_and_the_rest_declined(self):
        approved = approve(a_budget(), [1, 2, 3, 4])
        assert approved.status == BudgetStatus.APPROVED
        assert statuses(approved) == {1: "APPROVED", 2: "APPROVED", 3: "APPROVED", 4: "APPROVED", 5: "DECLINED"}
        assert approved.total_cents == TOTAL  # what was quoted stays
        assert (approved.approved_total_cents, approved.declined_total_cents) == (TOTAL - 5000, 5000)

    def test_an_optional_part_may_be_declined_alone_and_a_whole_job_declined(self):
        approved = approve(a_budget(), [1, 2])
        assert approved.declined_line_ids == {3, 4, 5}
        assert approved.approved_total_cents == 12200

    def test_the_order_of_the_ids_does_not_matter(self):
        assert approve(a_budget(), [4, 2, 1]).declined_line_ids == {3, 5}

    @pytest.mark.parametrize(("lines", "job", "missing"), [([1, 3], 1, 2), ([2, 3, 4], 1, 1), ([2], 1, 1)])
    def test_a_job_holds_together_the_oil_without_the_filter_is_refused(self, lines, job, missing):
        with pytest.raises(ValidationFailed, match=f"job {job} is approved whole") as refused:
            approve(a_budget(), lines)
        assert refused.value.code == "job_split"
        assert refused.value.extra == {"field": "lines", "job": job, "line_id": missing}

    def test_nothing_approved_is_a_rejection_not_an_approval(self):
        with pytest.raises(ValidationFailed, match="to decline everything, reject") as refused:
            approve(a_budget(), [])
        assert refused.value.code == "no_line_approved"

    @pytest.mark.parametrize(("lines", "message"), [
        ([9], "this version has no line 9"),
        ([0], "this version has no line 0"),
        ([1, 1], "line 1 is listed twice"),
        (["1"], "not a line id"),
        ([True], "not a line id"),
        ([1.5], "not a line id"),
        ("1,2", "a list of line ids"),
        (list(range(1, 8)), "this version has 5 lines"),
    ])
    def test_unknown_repeated_or_malformed_ids_are_refused_clearly(self, lines, message):
        with pytest.raises(ValidationFailed, match=message):
            approve(a_budget(), lines)

    def test_the_approval_says_what_was_approved_and_what_it_costs(self):
        payload = approve(a_budget(), [1, 2, 4]).decided_payload().to_payload()
        assert payload["total_cents"] == 9000 + 3200 + 12000
        assert payload["declined_total_cents"] == 1500 + 5000
        assert [(line["line_id"], line["job"], line["optional"], line["status"]) for line in payload["lines"]] == [
            (1, 1, False, "APPROVED"), (2, 1, False, "APPROVED"), (3, 1, True, "DECLINED"),
            (4, 2, False, "APPROVED"), (5, 3, True, "DECLINED")]
        assert "additional_total_cents" not in payload
        assert list(payload)[:4] == ["budget_id", "version", "total_cents", "decided_by"]

    def test_a_rejection_still_tells_the_quoted_total(self):
        rejected = a_budget().decide(Decision.REJECT, by="customer", reason="caro", now=NOW, lines=[1])
        assert rejected.decided_payload().to_payload() == {"budget_id": "b-1", "version": 1, "total_cents": TOTAL,
                                              "decided_by": "customer", "reason": "caro"}
        assert set(statuses(rejected).values()) == {"DECLINED"}


class TestRepeats:
    def test_the_same_lines_again_change_nothing(self):
        approved = approve(a_budget(), [1, 2, 4])
        assert approve(approved, [4, 1, 2]) is None

    @pytest.mark.parametrize("lines", [[1, 2], None, [1, 2, 3, 4, 5]])
    def test_other_lines_on_an_approved_version_are_409(self, lines):
        approved = approve(a_budget(), [1, 2, 4])
        with pytest.raises(InvalidTransition, match="already approved with other lines") as refused:
            approve(approved, lines)
        assert refused.value.extra == {"declined_line_ids": [3, 5]}

    def test_approving_all_again_after_approving_all_is_a_no_op(self):
        assert approve(approve(a_budget())) is None

    def test_a_rejection_after_a_partial_approval_is_409(self):
        with pytest.raises(InvalidTransition, match="already APPROVED"):
            approve(a_budget(), [4]).decide(Decision.REJECT, by="customer", reason="x", now=NOW)

    def test_a_superseded_version_keeps_its_lines_decisions(self):
        superseded = approve(a_budget(), [4]).supersede(NOW)
        assert statuses(superseded) == {1: "DECLINED", 2: "DECLINED", 3: "DECLINED", 4: "APPROVED", 5: "DECLINED"}


class TestRevisions:
    @pytest.fixture
    def revision(self) -> Budget:
        approved = approve(a_budget(), [1, 2, 4])
        return approved.revise(parse_lines(EXTRA), reason="freio", now=NOW, approval_ttl=TTL, command_id="m-2")

    def test_added_lines_keep_counting_and_their_jobs_never_merge_with_earlier_ones(self, revision):
        added = revision.additional_lines
        assert [line.line_id for line in added] == [6, 7, 8]
        assert [line.job for line in added] == [4, 4, 5]  # the highest job of version 1 was 3
        assert [line.line_id for line in revision.lines[:5]] == [1, 2, 3, 4, 5]

    def test_earlier_lines_keep_their_decision_and_the_new_ones_wait(self, revision):
        assert statuses(revision) == {1: "APPROVED", 2: "APPROVED", 3: "DECLINED", 4: "APPROVED", 5: "DECLINED",
                                      6: "PENDING", 7: "PENDING", 8: "PENDING"}
        assert revision.open_lines == revision.additional_lines
        assert revision.approved_total_cents == 24200 and revision.declined_total_cents == 6500

    def test_only_the_new_lines_are_decided(self, revision):
        approved = approve(revision, [6, 7])
        assert statuses(approved)[8] == "DECLINED" and statuses(approved)[3] == "DECLINED"
        assert approved.declined_line_ids == {3, 5, 8}
        payload = approved.decided_payload().to_payload()
        assert payload["additional_total_cents"] == 8000 + 18000  # the approved part of what it added
        assert payload["total_cents"] == 24200 + 26000  # everything the customer agreed to pay in all
        assert payload["declined_total_cents"] == 6500 + 6000

    def test_listing_an_earlier_approved_line_is_harmless(self, revision):
        assert approve(revision, [1, 2, 4, 8]).declined_line_ids == {3, 5, 6, 7}

    def test_an_earlier_declined_line_cannot_be_approved_now(self, revision):
        with pytest.raises(ValidationFailed, match="line 3 was declined in an earlier version") as refused:
            approve(revision, [3, 8])
        assert refused.value.code == "line_already_declined"

    def test_at_least_one_new_line_is_approved(self, revision):
        with pytest.raises(ValidationFailed, match="of what this revision adds; to decline everything, reject"):
            approve(revision, [1, 2])

    def test_a_new_job_holds_together_too(self, revision):
        with pytest.raises(ValidationFailed, match="job 4 is approved whole"):
            approve(revision, [7])

    def test_without_lines_every_new_line_is_approved_and_earlier_declines_stay(self, revision):
        approved = approve(revision)
        assert approved.declined_line_ids == {3, 5}
        assert approved.decided_payload().to_payload()["additional_total_cents"] == 32000

    def test_a_revision_of_a_version_nobody_decided_decides_every_line(self):
        revised = a_budget().revise(parse_lines(EXTRA), reason="", now=NOW, approval_ttl=TTL, command_id="api:1")
        assert revised.carried_line_count == 0 and len(revised.open_lines) == 8
        assert approve(revised, [4]).declined_line_ids == {1, 2, 3, 5, 6, 7, 8}

    def test_the_next_revision_carries_every_decision_so_far(self, revision):
        again = approve(revision, [8]).revise(parse_lines(EXTRA[:1]), reason="", now=NOW, approval_ttl=TTL,
                                               command_id="m-3")
        assert again.carried_line_count == 8
        assert again.additional_lines[0].line_id == 9 and again.additional_lines[0].job == 6
        assert statuses(again)[6] == "DECLINED" and statuses(again)[8] == "APPROVED"
        assert statuses(again)[9] == "PENDING"

    def test_a_revision_announces_its_lines_with_ids_and_jobs(self, revision):
        payload = revision.created_payload().to_payload()
        assert [(i["line_id"], i["job"], i["optional"]) for i in payload["items"]] == [(6, 4, False), (7, 4, False),
                                                                                      (8, 5, False)]
        assert [line["line_id"] for line in payload["lines"]] == list(range(1, 9))


def test_a_line_has_no_status_of_its_own():
    """The decision lives on the version (declined_line_ids), so a line is the same in every version."""
    line = BudgetLine(kind="part", catalog_id="1", description="x", quantity=1, unit_price_cents=1, line_id=1)
    assert "status" not in line.to_message()
    assert LineStatus.DECLINED.value == "DECLINED"
