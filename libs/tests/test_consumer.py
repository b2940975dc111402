"""The consumer policy: transient errors retried by Celery with backoff, then dead-lettered; business
refusals dropped; bugs dead-lettered at once; a message whose deliveries never finish (a hang, a
killed worker) dead-lettered after MAX_DELIVERIES instead of being handed out forever."""
from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import uuid

import pytest
import redis
from botocore.exceptions import ClientError
from celery import Celery, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded
from django.conf import settings
from prometheus_client import REGISTRY

from oficina_common import consumer
from oficina_common.celery_config import (
    MAX_RETRY_COUNTDOWN,
    TASK_SOFT_TIME_LIMIT,
    TASK_TIME_LIMIT,
    VISIBILITY_TIMEOUT,
    celery_settings,
    every,
)
from oficina_common.consumer import ConsumerPolicy, consumer_task, is_transient
from oficina_common.errors import ConcurrencyConflict, InvalidTransition, NotFound, UpstreamUnavailable
from oficina_common.messages import Envelope
from oficina_common.testing import stop

app = Celery("billing", set_as_current=True)
app.config_from_object(celery_settings("billing", settings.CELERY_BROKER_URL, eager=False))

POLICY = ConsumerPolicy(max_retries=3, dropped_result="dropped")
outcomes: list[BaseException | str] = []


@consumer_task(name="billing.test_consumer", policy=POLICY)
def handle(data: dict) -> str:
    outcome = outcomes.pop(0)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.fixture
