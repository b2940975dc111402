"""Optimistic concurrency: decide on what was read, write conditionally on it, and when another
writer won in between, read again and decide again (the repositories raise ConcurrencyConflict)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ConcurrencyConflict

State = TypeVar("State")
Result = TypeVar("Result")

MAX_ATTEMPTS = 8
_UNREAD: Any = object()


def retry_on_conflict(attempt: Callable[[State], Result], *, read: Callable[[], State], gave_up: str,
                      first: State = _UNREAD, conflicts: tuple[type[Exception], ...] = (ConcurrencyConflict,),
                      attempts: int = MAX_ATTEMPTS) -> Result:
    """``attempt(state)`` on ``first`` (or what ``read()`` returns), then on a fresh ``read()`` after
    each lost race (one of ``conflicts``), at most ``attempts`` times; then ConcurrencyConflict
    (``gave_up``): a consumer retries it later (it is transient), an API answers 409."""
    state = read() if first is _UNREAD else first
    for _ in range(attempts):
        try:
            return attempt(state)
        except conflicts:
            state = read()
    raise ConcurrencyConflict(gave_up)
