"""How Billing and Execution hold what their services work with (repositories, Mercado Pago, the
publisher, the clock): one typed set per process, built from settings on first use.

The set is shared by the process's threads (boto3's clients underneath are thread-safe). It is built
again when a setting changes (Django's ``setting_changed``: what pytest-django's ``settings`` fixture
sends), so nothing compares settings on every call. Tests replace parts with ``override``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Generic, TypeVar

D = TypeVar("D")


class Wiring(Generic[D]):
    def __init__(self, build: Callable[[], D]):
        self._build = build
        self._installed: D | None = None  # a whole set put in place (tests): kept until replaced
        self._built: D | None = None  # built from settings, with the parts put in by ``use``
        self._parts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self) -> D:
        found = self._installed or self._built
        if found is None:
            with self._lock:
                if self._installed is None and self._built is None:
                    built = self._build()
                    self._built = replace(built, **self._parts) if self._parts else built  # type: ignore[type-var]
                found = self._installed or self._built
        assert found is not None
        return found

    def install(self, deps: D | None) -> None:
        """Use ``deps`` as they are; None: build from settings again at the next ``get``."""
        with self._lock:
            self._installed, self._built, self._parts = deps, None, {}

    def use(self, **parts: Any) -> None:
        """Replace some parts of the set built from settings, across rebuilds, until ``reset``."""
        with self._lock:
            self._installed, self._built, self._parts = None, None, dict(parts)

    def reset(self) -> None:
        """Forget every replacement: built from settings at the next ``get``."""
        self.install(None)

    def rebuild(self, **_: Any) -> None:
        """A setting changed: build again at the next ``get`` (a set put in whole stays)."""
        with self._lock:
            self._built = None

    @contextmanager
    def override(self, deps: D) -> Iterator[D]:
        """Tests: ``deps`` for the ``with`` block; what was there before comes back after."""
        with self._lock:
            before = (self._installed, self._built, self._parts)
            self._installed = deps
        try:
            yield deps
        finally:
            with self._lock:
                self._installed, self._built, self._parts = before

    def rebuild_when_settings_change(self) -> Wiring[D]:
        from django.core.signals import setting_changed

        setting_changed.connect(self.rebuild, weak=False)
        return self
