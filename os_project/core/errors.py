"""Errors of the OS service's own, and the two database refusals every use case turns into them."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from rest_framework import status

from oficina_common.errors import AlreadyExists, ApplicationError


class InUse(ApplicationError):
    """Something other records still point to cannot be deleted."""

    status_code = status.HTTP_409_CONFLICT
    code = "in_use"


@contextmanager
def unique_or_conflict(message: str, *, field: str) -> Iterator[None]:
    """A write that may race its twin: the unique constraint that refuses it becomes a 409 naming
    ``field`` (the write runs in its own savepoint, so the caller's transaction goes on)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise AlreadyExists(message, extra={"field": field}) from exc


@contextmanager
def unless_in_use(message: str) -> Iterator[None]:
    """A delete that other records' protected foreign keys refuse becomes a 409 with ``message``."""
    try:
        yield
    except ProtectedError as exc:
        raise InUse(message) from exc
