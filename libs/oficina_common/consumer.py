"""One consumer policy for every service's Celery tasks: what is retried, dropped or dead-lettered.

- A transient failure (the database, DynamoDB, the broker, Mercado Pago or the mail server briefly
  unavailable; a race lost to another writer) is retried by Celery itself (``autoretry_for``) with
  exponential backoff and full jitter, capped below the broker's visibility timeout, at most
  ``max_retries`` times; after the last one the message is dead-lettered.
- A business refusal (an ``ApplicationError``: not found, not allowed now, malformed) can never
  succeed: the message is dropped, leaving an ERROR log line with its type, id and error code and
  a count in ``oficina_celery_messages_dropped_total``.
- Anything else is a bug: the message is dead-lettered at once and the task fails loudly.
- A delivery that never finishes (its worker killed by SIGKILL or the OOM killer, the task stopped
  at a time limit) is handed out again by the broker (acks_late). Redis marks a redelivery but does
  not count them, so each delivery of a message is counted here, in Redis, by task id and retry
  number; a message delivered ``max_deliveries`` times without finishing is dead-lettered instead
  of run again: a poison message cannot take the workers down forever.

A dead letter is counted (``oficina_celery_dead_letters_total``), logged with its envelope, and
sent by name to the OS (task ``os.record_dead_letter`` on the ``os`` queue), which keeps it for
its admin: the dead letters of all three services in one place, without importing each other.
"""
from __future__ import annotations

import functools
import logging
import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from celery import Celery, Task, shared_task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseUnavailable
from kombu.exceptions import OperationalError as BrokerError
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .celery_config import MAX_RETRY_COUNTDOWN, SOCKET_TIMEOUT, TASK_TIME_LIMIT, VISIBILITY_TIMEOUT
from .errors import ApplicationError, ConcurrencyConflict, UpstreamUnavailable
from .messages import QUEUE_OS, clip, envelope_in, envelope_type
from .metrics import DEAD_LETTERS, MESSAGES_DROPPED
from .timestamps import now_iso

logger = logging.getLogger(__name__)

MAX_RETRIES = 12
MAX_DELIVERIES = 3
DEAD_LETTER_TASK = "os.record_dead_letter"

# Why a message was given up on (the metric's label and the OS admin's filter).
RETRIES_EXHAUSTED = "retries_exhausted"
ERROR = "error"
LOST = "lost"  # its deliveries never finished: the worker died or the task hit a time limit

