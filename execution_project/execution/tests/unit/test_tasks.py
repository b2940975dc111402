"""The Celery entry points: transient failures are retried, domain errors dropped, bugs not hidden."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from execution import tasks, wiring
from oficina_common.errors import ConcurrencyConflict, InvalidTransition

from ..factories import diagnosis_completed
from ..fakes import Clock, fake_dependencies


@pytest.fixture
def fakes():
    deps = fake_dependencies(Clock(datetime(2026, 3, 2, tzinfo=UTC)))
    yield deps
    wiring.reset()


def use(deps, **overrides) -> None:
    wiring.override(executions=deps.executions, steps=deps.steps, jobs=deps.jobs, publisher=deps.publisher,
                    clock=deps.clock, **overrides)


def test_a_message_that_meets_a_dynamodb_outage_is_retried_until_handled(fakes):
    use(fakes)
    fakes.executions.outages = 2
    event = diagnosis_completed()
    assert tasks.handle_message.apply(args=[event.to_dict()]).get() == "handled"
    assert fakes.publisher.types() == ["billing.CreateBudget"]


def test_what_is_transient_and_what_is_not():
    assert tasks.is_transient(ConcurrencyConflict("racing"))
    assert tasks.is_transient(ClientError({"Error": {"Code": "ThrottlingException"}}, "UpdateItem"))
    assert not tasks.is_transient(ClientError({"Error": {"Code": "ValidationException"}}, "UpdateItem"))
    assert not tasks.is_transient(InvalidTransition("no"))


def test_a_domain_error_is_logged_and_dropped(fakes, monkeypatch):
    use(fakes)

    def refuse(*_, **__):
        raise InvalidTransition("cannot")

    monkeypatch.setattr(tasks.services, "message_handle", refuse)
    assert tasks.handle_message.apply(args=[{}]).get() == "dropped"


def test_the_sweep_task_reports_what_it_did(fakes):
    use(fakes)
    assert tasks.sweep.apply().get() == {"timed_out": 0, "failed": 0, "outbox_delivered": 0}


def test_every_beat_entry_expires_before_the_next_is_due():
    from config.celery import app

    assert app.conf.beat_schedule
    for name, entry in app.conf.beat_schedule.items():
        assert 0 < entry["options"]["expires"] <= entry["schedule"], name
