"""Copies of items as this process wrote them last, to decide their next change without reading them.

A copy is a guess at the item, good enough for a change that writes conditionally on what the copy
says (its version, its status): a stale copy fails that write and the item is read again. Never
for a change that writes nothing, or acts outside the item, on what the copy says.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentCopies(Generic[T]):
    """What this process wrote last, by id: a bounded LRU shared by the process's threads. A copy
    is a guess at the item, good enough for a change that writes (the write is conditional on
    what the copy says: a stale copy fails it and the item is read again), never for one that
    writes nothing (that one is made again on the item as read).

    ``key_of`` names an item; ``copy_of`` is what a caller gets (the stored instance is shared:
    each caller works on its own copy of what may change); ``newer`` says whether the copy kept is
    newer than one being kept (two threads wrote the item one after the other)."""

    def __init__(self, size: int, *, key_of: Callable[[T], str], copy_of: Callable[[T], T],
                 newer: Callable[[T, T], bool] = lambda kept, stored: False):
        self.size = size
        self._key_of, self._copy_of, self._newer = key_of, copy_of, newer
        self._lock = threading.Lock()
        self._items: OrderedDict[str, T] = OrderedDict()

    def _handed_out(self) -> bool:
        return True

    def get(self, key: str) -> T | None:
        with self._lock:
            if not self._handed_out():
                return None
            stored = self._items.get(key)
            if stored is None:
                return None
            self._items.move_to_end(key)
        return self._copy_of(stored)

    def keep(self, stored: T) -> None:
        key = self._key_of(stored)
        with self._lock:
            kept = self._items.get(key)
            if kept is not None and self._newer(kept, stored):
                return  # the later writer's copy stays
            self._items[key] = stored
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        self.pop(key)

    def pop(self, key: str) -> T | None:
        """The copy kept of ``key`` (trusted or not), no longer kept."""
        with self._lock:
            return self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