def dead_letters(monkeypatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(consumer, "send_dead_letter", lambda _app, letter: sent.append(letter))
    outcomes.clear()
    return sent


@pytest.fixture
def retries() -> list[float]:
    """The countdown of every retry Celery scheduled."""
    countdowns: list[float] = []

    def note(reason=None, **_):  # noqa: ANN001, ANN003
        countdowns.append(reason.when)

    signals.task_retry.connect(note, weak=False)
    yield countdowns
    signals.task_retry.disconnect(note)


def message() -> dict:
    return Envelope(type="billing.CreateBudget", saga_id="saga-1", service_order_id="os-1",
                    payload={"items": []}).to_dict()


def dead_lettered(reason: str) -> float:
    labels = {"service": "billing", "task": "billing.test_consumer", "reason": reason}
    return REGISTRY.get_sample_value("oficina_celery_dead_letters_total", labels) or 0


def test_what_is_transient():
    assert is_transient(UpstreamUnavailable("Mercado Pago timed out"))
    assert is_transient(ConcurrencyConflict("another writer won"))
    assert is_transient(ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem"))
    assert is_transient(ClientError({"Error": {"Code": "Whatever"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                                    "PutItem"))
    assert not is_transient(ClientError({"Error": {"Code": "ValidationException"}}, "PutItem"))
    assert not is_transient(InvalidTransition("no"))
    assert not is_transient(ValueError("a bug"))
    assert ConsumerPolicy(also_transient=(KeyError,)).is_transient(KeyError("early"))


def test_a_transient_error_is_retried_with_backoff_then_handled(dead_letters, retries):
    outcomes.extend([UpstreamUnavailable("down"), UpstreamUnavailable("down"), "handled"])
    assert handle.apply(args=[message()]).get() == "handled"
    assert len(retries) == 2 and dead_letters == []
    # Celery's own exponential backoff with full jitter: 0..2 s, then 0..4 s, capped.
    assert all(0 <= countdown <= min(2 * 2 ** n, MAX_RETRY_COUNTDOWN) for n, countdown in enumerate(retries))
    assert (handle.retry_backoff, handle.retry_jitter, handle.retry_backoff_max) == (2, True, MAX_RETRY_COUNTDOWN)


def test_a_transient_error_that_outlasts_the_retries_is_dead_lettered(dead_letters, retries, caplog):
    before = dead_lettered("retries_exhausted")
    data = message()
    outcomes.extend([UpstreamUnavailable("Mercado Pago timed out")] * (POLICY.max_retries + 1))
    with caplog.at_level(logging.ERROR):
        result = handle.apply(args=[data])
    assert result.failed()
    assert len(retries) == POLICY.max_retries
    (letter,) = dead_letters
    assert letter["service"] == "billing" and letter["task"] == "billing.test_consumer"
    assert letter["message_type"] == "billing.CreateBudget" and letter["message_id"] == data["message_id"]
    assert letter["reason"] == "retries_exhausted" and letter["attempts"] == POLICY.max_retries + 1
    assert letter["error"] == "UpstreamUnavailable: Mercado Pago timed out"
    assert letter["envelope"] == data
    json.dumps(letter)  # it travels as JSON
    assert dead_lettered("retries_exhausted") == before + 1
    assert "billing.CreateBudget dead-lettered after 4 attempt(s)" in caplog.text


def test_a_business_refusal_is_dropped_not_retried_nor_dead_lettered(dead_letters, retries, caplog):
    labels = {"service": "billing", "task": "billing.test_consumer", "code": "not_found"}
    before = REGISTRY.get_sample_value("oficina_celery_messages_dropped_total", labels) or 0
    outcomes.append(NotFound("Budget b-1 does not exist."))
    with caplog.at_level(logging.ERROR):
        assert handle.apply(args=[message()]).get() == "dropped"
    assert retries == [] and dead_letters == []
    assert "billing.CreateBudget dropped: Budget b-1 does not exist. (not_found)" in caplog.text
    assert REGISTRY.get_sample_value("oficina_celery_messages_dropped_total", labels) == before + 1


def test_a_bug_is_dead_lettered_at_once_and_fails_the_task(dead_letters, retries):
    outcomes.append(ZeroDivisionError("division by zero"))
    result = handle.apply(args=[message()])
    assert result.failed() and retries == []
    (letter,) = dead_letters
    assert (letter["reason"], letter["attempts"]) == ("error", 1)
    assert letter["error"] == "ZeroDivisionError: division by zero"


def test_a_task_that_is_not_given_a_message_keeps_its_arguments(dead_letters):
    outcomes.append(ZeroDivisionError("division by zero"))
    handle.apply(args=["not a message"])
    (letter,) = dead_letters
    assert letter["message_type"] == "" and letter["envelope"] == {"args": ["not a message"], "kwargs": {}}


def test_a_hang_stopped_at_the_soft_time_limit_goes_back_to_the_queue(dead_letters, retries):
    outcomes.append(SoftTimeLimitExceeded())
    result = handle.apply(args=[message()])
    assert result.state == "REJECTED" and isinstance(result.result, Reject) and result.result.requeue
    assert dead_letters == [] and retries == []


def test_time_limits_stop_a_task_before_the_broker_hands_it_out_again():
    config = celery_settings("os", "redis://x")
    assert config["task_soft_time_limit"] == TASK_SOFT_TIME_LIMIT < config["task_time_limit"] == TASK_TIME_LIMIT
    assert TASK_TIME_LIMIT < VISIBILITY_TIMEOUT
    assert config["task_acks_on_timeout"] is False  # killed at the hard limit: back to the queue, counted
    assert every(15, "execution.sweep", queue="execution") == {
        "task": "execution.sweep", "schedule": 15, "options": {"expires": 15, "queue": "execution"}}


# --- a real prefork worker: hangs, hard time limits and killed pool processes ------------------------
WORKER_APP = """
import os
import signal
import time

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from oficina_common.celery_config import celery_settings
from oficina_common.consumer import consumer_task

app = Celery("billing")
app.config_from_object(celery_settings(os.environ["TEST_QUEUE"], os.environ["TEST_BROKER_URL"]))


@consumer_task(name="billing.test_hangs")
def hangs(data):
    time.sleep(30)


@consumer_task(name="billing.test_ignores_the_soft_limit")
def ignores_the_soft_limit(data):
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        time.sleep(30)


@consumer_task(name="billing.test_kills_its_worker")
def kills_its_worker(data):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _real_worker(tmp_path, app_source: str, module: str, queue: str, *, pool: list[str], stdout=subprocess.DEVNULL,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """A Celery worker in its own process, for the app ``app_source`` (written to ``module``.py),
    consuming ``queue`` on the test broker, without Django's settings."""
    (tmp_path / f"{module}.py").write_text(app_source)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path), "TEST_BROKER_URL": settings.CELERY_BROKER_URL,
                   "TEST_QUEUE": queue, **(env or {})}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", module, "worker", "-Q", queue, *pool,
                             "--loglevel", "INFO"],
                            cwd=tmp_path, env=environment, stdout=stdout, stderr=subprocess.PIPE, text=True)