TRANSIENT_DYNAMODB_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "LimitExceededException",
    "TransactionConflictException",
    "ResourceNotFoundException",  # tables still being created
})
_TRANSIENT_TYPES = (
    UpstreamUnavailable, ConcurrencyConflict, BotoCoreError, BrokerError, RedisConnectionError, RedisTimeoutError,
    DatabaseUnavailable, DatabaseInterfaceError, smtplib.SMTPException, ConnectionError, TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Worth another try later: something we depend on was unavailable, or another writer won a race."""
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_DYNAMODB_CODES or status >= 500
    return False


@dataclass(frozen=True)
class ConsumerPolicy:
    """``also_transient``: a service's own errors worth retrying; ``dropped``: the errors that drop a
    message, and ``dropped_result`` what the task then returns."""

    also_transient: tuple[type[BaseException], ...] = ()
    dropped: tuple[type[BaseException], ...] = (ApplicationError,)
    dropped_result: Any = None
    max_retries: int = MAX_RETRIES
    max_deliveries: int = MAX_DELIVERIES

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, self.also_transient) or is_transient(exc)


class TransientFailure(Exception):
    """Raised from a transient error so that Celery's ``autoretry_for`` retries it (the test of what
    is transient looks at more than the exception's type: DynamoDB's error codes)."""


# --- counting deliveries --------------------------------------------------------------------------
_DELIVERIES_KEY = "oficina:deliveries:{task_id}:{retries}"
# Kept well past the last redelivery it counts, then forgotten by Redis itself.
_DELIVERIES_TTL = max(86400, VISIBILITY_TIMEOUT * (MAX_DELIVERIES + 1))
_clients: dict[tuple[int, str], Redis] = {}


def _broker(app: Celery) -> Redis | None:
    """The broker's Redis, to count deliveries on (None: another broker, SQS counts its own)."""
    url = str(app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    key = (os.getpid(), url)  # a pool process must not share its parent's sockets
    if key not in _clients:
        _clients[key] = Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    return _clients[key]


def _delivery_key(task: Task) -> str:
    return _DELIVERIES_KEY.format(task_id=task.request.id, retries=task.request.retries or 0)


def _redelivered(task: Task) -> bool:
    """The broker gave this message back (a lost worker, a time limit, a visibility timeout)."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


def count_delivery(task: Task) -> int:
    """This delivery's number among the deliveries of the task's message (1 when not counted).

    Only a message the broker gave back is counted (on the broker's Redis): a first delivery is
    the first, and the hot path of every task makes no round trip for it."""
    redis = None if task.request.is_eager or not task.request.id or not _redelivered(task) else _broker(task.app)
    if redis is None:
        return 1
    try:
        with redis.pipeline() as pipe:
            number, _ = pipe.incr(_delivery_key(task)).expire(_delivery_key(task), _DELIVERIES_TTL).execute()
    except RedisError as exc:
        logger.warning("deliveries of %s not counted (%s)", task.request.id, exc)
        return 1
    return int(number) + 1  # the first delivery was not counted


def forget_deliveries(task: Task) -> None:
    """The delivery finished (whatever its outcome): its count has done its work."""
    redis = None if task.request.is_eager or not task.request.id or not _redelivered(task) else _broker(task.app)
    if redis is not None:
        try:
            redis.delete(_delivery_key(task))
        except RedisError:
            pass  # it expires by itself


# --- dead letters -----------------------------------------------------------------------------------
def send_dead_letter(app: Celery, letter: dict[str, Any]) -> None:
    """Hand the dead letter to the OS, which keeps it for its admin (operations.tasks)."""
    app.send_task(DEAD_LETTER_TASK, args=[letter], queue=QUEUE_OS,
                  argsrepr=f"({letter['message_type'] or letter['task']} {letter['task_id']})", kwargsrepr="{}")


def _describe(task: Task, args: tuple[Any, ...]) -> str:
    return envelope_type(args) or task.name


class ConsumerTask(Task):
    """The base of every task made by :func:`consumer_task`; ``policy`` is set per task."""

    policy: ConsumerPolicy = ConsumerPolicy()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        delivery = count_delivery(self)
        if delivery > self.policy.max_deliveries:
            forget_deliveries(self)
            self.dead_letter(args, kwargs, reason=LOST, attempts=delivery - 1,
                             error=f"delivered {delivery - 1} times without finishing: its worker was lost "
                                   f"or it ran past its time limit ({TASK_TIME_LIMIT} s)")
            raise Reject("dead-lettered: its deliveries never finished", requeue=False)
        try:
            result = super().__call__(*args, **kwargs)
        except Retry:
            forget_deliveries(self)
            raise
        except SoftTimeLimitExceeded:
            # Counted like a lost worker: back to the queue, dead-lettered once it hangs every time.
            logger.error("%s stopped at its soft time limit (delivery %d of at most %d)",
                         _describe(self, args), delivery, self.policy.max_deliveries)
            raise Reject("soft time limit", requeue=True) from None
        except TransientFailure as exc:
            forget_deliveries(self)  # Celery's retry raises it again once max_retries is spent
            self.dead_letter(args, kwargs, reason=RETRIES_EXHAUSTED, error=str(exc),
                             attempts=(self.request.retries or 0) + 1)
            raise
        except self.policy.dropped as exc:
            forget_deliveries(self)
            self.drop(args, exc)
            return self.policy.dropped_result
        except Exception as exc:
            forget_deliveries(self)
            self.dead_letter(args, kwargs, reason=ERROR, error=f"{type(exc).__name__}: {exc}",
                             attempts=(self.request.retries or 0) + 1)
            raise
        forget_deliveries(self)
        return result

    def drop(self, args: tuple[Any, ...], exc: BaseException) -> None:
        message = envelope_in(args) or {}
        code = getattr(exc, "code", None) or type(exc).__name__
        MESSAGES_DROPPED.labels(self.name.partition(".")[0], self.name, code).inc()
        logger.error("%s dropped: %s (%s)", _describe(self, args), getattr(exc, "message", None) or exc, code,
                     extra={"message_id": message.get("message_id"), "message_type": message.get("type")})

    def dead_letter(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, error: str,
                    attempts: int) -> dict[str, Any]:
        message = envelope_in(args)
        letter = {
            "service": self.name.partition(".")[0],
            "task": self.name,
            "task_id": self.request.id or "",
            "message_id": str(message.get("message_id") or "") if message else "",
            "message_type": str(message.get("type") or "") if message else "",
            "reason": reason,
            "error": clip(error, 2000),
            "attempts": attempts,
            "envelope": message if message else {"args": list(args), "kwargs": kwargs},
            "failed_at": now_iso(),
        }
        DEAD_LETTERS.labels(letter["service"], self.name, reason).inc()
        logger.error("%s dead-lettered after %d attempt(s) (%s): %s", _describe(self, args), attempts, reason,
                     letter["error"], extra={"message_id": letter["message_id"],
                                             "message_type": letter["message_type"], "dead_letter": letter})
        try:
            send_dead_letter(self.app, letter)
        except Exception:  # the broker is down too: the log line above is all that is left of it
            logger.exception("dead letter of %s %s not sent to the OS", letter["task"], letter["task_id"])
        return letter


def consumer_task(name: str, *, policy: ConsumerPolicy = ConsumerPolicy(), **options: Any) -> Callable:
    """Register a Celery task that consumes messages under ``policy`` (see the module's docstring)."""
    def register(body: Callable) -> Task:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except Exception as exc:
                if policy.is_transient(exc):
                    raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
                raise

        return shared_task(
            name=name, base=ConsumerTask, policy=policy, acks_late=True, reject_on_worker_lost=True,
            autoretry_for=(TransientFailure,), max_retries=policy.max_retries,
            retry_backoff=2, retry_backoff_max=MAX_RETRY_COUNTDOWN, retry_jitter=True, **options,
        )(run)

    return register


def periodic_task(name: str, *, what: str, **options: Any) -> Callable:
    """Register a task beat runs: a failed run is not retried (nor dead-lettered), the next one
    does the work; a bug fails the task loudly. Its beat entry expires (celery_config.every)."""
    def register(body: Callable) -> Task:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except SoftTimeLimitExceeded:
                logger.warning("%s stopped at its soft time limit; the next run goes on", what)
                return None
            except Exception as exc:
                if is_transient(exc):
                    logger.warning("%s skipped this time (%s); the next run tries again", what, exc)
                    return None
                if isinstance(exc, ApplicationError):
                    logger.error("%s dropped: %s (%s)", what, exc.message, exc.code)
                    return None
                logger.exception("%s failed", what)
                raise

        return shared_task(name=name, acks_late=True, ignore_result=True, **options)(run)

    return register
