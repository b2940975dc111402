"""Celery settings every service shares: at-least-once delivery, JSON only, its own queue."""
from __future__ import annotations

import os
from typing import Any

from kombu import Queue

# Redis redelivers an unacknowledged task after this many seconds; every retry countdown and
# every task's run time must stay well below it, or a slow task would run twice at once.
# Tests that kill a worker mid-task shorten it (CELERY_VISIBILITY_TIMEOUT) to see the redelivery.
VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
MAX_RETRY_COUNTDOWN = min(300, max(1, VISIBILITY_TIMEOUT // 4))
# How long a command to Redis may wait for its answer. Without it a broker that accepts the
# connection and then stalls (paused, partitioned) holds a publish, and the web request behind it,
# forever; with it the publish fails (Celery tries it four times: ~20 s at worst, inside gunicorn's
# 30 s) and the message waits in the outbox for the sweeper. The worker's BRPOP polls every second.
SOCKET_TIMEOUT = 5


def celery_settings(queue: str, broker_url: str, *, eager: bool = False) -> dict[str, Any]:
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
        "timezone": "UTC",
        "enable_utc": True,
    }


def backoff(retries: int, base: float = 2.0) -> int:
    """Exponential retry countdown, capped below the broker's visibility timeout."""
    return int(min(base ** (retries + 1), MAX_RETRY_COUNTDOWN))