def _dead_letters_on(broker: redis.Redis) -> dict[str, dict]:
    """The os.record_dead_letter tasks waiting on the OS's queue, by the dead task's name."""
    found = {}
    for raw in broker.lrange("os", 0, -1):
        item = json.loads(raw)
        if item["headers"].get("task") == consumer.DEAD_LETTER_TASK:
            (letter,), _kwargs, _embed = json.loads(base64.b64decode(item["body"]))
            found[letter["task"]] = letter
    return found


def test_a_message_that_hangs_or_kills_its_worker_every_time_is_dead_lettered(tmp_path):
    queue = f"consumer-test-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("os")
    publisher = Celery("billing")
    publisher.config_from_object(celery_settings(queue, settings.CELERY_BROKER_URL))
    tasks = ("billing.test_hangs", "billing.test_ignores_the_soft_limit", "billing.test_kills_its_worker")
    for name in tasks:
        publisher.send_task(name, args=[message()], queue=queue)
    worker = _real_worker(tmp_path, WORKER_APP, "consumer_worker_app", queue,
                          pool=["--pool", "prefork", "--concurrency", "2"],
                          env={"CELERY_TASK_SOFT_TIME_LIMIT": "1", "CELERY_TASK_TIME_LIMIT": "2"})
    letters: dict[str, dict] = {}
    try:
        for _ in range(600):
            letters = _dead_letters_on(broker)
            if len(letters) == len(tasks):
                break
            threading.Event().wait(0.1)
    finally:
        err = stop(worker)
        broker.delete("os", queue)
    assert set(letters) == set(tasks), err[-3000:]
    for letter in letters.values():
        assert letter["reason"] == "lost" and letter["attempts"] == consumer.MAX_DELIVERIES
        assert letter["message_type"] == "billing.CreateBudget"
    assert not broker.keys("oficina:deliveries:*" + letters["billing.test_hangs"]["task_id"] + "*")


PRINTING_APP = """
import os

from celery import Celery

from oficina_common.celery_config import celery_settings

app = Celery("os")
app.config_from_object(celery_settings(os.environ["TEST_QUEUE"], os.environ["TEST_BROKER_URL"]))


@app.task(name="os.test_prints")
def prints(text):
    print(text, flush=True)
"""


def test_what_a_task_prints_reaches_the_workers_stdout_as_it_is(tmp_path):
    """The console e-mail backend prints each e-mail: it must come out as written, not as one
    WARNING log record per line (Celery's default redirection of stdout to a logger)."""
    queue = f"print-test-{uuid.uuid4().hex[:8]}"
    marker = f"Subject: sua OS mudou {uuid.uuid4().hex}"
    publisher = Celery("os")
    publisher.config_from_object(celery_settings(queue, settings.CELERY_BROKER_URL))
    publisher.send_task("os.test_prints", args=[marker], queue=queue)
    worker = _real_worker(tmp_path, PRINTING_APP, "printing_worker_app", queue, stdout=subprocess.PIPE,
                          pool=["--pool", "threads", "--concurrency", "1", "--without-gossip", "--without-mingle"])
    lines: list[str] = []
    deadline = threading.Timer(60, worker.terminate)  # the marker never came: the loop ends with the worker
    deadline.start()
    try:
        for line in worker.stdout:
            lines.append(line)
            if marker in line:
                break
    finally:
        deadline.cancel()
        err = stop(worker)
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
    assert f"{marker}\n" in lines, (lines[-20:], err[-2000:])
    assert marker not in err and "celery.redirected" not in err

def test_only_a_message_the_broker_gave_back_is_counted_on_redis(monkeypatch):
    """A first delivery makes no round trip to Redis; each redelivery counts on from it."""
    from types import SimpleNamespace

    task_id = f"count-{uuid.uuid4().hex}"

    def task(redelivered: bool) -> SimpleNamespace:
        request = SimpleNamespace(is_eager=False, id=task_id, retries=0, delivery_info={"redelivered": redelivered})
        return SimpleNamespace(request=request, app=app)

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    calls: list[str] = []
    monkeypatch.setattr(consumer, "_broker", lambda _app: calls.append("redis") or broker)
    assert consumer.count_delivery(task(False)) == 1
    consumer.forget_deliveries(task(False))
    assert calls == []
    assert [consumer.count_delivery(task(True)) for _ in range(2)] == [2, 3]
    consumer.forget_deliveries(task(True))
    assert not broker.keys(f"oficina:deliveries:{task_id}:*")
