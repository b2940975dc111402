"""Thread-safe sandbox state, optionally kept in a JSON file across restarts."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

State = dict[str, Any]

MAX_RECORDED_ATTEMPTS = 5000


def empty_state() -> State:
    return {
        "payments": {},
        "preferences": {},
        "preference_payments": {},
        "idempotency": {},
        "last_notifications": {},
        "counters": {},
    }


class Store:
    """Holds every payment (with its refunds) and preference behind one re-entrant lock.

    Delivery attempts live in memory only: they describe this process's work,
    not Mercado Pago's data.
    """

    def __init__(self, data_file: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.RLock()
        self._path = Path(data_file) if data_file else None
        self._state = self._load()
        self._attempts: list[dict[str, Any]] = []

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[State]:
        with self._lock:
            yield self._state
            if write:
                self._persist()

    def snapshot(self) -> State:
        with self._lock:
            return copy.deepcopy(self._state)

    def reset(self) -> None:
        with self._lock:
            self._state = empty_state()
            self._attempts.clear()
            self._persist()

    def record_attempt(self, attempt: dict[str, Any]) -> None:
        with self._lock:
            self._attempts.append(copy.deepcopy(attempt))
            del self._attempts[:-MAX_RECORDED_ATTEMPTS]

    def attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._attempts)

    @staticmethod
    def next_id(state: State, kind: str) -> int:
        """Allocate an id; ids start from the clock so a restart never reuses one."""
        counters = state["counters"]
        value = max(counters.get(kind, 0) + 1, int(time.time() * 1000))
        counters[kind] = value
        return value

    def _load(self) -> State:
        state = empty_state()
        if self._path is None or not self._path.exists():
            return state
        try:
            loaded = json.loads(self._path.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"sandbox data file {self._path} is not valid JSON: {exc}") from exc
        state.update({key: value for key, value in loaded.items() if key in state})
        return state

    def _persist(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._path.parent, prefix=".mp-sandbox-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._state, handle, indent=1, sort_keys=True)
        os.replace(tmp_name, self._path)
