"""Celery settings every service shares: at-least-once delivery, JSON only, its own queue, time limits."""
from __future__ import annotations

import os
from typing import Any

from kombu import Queue

# Redis redelivers an unacknowledged task after this many seconds; every retry countdown and
# every task's run time must stay well below it, or a slow task would run twice at once.
# Tests that kill a worker mid-task shorten it (CELERY_VISIBILITY_TIMEOUT) to see the redelivery.
VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
MAX_RETRY_COUNTDOWN = min(300, max(1, VISIBILITY_TIMEOUT // 4))
# A task still running at the hard limit is killed (its pool process replaced) and its message goes
# back to the queue; at the soft limit SoftTimeLimitExceeded is raised inside it first. Both stay
# below the visibility timeout, so a hung task is stopped before Redis hands its message to a
# second worker: never two copies of one task running at once.
TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "0")) or min(
    300, max(2, VISIBILITY_TIMEOUT - max(1, VISIBILITY_TIMEOUT // 8)))
TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "0")) or max(
    1, TASK_TIME_LIMIT - max(1, TASK_TIME_LIMIT // 5))
if not TASK_SOFT_TIME_LIMIT < TASK_TIME_LIMIT < VISIBILITY_TIMEOUT:
    raise ValueError(f"Celery time limits must be soft < hard < visibility timeout; got {TASK_SOFT_TIME_LIMIT} "
                     f"< {TASK_TIME_LIMIT} < {VISIBILITY_TIMEOUT} (CELERY_TASK_SOFT_TIME_LIMIT, "
                     "CELERY_TASK_TIME_LIMIT, CELERY_VISIBILITY_TIMEOUT)")
# How long a command to Redis may wait for its answer. Without it a broker that accepts the
# connection and then stalls (paused, partitioned) holds a publish, and the web request behind it,
# forever; with it the publish fails (Celery tries it four times: ~20 s at worst, inside gunicorn's
# 30 s) and the message waits in the outbox for the sweeper. The worker's BRPOP polls every second.
SOCKET_TIMEOUT = 5


def celery_settings(queue: str, broker_url: str, *, eager: bool = False) -> dict[str, Any]:
    """The one configuration of the three services' Celery apps (``app.config_from_object``)."""
    return {
        "broker_url": broker_url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": queue,
        "task_queues": (Queue(queue),),
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_time_limit": TASK_TIME_LIMIT,
        # A task killed at the hard limit goes back to the queue like one whose worker was lost,
        # where the consumer policy counts its deliveries (consumer.py), instead of being dropped.
        "task_acks_on_timeout": False,
        "worker_prefetch_multiplier": 1,
        # A worker killed mid-task leaves its message unacknowledged; another worker puts it back
        # once the visibility timeout has passed, scanning every few seconds (kombu's default
        # throttle would scan only every ~100 s).
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT,
                                     "unacked_restore_interval": max(1, min(10, VISIBILITY_TIMEOUT // 4)),
                                     "unacked_restore_throttle": 1,
                                     "socket_timeout": SOCKET_TIMEOUT},
        "broker_connection_retry_on_startup": True,
        "task_always_eager": eager,
        "task_eager_propagates": eager,
        "worker_hijack_root_logger": False,
        # What a task prints (the console e-mail backend writes each e-mail there) goes to the
        # worker's stdout as it is, not through a logger line by line as WARNING records: an
        # e-mail is not a warning, and a record per line is work for nothing.
        "worker_redirect_stdouts": False,
        "timezone": "UTC",
        "enable_utc": True,
    }


def every(seconds: float, task: str, **options: Any) -> dict[str, Any]:
    """A beat entry that expires when the next one is due: a run still queued by then (the worker
    was busy or down) is skipped rather than run late, one after another, on the worker's return."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds, **options}}


def backoff(retries: int, base: float = 2.0) -> int:
    """Exponential retry countdown, capped below the broker's visibility timeout."""
    return int(min(base ** (retries + 1), MAX_RETRY_COUNTDOWN))
